"""Quiet the lines beat and the worker write for every routine tick (received, succeeded,
sending due task) at the default level; --loglevel DEBUG shows them again."""

from __future__ import annotations

import logging
from collections.abc import Iterable

# The Celery loggers that announce each task: beat sending it, the worker receiving it, and
# the worker's trace when it succeeds. Failures are WARNING or worse and always pass.
TASK_LOGGERS = (
    "celery.beat",
    "celery.worker.strategy",
    "celery.worker.request",  # "Discarding revoked task": an expired tick
    "celery.app.trace",
)
# Alembic's "Context impl SQLiteImpl." each time a process checks the schema: not news.
SCHEMA_CHECK_LOGGER = "alembic.runtime.migration"


class RoutineFilter(logging.Filter):
    """Drops INFO-and-below lines that name one of the routine (beat-scheduled) tasks."""

    def __init__(self, tasks: Iterable[str]) -> None:
        super().__init__()
        self.tasks = tuple(sorted(set(tasks)))

    def filter(self, record: logging.LogRecord) -> bool:
        """False for a routine task's INFO line; True for everything else."""
        if record.levelno > logging.INFO:
            return True
        text = record.getMessage()
        return not any(task in text for task in self.tasks)


def quiet_routine(tasks: Iterable[str], level: int | str) -> None:
    """Install the filter on Celery's task loggers unless the operator asked for DEBUG."""
    if logging.getLevelName(level) == "DEBUG" or level == logging.DEBUG:
        return
    logging.getLogger(SCHEMA_CHECK_LOGGER).setLevel(logging.WARNING)
    routine = RoutineFilter(tasks)
    for name in TASK_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RoutineFilter) for f in logger.filters):
            logger.addFilter(routine)
