"""Billing reads other apps use: plans, a user's plan, feature gates."""

from django.db.models import QuerySet

from billing.models import Plan

FREE_PLAN_SLUG = "free"


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


def plan_has_feature(*, plan: Plan, feature: str) -> bool:
    return feature in (plan.features or [])


def user_has_feature(*, user, feature: str) -> bool:
    return plan_has_feature(plan=plan_get_for_user(user=user), feature=feature)


def user_is_premium(*, user) -> bool:
    """True when the user's current plan is a paid one (the `premium` role)."""
    return not plan_get_for_user(user=user).is_free
