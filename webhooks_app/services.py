"""Webhook writes: receive (verify, store once, enqueue), process, re-queue.

Receiving never does provider work: it verifies the signature on the raw body,
inserts one row per (provider, event id) — the unique constraint makes a duplicate
delivery, sequential or concurrent, a no-op — and enqueues processing after commit.
Rejected deliveries store nothing but a counter.
"""

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from flowmatik.audit import audit_record
from flowmatik.db_threads import in_caller_or_worker_thread
from flowmatik.errors import InvalidInput
from flowmatik.metrics import metrics_record_webhook
from webhooks_app import handlers
from webhooks_app.errors import (
    InvalidPayload,
    PayloadTooLarge,
    PaymentsNotConfigured,
    TestModeRefused,
    UnsupportedMediaType,
    WebhookRejected,
)
from webhooks_app.models import EventStatus, Provider, WebhookEvent
from webhooks_app.signatures import (
    lemonsqueezy_signature_verify,
    stripe_signature_verify,
)

logger = logging.getLogger("flowmatik.webhooks_app")

# Request headers kept with each event for audit (lower-case names).
AUDIT_HEADERS = (
    "content-type",
    "content-length",
    "user-agent",
    "stripe-signature",
    "x-signature",
    "x-event-name",
    "x-request-id",
    "x-forwarded-for",
)
REJECTION_REASONS = (
    "bad_signature",
    "stale_signature",
    "too_large",
    "wrong_content_type",
    "invalid_payload",
    "test_mode",
)
MAX_ERROR_CHARS = 4000


@dataclass(frozen=True)
class Delivery:
    """One incoming HTTP delivery, as the view read it. `read_body` is called only
    once the declared size has been checked."""

    provider: str
    content_type: str
    content_length: int | None
    headers: Mapping[str, str]
    read_body: Callable[[], bytes]
    remote_addr: str = ""


@dataclass(frozen=True)
class ReceiveResult:
    event_pk: int | None
    event_id: str
    duplicate: bool


def _rejection_key(provider: str, reason: str) -> str:
    return f"webhooks:rejected:{provider}:{reason}"


def webhook_rejection_record(*, provider: str, reason: str) -> None:
    """Count a refused delivery (nothing else is stored for it)."""
    metrics_record_webhook(provider=provider, outcome=f"rejected_{reason}")
    key = _rejection_key(provider, reason)
    try:
        cache.add(key, 0, timeout=None)
        cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, timeout=None)
    except Exception:  # a cache outage must not turn a 400 into a 500
        logger.warning("Webhook rejection counter unavailable", exc_info=True)


def _secret_for(provider: str) -> str:
    if provider == Provider.STRIPE:
        return str(settings.STRIPE_WEBHOOK_SECRET)
    return str(settings.LEMONSQUEEZY_WEBHOOK_SECRET)


def _check_envelope(delivery: Delivery) -> bytes:
    limit = settings.WEBHOOK_MAX_BODY_BYTES
    if delivery.content_length is not None and delivery.content_length > limit:
        raise PayloadTooLarge(details={"max_bytes": limit})
    media_type = delivery.content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaType()
    body = delivery.read_body()
    if len(body) > limit:
        raise PayloadTooLarge(details={"max_bytes": limit})
    return body


def _parse_json_object(body: bytes) -> dict[str, Any]:
    # Decode explicitly: `json.loads(bytes)` would also accept UTF-16/32, which the
    # stored payload (UTF-8 text) and the providers (always UTF-8) do not.
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidPayload("The webhook body is not UTF-8 encoded JSON.") from None
    except (ValueError, RecursionError):
        raise InvalidPayload("The webhook body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise InvalidPayload("The webhook body must be a JSON object.")
    if _json_depth_exceeds(data, limit=settings.WEBHOOK_MAX_JSON_DEPTH):
        # What parses may still be too deep to store or process (the JSON column's
        # encoder and the handlers recurse): refuse it here, once, with a 400.
        raise InvalidPayload("The webhook body is nested too deeply.")
    return data


def _json_depth_exceeds(data: Any, *, limit: int) -> bool:
    """Whether containers nest deeper than `limit` (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(value, dict):
            stack.extend((child, depth + 1) for child in value.values())
        elif isinstance(value, list):
            stack.extend((child, depth + 1) for child in value)
    return False


def _short_str(value: Any, *, field: str, max_length: int) -> str:
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise InvalidPayload(f"The event has no valid `{field}`.")
    return value


def _identify_stripe(body: bytes, headers: Mapping[str, str]) -> tuple[str, str]:
    stripe_signature_verify(
        body=body,
        header=headers.get("stripe-signature"),
        secret=settings.STRIPE_WEBHOOK_SECRET,
        tolerance=settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS,
    )
    data = _parse_json_object(body)
    event_id = _short_str(data.get("id"), field="id", max_length=255)
    event_type = _short_str(data.get("type"), field="type", max_length=100)
    return event_id, event_type


def _identify_lemonsqueezy(body: bytes, headers: Mapping[str, str]) -> tuple[str, str]:
    lemonsqueezy_signature_verify(
        body=body,
        header=headers.get("x-signature"),
        secret=settings.LEMONSQUEEZY_WEBHOOK_SECRET,
    )
    data = _parse_json_object(body)
    meta = data.get("meta")
    if not isinstance(meta, dict) or not isinstance(data.get("data"), dict):
        raise InvalidPayload("The event has no `meta` or `data` object.")
    event_type = _short_str(
        meta.get("event_name"), field="meta.event_name", max_length=100
    )
    if meta.get("test_mode") is True and not settings.LEMONSQUEEZY_TEST_MODE:
        raise TestModeRefused()
    # LemonSqueezy sends no event id: an exact redelivery has the same body.
    return hashlib.sha256(body).hexdigest(), event_type


_IDENTIFY = {
    Provider.STRIPE: _identify_stripe,
    Provider.LEMONSQUEEZY: _identify_lemonsqueezy,
}


@dataclass(frozen=True)
class _Verified:
    """A delivery that passed every check: what is stored for it."""

    provider: str
    event_id: str
    event_type: str
    body: bytes
    headers: dict[str, str]


def _verify(delivery: Delivery) -> _Verified:
    """Every check of a delivery, without I/O (CPU only: safe on an event loop).

    Raises `PaymentsNotConfigured` without a secret and the `WebhookRejected` of a
    refused delivery (not yet counted: see `_rejected`)."""
    provider = delivery.provider
    if not _secret_for(provider):
        raise PaymentsNotConfigured(
            f"{Provider(provider).label} webhooks are not configured on this server."
        )
    body = _check_envelope(delivery)
    event_id, event_type = _IDENTIFY[Provider(provider)](body, delivery.headers)
    headers = {
        name: delivery.headers[name]
        for name in AUDIT_HEADERS
        if name in delivery.headers
    }
    if delivery.remote_addr:
        headers["remote-addr"] = delivery.remote_addr
    return _Verified(provider, event_id, event_type, body, headers)


def _rejected(provider: str, exc: WebhookRejected) -> None:
    webhook_rejection_record(provider=provider, reason=exc.reason)
    logger.info(
        "Webhook delivery rejected",
        extra={"provider": provider, "reason": exc.reason, "code": exc.code},
    )


def _store(verified: _Verified) -> ReceiveResult:
    """One INSERT (a duplicate: the unique constraint, then one SELECT) and, after
    commit, the processing task's publish."""
    provider, event_id = verified.provider, verified.event_id
    try:
        event = _insert(
            provider=provider,
            event_id=event_id,
            event_type=verified.event_type,
            payload=verified.body.decode("utf-8"),
            headers=verified.headers,
            body_sha256=hashlib.sha256(verified.body).hexdigest(),
            received_at=timezone.now(),
        )
    except IntegrityError:
        if not WebhookEvent.objects.filter(
            provider=provider, event_id=event_id
        ).exists():
            raise
        logger.info(
            "Duplicate webhook delivery ignored",
            extra={"provider": provider, "event_id": event_id},
        )
        return ReceiveResult(event_pk=None, event_id=event_id, duplicate=True)
    _enqueue(event.pk)  # after commit (at once in autocommit mode)
    return ReceiveResult(event_pk=event.pk, event_id=event_id, duplicate=False)


# Both can run twice: the unique key makes a second INSERT a duplicate, a counter
# miscounts by one at worst.
_store_off_loop = in_caller_or_worker_thread(_store, retry_dropped=True)
_rejected_off_loop = in_caller_or_worker_thread(_rejected, retry_dropped=True)


async def webhook_receive_async(*, delivery: Delivery) -> ReceiveResult:
    """Verify and store one delivery; enqueue its processing after commit.

    Raises `PaymentsNotConfigured` (503) without a secret, and a `WebhookRejected`
    (413/415/400) for refused deliveries, which are counted and not stored.

    The checks (signature, JSON) run on the event loop: they are CPU only. The
    INSERT and the publish (and a rejection's counter) run where a sync view's code
    would under a sync caller, else on the shared worker threads, whose database
    connection stays open across deliveries (`in_caller_or_worker_thread`); the
    row is committed before this returns, so the acknowledgement stays durable.
    """
    try:
        verified = _verify(delivery)
    except WebhookRejected as exc:
        await _rejected_off_loop(delivery.provider, exc)
        raise
    return await _store_off_loop(verified)


def _insert(**fields: Any) -> WebhookEvent:
    """One INSERT; the unique constraint turns a duplicate into IntegrityError."""
    if transaction.get_connection().in_atomic_block:
        # Inside a caller's transaction: a savepoint keeps it usable on a duplicate.
        with transaction.atomic():
            return WebhookEvent.objects.create(**fields)
    # Autocommit: the INSERT commits by itself (one round trip, not three).
    return WebhookEvent.objects.create(**fields)


def _enqueue(event_pk: int) -> None:
    from webhooks_app.tasks import webhook_event_process_task

    webhook_event_process_task.delay_on_commit(event_pk)


# --- Processing ---


def _claim_lease() -> timedelta:
    # A worker that died mid-event leaves `processing`; after this, the event may be
    # claimed again (Celery redelivers it, or staff re-queue it).
    return timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)


def _claim(event_pk: int, claimant: str) -> WebhookEvent | None:
    now = timezone.now()
    with transaction.atomic():
        event = WebhookEvent.objects.select_for_update().filter(pk=event_pk).first()
        if event is None:
            return None
        claimable = event.status == EventStatus.RECEIVED or (
            event.status == EventStatus.PROCESSING
            and (
                (
                    event.claimed_at is not None
                    and event.claimed_at < now - _claim_lease()
                )
                # The message that claimed it, delivered again: its run is gone.
                or (bool(claimant) and event.claimed_by == claimant)
            )
        )
        if not claimable:
            return None
        event.status = EventStatus.PROCESSING
        event.attempts += 1
        event.claimed_at = now
        event.claimed_by = claimant
        event.last_attempt_at = now
        event.save(
            update_fields=[
                "status",
                "attempts",
                "claimed_at",
                "claimed_by",
                "last_attempt_at",
            ]
        )
        return event


def _finish(event: WebhookEvent, status: str, started: float) -> None:
    event.status = status
    event.processed_at = timezone.now()
    event.processing_ms = max(0, round((time.monotonic() - started) * 1000))
    event.last_error = ""
    event.save(update_fields=["status", "processed_at", "processing_ms", "last_error"])


def _record_failure(event_pk: int, exc: BaseException, *, final: bool) -> None:
    message = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
    WebhookEvent.objects.filter(pk=event_pk, status=EventStatus.PROCESSING).update(
        status=EventStatus.FAILED if final else EventStatus.RECEIVED,
        last_error=message,
        claimed_at=None,
    )


def webhook_event_process(
    *, event_pk: int, final_attempt: bool, claimant: str = ""
) -> str | None:
    """Apply one stored event once; returns its new status (None if skipped).

    Idempotent: the row is claimed under a lock, and a processed, ignored or
    claimed event is left alone, except by `claimant`, the id of the task message
    that claimed it: the broker delivers that message again only when its run died
    (worker killed before the late ack), so it re-claims at once instead of after
    the lease; should the first run still be alive, its apply step sees the new
    claim and stops. A handler error records `last_error`, puts the event back to
    `received` (or `failed` on the final attempt) and re-raises.
    """
    event = _claim(event_pk, claimant)
    if event is None:
        return None
    started = time.monotonic()
    handler = handlers.handler_for(event.provider, event.event_type)
    try:
        payload = json.loads(event.payload)
        prepared = None
        if handler is not None:
            prepared = handler.prepare(payload)  # provider calls: no transaction
        with transaction.atomic():
            locked = WebhookEvent.objects.select_for_update().get(pk=event.pk)
            if (
                locked.status != EventStatus.PROCESSING
                or locked.claimed_at != event.claimed_at
            ):
                return None  # finished, or re-claimed after our lease ran out
            if handler is None:
                _finish(locked, EventStatus.IGNORED, started)
            else:
                handler.apply(payload, prepared)
                _finish(locked, EventStatus.PROCESSED, started)
    except Exception as exc:
        _record_failure(event.pk, exc, final=final_attempt)
        metrics_record_webhook(
            provider=event.provider, outcome="failed" if final_attempt else "retry"
        )
        logger.warning(
            "Webhook event processing failed",
            extra={
                "provider": event.provider,
                "event_id": event.event_id,
                "event_type": event.event_type,
                "attempt": event.attempts,
                "final": final_attempt,
                "error": type(exc).__name__,
            },
        )
        raise
    metrics_record_webhook(provider=event.provider, outcome=locked.status)
    logger.info(
        "Webhook event processed",
        extra={
            "provider": event.provider,
            "event_id": event.event_id,
            "event_type": event.event_type,
            "status": locked.status,
            "processing_ms": locked.processing_ms,
        },
    )
    return locked.status


# --- Re-queue (staff) ---

REQUEUEABLE = (EventStatus.FAILED, EventStatus.RECEIVED)


def webhook_events_requeue(
    *,
    event_ids: Iterable[str] | None = None,
    pks: Iterable[int] | None = None,
    status: str | None = None,
    actor: AbstractBaseUser | AnonymousUser | None = None,
) -> int:
    """Put failed (or stuck received) events back in the queue; returns how many.

    Select by provider event ids, by primary keys, or by status. Processed and
    ignored events are never re-run. With `actor` (staff), each re-queued event
    gets an audit row (`webhook.retry`, its status before and after).
    """
    filters = Q()
    if event_ids is not None:
        filters |= Q(event_id__in=list(event_ids))
    if pks is not None:
        filters |= Q(pk__in=list(pks))
    if status is not None:
        if status not in REQUEUEABLE:
            raise InvalidInput(
                f"Only {', '.join(REQUEUEABLE)} events can be re-queued."
            )
        filters |= Q(status=status)
    if not filters:
        return 0
    requeued = 0
    with transaction.atomic():
        selected = list(
            WebhookEvent.objects.select_for_update()
            .filter(filters, status__in=REQUEUEABLE)
            .values_list("pk", flat=True)
        )
        for start in range(0, len(selected), 500):
            chunk = selected[start : start + 500]
            if actor is not None:
                _audit_requeue(actor=actor, pks=chunk)
            requeued += WebhookEvent.objects.filter(pk__in=chunk).update(
                status=EventStatus.RECEIVED, claimed_at=None
            )
            for pk in chunk:
                _enqueue(pk)
    logger.info("Webhook events re-queued", extra={"count": requeued})
    return requeued


def _audit_requeue(
    *, actor: AbstractBaseUser | AnonymousUser | None, pks: list[int]
) -> None:
    for event in WebhookEvent.objects.filter(pk__in=pks):
        audit_record(
            actor=actor,
            action="webhook.retry",
            target=event,
            before={"status": event.status},
            after={"status": EventStatus.RECEIVED},
            details={"event_id": event.event_id, "provider": event.provider},
        )


def webhook_events_requeue_stale(*, now: datetime | None = None) -> int:
    """Re-queue events left `received` with no attempt for longer than any retry
    waits (their broker message was lost); returns how many. Periodic."""
    now = now or timezone.now()
    cutoff = now - timedelta(
        seconds=settings.WEBHOOK_RETRY_BACKOFF_MAX_SECONDS
        + settings.WEBHOOK_STALE_AFTER_SECONDS
    )
    stale = WebhookEvent.objects.filter(status=EventStatus.RECEIVED).filter(
        Q(last_attempt_at__lt=cutoff)
        | Q(last_attempt_at__isnull=True, received_at__lt=cutoff)
    )
    pks = list(stale.values_list("pk", flat=True)[:5000])
    if not pks:
        return 0
    logger.warning("Re-queueing stale webhook events", extra={"count": len(pks)})
    return webhook_events_requeue(pks=pks)
