"""Counters the bench reads from the platform's processes (never loaded otherwise).

The bench puts this folder on PYTHONPATH of the web server only, with
BENCH_COUNTERS_DIR set: every process then counts its database queries (a Django
execute wrapper on each new connection) and its Redis round trips (each
`send_packed_command` of redis-py, sync or asyncio: a pipeline or a script call is
one), and writes them to `<dir>/<pid>.json` every 100 ms when they changed.

Queries and round trips are counted apart by where they run: `queries` and
`redis_round_trips` on the request path (the event loop and the worker threads it
hands work to), `background_queries` and `background_redis_round_trips` in the
process's own background threads (named threads that work on an interval, never
for one request: the usage-record writer, the log store's flusher, the metrics
flusher and sampler, the providers' health figures, the cache copies' listener).

Tracing: while the file `<dir>/trace-on` exists, each process also appends one JSON
line per query and per Redis round trip to `<dir>/<pid>.trace.jsonl`: the thread,
the statement (its first 160 characters) or the Redis commands of the round trip,
and the innermost frame of the project's own code that caused it. The quota
scenario turns it on around its measured requests and sums the lines per request
(`bench/results/latest.json`: `quota.result.trace_per_request`), which names every
query and round trip a warm call makes.
"""

import collections
import json
import os
import re
import sys
import threading
import time

_DIR = os.environ.get("BENCH_COUNTERS_DIR")
COUNTS = {
    "queries": 0,
    "background_queries": 0,
    "redis_round_trips": 0,
    "background_redis_round_trips": 0,
}
# Threads that run on their own, never for a request (named by the platform)
BACKGROUND_THREADS = (
    "usage-record-writer",
    "logstore-flusher",
    "metrics-",
    "circuit-stats",
    "cache-tracking",
)
_ROOT = os.getcwd() + os.sep  # the bench starts the platform in the project root
_HERE = os.path.dirname(os.path.abspath(__file__))
_TRACE = {"on": False}
_trace_lines: collections.deque[str] = collections.deque()
_REDIS_COMMAND = re.compile(rb"\*\d+\r\n\$\d+\r\n([A-Za-z]+)\r\n")


def _background() -> bool:
    return threading.current_thread().name.startswith(BACKGROUND_THREADS)


def _where() -> str:
    """The innermost frame of the project's own code on the stack (not a
    library's, not this module's)."""
    frame = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        if (
            filename.startswith(_ROOT)
            and "site-packages" not in filename
            and not filename.startswith(_HERE)
        ):
            path = filename[len(_ROOT) :]
            return f"{path}:{frame.f_lineno} {frame.f_code.co_name}"
        frame = frame.f_back
    return "?"


def _trace(kind: str, what: str) -> None:
    _trace_lines.append(
        json.dumps(
            {
                "kind": kind,
                "thread": threading.current_thread().name,
                "what": what,
                "where": _where(),
            }
        )
    )


def _query_counter(execute, sql, params, many, context):
    COUNTS["background_queries" if _background() else "queries"] += 1
    if _TRACE["on"]:
        _trace("sql", " ".join(str(sql).split())[:160])
    return execute(sql, params, many, context)


def _on_connection(sender, connection, **kwargs):
    if _query_counter not in connection.execute_wrappers:
        connection.execute_wrappers.append(_query_counter)


def _trips() -> str:
    return "background_redis_round_trips" if _background() else "redis_round_trips"


def _redis_commands(command) -> str:
    """The command names of one packed round trip ("MGET", "MULTI SET EXEC")."""
    parts = command if isinstance(command, list | tuple) else [command]
    head = b"".join(bytes(part[:2000]) for part in parts)[:4000]
    return " ".join(name.decode().upper() for name in _REDIS_COMMAND.findall(head))


def _wrap_redis() -> None:
    from redis import connection as sync_connection
    from redis.asyncio import connection as async_connection

    sync_send = sync_connection.AbstractConnection.send_packed_command

    def send_packed_command(self, command, check_health=True):
        COUNTS[_trips()] += 1
        if _TRACE["on"]:
            _trace("redis", _redis_commands(command))
        return sync_send(self, command, check_health)

    sync_connection.AbstractConnection.send_packed_command = send_packed_command
    async_send = async_connection.AbstractConnection.send_packed_command

    async def asend_packed_command(self, command, check_health=True):
        COUNTS[_trips()] += 1
        if _TRACE["on"]:
            _trace("redis", _redis_commands(command))
        return await async_send(self, command, check_health)

    async_connection.AbstractConnection.send_packed_command = asend_packed_command


def _writer(directory: str) -> None:
    path = os.path.join(directory, f"{os.getpid()}.json")
    trace_path = os.path.join(directory, f"{os.getpid()}.trace.jsonl")
    switch = os.path.join(directory, "trace-on")
    last = None
    while True:
        _TRACE["on"] = os.path.exists(switch)
        lines = []
        while _trace_lines:
            lines.append(_trace_lines.popleft())
        if lines:
            with open(trace_path, "a") as out:
                out.write("\n".join(lines) + "\n")
        current = dict(COUNTS)
        if current != last:
            tmp = f"{path}.tmp"
            with open(tmp, "w") as out:
                json.dump(current, out)
            os.replace(tmp, path)
            last = current
        time.sleep(0.1)


if _DIR:
    from django.db.backends.signals import connection_created

    connection_created.connect(_on_connection, weak=False)
    _wrap_redis()
    threading.Thread(target=_writer, args=(_DIR,), daemon=True).start()
