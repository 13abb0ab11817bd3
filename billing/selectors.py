"""Billing reads other apps use: plans, a user's plan and subscription, feature gates,
invoices and payment methods (read from the provider that owns them), revenue."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from django.conf import settings
from django.db.models import (
    CharField,
    Count,
    Exists,
    OuterRef,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from billing.models import (
    GRANTING_STATUSES,
    LIVE_STATUSES,
    Payment,
    PaymentStatus,
    Plan,
    Provider,
    Subscription,
)
from billing.providers import ProviderInvoice, ProviderPaymentMethod, provider_module
from flowmatik.acache import acache_get_many
from flowmatik.db_threads import in_worker_thread
from flowmatik.versioned_cache import (
    versioned_get,
    versioned_hit,
    versioned_invalidate,
    versioned_keys,
    versioned_set,
)

if TYPE_CHECKING:
    from accounts.models import User

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


def plan_price_ref(*, plan: Plan, provider: str) -> str:
    """The plan's Stripe price id / LemonSqueezy variant id: admin value, else env."""
    if provider == Provider.STRIPE:
        return plan.stripe_price_id or settings.BILLING_STRIPE_PRICE_IDS.get(
            plan.slug, ""
        )
    if provider == Provider.LEMONSQUEEZY:
        return plan.lemonsqueezy_variant_id or (
            settings.BILLING_LEMONSQUEEZY_VARIANT_IDS.get(plan.slug, "")
        )
    return ""


def plan_for_price_ref(*, provider: str, price_ref: str) -> Plan | None:
    """The plan sold at `price_ref` through `provider` (admin values, then env)."""
    if not price_ref:
        return None
    for plan in Plan.objects.all():
        if plan_price_ref(plan=plan, provider=provider) == str(price_ref):
            return plan
    return None


def plan_providers(*, plan: Plan) -> list[str]:
    """Providers that can sell `plan` now: configured, with a price for it."""
    if plan.is_free:
        return []
    return [
        provider
        for provider in Provider.values
        if provider_module(provider).is_configured()
        and plan_price_ref(plan=plan, provider=provider)
    ]


def subscription_get_live(*, user_id: int) -> Subscription | None:
    """The user's one live subscription (not ended), if any."""
    return Subscription.objects.select_related("plan").filter(live_user=user_id).first()


def subscription_grants_access(
    *, subscription: Subscription, now: datetime | None = None
) -> bool:
    """Whether the subscription's plan applies now (provider state only)."""
    if subscription.status not in GRANTING_STATUSES:
        return False
    if subscription.provider_status == "unpaid":
        return False
    now = now or timezone.now()
    return not (
        subscription.cancel_at_period_end
        and subscription.current_period_end is not None
        and subscription.current_period_end <= now
    )


def plan_get_for_user(*, user: "User") -> Plan:
    """The plan whose limits and features apply to `user` now (Free if none)."""
    subscription = subscription_get_live(user_id=user.pk)
    if subscription is not None and subscription_grants_access(
        subscription=subscription
    ):
        return subscription.plan
    return plan_get_free()


def plan_has_feature(*, plan: Plan | PlanInfo, feature: str) -> bool:
    return feature in (plan.features or ())


def user_has_feature(*, user: "User", feature: str) -> bool:
    return plan_has_feature(plan=plan_get_for_user(user=user), feature=feature)


def user_is_premium(*, user: "User") -> bool:
    """True when the user's current plan is a paid one (the `premium` role)."""
    return not plan_get_for_user(user=user).is_free


def _granting_subscriptions(
    *, user_ref: str, now: datetime | None = None
) -> QuerySet[Subscription]:
    """The user's (`OuterRef(user_ref)`) subscription that grants access now, as SQL
    (`subscription_grants_access` for querysets)."""
    now = now or timezone.now()
    return (
        Subscription.objects.filter(
            live_user=OuterRef(user_ref),
            status__in=[s.value for s in GRANTING_STATUSES],
        )
        .exclude(provider_status="unpaid")
        .exclude(cancel_at_period_end=True, current_period_end__lte=now)
    )


def user_premium_exists(*, user_ref: str = "pk", now: datetime | None = None) -> Exists:
    """`user_is_premium` as SQL, to annotate or filter a queryset of users at once.

    True when the user (`OuterRef(user_ref)`) has a live subscription that grants
    access (`subscription_grants_access`) on a paid plan.
    """
    return Exists(
        _granting_subscriptions(user_ref=user_ref, now=now).filter(plan__price__gt=0)
    )


def user_plan_slug_expression(
    *, user_ref: str = "pk", now: datetime | None = None
) -> Coalesce:
    """`plan_get_for_user(...).slug` as SQL, to annotate or filter users at once."""
    granting = _granting_subscriptions(user_ref=user_ref, now=now)
    return Coalesce(
        Subquery(granting.values("plan__slug")[:1]),
        Value(FREE_PLAN_SLUG),
        output_field=CharField(),
    )


def user_provider_expression(*, user_ref: str = "pk") -> Coalesce:
    """The provider of the user's live subscription as SQL ('' without one)."""
    live = Subscription.objects.filter(live_user=OuterRef(user_ref))
    return Coalesce(
        Subquery(live.values("provider")[:1]), Value(""), output_field=CharField()
    )


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


def plan_info_cache_keys(*, user_id: int) -> list[str]:
    """The cache keys `plan_info_from_cache` reads (callers batch them)."""
    return versioned_keys(_plan_cache_key(user_id))


def plan_info_from_cache(*, user_id: int, found: Mapping[str, Any]) -> PlanInfo | None:
    """The cached plan in `found` (a read of `plan_info_cache_keys`), None on a miss.

    No cache write and no query: safe on the event loop.
    """
    lookup = versioned_hit(_plan_cache_key(user_id), found)
    return cast(PlanInfo, lookup.value) if lookup is not None and lookup.hit else None


async def aplan_info_for_user_id(*, user_id: int) -> PlanInfo:
    """`plan_info_for_user_id` for the event loop: a hit is one non-blocking cache
    read; only a miss takes a worker thread (and the database)."""
    found = await acache_get_many(plan_info_cache_keys(user_id=user_id))
    cached = plan_info_from_cache(user_id=user_id, found=found)
    if cached is not None:
        return cached
    return await in_worker_thread(plan_info_for_user_id)(user_id=user_id)


def plan_info_for_user_id(*, user_id: int) -> PlanInfo:
    """`plan_get_for_user` for the hot path: cached; invalidated on every change.

    The cache entry is versioned: a read that began before a plan change committed
    cannot put the old plan back after the invalidation.
    """
    lookup = versioned_get(_plan_cache_key(user_id))
    if lookup.hit:
        return cast(PlanInfo, lookup.value)  # only `plan_info` values are cached here
    from accounts.models import User

    info = plan_info(plan_get_for_user(user=User(pk=user_id)))
    versioned_set(lookup, info, settings.PLAN_CACHE_SECONDS)
    return info


def plan_cache_invalidate(*, user_id: int) -> None:
    """Call after anything that changes a user's plan (subscription writes)."""
    versioned_invalidate(_plan_cache_key(user_id))


# --- what the user's provider knows: invoices, payment methods ---


def _customer_subscriptions(*, user_id: int) -> QuerySet[Subscription]:
    """The user's subscriptions, newest first (one customer id per provider)."""
    return Subscription.objects.filter(user_id=user_id).order_by("-created_at", "-id")


def invoice_list_for_user(*, user_id: int) -> list[ProviderInvoice]:
    """The user's invoices from every provider they have used, newest first."""
    invoices: list[ProviderInvoice] = []
    stripe_customers: set[str] = set()
    for sub in _customer_subscriptions(user_id=user_id):
        module = provider_module(sub.provider)
        if not module.is_configured():
            continue
        if sub.provider == Provider.STRIPE:
            if sub.external_customer_id and (
                sub.external_customer_id not in stripe_customers
            ):
                stripe_customers.add(sub.external_customer_id)
                invoices += module.invoice_list(customer_id=sub.external_customer_id)
        else:
            invoices += module.invoice_list(subscription_id=sub.external_id)
    unique = {(i.provider, i.external_id): i for i in invoices}
    return sorted(unique.values(), key=lambda i: i.created_at, reverse=True)


def payment_method_list_for_user(*, user_id: int) -> list[ProviderPaymentMethod]:
    """Cards on file with the provider of the user's live (else latest) subscription."""
    sub = subscription_get_live(user_id=user_id) or (
        _customer_subscriptions(user_id=user_id).first()
    )
    if sub is None:
        return []
    module = provider_module(sub.provider)
    if not module.is_configured():
        return []
    if sub.provider == Provider.STRIPE:
        if not sub.external_customer_id:
            return []
        methods = module.payment_method_list(customer_id=sub.external_customer_id)
    else:
        methods = module.payment_method_list(external_id=sub.external_id)
    return cast(list[ProviderPaymentMethod], methods)


# --- revenue (admin dashboard) ---


def revenue_total(
    *, since: datetime | None = None, until: datetime | None = None
) -> dict[str, Decimal]:
    """Paid revenue per currency in [since, until)."""
    payments = Payment.objects.filter(status=PaymentStatus.PAID)
    if since is not None:
        payments = payments.filter(paid_at__gte=since)
    if until is not None:
        payments = payments.filter(paid_at__lt=until)
    rows = payments.values("currency").annotate(total=Sum("amount"))
    return {row["currency"]: row["total"] for row in rows.order_by("currency")}


def mrr() -> dict[str, Decimal]:
    """Monthly recurring revenue per currency: live, paying subscriptions' plans."""
    rows = (
        Subscription.objects.filter(
            status__in=[s.value for s in GRANTING_STATUSES], cancel_at_period_end=False
        )
        .exclude(plan__price=0)
        .values("plan__currency")
        .annotate(total=Sum("plan__price"))
        .order_by("plan__currency")
    )
    return {row["plan__currency"]: row["total"] for row in rows}


def revenue_breakdown(
    *, since: datetime | None = None, until: datetime | None = None
) -> list[dict[str, Any]]:
    """Paid revenue in [since, until) per provider and currency (admin dashboard)."""
    payments = Payment.objects.filter(status=PaymentStatus.PAID)
    if since is not None:
        payments = payments.filter(paid_at__gte=since)
    if until is not None:
        payments = payments.filter(paid_at__lt=until)
    rows = (
        payments.values("provider", "currency")
        .annotate(total=Sum("amount"), payments=Count("id"))
        .order_by("provider", "currency")
    )
    return [dict(row) for row in rows]


def subscription_counts() -> dict[str, dict[str, int]]:
    """Live subscriptions per plan slug and per provider (admin dashboard)."""
    rows = (
        Subscription.objects.filter(status__in=[s.value for s in LIVE_STATUSES])
        .values("plan__slug", "provider")
        .annotate(count=Count("id"))
        .order_by("plan__slug", "provider")
    )
    by_plan: dict[str, int] = {}
    by_provider: dict[str, int] = {}
    for row in rows:
        by_plan[row["plan__slug"]] = by_plan.get(row["plan__slug"], 0) + row["count"]
        by_provider[row["provider"]] = (
            by_provider.get(row["provider"], 0) + row["count"]
        )
    return {"by_plan": by_plan, "by_provider": by_provider}


def payment_provider_status() -> list[dict[str, Any]]:
    """Per provider: API credentials, webhook secret and plan prices configured."""
    secrets = {
        Provider.STRIPE: settings.STRIPE_WEBHOOK_SECRET,
        Provider.LEMONSQUEEZY: settings.LEMONSQUEEZY_WEBHOOK_SECRET,
    }
    paid = [plan for plan in plan_list() if not plan.is_free]
    return [
        {
            "provider": provider.value,
            "configured": provider_module(provider.value).is_configured(),
            "webhook_secret_set": bool(secrets[provider]),
            "plans_priced": sorted(
                plan.slug
                for plan in paid
                if plan_price_ref(plan=plan, provider=provider.value)
            ),
        }
        for provider in Provider
    ]


def users_on_plan(*, slug: str) -> "QuerySet[User]":
    """Active users whose current plan is `slug` (Free: those without a paid one)."""
    from django.contrib.auth import get_user_model

    return (
        get_user_model()
        .objects.filter(is_active=True)
        .annotate(current_plan=user_plan_slug_expression())
        .filter(current_plan=slug)
    )
