"""Template context for the portal's app shell: the bell's unread count.

Lazy: the count is queried only by a template that shows it (`portal/app.html`).
"""

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from notifications import selectors


def unread_count(request: HttpRequest) -> dict[str, object]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"portal_unread_count": 0}
    return {
        "portal_unread_count": SimpleLazyObject(
            lambda: selectors.notification_unread_count(user=user)
        )
    }
