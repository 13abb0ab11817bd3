"""Staff changes to a user: role, deactivation/reactivation, quota override, boost.

Each change goes through the owning app's service (accounts, usage) inside
`audit_actor`, so django-auditlog attributes model changes to the staff member, and
each action is also written explicitly with its before/after.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts import selectors as account_selectors
from accounts import services as account_services
from accounts.models import User
from flowmatik.audit import audit_actor, audit_record
from flowmatik.errors import Conflict, InvalidInput
from usage import selectors as usage_selectors
from usage import services as usage_services

UNSET: Any = object()


@dataclass(frozen=True)
class AdminUserChanges:
    role: str | None = None  # "admin" | "user"
    is_active: bool | None = None
    # dict: requests_per_day, tokens_per_day, unlimited, reason; None: remove it
    quota_override: Any = UNSET
    # dict: requests, tokens, until, reason
    boost: dict[str, Any] | None = None


def _override_state(user_id: int) -> dict[str, Any]:
    override = usage_selectors.quota_override_get(user_id=user_id)
    if override is None:
        return {}
    return {
        "requests_per_day": override.requests_per_day,
        "tokens_per_day": override.tokens_per_day,
        "unlimited": override.unlimited,
        "boost_requests": override.boost_requests,
        "boost_tokens": override.boost_tokens,
        "boost_until": override.boost_until.isoformat()
        if override.boost_until
        else None,
        "reason": override.reason,
    }


def _check_self(*, actor: User, user: User, changes: AdminUserChanges) -> None:
    if actor.pk != user.pk:
        return
    if changes.role == "user" or changes.is_active is False:
        raise Conflict(
            "Staff cannot remove their own admin role or deactivate themselves.",
            code="cannot_change_self",
        )


def _set_role(*, actor: User, user: User, role: str) -> None:
    before = account_selectors.user_role(user=user)
    account_services.user_staff_set(user=user, is_staff=role == "admin")
    after = account_selectors.user_role(user=user)
    if before != after:
        audit_record(
            actor=actor,
            action="user.role_change",
            target=user,
            before={"role": before},
            after={"role": after},
        )


def _set_active(*, actor: User, user: User, is_active: bool) -> None:
    if user.is_active == is_active:
        return
    if is_active:
        account_services.user_reactivate(user=user)
        audit_record(
            actor=actor,
            action="user.reactivate",
            target=user,
            before={"is_active": False},
            after={"is_active": True},
        )
        return
    account_services.user_deactivate(user=user)
    revoked = 0
    for api_key in account_selectors.api_key_list(user=user).filter(
        revoked_at__isnull=True
    ):
        account_services.api_key_revoke(api_key=api_key)
        revoked += 1
    audit_record(
        actor=actor,
        action="user.deactivate",
        target=user,
        before={"is_active": True},
        after={"is_active": False},
        details={"api_keys_revoked": revoked},
    )


def _set_override(*, actor: User, user: User, override: dict[str, Any] | None) -> None:
    before = _override_state(user.pk)
    if override is None:
        usage_services.quota_override_delete(user_id=user.pk)
    else:
        usage_services.quota_override_set(
            user_id=user.pk,
            requests_per_day=override.get("requests_per_day"),
            tokens_per_day=override.get("tokens_per_day"),
            unlimited=override.get("unlimited", False),
            boost_requests=before.get("boost_requests") or 0,
            boost_tokens=before.get("boost_tokens") or 0,
            boost_until=_parse(before.get("boost_until")),
            reason=override.get("reason", ""),
            updated_by=actor,
        )
    audit_record(
        actor=actor,
        action="user.quota_override",
        target=user,
        before=before,
        after=_override_state(user.pk),
    )


def _set_boost(*, actor: User, user: User, boost: dict[str, Any]) -> None:
    until: datetime = boost["until"]
    if until <= timezone.now():
        raise InvalidInput(
            details={"fields": {"boost": {"until": ["Must be in the future."]}}}
        )
    before = _override_state(user.pk)
    usage_services.quota_override_set(
        user_id=user.pk,
        requests_per_day=before.get("requests_per_day"),
        tokens_per_day=before.get("tokens_per_day"),
        unlimited=before.get("unlimited", False),
        boost_requests=boost.get("requests", 0),
        boost_tokens=boost.get("tokens", 0),
        boost_until=until,
        reason=boost.get("reason") or before.get("reason", ""),
        updated_by=actor,
    )
    audit_record(
        actor=actor,
        action="user.quota_boost",
        target=user,
        before=before,
        after=_override_state(user.pk),
    )


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def admin_user_update(*, actor: User, user: User, changes: AdminUserChanges) -> User:
    """Apply staff changes to `user` in one transaction, each one audited.

    Premium is billing's to decide, so `role` is `admin` or `user` only; staff may
    not demote or deactivate themselves (409 `cannot_change_self`).
    """
    if changes.role not in (None, "admin", "user"):
        raise InvalidInput(
            details={
                "fields": {
                    "role": ["Set `admin` or `user`; premium comes from billing."]
                }
            }
        )
    _check_self(actor=actor, user=user, changes=changes)
    with transaction.atomic(), audit_actor(actor):
        if changes.role is not None:
            _set_role(actor=actor, user=user, role=changes.role)
        if changes.is_active is not None:
            _set_active(actor=actor, user=user, is_active=changes.is_active)
        if changes.quota_override is not UNSET:
            _set_override(actor=actor, user=user, override=changes.quota_override)
        if changes.boost is not None:
            _set_boost(actor=actor, user=user, boost=changes.boost)
    user.refresh_from_db()
    return user
