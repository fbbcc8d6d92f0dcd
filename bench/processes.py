"""Run service processes for benchmarks and measure their memory."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

from reminders.ops.metrics import MULTIPROC_ENV
from tests.harness import celery_worker_argv, descendants
from tests.harness import service_env as harness_env

BIN = Path(sys.executable).parent


def service_env(database_url: str, redis_url: str, prefix: str, **extra: str) -> dict[str, str]:
    """Environment for a worker/beat/api pointed at the benchmark's database and Redis.

    Counting in prometheus_client's multiprocess mode, as a host with several processes does,
    in a directory of this call's own.
    """
    metrics_dir = tempfile.mkdtemp(prefix="reminders-bench-metrics-")
    return harness_env(
        database_url,
        redis_url,
        prefix,
        Path("/tmp/reminders-bench"),
        **{MULTIPROC_ENV: metrics_dir, **extra},
    )


def start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start a process with its output in a log file."""
    handle = log.open("wb")
    return subprocess.Popen(
        argv, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
    )


def wait_for(log: Path, text: str, timeout: float = 60) -> None:
    """Block until the log contains text."""
    deadline = time.monotonic() + timeout
    while text not in log.read_text(errors="replace"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{text!r} not in {log} after {timeout}s")
        time.sleep(0.1)


def stop(process: subprocess.Popen[Any]) -> None:
    """SIGTERM, then SIGKILL after 20 s."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def tree_rss_mib(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MiB."""
    total = 0
    for member in descendants(pid) | {pid}:
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            continue
    return total / 1024


def celery_worker(concurrency: int = 2, queues: str = "reminders") -> list[str]:
    """The production worker command (as the tests run it), on the given queues."""
    return [*celery_worker_argv(concurrency), "-Q", queues]


def tree_cpu_seconds(pid: int) -> float:
    """User plus system CPU time used so far by a process and all its descendants."""
    return sum(cpu_seconds(member) for member in descendants(pid) | {pid})


def postgres_cpu_seconds() -> float:
    """CPU time used so far by this machine's PostgreSQL server processes (0 if it is remote)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cmdline").read_bytes().startswith(b"postgres"):
                total += cpu_seconds(int(entry.name))
        except OSError:
            continue
    return total


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of one process (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def connections_held(pid: int, port: int, peers: Collection[int]) -> dict[int, int]:
    """How many of the TCP connections to `port` from the local ports `peers` each process holds.

    Read from /proc: the server side of each connection is a socket inode in one process's fd
    table. Processes under pid that hold none are left out.
    """
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, inode = fields[1], fields[2], fields[9]
        if tcp_port(local) == port and tcp_port(remote) in peers:
            inodes.add(f"socket:[{inode}]")
    held: dict[int, int] = {}
    for member in descendants(pid) | {pid}:
        count = sum(fd_target(fd) in inodes for fd in fds(member))
        if count:
            held[member] = count
    return held


def fds(pid: int) -> list[Path]:
    """A process's open file descriptors (none once it has ended)."""
    try:
        return list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return []


def fd_target(fd: Path) -> str:
    """What a descriptor points to ("socket:[123]"); empty if it closed meanwhile."""
    try:
        return os.readlink(fd)
    except OSError:
        return ""


def tcp_port(address: str) -> int:
    """The port of a /proc/net/tcp address such as 0100007F:4A4E."""
    return int(address.rpartition(":")[2], 16)
