"""`python -m reminders.cli`: the same command as the `reminders` script."""

from reminders.cli.root import main

main()
