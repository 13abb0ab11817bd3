"""The notifications page (`/app/notifications/`): the list, mark one or all read.

Thin: the same selectors and services as `/api/notifications`. The list is
paginated (`PORTAL_PAGE_SIZE`); `?unread=1` shows only unread ones; a new
notification appears live (static/portal/js/notifications.js).
"""

from typing import TYPE_CHECKING, cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from notifications import selectors, services

if TYPE_CHECKING:
    from accounts.models import User

LIST_URL = "/app/notifications/"
MAX_ID = 2**63


def _user(request: HttpRequest) -> "User":
    return cast("User", request.user)  # behind login_required


@login_required
@require_GET
def notification_list(request: HttpRequest) -> HttpResponse:
    unread_only = request.GET.get("unread") == "1"
    queryset = selectors.notification_list_for_user(
        user=_user(request), unread_only=unread_only
    )
    page = Paginator(queryset, settings.PORTAL_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    items = [
        {"notification": n, "is_read": selectors.notification_is_read(n)}
        for n in page.object_list
    ]
    return render(
        request,
        "notifications/list.html",
        {"page": page, "items": items, "unread_only": unread_only},
    )


def _back(request: HttpRequest) -> HttpResponse:
    return redirect(
        LIST_URL + ("?unread=1" if request.POST.get("unread") == "1" else "")
    )


@login_required
@require_POST
def notification_read(request: HttpRequest) -> HttpResponse:
    try:
        ids = [int(value) for value in request.POST.getlist("id")]
    except ValueError:
        ids = []
    ids = [i for i in ids if 0 < i < MAX_ID]  # no database overflows an id
    if not ids:
        messages.error(request, _("Choose a notification to mark as read."))
        return _back(request)
    services.notification_mark_read(user=_user(request), ids=ids)
    return _back(request)


@login_required
@require_POST
def notification_read_all(request: HttpRequest) -> HttpResponse:
    marked = services.notification_mark_read(user=_user(request), mark_all=True)
    messages.success(
        request,
        ngettext(
            "%(count)d notification marked as read.",
            "%(count)d notifications marked as read.",
            marked,
        )
        % {"count": marked},
    )
    return _back(request)
