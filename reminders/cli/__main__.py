"""`python -m` on this package: the same command as the `reminders` script."""

from reminders.cli.root import main

main()
