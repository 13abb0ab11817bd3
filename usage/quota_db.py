"""Quota enforcement on the database: the fallback when Redis is absent or down.

Exact on every backend: admission is ONE conditional UPDATE on the user's daily row
(`requests < limit AND used + reserved + n <= limit`), so two processes can never
both take the last unit; the row is created race-safely through its unique
(user, day) constraint. Settlement is idempotent through a conditional UPDATE on the
reservation row. Both run in short transactions with no outside call inside.
"""

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Sum
from django.db.models.lookups import LessThan, LessThanOrEqual

from usage.daily_limits import Limits, utc_now
from usage.models import QuotaCounter, QuotaReservation, UsageDaily

logger = logging.getLogger("flowmatik.usage")

MAX_ATTEMPTS = 50

# SQLite has one writer at a time anyway; serialising this process's quota work
# turns "database is locked" races between its threads into a short wait (MySQL
# and MariaDB lock the row, so there every thread runs concurrently).
_sqlite_lock = threading.Lock()


@contextmanager
def serialized() -> Iterator[None]:
    if connection.vendor == "sqlite":
        with _sqlite_lock:
            yield
    else:
        yield


@dataclass(frozen=True)
class Counters:
    requests: int
    tokens_used: int
    tokens_reserved: int


@dataclass(frozen=True)
class AdmitResult:
    outcome: str  # "ok" | "requests" | "tokens"
    counters: Counters
    grant: int = 0


def _seed(user_id: int, day: date) -> dict:
    """Start a new row from what is already recorded today (e.g. during a Redis
    outage the day's earlier, Redis-metered usage still counts)."""
    totals = UsageDaily.objects.filter(user_id=user_id, day=day).aggregate(
        requests=Sum("requests"), tokens=Sum("total_tokens")
    )
    return {
        "requests": totals["requests"] or 0,
        "tokens_used": totals["tokens"] or 0,
    }


def known_usage(*, user_id: int, day: date) -> Counters:
    """What the database knows of the user's day, whichever store metered it:
    recorded calls (usage records are written through) plus the fallback's calls
    still in flight (open reservations). Exact once no call Redis admitted is
    still running (the failover hold, `usage.quota_redis`)."""
    totals = UsageDaily.objects.filter(user_id=user_id, day=day).aggregate(
        requests=Sum("requests"), tokens=Sum("total_tokens")
    )
    open_ = QuotaReservation.objects.filter(
        user_id=user_id, day=day, settled_at__isnull=True
    ).aggregate(count=Count("id"), tokens=Sum("tokens"))
    return Counters(
        requests=(totals["requests"] or 0) + (open_["count"] or 0),
        tokens_used=totals["tokens"] or 0,
        tokens_reserved=open_["tokens"] or 0,
    )


def counter_row_id(*, user_id: int, day: date) -> int:
    """The (user, day) row's id, created race-safely on first use."""
    row_id = (
        QuotaCounter.objects.filter(user_id=user_id, day=day)
        .values_list("id", flat=True)
        .first()
    )
    if row_id is not None:
        return row_id
    row, _ = QuotaCounter.objects.get_or_create(
        user_id=user_id, day=day, defaults=_seed(user_id, day)
    )
    return row.pk


def _read(row_id: int) -> Counters:
    values = QuotaCounter.objects.filter(pk=row_id).values_list(
        "requests", "tokens_used", "tokens_reserved"
    )[0]
    return Counters(*values)


def counters_for(*, user_id: int, day: date) -> Counters:
    values = (
        QuotaCounter.objects.filter(user_id=user_id, day=day)
        .values_list("requests", "tokens_used", "tokens_reserved")
        .first()
    )
    return Counters(*values) if values else Counters(0, 0, 0)


def admit(
    *,
    user_id: int,
    day: date,
    limits: Limits,
    prompt_tokens: int,
    max_tokens: int,
    reservation_id: str,
    now: datetime | None = None,
    floor: tuple[int, int] | None = None,
) -> AdmitResult:
    """Count one request and reserve prompt + (clamped) max_tokens, or refuse."""
    now = now or utc_now()
    row_id = counter_row_id(user_id=user_id, day=day)
    if floor is not None:
        # Redis just failed: what this process last saw there is a lower bound of
        # the day's usage, so the fallback does not start the user from zero.
        QuotaCounter.objects.filter(pk=row_id, requests__lt=floor[0]).update(
            requests=floor[0]
        )
        QuotaCounter.objects.filter(pk=row_id, tokens_used__lt=floor[1]).update(
            tokens_used=floor[1]
        )
    lreq, ltok = limits.requests_per_day, limits.tokens_per_day
    for _ in range(MAX_ATTEMPTS):
        current = _read(row_id)
        if lreq is not None and current.requests >= lreq:
            return AdmitResult("requests", current)
        grant = max_tokens
        if ltok is not None:
            avail = ltok - current.tokens_used - current.tokens_reserved - prompt_tokens
            if avail < (1 if max_tokens > 0 else 0):
                return AdmitResult("tokens", current)
            grant = min(grant, avail)
        tokens = prompt_tokens + grant
        rows = QuotaCounter.objects.filter(pk=row_id)
        if lreq is not None:
            rows = rows.filter(LessThan(F("requests"), lreq))
        if ltok is not None:
            rows = rows.filter(
                LessThanOrEqual(F("tokens_used") + F("tokens_reserved"), ltok - tokens)
            )
        with transaction.atomic():
            updated = rows.update(
                requests=F("requests") + 1,
                tokens_reserved=F("tokens_reserved") + tokens,
                updated_at=now,
            )
            if updated:
                QuotaReservation.objects.create(
                    id=reservation_id,
                    user_id=user_id,
                    day=day,
                    tokens=tokens,
                    expires_at=now
                    + timedelta(seconds=settings.QUOTA_RESERVATION_TTL_SECONDS),
                )
                after = _read(row_id)
                return AdmitResult("ok", after, grant)
        # Someone else changed the row between our read and our update: re-read.
    logger.warning("Quota row contended; refusing", extra={"userId": user_id})
    return AdmitResult("tokens", _read(row_id))


def settle(
    *,
    reservation_id: str,
    outcome: str,
    actual_tokens: int,
    now: datetime | None = None,
) -> tuple[bool, date | None, int | None]:
    """Apply a reservation's outcome once: `ok` counts actual tokens, `error`
    un-counts the request and frees everything, `release` (the sweeper) frees the
    tokens only; a late `ok`/`error` after a `release` still applies its counts.

    Must run inside the caller's transaction. Returns (fresh, day, user_id).
    """
    now = now or utc_now()
    updated = QuotaReservation.objects.filter(
        pk=reservation_id, settled_at__isnull=True
    ).update(settled_at=now, outcome=outcome)
    late = False
    if not updated and outcome != "release":
        # Swept as dead, yet the call did end: count what it really used now.
        late = bool(
            QuotaReservation.objects.filter(
                pk=reservation_id, outcome="release"
            ).update(outcome=outcome)
        )
    if not (updated or late):
        return False, None, None
    reservation = QuotaReservation.objects.only("tokens", "user_id", "day").get(
        pk=reservation_id
    )
    changes = {}
    if not late:
        changes["tokens_reserved"] = F("tokens_reserved") - reservation.tokens
    if outcome == "error":
        changes["requests"] = F("requests") - 1
    elif outcome == "ok":
        changes["tokens_used"] = F("tokens_used") + max(0, actual_tokens)
    QuotaCounter.objects.filter(
        user_id=reservation.user_id, day=reservation.day
    ).update(updated_at=now, **changes)
    return True, reservation.day, reservation.user_id
