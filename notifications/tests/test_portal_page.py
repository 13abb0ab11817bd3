"""The notifications page (/app/notifications/) with Django's test client: the
user's own and broadcast notifications, unread filter, mark one / all read (the
same services as the API), another user's ids ignored, bad input never a 500."""

import pytest
from django.test import Client

from accounts.tests.factories import UserFactory
from notifications.models import Notification
from notifications.selectors import notification_unread_count
from notifications.services import notification_broadcast, notification_send

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(user) -> Client:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def test_the_page_needs_a_log_in():
    response = Client().get("/app/notifications/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_lists_own_and_broadcast_notifications_and_the_bell_counts_them(browser, user):
    notification_send(user=user, kind="job.completed", title="Your post is ready")
    notification_send(user=UserFactory(), kind="job.completed", title="Not yours")
    notification_broadcast(title="Maintenance tonight")
    page = browser.get("/app/notifications/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "Your post is ready" in html
    assert "Maintenance tonight" in html
    assert "Not yours" not in html
    assert "data-bell-count>2</span>" in html


def test_mark_one_then_all_read(browser, user):
    first = notification_send(user=user, kind="job.completed", title="One")
    notification_send(user=user, kind="job.completed", title="Two")
    notification_broadcast(title="Three")
    response = browser.post("/app/notifications/read/", {"id": first.pk})
    assert response.status_code == 302
    assert notification_unread_count(user=user) == 2
    unread = browser.get("/app/notifications/?unread=1").content.decode()
    assert "One" not in unread
    assert "Two" in unread

    response = browser.post("/app/notifications/read-all/")
    assert response.status_code == 302
    assert notification_unread_count(user=user) == 0
    assert (
        "2 notifications marked as read."
        in browser.get("/app/notifications/").content.decode()
    )


def test_another_users_ids_and_bad_input_change_nothing(browser, user):
    theirs = notification_send(user=UserFactory(), kind="job.completed", title="X")
    for data in ({"id": theirs.pk}, {"id": "abc"}, {}, {"id": 2**70}):
        response = browser.post("/app/notifications/read/", data)
        assert response.status_code == 302
    theirs.refresh_from_db()
    assert theirs.read_at is None
    for query in ("?page=abc", "?page=-1", "?page=999999", "?unread=yes"):
        assert browser.get(f"/app/notifications/{query}").status_code == 200
    assert browser.get("/app/notifications/read/").status_code == 405


def test_pages_the_list(browser, user, settings):
    settings.PORTAL_PAGE_SIZE = 2
    for i in range(5):
        notification_send(user=user, kind="job.progress", title=f"n{i}")
    first = browser.get("/app/notifications/").content.decode()
    assert "n4" in first
    assert "n0" not in first
    assert "Page 1 of 3" in first
    assert "n0" in browser.get("/app/notifications/?page=3").content.decode()
    assert Notification.objects.count() == 5
