"""The `reminders` command: root.py holds the root app; one module per command group."""
