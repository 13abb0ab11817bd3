"""Counters the bench reads from the platform's processes (never loaded otherwise).

The bench puts this folder on PYTHONPATH of the web server only, with
BENCH_COUNTERS_DIR set: every process then counts its database queries (a Django
execute wrapper on each new connection) and its Redis round trips (each
`send_packed_command` of redis-py, sync or asyncio: a pipeline or a script call is
one), and writes them to `<dir>/<pid>.json` every 100 ms when they changed.
"""

import json
import os
import threading
import time

_DIR = os.environ.get("BENCH_COUNTERS_DIR")
COUNTS = {"queries": 0, "redis_round_trips": 0}


def _query_counter(execute, sql, params, many, context):
    COUNTS["queries"] += 1
    return execute(sql, params, many, context)


def _on_connection(sender, connection, **kwargs):
    if _query_counter not in connection.execute_wrappers:
        connection.execute_wrappers.append(_query_counter)


def _wrap_redis() -> None:
    from redis import connection as sync_connection
    from redis.asyncio import connection as async_connection

    sync_send = sync_connection.AbstractConnection.send_packed_command

    def send_packed_command(self, command, check_health=True):
        COUNTS["redis_round_trips"] += 1
        return sync_send(self, command, check_health)

    sync_connection.AbstractConnection.send_packed_command = send_packed_command
    async_send = async_connection.AbstractConnection.send_packed_command

    async def asend_packed_command(self, command, check_health=True):
        COUNTS["redis_round_trips"] += 1
        return await async_send(self, command, check_health)

    async_connection.AbstractConnection.send_packed_command = asend_packed_command


def _writer(path: str) -> None:
    last = None
    while True:
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
    threading.Thread(
        target=_writer, args=(os.path.join(_DIR, f"{os.getpid()}.json"),), daemon=True
    ).start()
