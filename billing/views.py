"""Billing portal page (server-rendered): your plan, upgrades, invoices, the actions.

Thin like the API: the page reads the same selectors as `/api/payments/*`, and each
POST calls one service and redirects (to the provider's checkout or portal, or back
here with a message in words).
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from billing import selectors, services
from billing.models import Feature, Provider
from flowmatik.errors import ApplicationError

CHECKOUT_RETURNS = {
    "success": _(
        "Thank you! Your payment is being confirmed; your new plan applies as soon "
        "as the provider tells us (usually within seconds)."
    ),
    "cancelled": _("Checkout was cancelled; nothing was charged."),
}


def _provider_read(read, **kwargs) -> tuple[list, str]:
    """A list read from the payment provider, or an empty list and why."""
    try:
        return read(**kwargs), ""
    except ApplicationError as exc:
        return [], exc.message


@login_required
@require_GET
def billing_page(request: HttpRequest) -> HttpResponse:
    user = request.user
    subscription = selectors.subscription_get_live(user_id=user.pk)
    current_plan = selectors.plan_get_for_user(user=user)
    configured = [
        Provider(row["provider"])
        for row in selectors.payment_provider_status()
        if row["configured"]
    ]
    plans = []
    for plan in selectors.plan_list():
        providers = selectors.plan_providers(plan=plan)
        plans.append(
            {
                "plan": plan,
                "is_current": plan.pk == current_plan.pk,
                "providers": [Provider(p) for p in providers],
                "features": [
                    Feature(f).label if f in Feature.values else f
                    for f in plan.features or []
                ],
                # With a live subscription, moving plan happens at its provider.
                "can_change": subscription is not None
                and not plan.is_free
                and plan.pk != subscription.plan_id
                and subscription.provider in providers,
            }
        )
    invoices, invoices_error = _provider_read(
        selectors.invoice_list_for_user, user_id=user.pk
    )
    methods, methods_error = _provider_read(
        selectors.payment_method_list_for_user, user_id=user.pk
    )
    checkout = CHECKOUT_RETURNS.get(request.GET.get("checkout", ""))
    context = {
        "plans": plans,
        "current_plan": current_plan,
        "subscription": subscription,
        "subscription_provider": Provider(subscription.provider)
        if subscription
        else None,
        "configured_providers": configured,
        "invoices": invoices,
        "invoices_error": invoices_error,
        "payment_methods": methods,
        "payment_methods_error": methods_error,
        "checkout_message": checkout,
    }
    return render(request, "billing/billing.html", context)


def _fail(request: HttpRequest, exc: ApplicationError) -> HttpResponse:
    messages.error(request, exc.message)
    return redirect("billing:page")


@login_required
@require_POST
def subscribe(request: HttpRequest, provider: str) -> HttpResponse:
    try:
        url = services.subscription_checkout_start(
            user=request.user, plan_slug=request.POST.get("plan", ""), provider=provider
        )
    except ApplicationError as exc:
        return _fail(request, exc)
    return redirect(url)


@login_required
@require_POST
def change_plan(request: HttpRequest) -> HttpResponse:
    try:
        sub = services.subscription_change_plan(
            user=request.user, plan_slug=request.POST.get("plan", "")
        )
    except ApplicationError as exc:
        return _fail(request, exc)
    messages.success(request, _("Your plan is now %(plan)s.") % {"plan": sub.plan.name})
    return redirect("billing:page")


@login_required
@require_POST
def cancel(request: HttpRequest) -> HttpResponse:
    try:
        services.subscription_cancel(user=request.user)
    except ApplicationError as exc:
        return _fail(request, exc)
    messages.success(request, _("Your plan will end at the end of the billing period."))
    return redirect("billing:page")


@login_required
@require_POST
def resume(request: HttpRequest) -> HttpResponse:
    try:
        services.subscription_resume(user=request.user)
    except ApplicationError as exc:
        return _fail(request, exc)
    messages.success(request, _("Your subscription will continue."))
    return redirect("billing:page")


@login_required
@require_POST
def portal(request: HttpRequest) -> HttpResponse:
    try:
        url = services.subscription_portal_url(user=request.user)
    except ApplicationError as exc:
        return _fail(request, exc)
    return redirect(url)
