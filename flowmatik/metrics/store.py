"""Where metrics live: counters in hashes shared by every process.

Each metric family is a hash of float counters per time bucket (`<family>:m:<minute>`,
`<family>:h:<hour>`) plus a cumulative one (`<family>:total`, what Prometheus reads).
Two stores speak that layout:

- `RedisMetricsStore` (production): one pipelined round trip per write.
- `SqliteMetricsStore` (the embedded default): a small SQLite file of its own under
  `var/` (never the application database), opened by every process (web workers,
  Celery worker, beat) in WAL mode; one short transaction per write.

A store never raises on write: a metric is not worth a failed request, so errors are
logged, the store backs off for `METRICS_RETRY_SECONDS` and the write is dropped.
"""

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import redis

logger = logging.getLogger("flowmatik.metrics")

# (key, field, amount, ttl seconds or None = kept)
Increment = tuple[str, str, float, int | None]


class _Backoff:
    def __init__(self, retry_seconds: float) -> None:
        self.retry_seconds = retry_seconds
        self.down_until = 0.0

    def open(self) -> bool:
        return time.monotonic() >= self.down_until

    def fail(self, exc: BaseException, what: str) -> None:
        self.down_until = time.monotonic() + self.retry_seconds
        logger.warning(
            "Metrics store unavailable; %s dropped",
            what,
            extra={"error": type(exc).__name__},
        )


class RedisMetricsStore:
    """Counters as Redis hashes (HINCRBYFLOAT), process gauges in one hash."""

    def __init__(
        self,
        *,
        url: str,
        prefix: str,
        timeout: float,
        retry_seconds: float,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.timeout = timeout
        self._backoff = _Backoff(retry_seconds)
        self._clients: dict[int, redis.Redis] = {}
        self._async_clients: dict[int, object] = {}

    def _key(self, key: str) -> str:
        return f"{self.prefix}:{key}"

    def _client(self) -> redis.Redis:
        pid = os.getpid()  # a forked worker must not share its parent's sockets
        client = self._clients.get(pid)
        if client is None:
            client = redis.Redis.from_url(
                self.url,
                socket_connect_timeout=self.timeout,
                socket_timeout=self.timeout,
                decode_responses=True,
            )
            self._clients = {pid: client}
        return client

    def _fill(self, pipe, increments: Sequence[Increment]) -> None:
        expiring: dict[str, int] = {}
        for key, field, amount, ttl in increments:
            full = self._key(key)
            pipe.hincrbyfloat(full, field, amount)
            if ttl is not None:
                expiring[full] = ttl
        for full, ttl in expiring.items():
            pipe.expire(full, ttl)

    def apply(self, increments: Sequence[Increment]) -> None:
        if not increments or not self._backoff.open():
            return
        try:
            pipe = self._client().pipeline(transaction=False)
            self._fill(pipe, increments)
            pipe.execute()
        except (redis.RedisError, OSError) as exc:
            self._backoff.fail(exc, "write")

    async def aapply(self, increments: Sequence[Increment]) -> None:
        """The same write from async code, on a client bound to the running loop."""
        import asyncio

        import redis.asyncio as aredis

        if not increments or not self._backoff.open():
            return
        loop = asyncio.get_running_loop()
        client = self._async_clients.get(id(loop))
        if client is None:
            client = aredis.Redis.from_url(
                self.url,
                socket_connect_timeout=self.timeout,
                socket_timeout=self.timeout,
                decode_responses=True,
            )
            # One loop per thread in practice; keep the latest few only.
            if len(self._async_clients) > 8:
                self._async_clients.clear()
            self._async_clients[id(loop)] = client
        try:
            pipe = client.pipeline(transaction=False)
            self._fill(pipe, increments)
            await pipe.execute()
        except (TimeoutError, redis.RedisError, OSError) as exc:
            self._async_clients.pop(id(loop), None)
            self._backoff.fail(exc, "write")

    def read(self, keys: Iterable[str]) -> list[dict[str, float]]:
        keys = list(keys)
        pipe = self._client().pipeline(transaction=False)
        for key in keys:
            pipe.hgetall(self._key(key))
        return [
            {field: float(value) for field, value in row.items()}
            for row in pipe.execute()
        ]

    def process_report(self, *, name: str, data: dict, ttl: int) -> None:
        if not self._backoff.open():
            return
        try:
            self._client().hset(
                self._key("procs"), name, json.dumps({**data, "ts": time.time()})
            )
        except (redis.RedisError, OSError) as exc:
            self._backoff.fail(exc, "process report")

    def processes(self, *, max_age: float) -> dict[str, dict]:
        rows = self._client().hgetall(self._key("procs"))
        fresh, stale = {}, []
        for name, raw in rows.items():
            data = json.loads(raw)
            if time.time() - data.get("ts", 0) <= max_age:
                fresh[name] = data
            else:
                stale.append(name)
        if stale:
            self._client().hdel(self._key("procs"), *stale)
        return fresh

    def clear(self) -> None:
        """Delete every key of this prefix (tests use their own prefix)."""
        client = self._client()
        keys = list(client.scan_iter(match=f"{self.prefix}:*", count=500))
        if keys:
            client.delete(*keys)


class SqliteMetricsStore:
    """The same layout in a SQLite file every local process opens (WAL, no fsync)."""

    PRUNE_EVERY_WRITES = 500

    def __init__(self, *, path: Path | str, retry_seconds: float) -> None:
        self.path = str(path)
        self._backoff = _Backoff(retry_seconds)
        self._local = threading.local()
        self._writes = 0

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=1.0, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=OFF")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS counters (key TEXT NOT NULL, "
                "field TEXT NOT NULL, value REAL NOT NULL, expires REAL, "
                "PRIMARY KEY (key, field)) WITHOUT ROWID"
            )
            conn.execute(
                "CREATE TABLE IF NOT EXISTS procs (name TEXT PRIMARY KEY, "
                "data TEXT NOT NULL, ts REAL NOT NULL)"
            )
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def apply(self, increments: Sequence[Increment]) -> None:
        if not increments or not self._backoff.open():
            return
        now = time.time()
        rows = [
            (key, field, amount, None if ttl is None else now + ttl)
            for key, field, amount, ttl in increments
        ]
        try:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(
                    "INSERT INTO counters (key, field, value, expires) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (key, field) DO UPDATE SET "
                    "value = value + excluded.value, expires = excluded.expires",
                    rows,
                )
                self._writes += 1
                if self._writes % self.PRUNE_EVERY_WRITES == 0:
                    conn.execute(
                        "DELETE FROM counters WHERE expires IS NOT NULL "
                        "AND expires < ?",
                        (now,),
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except (sqlite3.Error, OSError) as exc:
            self._backoff.fail(exc, "write")

    async def aapply(self, increments: Sequence[Increment]) -> None:
        # A local file write of a few rows: cheaper than a thread hop.
        self.apply(increments)

    def read(self, keys: Iterable[str]) -> list[dict[str, float]]:
        keys = list(keys)
        result: dict[str, dict[str, float]] = {key: {} for key in keys}
        now = time.time()
        conn = self._conn()
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            query = (
                "SELECT key, field, value FROM counters WHERE key IN ("  # noqa: S608
                + marks
                + ") AND (expires IS NULL OR expires >= ?)"
            )
            for key, field, value in conn.execute(query, (*chunk, now)):
                result[key][field] = value
        return [result[key] for key in keys]

    def process_report(self, *, name: str, data: dict, ttl: int) -> None:
        if not self._backoff.open():
            return
        try:
            self._conn().execute(
                "INSERT INTO procs (name, data, ts) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET data = excluded.data, "
                "ts = excluded.ts",
                (name, json.dumps(data), time.time()),
            )
        except (sqlite3.Error, OSError) as exc:
            self._backoff.fail(exc, "process report")

    def processes(self, *, max_age: float) -> dict[str, dict]:
        conn = self._conn()
        horizon = time.time() - max_age
        conn.execute("DELETE FROM procs WHERE ts < ?", (horizon,))
        return {
            name: {**json.loads(data), "ts": ts}
            for name, data, ts in conn.execute("SELECT name, data, ts FROM procs")
        }

    def clear(self) -> None:
        conn = self._conn()
        conn.execute("DELETE FROM counters")
        conn.execute("DELETE FROM procs")
