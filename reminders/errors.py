"""The one error family a command prints as a single line instead of a traceback."""

from __future__ import annotations


class SetupError(Exception):
    """Something the operator fixes before retrying (a setting, the schema, Redis, the broker).

    Kept in a module with no imports so `reminders.cli.root` can catch it without loading the rest.
    """
