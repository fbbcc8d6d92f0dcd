"""A worker process that exits closes what its runtime holds: the send threads end."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import signals
from sqlalchemy.engine import Engine

from tests.harness import service_env
from tests.outbox_helpers import due_rows, row
from workers.runtime import Runtime, runtime


@pytest.fixture
def worker_runtime(
    engine: Engine,
    database_url: str,
    redis_url: str,
    key_prefix: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Runtime]:
    """The runtime a pool process builds, configured as the worker is: from REMINDERS_* vars."""
    env = service_env(database_url, redis_url, key_prefix, tmp_path, REMINDERS_SECRET_KEY="k")
    for name, value in env.items():
        if name.startswith("REMINDERS_"):
            monkeypatch.setenv(name, value)
    built = runtime()
    yield built
    runtime.cache_clear()
    built.close()
    built.engine.dispose()


def test_the_pool_process_shutdown_ends_the_send_threads(
    engine: Engine, worker_runtime: Runtime
) -> None:
    ids = due_rows(engine, count=3)
    before = set(threading.enumerate())
    worker_runtime.deliverer.deliver(ids, worker_runtime.owner)
    assert {row(engine, i).status for i in ids} == {"sent"}
    senders = [t for t in set(threading.enumerate()) - before if t.name.startswith("send")]
    assert senders and all(t.is_alive() for t in senders)
    signals.worker_process_shutdown.send(sender=None, pid=os.getpid(), exitcode=0)
    assert not any(t.is_alive() for t in senders)
