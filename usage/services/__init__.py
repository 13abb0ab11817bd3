"""Usage writes: admit and settle AI calls against quotas, record usage, alert.

The gateway calls `usage_admit` before a provider call and `usage_settle` exactly once
after it. With `REDIS_URL` set each is ONE Redis round trip (a Lua script that also
applies the per-minute rate limits, and on settle buffers the usage event and any
80%/100% alert in a Redis list). `usage_events_drain` (Celery beat, every few
seconds) moves that list into the database; it is restart-safe (items move to a
processing list first and records are unique per reservation id). Each process's
background writer (`usage.record_writer`) stores the same records sooner, in
batches, off the request path; the drain skips what it stored. Without Redis, or
while it is unreachable, the database enforces the same quotas exactly
(`usage.quota_db`) and the record is written in the settle transaction.
"""

from usage.services.background import usage_events_drain, usage_reservations_sweep
from usage.services.overrides import quota_override_delete, quota_override_set
from usage.services.quota import (
    error_headers,
    event_payload,
    quota_headers,
    usage_admit,
    usage_settle,
)
from usage.services.records import (
    quota_alert_email_send,
    quota_alert_fire,
    usage_record_store,
    usage_records_store_batch,
)

__all__ = [
    "error_headers",
    "event_payload",
    "quota_alert_email_send",
    "quota_alert_fire",
    "quota_headers",
    "quota_override_delete",
    "quota_override_set",
    "usage_admit",
    "usage_events_drain",
    "usage_record_store",
    "usage_records_store_batch",
    "usage_reservations_sweep",
    "usage_settle",
]
