"""Staff reads about users: the searchable list and one user's full picture."""

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypedDict

from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts import selectors as account_selectors
from accounts.models import User
from ai import selectors as ai_selectors
from billing import selectors as billing_selectors
from flowmatik.errors import NotFound
from usage import selectors as usage_selectors

if TYPE_CHECKING:  # WithAnnotations[Model, TypedDict] fails at runtime
    from django_stubs_ext import WithAnnotations

SORTS = {
    "joined": ("date_joined", "pk"),
    "-joined": ("-date_joined", "-pk"),
    "email": ("email",),
    "-email": ("-email",),
    "last_login": ("last_login", "pk"),
    "-last_login": ("-last_login", "-pk"),
    "cost_month": ("cost_month", "pk"),
    "-cost_month": ("-cost_month", "-pk"),
}
RECENT_REQUESTS = 20
RECENT_JOBS = 20


@dataclass(frozen=True)
class UserFilters:
    search: str = ""
    role: str | None = None  # admin | premium | user
    plan: str | None = None  # plan slug
    provider: str | None = None  # stripe | lemonsqueezy | none
    is_active: bool | None = None
    joined_from: datetime | None = None
    joined_to: datetime | None = None
    sort: str = "-joined"


def _month(today: date) -> date:
    return today.replace(day=1)


def admin_user_list(*, filters: UserFilters) -> QuerySet[User]:
    """Users matching the filters, annotated with `plan_slug`, `provider`,
    `is_premium` and `cost_month` (SQL: one query for any page)."""
    today = timezone.now().astimezone(UTC).date()
    users = User.objects.annotate(
        plan_slug=billing_selectors.user_plan_slug_expression(),
        provider=billing_selectors.user_provider_expression(),
        is_premium=billing_selectors.user_premium_exists(),
        cost_month=usage_selectors.usage_month_cost_expression(month=_month(today)),
    )
    if filters.search:
        users = users.filter(
            Q(email__icontains=filters.search) | Q(name__icontains=filters.search)
        )
    if filters.role == "admin":
        users = users.filter(is_staff=True)
    elif filters.role in ("premium", "user"):
        users = users.filter(is_staff=False, is_premium=filters.role == "premium")
    if filters.plan:
        users = users.filter(plan_slug=filters.plan)
    if filters.provider == "none":
        users = users.filter(provider="")
    elif filters.provider:
        users = users.filter(provider=filters.provider)
    if filters.is_active is not None:
        users = users.filter(is_active=filters.is_active)
    if filters.joined_from is not None:
        users = users.filter(date_joined__gte=filters.joined_from)
    if filters.joined_to is not None:
        users = users.filter(date_joined__lt=filters.joined_to)
    return users.order_by(*SORTS[filters.sort])


class UserListAnnotations(TypedDict):
    """What `admin_user_list` annotates on each user."""

    plan_slug: str
    provider: str
    is_premium: bool
    cost_month: Decimal


def admin_user_rows(
    *, users: "list[WithAnnotations[User, UserListAnnotations]]"
) -> list[dict[str, Any]]:
    """One page of `admin_user_list` with usage today and cost this month (two
    queries for the whole page)."""
    today = timezone.now().astimezone(UTC).date()
    ids = [user.pk for user in users]
    usage = usage_selectors.usage_day_for_users(user_ids=ids, day=today)
    costs = usage_selectors.usage_month_cost_for_users(
        user_ids=ids, month=_month(today)
    )
    return [
        {
            "user": user,
            "role": "admin"
            if user.is_staff
            else ("premium" if user.is_premium else "user"),
            "usage_today": usage.get(user.pk, {"requests": 0, "total_tokens": 0}),
            "cost_this_month": {
                currency: str(amount)
                for currency, amount in costs.get(user.pk, {}).items()
            },
        }
        for user in users
    ]


def admin_user_get(*, user_id: int) -> User:
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        raise NotFound("User not found.")
    return user


def admin_user_detail(*, user: User) -> dict[str, Any]:
    """Subscription, quota and override, usage, API keys, recent requests, jobs."""
    today = timezone.now().astimezone(UTC).date()
    subscription = billing_selectors.subscription_get_live(user_id=user.pk)
    override = usage_selectors.quota_override_get(user_id=user.pk)
    return {
        "user": user,
        "role": account_selectors.user_role(user=user),
        "plan": billing_selectors.plan_get_for_user(user=user),
        "subscription": subscription,
        "quota": usage_selectors.quota_summary_for_user(user_id=user.pk),
        "quota_override": override,
        "usage_this_month": usage_selectors.usage_totals(
            user_id=user.pk, date_from=_month(today), date_to=today
        ),
        "api_keys": list(account_selectors.api_key_list(user=user)),
        "recent_requests": list(
            usage_selectors.usage_records_for_user(user_id=user.pk)[:RECENT_REQUESTS]
        ),
        "jobs": list(ai_selectors.job_list(user_id=user.pk)[:RECENT_JOBS]),
    }
