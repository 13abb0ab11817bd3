"""Staff announcements: one user, everyone on a plan, or everyone; stored as
notifications, pushed live after commit, optionally e-mailed by a Celery task."""

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from billing import selectors as billing_selectors
from dashboard.models import Announcement, AnnouncementAudience
from flowmatik.audit import audit_actor, audit_record
from flowmatik.errors import InvalidInput
from notifications.models import NotificationKind
from notifications.services import notification_send

if TYPE_CHECKING:
    from accounts.models import User

logger = logging.getLogger("flowmatik.dashboard")


@dataclass(frozen=True)
class AnnouncementRequest:
    audience: str
    title: str
    body: str = ""
    level: str = "info"
    email: bool = False
    user_id: int | None = None
    plan: str | None = None


def _recipients(request: AnnouncementRequest) -> "list[User] | None":
    users = get_user_model().objects.filter(is_active=True)
    if request.audience == AnnouncementAudience.USER:
        user = (
            users.filter(pk=request.user_id).first()
            if request.user_id is not None
            else None
        )
        if user is None:
            raise InvalidInput(
                details={"fields": {"user_id": ["No active user with this id."]}}
            )
        return [user]
    if request.audience == AnnouncementAudience.PLAN:
        if (
            request.plan is None
            or not billing_selectors.plan_list(active_only=False)
            .filter(slug=request.plan)
            .exists()
        ):
            raise InvalidInput(details={"fields": {"plan": ["Unknown plan."]}})
        return list(billing_selectors.users_on_plan(slug=request.plan))
    return None  # everyone: one broadcast


def announcement_send(*, actor: "User", request: AnnouncementRequest) -> Announcement:
    """Store the announcement and one notification per recipient (a broadcast for
    everyone), push them after commit, audit it, and queue the e-mail if asked."""
    recipients = _recipients(request)
    data: dict[str, Any] = {"level": request.level}
    with transaction.atomic(), audit_actor(actor):
        announcement = Announcement.objects.create(
            sent_by=actor,
            audience=request.audience,
            target_user=recipients[0]
            if recipients is not None and request.audience == AnnouncementAudience.USER
            else None,
            plan_slug=request.plan or "",
            title=request.title,
            body=request.body,
            level=request.level,
            email=request.email,
        )
        data["announcement_id"] = announcement.pk
        if recipients is None:
            notification_send(
                user=None,
                kind=NotificationKind.BROADCAST,
                title=request.title,
                body=request.body,
                data=data,
                dedupe_key=f"announcement:{announcement.pk}",
            )
            count = get_user_model().objects.filter(is_active=True).count()
        else:
            for user in recipients:
                notification_send(
                    user=user,
                    kind=NotificationKind.BROADCAST,
                    title=request.title,
                    body=request.body,
                    data=data,
                    dedupe_key=f"announcement:{announcement.pk}:{user.pk}",
                )
            count = len(recipients)
        announcement.recipients = count
        announcement.save(update_fields=["recipients"])
        audit_record(
            actor=actor,
            action="notification.send",
            target=announcement,
            after={
                "audience": request.audience,
                "user_id": request.user_id,
                "plan": request.plan,
                "level": request.level,
                "email": request.email,
                "recipients": count,
            },
        )
        if request.email:
            from dashboard.tasks import announcement_email_send

            pk = announcement.pk
            transaction.on_commit(
                lambda: announcement_email_send.delay(announcement_id=pk)
            )
    return announcement


def announcement_resend(*, actor: "User", announcement: Announcement) -> Announcement:
    """Send an earlier announcement again to the same audience (a new row)."""
    return announcement_send(
        actor=actor,
        request=AnnouncementRequest(
            audience=announcement.audience,
            title=announcement.title,
            body=announcement.body,
            level=announcement.level,
            email=announcement.email,
            user_id=announcement.target_user_id,
            plan=announcement.plan_slug or None,
        ),
    )


def announcement_email_deliver(*, announcement_id: int) -> int:
    """E-mail an announcement to its audience once; returns how many were sent.

    The row is claimed (`emailed_at`) before sending, so a second run sends
    nothing; a failed send releases the claim for the task's retry.
    """
    claimed = Announcement.objects.filter(
        pk=announcement_id, email=True, emailed_at__isnull=True
    ).update(emailed_at=timezone.now())
    if not claimed:
        return 0
    announcement = Announcement.objects.get(pk=announcement_id)
    users = get_user_model().objects.filter(is_active=True)
    if announcement.audience == AnnouncementAudience.USER:
        users = (
            users.filter(pk=announcement.target_user_id)
            if announcement.target_user_id is not None
            else users.none()
        )
    elif announcement.audience == AnnouncementAudience.PLAN:
        users = billing_selectors.users_on_plan(slug=announcement.plan_slug)
    addresses = list(users.values_list("email", flat=True))
    try:
        for address in addresses:
            send_mail(
                subject=f"[{announcement.get_level_display()}] {announcement.title}",
                message=announcement.body or announcement.title,
                from_email=settings.DEFAULT_FROM_EMAIL,
                recipient_list=[address],
            )
    except Exception:
        Announcement.objects.filter(pk=announcement_id).update(emailed_at=None)
        raise
    logger.info(
        "Announcement e-mailed",
        extra={"announcementId": announcement_id, "recipients": len(addresses)},
    )
    return len(addresses)
