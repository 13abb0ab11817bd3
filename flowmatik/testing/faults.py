"""Infrastructure a fault test may break on purpose: a Redis of its own, database
connections it may kill.

`redis_server()` starts `redis-server` on a free loopback port with no persistence
(`--save "" --appendonly no`: a restart comes back empty, as a crashed cache does);
`.kill()` SIGKILLs it and `.start()` brings it back on the same port. It never
touches the shared Redis. `mysql_kill_connections(db)` KILLs the MariaDB
connections on one database (the test's own) but the caller's, or only those of
one process (`client_pid`, the web process under test).
"""

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from flowmatik.testing.process_control import free_port


@dataclass
class RedisServer:
    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        log = (self.workdir / f"redis-{self.port}.log").open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - the installed redis-server
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 20
        while not self.answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on {self.port}")
            time.sleep(0.05)
        return self

    def answers(self) -> bool:
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn,
        ):
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
        return False

    def kill(self) -> None:
        """SIGKILL: no shutdown, everything it held in memory is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[RedisServer]:
    """A Redis of the test's own on a free port, killed when the test ends."""
    server = RedisServer(workdir=workdir).start()
    try:
        yield server
    finally:
        server.kill()


def mysql_connection_id() -> int:
    """This thread's MariaDB connection id (to spare it from the kills)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT CONNECTION_ID()")
        return int(cursor.fetchone()[0])


def _client_ports(pid: int) -> set[int]:
    """Local TCP ports of the connections `pid` and its children hold."""
    import psutil

    try:
        main = psutil.Process(pid)
        processes = [main, *main.children(recursive=True)]
    except psutil.NoSuchProcess:
        return set()
    ports: set[int] = set()
    for process in processes:
        with contextlib.suppress(psutil.Error):
            ports.update(
                conn.laddr.port
                for conn in process.net_connections(kind="tcp")
                if conn.raddr and conn.laddr
            )
    return ports


def mysql_busy_connections(*, database: str, client_pid: int) -> int:
    """How many of `client_pid`'s connections to `database` are running a
    statement right now (e.g. waiting for a row lock the test holds)."""
    from django.db import connection

    ports = _client_ports(client_pid)
    busy = 0
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT HOST FROM information_schema.PROCESSLIST"
            " WHERE DB = %s AND COMMAND = 'Query' AND ID <> CONNECTION_ID()",
            [database],
        )
        for (host,) in cursor.fetchall():
            port = str(host or "").rpartition(":")[2]
            busy += port.isdigit() and int(port) in ports
    return busy


def mysql_kill_connections(
    *, database: str, spare: tuple[int, ...] = (), client_pid: int | None = None
) -> int:
    """KILL the connections using `database` except this thread's and `spare`
    (with `client_pid`: only those of that process and its children, so the test
    process's other threads keep theirs and later tests are unharmed); returns
    how many were killed."""
    from django.db import connection

    killed = 0
    keep = {mysql_connection_id(), *spare}
    ports = _client_ports(client_pid) if client_pid is not None else None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ID, HOST FROM information_schema.PROCESSLIST WHERE DB = %s",
            [database],
        )
        for conn_id, host in cursor.fetchall():
            if int(conn_id) in keep:
                continue
            if ports is not None:
                port = str(host or "").rpartition(":")[2]
                if not port.isdigit() or int(port) not in ports:
                    continue
            with contextlib.suppress(Exception):
                cursor.execute(f"KILL CONNECTION {int(conn_id)}")
                killed += 1
    return killed
