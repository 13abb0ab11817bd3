"""What one `/v1/chat/completions` costs in Redis round trips and database queries.

Counted inside the web workers (`bench/instrument/sitecustomize.py`: a Django
execute wrapper and redis-py's `send_packed_command`, where a pipeline or a Lua
script call is one round trip), over sequential requests after a warm-up, so caches
are warm. The quota's own share is one admit and one settle.

Queries and round trips are counted apart by where they run: on the request path
(the targets) and in the workers' background threads (the usage-record writer
storing the calls' records in batches, the metrics and health-figure flushers, the
cache copies' listener: no target, they are what the request path hands off, paid
once per interval or batch). The measured requests are traced
(`Stack.trace`): `result.trace_per_request` names each query and round trip per
request, with the thread and the line of the project's code that made it.
"""

import re
from collections import Counter

from bench.scenarios import Context, Row

PATH = "/v1/chat/completions"
REDIS_ROUND_TRIPS, DB_QUERIES = 2, 0
_SAVEPOINT = re.compile(r'"s\d+_x\d+"')  # Django's names differ per thread


def run(ctx: Context) -> dict:
    n = 30 if ctx.quick else 100
    spec = {"base": ctx.stack.base, "path": PATH, "headers": ctx.headers("platform")}
    ctx.job("sequential", {**spec, "n": 30, "warmup": 0})
    ctx.stack.trace(True)
    stats_before = _commandstats(ctx.stack.redis_url)
    before = ctx.stack.counters()
    out = ctx.job("sequential", {**spec, "n": n, "warmup": 0})
    after = ctx.stack.counters()
    stats_after = _commandstats(ctx.stack.redis_url)
    ctx.stack.trace(False)
    traced = _per_request(ctx.stack.trace_lines(), n)
    # Which commands, from the server's side (INFO commandstats; on a shared Redis
    # other clients' commands are counted too)
    commands = {
        name: round((calls - stats_before.get(name, 0)) / n, 2)
        for name, calls in stats_after.items()
        if calls - stats_before.get(name, 0) > 0 and name not in ("info",)
    }
    queries = (after["queries"] - before["queries"]) / n
    background = (after["background_queries"] - before["background_queries"]) / n
    trips = (after["redis_round_trips"] - before["redis_round_trips"]) / n
    background_trips = (
        after["background_redis_round_trips"] - before["background_redis_round_trips"]
    ) / n
    has_redis = bool(ctx.stack.redis_url)
    rows = [
        Row(
            "cost per request",
            "database queries (warm caches)",
            round(queries, 2),
            target=f"{DB_QUERIES}",
            ok=queries <= DB_QUERIES,
        ),
        Row(
            "cost per request",
            "database queries in background threads (record writer, ...)",
            round(background, 2),
            target="(no target: off the request path, batched)",
        ),
        Row(
            "cost per request",
            "Redis round trips (request path)",
            round(trips, 2) if has_redis else "n/a (no Redis)",
            target=f"≤ {REDIS_ROUND_TRIPS} (quota admit + settle)",
            ok=trips <= REDIS_ROUND_TRIPS if has_redis else None,
        ),
        Row(
            "cost per request",
            "Redis round trips in background threads (flushers, listener)",
            round(background_trips, 2) if has_redis else "n/a (no Redis)",
            target="(no target: one per interval per process)",
        ),
        Row(
            "cost per request",
            "Redis commands (INFO commandstats)",
            ", ".join(f"{k} {v:g}" for k, v in sorted(commands.items())) or "—",
            target="(no target)",
        ),
    ]
    return {
        "result": {
            "requests": n,
            "errors": out["errors"],
            "before": before,
            "after": after,
            "redis_commands_per_request": commands,
            "trace_per_request": traced,
        },
        "rows": rows,
    }


def _per_request(lines: list[dict], n: int) -> list[dict]:
    """Traced queries and round trips per request, most frequent first: kind,
    thread, statement or Redis commands, and the project's line that made it."""
    counted = Counter(
        (
            line["kind"],
            _thread(line["thread"]),
            _SAVEPOINT.sub('"<savepoint>"', line["what"]),
            line["where"],
        )
        for line in lines
    )
    return [
        {
            "per_request": round(count / n, 2),
            "kind": kind,
            "thread": thread,
            "what": what,
            "where": where,
        }
        for (kind, thread, what, where), count in counted.most_common()
    ]


def _thread(name: str) -> str:
    if name == "MainThread":
        return "event loop"
    if name.startswith(("ThreadPoolExecutor", "asyncio_")):
        return "worker thread"
    return name


def _commandstats(url: str) -> dict[str, int]:
    """Calls per command since the Redis server started ({} without Redis)."""
    if not url:
        return {}
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        stats = client.info("commandstats")
    finally:
        client.close()
    return {
        name.removeprefix("cmdstat_"): int(value["calls"])
        for name, value in stats.items()
    }
