"""After-commit side effects of billing writes: plan cache and user notifications."""

import logging
from typing import Any

from django.db import transaction

from billing.selectors import plan_cache_invalidate

logger = logging.getLogger("flowmatik.billing")


def after_commit_plan_changed(*, user_id: int) -> None:
    transaction.on_commit(lambda: plan_cache_invalidate(user_id=user_id))


def after_commit_notify(
    *,
    user_id: int,
    kind: str,
    title: str,
    body: str = "",
    data: dict[str, Any] | None = None,
) -> None:
    """Store + push a notification once the billing write has committed."""

    def send() -> None:
        from accounts.models import User
        from notifications.services import notification_send

        try:
            notification_send(
                user=User(pk=user_id), kind=kind, title=title, body=body, data=data
            )
        except Exception:  # a lost notification must not undo a billing write
            logger.exception(
                "Billing notification failed", extra={"kind": kind, "userId": user_id}
            )

    transaction.on_commit(send)
