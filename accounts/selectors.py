"""Account reads: roles, the `me` summary, a user's API keys."""

from dataclasses import dataclass
from typing import Literal

from django.db.models import QuerySet

from accounts.models import ApiKey, User
from billing import selectors as billing_selectors
from billing.models import Plan
from flowmatik.errors import NotFound
from usage import selectors as usage_selectors
from usage.types import QuotaState

Role = Literal["admin", "premium", "user"]


def user_role(*, user: User) -> Role:
    """`admin` = staff; `premium` = a paid plan now (billing decides); else `user`."""
    if user.is_staff:
        return "admin"
    if billing_selectors.user_is_premium(user=user):
        return "premium"
    return "user"


def user_quota_summary(*, user: User) -> QuotaState:
    """Today's quota for `/api/auth/me` (limits None = unlimited)."""
    return usage_selectors.quota_state_for_user(user_id=user.pk)


@dataclass(frozen=True)
class Me:
    user: User
    role: Role
    plan: Plan
    quota: QuotaState


def user_me(*, user: User) -> Me:
    return Me(
        user=user,
        role=user_role(user=user),
        plan=billing_selectors.plan_get_for_user(user=user),
        quota=user_quota_summary(user=user),
    )


def api_key_list(*, user: User) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(user=user).order_by("-created_at", "-pk")


def api_key_get(*, user: User, api_key_id: int) -> ApiKey:
    """One of `user`'s keys; another user's key is `NotFound`, like a missing one."""
    api_key = ApiKey.objects.filter(user=user, pk=api_key_id).first()
    if api_key is None:
        raise NotFound("API key not found.")
    return api_key
