"""Operational metrics recorded by every process into one shared store.

Recorders (`metrics_record_*`) turn an event into counter increments and write them
in one call to the store (one Redis pipeline, or one SQLite transaction on the
embedded default); the event loop's recorders (`ametrics_record_*`: every request
and AI call) add them to the process's buffer instead, written every
`METRICS_FLUSH_MS` (`flowmatik.metrics.buffer`); readers
(`flowmatik.metrics.windows`) aggregate time buckets for the staff API, and
`flowmatik.metrics.prometheus` exposes the cumulative counters.

Families and fields (`|` separates label values):
  req   n|<method>|<route>|<status>  d|<route> (ms sum)  b|<route>|<bucket index>
  ai    calls|<model>|<status>  tok|<model>|prompt|completion  cost|<model>|<cur>
        ucost|<user id>|<cur> (windows only: unbounded label)
  quota refused|<limit type>
  wh    n|<provider>|<outcome>
  job   n|<type>|<status>  d|<type> (seconds sum)  b|<type>|<bucket index>
Each family is kept per minute (`METRICS_MINUTE_RETENTION_SECONDS`), per hour
(`METRICS_HOUR_RETENTION_SECONDS`) and in total (no expiry).
"""

import bisect
import logging
import time
from decimal import Decimal
from functools import lru_cache

from django.conf import settings

from flowmatik.metrics.buffer import MetricsBuffer, buffers_flush
from flowmatik.metrics.store import (
    Increment,
    RedisMetricsStore,
    SqliteMetricsStore,
)

logger = logging.getLogger("flowmatik.metrics")

# Upper bounds of the latency histogram buckets, milliseconds (+Inf is the last).
REQUEST_BUCKETS_MS = (
    5,
    10,
    25,
    50,
    75,
    100,
    150,
    250,
    500,
    750,
    1000,
    2500,
    5000,
    10000,
    30000,
    60000,
)
# Upper bounds of the job duration histogram buckets, seconds.
JOB_BUCKETS_SECONDS = (1, 5, 15, 30, 60, 120, 300, 600, 1800)
UNMATCHED_ROUTE = "<unmatched>"


@lru_cache(maxsize=1)
def _store_for(
    redis_url: str, prefix: str, path: str
) -> tuple[RedisMetricsStore | SqliteMetricsStore, MetricsBuffer]:
    store: RedisMetricsStore | SqliteMetricsStore
    if redis_url:
        store = RedisMetricsStore(
            url=redis_url,
            prefix=prefix,
            timeout=settings.METRICS_REDIS_TIMEOUT_SECONDS,
            retry_seconds=settings.METRICS_RETRY_SECONDS,
        )
    else:
        store = SqliteMetricsStore(
            path=path, retry_seconds=settings.METRICS_RETRY_SECONDS
        )
    return store, MetricsBuffer(lambda increments: store.apply(increments))


def _current() -> tuple[RedisMetricsStore | SqliteMetricsStore, MetricsBuffer]:
    return _store_for(
        settings.REDIS_URL, settings.METRICS_REDIS_PREFIX, settings.METRICS_STORE_PATH
    )


def metrics_store() -> RedisMetricsStore | SqliteMetricsStore:
    """The store of this configuration (Redis when REDIS_URL is set)."""
    return _current()[0]


def metrics_flush() -> None:
    """Write this process's buffered increments now (readers call it first, so a
    process sees its own figures at once; the ASGI lifespan shutdown too)."""
    buffers_flush()


async def _arecord(increments: list[Increment]) -> None:
    """An event loop's write: buffered (no I/O here), or through at once with
    `METRICS_FLUSH_MS=0`."""
    store, buffer = _current()
    if settings.METRICS_FLUSH_MS > 0:
        buffer.add(increments)
    else:
        await store.aapply(increments)


def metrics_reset() -> None:
    """Forget the cached store (tests switch settings)."""
    _store_for.cache_clear()


def _bucket_index(bounds: tuple, value: float) -> int:
    """Index of the first bucket whose upper bound is >= value (len = +Inf)."""
    return bisect.bisect_left(bounds, value)


def _spread(
    family: str,
    fields: dict[str, float],
    *,
    now: float,
    windowed_only: dict[str, float] | None = None,
) -> list[Increment]:
    """The increments of one event: minute, hour and total buckets."""
    minute, hour = int(now // 60), int(now // 3600)
    minute_ttl = settings.METRICS_MINUTE_RETENTION_SECONDS
    hour_ttl = settings.METRICS_HOUR_RETENTION_SECONDS
    increments: list[Increment] = []
    windowed = {**fields, **(windowed_only or {})}
    for field, amount in windowed.items():
        increments.append((f"{family}:m:{minute}", field, amount, minute_ttl))
        increments.append((f"{family}:h:{hour}", field, amount, hour_ttl))
    for field, amount in fields.items():
        increments.append((f"{family}:total", field, amount, None))
    return increments


def _enabled() -> bool:
    return settings.METRICS_ENABLED


def _label(value: object) -> str:
    return str(value).replace("|", "/")[:128]


# --- requests -------------------------------------------------------------------


def request_increments(
    *, method: str, route: str, status: int, duration_ms: float, now: float
) -> list[Increment]:
    route = _label(route or UNMATCHED_ROUTE)
    index = _bucket_index(REQUEST_BUCKETS_MS, duration_ms)
    return _spread(
        "req",
        {
            f"n|{_label(method)}|{route}|{int(status)}": 1,
            f"d|{route}": float(duration_ms),
            f"b|{route}|{index}": 1,
        },
        now=now,
    )


def metrics_record_request(
    *, method: str, route: str, status: int, duration_ms: float
) -> None:
    """One HTTP request (the request middleware calls this)."""
    if _enabled():
        metrics_store().apply(
            request_increments(
                method=method,
                route=route,
                status=status,
                duration_ms=duration_ms,
                now=time.time(),
            )
        )


async def ametrics_record_request(
    *, method: str, route: str, status: int, duration_ms: float
) -> None:
    if _enabled():
        await _arecord(
            request_increments(
                method=method,
                route=route,
                status=status,
                duration_ms=duration_ms,
                now=time.time(),
            )
        )


# --- AI calls -------------------------------------------------------------------


def ai_call_increments(
    *,
    user_id: int,
    model: str,
    status: str,
    prompt_tokens: int,
    completion_tokens: int,
    cost: Decimal | float | str,
    currency: str,
    now: float,
) -> list[Increment]:
    model, currency = _label(model), _label(currency)
    cost_value = float(Decimal(str(cost)))
    return _spread(
        "ai",
        {
            f"calls|{model}|{_label(status)}": 1,
            f"tok|{model}|prompt": int(prompt_tokens),
            f"tok|{model}|completion": int(completion_tokens),
            f"cost|{model}|{currency}": cost_value,
        },
        windowed_only={f"ucost|{int(user_id)}|{currency}": cost_value},
        now=now,
    )


async def ametrics_record_ai_call(**fields) -> None:
    """One settled AI call (usage settlement calls this): tokens and cost."""
    if _enabled():
        await _arecord(ai_call_increments(**fields, now=time.time()))


def metrics_record_ai_call(**fields) -> None:
    if _enabled():
        metrics_store().apply(ai_call_increments(**fields, now=time.time()))


# --- quota refusals, webhooks, jobs ---------------------------------------------


def metrics_record_quota_refusal(*, limit_type: str) -> None:
    """A call refused for quota (`requests`/`tokens`) or rate (`rate`)."""
    if _enabled():
        metrics_store().apply(
            _spread("quota", {f"refused|{_label(limit_type)}": 1}, now=time.time())
        )


def metrics_record_webhook(*, provider: str, outcome: str) -> None:
    """A webhook delivery's outcome: processed, ignored, failed, retry, rejected..."""
    if _enabled():
        metrics_store().apply(
            _spread(
                "wh", {f"n|{_label(provider)}|{_label(outcome)}": 1}, now=time.time()
            )
        )


def metrics_record_job(*, job_type: str, status: str, duration_seconds: float) -> None:
    """A finished background job (content generation...): status and duration."""
    if _enabled():
        job_type = _label(job_type)
        index = _bucket_index(JOB_BUCKETS_SECONDS, duration_seconds)
        metrics_store().apply(
            _spread(
                "job",
                {
                    f"n|{job_type}|{_label(status)}": 1,
                    f"d|{job_type}": float(duration_seconds),
                    f"b|{job_type}|{index}": 1,
                },
                now=time.time(),
            )
        )
