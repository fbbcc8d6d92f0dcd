"""Keep unsubscribe tokens out of uvicorn's access log: the path is logged without them."""

from __future__ import annotations

import logging

from reminders.consent.unsubscribe import PATH

ACCESS_LOGGER = "uvicorn.access"


class HideUnsubscribeTokens(logging.Filter):
    """Rewrite '/v1/unsubscribe/<token>' to '/v1/unsubscribe/…' in an access-log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        # uvicorn's access record: (client, method, path with query, http version, status).
        if isinstance(args, tuple) and len(args) == 5 and str(args[2]).startswith(PATH):
            record.args = (args[0], args[1], PATH + "…", args[3], args[4])
        return True


def install() -> None:
    """Add the filter to uvicorn's access logger once (idempotent)."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, HideUnsubscribeTokens) for f in logger.filters):
        logger.addFilter(HideUnsubscribeTokens())
