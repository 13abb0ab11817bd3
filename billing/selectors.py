"""Billing reads other apps use: plans, a user's plan, feature gates."""

from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db.models import QuerySet

from billing.models import Plan

FREE_PLAN_SLUG = "free"


@dataclass(frozen=True)
class PlanInfo:
    """A plan as the hot path needs it (cacheable, no ORM object)."""

    slug: str
    name: str
    is_free: bool
    requests_per_day: int | None
    tokens_per_day: int | None
    features: frozenset[str]
    sort_order: int


def plan_list(*, active_only: bool = True) -> QuerySet[Plan]:
    plans = Plan.objects.all()
    return plans.filter(is_active=True) if active_only else plans


def plan_get(*, slug: str) -> Plan:
    return Plan.objects.get(slug=slug)


def plan_get_free() -> Plan:
    return Plan.objects.get(slug=FREE_PLAN_SLUG)


def plan_get_for_user(*, user) -> Plan:
    """The plan whose limits and features apply to `user` now (Free if none)."""
    return plan_get_free()


def plan_has_feature(*, plan: Plan | PlanInfo, feature: str) -> bool:
    return feature in (plan.features or ())


def user_has_feature(*, user, feature: str) -> bool:
    return plan_has_feature(plan=plan_get_for_user(user=user), feature=feature)


def user_is_premium(*, user) -> bool:
    """True when the user's current plan is a paid one (the `premium` role)."""
    return not plan_get_for_user(user=user).is_free


def _plan_cache_key(user_id: int) -> str:
    return f"billing:plan:{user_id}"


def plan_info(plan: Plan) -> PlanInfo:
    return PlanInfo(
        slug=plan.slug,
        name=plan.name,
        is_free=plan.is_free,
        requests_per_day=plan.requests_per_day,
        tokens_per_day=plan.tokens_per_day,
        features=frozenset(plan.features or ()),
        sort_order=plan.sort_order,
    )


def plan_info_for_user_id(*, user_id: int) -> PlanInfo:
    """`plan_get_for_user` for the hot path: cached; invalidated on every change."""
    key = _plan_cache_key(user_id)
    info = cache.get(key)
    if info is None:
        from accounts.models import User

        info = plan_info(plan_get_for_user(user=User(pk=user_id)))
        cache.set(key, info, settings.PLAN_CACHE_SECONDS)
    return info


def plan_cache_invalidate(*, user_id: int) -> None:
    """Call after anything that changes a user's plan (subscription writes)."""
    cache.delete(_plan_cache_key(user_id))
