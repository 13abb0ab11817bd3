"""Portal pages (server-rendered). They call the same selectors and services as the
API: the landing page and pricing (public; a logged-in visitor of `/` goes to the
app), and the staff pages (role admin only) that draw the
`/api/admin/*` KPIs and metrics, list users, retry failed webhooks and notify."""

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import wraps
from typing import Any, cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.formats import number_format
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import User
from billing import selectors as billing_selectors
from billing.models import Feature, Plan
from dashboard.charts import dashboard_charts
from dashboard.forms import AnnouncementForm, UserSearchForm, WebhookRetryForm
from dashboard.selectors.kpis import dashboard_kpis
from dashboard.selectors.operations import admin_metrics
from dashboard.selectors.users import UserFilters, admin_user_list, admin_user_rows
from dashboard.services import AnnouncementRequest, announcement_send
from flowmatik.errors import ApplicationError
from flowmatik.metrics.windows import WINDOWS
from webhooks_app.selectors import webhook_events_needing_attention, webhook_stats
from webhooks_app.services import webhook_events_requeue

METRICS_WINDOW = "1h"


CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£"}


@dataclass(frozen=True)
class PlanCard:
    """A plan as people read it: monthly price, limits and feature labels."""

    slug: str
    name: str
    description: str
    monthly_price: str
    billed_yearly: bool
    is_free: bool
    limits: list[str]
    features: list[str]
    is_current: bool


def _money(amount: Decimal, currency: str) -> str:
    symbol = CURRENCY_SYMBOLS.get(currency.upper())
    decimals = 0 if amount == amount.to_integral_value() else 2
    value = number_format(amount, decimal_pos=decimals, force_grouping=True)
    return f"{symbol}{value}" if symbol else f"{value} {currency.upper()}"


def _limit(value: int | None, *, unlimited: str, some: str) -> str:
    if value is None:
        return unlimited
    return some % {"count": number_format(value, force_grouping=True)}


def plan_cards(plans: list[Plan], *, current_slug: str = "") -> list[PlanCard]:
    labels = dict(Feature.choices)
    cards = []
    for plan in plans:
        yearly = plan.interval == "year"
        monthly = (plan.price / 12).quantize(Decimal("0.01")) if yearly else plan.price
        cards.append(
            PlanCard(
                slug=plan.slug,
                name=plan.name,
                # A seeded description reads in the visitor's language (billing/
                # seed_data.py marks them); an edited one as written.
                description=gettext(plan.description) if plan.description else "",
                monthly_price=_money(monthly, plan.currency),
                billed_yearly=yearly,
                is_free=plan.is_free,
                limits=[
                    _limit(
                        plan.requests_per_day,
                        unlimited=gettext("Unlimited requests"),
                        some=gettext("%(count)s requests a day"),
                    ),
                    _limit(
                        plan.tokens_per_day,
                        unlimited=gettext("Unlimited tokens"),
                        some=gettext("%(count)s tokens a day"),
                    ),
                ],
                features=[
                    str(labels[feature])
                    for feature in plan.features or []
                    if feature in labels
                ],
                is_current=plan.slug == current_slug,
            )
        )
    return cards


def _current_slug(request: HttpRequest) -> str:
    if not request.user.is_authenticated:
        return ""
    return billing_selectors.plan_get_for_user(user=request.user).slug


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("/app/chat/")
    plans = list(billing_selectors.plan_list())
    return render(request, "dashboard/home.html", {"plans": plan_cards(plans)})


@require_GET
def pricing(request: HttpRequest) -> HttpResponse:
    plans = list(billing_selectors.plan_list())
    return render(
        request,
        "dashboard/pricing.html",
        {"plans": plan_cards(plans, current_slug=_current_slug(request))},
    )


def staff_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The admin role (`is_staff`, as the staff API's `IsAdmin`): anonymous visitors
    go to the log-in page, everyone else gets the 403 page."""

    @wraps(view)
    @login_required
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_staff:
            raise PermissionDenied(_("This page is for administrators."))
        return view(request, *args, **kwargs)

    return wrapped


@staff_only
@require_GET
def staff_dashboard(request: HttpRequest) -> HttpResponse:
    window = request.GET.get("window", METRICS_WINDOW)
    if window not in WINDOWS:
        window = METRICS_WINDOW
    kpis = dashboard_kpis()
    metrics, metrics_error = None, ""
    try:
        metrics = admin_metrics(window=window)
    except ApplicationError as exc:
        metrics_error = exc.message
    context = {
        "kpis": kpis,
        "metrics": metrics,
        "metrics_error": metrics_error,
        "window": window,
        "windows": list(WINDOWS),
        "charts": dashboard_charts(kpis=kpis, metrics=metrics),
    }
    return render(request, "dashboard/staff/dashboard.html", context)


@staff_only
@require_GET
def staff_users(request: HttpRequest) -> HttpResponse:
    form = UserSearchForm(request.GET)
    if not form.is_valid():
        context = {"form": form, "rows": [], "page": None}
        return render(request, "dashboard/staff/users.html", context, status=400)
    filters = UserFilters(
        search=form.cleaned_data["q"], role=form.cleaned_data["role"] or None
    )
    paginator = Paginator(
        admin_user_list(filters=filters), settings.PORTAL_STAFF_PAGE_SIZE
    )
    page = paginator.get_page(request.GET.get("page"))
    context = {
        "form": form,
        "page": page,
        "rows": admin_user_rows(users=cast(Any, list(page.object_list))),
        "query": form.cleaned_data["q"],
        "role": form.cleaned_data["role"],
    }
    return render(request, "dashboard/staff/users.html", context)


@staff_only
@require_GET
def staff_webhooks(request: HttpRequest) -> HttpResponse:
    context = {
        "events": webhook_events_needing_attention(
            limit=settings.PORTAL_STAFF_PAGE_SIZE
        ),
        "stats": webhook_stats(),
    }
    return render(request, "dashboard/staff/webhooks.html", context)


@staff_only
@require_POST
def staff_webhook_retry(request: HttpRequest) -> HttpResponse:
    form = WebhookRetryForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose an event to retry."))
        return redirect("dashboard:staff_webhooks")
    count = webhook_events_requeue(pks=[form.cleaned_data["event"]], actor=request.user)
    if count:
        messages.success(
            request, _("The event was re-queued; a worker processes it again now.")
        )
    else:
        messages.warning(
            request,
            _(
                "Nothing was re-queued: the event is already processed, ignored, "
                "being processed, or does not exist."
            ),
        )
    return redirect("dashboard:staff_webhooks")


@staff_only
@require_http_methods(["GET", "POST"])
def staff_notify(request: HttpRequest) -> HttpResponse:
    form = AnnouncementForm(request.POST or None, initial={"level": "info"})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            announcement = announcement_send(
                actor=cast(User, request.user),  # staff_only: logged in
                request=AnnouncementRequest(
                    audience=data["audience"],
                    title=data["title"],
                    body=data["body"],
                    level=data["level"],
                    email=data["email"],
                    user_id=data["user_id"],
                    plan=data["plan"] or None,
                ),
            )
        except ApplicationError as exc:
            for field, errors in exc.details.get("fields", {}).items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
            if not exc.details.get("fields"):
                form.add_error(None, exc.message)
        else:
            messages.success(
                request,
                _("Notification sent to %(count)s user(s).")
                % {"count": announcement.recipients},
            )
            return redirect("dashboard:staff_notify")
    status = 400 if request.method == "POST" else 200
    return render(request, "dashboard/staff/notify.html", {"form": form}, status=status)
