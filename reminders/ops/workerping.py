"""Ask live Celery workers to answer a control ping, with a short timeout."""

from __future__ import annotations

import logging

from celery import Celery
from kombu.exceptions import OperationalError

from reminders.redis_link import celery_broker_url

log = logging.getLogger(__name__)


class WorkerPing:
    """Callable listing the names of workers that answered; [] when none or the broker is down."""

    def __init__(self, redis_url: str, prefix: str, timeout: float = 0.5) -> None:
        # Same broker and key prefix as workers/application.py, so the control messages meet.
        self.celery = Celery("reminders-ops", broker=celery_broker_url(redis_url))
        self.celery.conf.broker_transport_options = {"global_keyprefix": prefix}
        self.celery.conf.broker_connection_retry_on_startup = False
        self.celery.conf.broker_connection_max_retries = 0
        self.timeout = timeout

    def __call__(self) -> list[str]:
        """The hostnames of workers that answered within the timeout."""
        try:
            replies = self.celery.control.ping(timeout=self.timeout)
        except (OperationalError, OSError) as exc:
            log.warning("worker ping failed: %s", exc)
            return []
        return sorted(name for reply in replies for name in reply)
