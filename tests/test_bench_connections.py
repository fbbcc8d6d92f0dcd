"""The webhook bench's count of which process holds each keep-alive connection."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from bench.processes import connections_held, tcp_port

# A child that accepts connections on a socket it inherits and holds them until stdin closes.
HOLDER = """
import socket, sys
listener = socket.socket(fileno=int(sys.argv[1]))
held = [listener.accept()[0] for _ in range(int(sys.argv[2]))]
print("ready", flush=True)
sys.stdin.read()
"""


@contextmanager
def listening() -> Iterator[socket.socket]:
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        yield listener
    finally:
        listener.close()


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port))


def test_tcp_port_reads_the_hex_port_of_a_proc_address() -> None:
    assert tcp_port("0100007F:4A4E") == 19022


def test_connections_are_counted_for_the_process_that_accepted_them() -> None:
    with listening() as listener:
        port = listener.getsockname()[1]
        mine = [connect(port) for _ in range(2)]
        accepted = [listener.accept()[0] for _ in mine]
        theirs = [connect(port) for _ in range(3)]
        child = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(listener.fileno()), str(len(theirs))],
            pass_fds=[listener.fileno()],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        try:
            assert child.stdout is not None and child.stdout.readline() == b"ready\n"
            peers = {client.getsockname()[1] for client in mine + theirs}
            held = connections_held(os.getpid(), port, peers)
            assert held == {os.getpid(): 2, child.pid: 3}
            # Only the connections from the given client ports count.
            only_one = {mine[0].getsockname()[1]}
            assert connections_held(os.getpid(), port, only_one) == {os.getpid(): 1}
        finally:
            child.communicate(b"")
            for sock in mine + theirs + accepted:
                sock.close()
