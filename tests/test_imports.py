"""Importing `workers` or `reminders` starts nothing; only `reminders up` starts a Redis."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

from reminders.cli.lazy import load
from reminders.cli.root import Commands
from reminders.redis_link import NoRedisError, find_redis_url
from tests.harness import BIN, ROOT, EmbeddedRedisServer, celery_worker_argv, clean_env

NO_REDIS = "no Redis: set REMINDERS_REDIS_URL or run `reminders up`"
HEAVY = ("sqlalchemy", "sqlmodel", "redis", "celery", "pydantic_settings", "fastapi")

# Run in a fresh interpreter: records what importing does (audit events) and what it loaded.
IMPORT_PROBE = """
import json, sys, time
seen = []
WATCHED = {"socket.connect", "socket.bind", "subprocess.Popen", "os.posix_spawn", "os.fork",
           "os.system", "os.exec", "os.mkdir"}
def watch(event, args):
    if event in WATCHED or (event == "open" and str(args[0]).startswith(sys.argv[1])):
        seen.append(event + " " + str(args[0]))
sys.addaudithook(watch)
started = time.perf_counter()
import workers, workers.tasks, reminders.cli.root
print(json.dumps({"seen": seen, "seconds": time.perf_counter() - started}))
"""


def no_redis_env(var_dir: Path, **settings: str) -> dict[str, str]:
    """An environment with no Redis configured, var/ at var_dir, and these settings."""
    return clean_env(REMINDERS_VAR_DIR=str(var_dir), **settings)


def redis_servers_under(directory: Path) -> list[str]:
    """Command lines of running redis-server processes whose socket is under directory."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().decode(errors="replace").split("\0")
        except OSError:  # the process exited while we looked
            continue
        if "redis-server" in argv[0] and str(directory) in " ".join(argv):
            found.append(" ".join(argv))
    return found


def bad_settings_env(var_dir: Path) -> dict[str, str]:
    """An environment whose settings cannot be read, with no Redis configured."""
    return no_redis_env(var_dir, REMINDERS_MAX_ATTEMPTS="0")


def test_importing_workers_and_the_cli_reads_no_settings_and_starts_or_writes_nothing(
    tmp_path: Path,
) -> None:
    (tmp_path / ".env").write_text("REMINDERS_DISPATCH_BATCH_SIZE=lots\n")
    probe = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE, str(tmp_path)],
        env=bad_settings_env(tmp_path / "var"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert probe.returncode == 0, probe.stderr
    report = json.loads(probe.stdout)
    assert report["seen"] == []  # no socket, no process, nothing opened under the work dir
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env"]
    print(f"import workers, workers.tasks, reminders.cli.root: {report['seconds']:.2f} s")


def test_help_answers_with_bad_settings_and_no_redis_without_loading_the_commands(
    tmp_path: Path,
) -> None:
    code = (
        "import atexit, sys\n"
        f"atexit.register(lambda: print(sorted(set({HEAVY!r}) & set(sys.modules))))\n"
        "from reminders.cli.root import main\n"
        "sys.argv = ['reminders', '--help']\n"
        "main()\n"
    )
    env = bad_settings_env(tmp_path / "var") | {"COLUMNS": "200"}
    shown = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert shown.returncode == 0, shown.stderr
    for name in Commands.lazy:
        assert f" {name} " in shown.stdout
    assert shown.stdout.rstrip().endswith("[]"), shown.stdout[-300:]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", sorted(Commands.lazy))
def test_help_lists_each_command_by_the_first_line_of_its_own_help(name: str) -> None:
    entry = Commands.lazy[name]
    command = load(name, entry.target)
    assert entry.summary == inspect.cleandoc(command.help or "").splitlines()[0]


@pytest.mark.parametrize(
    "argv",
    [[str(BIN / "reminders"), "status", "--no-workers"], [str(BIN / "reminders"), "dispatch"]],
    ids=["status", "dispatch"],
)
def test_a_command_needing_redis_with_none_running_says_so_and_starts_none(
    argv: list[str], database_url: str, tmp_path: Path
) -> None:
    env = no_redis_env(tmp_path / "var", REMINDERS_DATABASE_URL=database_url)
    refused = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert refused.returncode == 2
    assert NO_REDIS in refused.stderr
    assert redis_servers_under(tmp_path) == []
    assert not (tmp_path / "var" / "redis.rdb").exists()


def test_a_celery_worker_with_no_redis_says_so_and_starts_none(
    database_url: str, tmp_path: Path
) -> None:
    env = no_redis_env(tmp_path / "var", REMINDERS_DATABASE_URL=database_url)
    refused = subprocess.run(
        celery_worker_argv(), env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert refused.returncode == 1
    assert NO_REDIS in refused.stderr
    assert redis_servers_under(tmp_path) == []
    assert not (tmp_path / "var" / "redis.rdb").exists()


def test_a_command_finds_the_embedded_redis_by_its_socket_under_var(
    database_url: str, key_prefix: str
) -> None:
    # EmbeddedRedisServer listens on <its directory>/redis.sock: where `reminders up` puts it.
    server = EmbeddedRedisServer()
    server.start()
    try:
        env = no_redis_env(
            server.directory,
            REMINDERS_DATABASE_URL=database_url,
            REMINDERS_REDIS_KEY_PREFIX=key_prefix,
        )
        shown = subprocess.run(
            [str(BIN / "reminders"), "status", "--no-workers", "--json"],
            env=env,
            capture_output=True,
            text=True,
        )
    finally:
        server.close()
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["queue_depths"] == {"reminders": 0}


def test_the_configured_redis_is_used_as_given(tmp_path: Path) -> None:
    assert find_redis_url("redis://cache:6379/2", tmp_path) == "redis://cache:6379/2"
    assert list(tmp_path.iterdir()) == []


def test_with_no_redis_configured_or_running_finding_one_fails_naming_the_fix(
    tmp_path: Path,
) -> None:
    with pytest.raises(NoRedisError, match="REMINDERS_REDIS_URL"):
        find_redis_url("", tmp_path / "var")
    assert list(tmp_path.iterdir()) == []
