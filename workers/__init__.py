"""Celery app and tasks: `celery -A workers worker` and `celery -A workers beat`."""

from workers.application import app

__all__ = ["app"]
