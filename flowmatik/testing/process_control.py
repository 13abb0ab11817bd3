"""Child processes on loopback: start one with its output in a log file, wait for its
port or for a line of its log, stop it (or its whole process group).

Neither Django nor pytest is imported here: the bench (`bench/stack.py`, a plain
program) starts the platform's processes with these helpers too.
"""

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def process_start(
    command: Sequence[str],
    *,
    log: Path,
    cwd: Path,
    env: Mapping[str, str],
    new_session: bool = False,
) -> subprocess.Popen:
    """Start `command` with stdout and stderr written to `log` (emptied first).

    `new_session` makes it the leader of a process group of its own, which
    `process_stop(..., group=True)` stops with all its children.
    """
    with log.open("wb") as out:
        return subprocess.Popen(  # noqa: S603 - callers run fixed commands of their own
            list(command),
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=new_session,
        )


def wait_port(
    port: int, process: subprocess.Popen, what: str, timeout: float = 120.0
) -> None:
    """Return once 127.0.0.1:`port` accepts connections; fail if `process` exits
    first or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", port), timeout=1),
        ):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not listen on {port} within {timeout:.0f} s")


def wait_log(
    process: subprocess.Popen,
    log: Path,
    found: Callable[[str], T],
    *,
    timeout: float,
    interval: float = 0.2,
) -> T | None:
    """Poll `found(<the log so far>)` until it answers something truthy, which is
    returned; None once `process` has exited or `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        result = found(log.read_text(errors="replace"))
        if result:
            return result
        if process.poll() is not None or time.monotonic() > deadline:
            return None
        time.sleep(interval)


def process_signal(process: subprocess.Popen, sig: int, *, group: bool) -> None:
    """Send `sig` to the process, or with `group` to its process group (it and its
    children); nothing if it is gone."""
    if group:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
    else:
        process.send_signal(sig)


def process_wait(process: subprocess.Popen, *, timeout: float, group: bool) -> None:
    """Wait up to `timeout` seconds for the process to exit, then SIGKILL it (with
    `group`, its process group)."""
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process_signal(process, signal.SIGKILL, group=group)
        process.wait(timeout=5)


def process_stop(
    process: subprocess.Popen, *, timeout: float = 20, group: bool = False
) -> None:
    """SIGTERM the process (with `group`, its process group), then SIGKILL what is
    still there after `timeout` seconds."""
    process_signal(process, signal.SIGTERM, group=group)
    process_wait(process, timeout=timeout, group=group)
