"""Billing portal page (server-rendered): plans, your subscription, and the actions.

Thin like the API: each POST calls one service and redirects (to the provider's
checkout or portal, or back here with a message).
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from billing import selectors, services
from billing.errors import BillingError
from flowmatik.errors import ApplicationError


@login_required
def billing_page(request: HttpRequest) -> HttpResponse:
    plans = [
        {"plan": plan, "providers": selectors.plan_providers(plan=plan)}
        for plan in selectors.plan_list()
    ]
    context = {
        "plans": plans,
        "current_plan": selectors.plan_get_for_user(user=request.user),
        "subscription": selectors.subscription_get_live(user_id=request.user.pk),
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
    except BillingError as exc:
        return _fail(request, exc)
    return redirect(url)


@login_required
@require_POST
def cancel(request: HttpRequest) -> HttpResponse:
    try:
        services.subscription_cancel(user=request.user)
    except ApplicationError as exc:
        return _fail(request, exc)
    messages.success(request, "Your plan will end at the end of the billing period.")
    return redirect("billing:page")


@login_required
@require_POST
def resume(request: HttpRequest) -> HttpResponse:
    try:
        services.subscription_resume(user=request.user)
    except ApplicationError as exc:
        return _fail(request, exc)
    messages.success(request, "Your subscription will continue.")
    return redirect("billing:page")


@login_required
@require_POST
def portal(request: HttpRequest) -> HttpResponse:
    try:
        url = services.subscription_portal_url(user=request.user)
    except ApplicationError as exc:
        return _fail(request, exc)
    return redirect(url)
