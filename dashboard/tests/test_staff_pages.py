"""The staff portal pages (/staff/): role admin only, the dashboard's charts drawn
from the staff API's KPIs, the users table, webhook failures retried from the page,
and sending a notification."""

import re

import pytest
import time_machine
from django.test import Client

from accounts.models import User
from accounts.tests.factories import UserFactory
from billing.models import Subscription
from billing.tests.factories import stripe_subscription
from dashboard.models import Announcement
from dashboard.tests.admin_data import NOW, build_business
from flowmatik.metrics import metrics_record_request
from flowmatik.testing.payments import STRIPE_PRICES
from notifications.models import Notification
from webhooks_app.models import EventStatus, WebhookEvent
from webhooks_app.tests.helpers import post_stripe, stripe_event

pytestmark = pytest.mark.django_db

STAFF_PAGES = ["/staff/", "/staff/users/", "/staff/webhooks/", "/staff/notify/"]


@pytest.fixture
def staff(db):
    client = Client()
    client.force_login(UserFactory(is_staff=True, email="root@example.com"))
    return client


@pytest.fixture
def business(isolated_metrics):
    with time_machine.travel(NOW, tick=False):
        data = build_business()
        for _ in range(3):
            metrics_record_request(
                method="POST", route="api/ai/chat", status=200, duration_ms=30
            )
        yield data


def _failed_event(provider_event_id: str = "evt_f") -> WebhookEvent:
    return WebhookEvent.objects.create(
        provider="stripe",
        event_id=provider_event_id,
        event_type="invoice.paid",
        payload="{}",
        body_sha256="0" * 64,
        received_at=NOW,
        status=EventStatus.FAILED,
        attempts=6,
        last_error="PaymentProviderError: Stripe answered 500",
        last_attempt_at=NOW,
    )


@pytest.mark.parametrize("path", STAFF_PAGES)
def test_staff_pages_send_visitors_to_log_in_and_refuse_other_users(path, user):
    anonymous = Client().get(path)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/login/")
    member = Client()
    member.force_login(user)
    assert member.get(path).status_code == 403


def test_dashboard_draws_the_admin_apis_figures_as_charts(staff, business):
    with time_machine.travel(NOW, tick=False):
        response = staff.get("/staff/")
        api = staff.get("/api/admin/dashboard").json()
    page = response.content.decode()
    assert response.status_code == 200
    charts = re.findall(r'<figure class="chart chart-(column|bar)"', page)
    assert len(charts) >= 6
    # the same numbers the API gives, one column per day of the 30-day series
    today = api["ai"]["series_30d"][-1]
    yesterday = api["ai"]["series_30d"][-2]
    assert f"{today['day'][5:]}: {today['requests']}</title>" in page
    assert f"{yesterday['day'][5:]}: {yesterday['total_tokens']:,}</title>" in page
    assert page.count('class="chart-mark"') >= 30 * 2
    assert f'data-kpi="users-total">{api["users"]["total"]}<' in page
    # categories: live subscriptions per plan, and the busiest endpoint
    assert "<title>pro: 1</title>" in page
    assert "<title>starter: 1</title>" in page
    assert "<title>api/ai/chat: 3</title>" in page


def test_dashboard_bars_scale_to_the_largest_value(staff, business):
    with time_machine.travel(NOW, tick=False):
        page = staff.get("/staff/").content.decode()
    tokens = next(
        figure
        for figure in page.split("<figure")
        if "<figcaption>Tokens per day" in figure
    )
    heights = [float(h) for h in re.findall(r'height="([\d.]+)"><title>', tokens)]
    # 2 x 1000 tokens on the 19th is the top; 3 x 100 + 50 today is ~17.5 % of it
    assert max(heights) == pytest.approx(156)
    assert heights[-1] == pytest.approx(156 * 350 / 2000, abs=0.1)


def test_dashboard_with_no_data_says_so_and_ignores_a_bad_window(staff):
    response = staff.get("/staff/", {"window": "forever"})
    assert response.status_code == 200
    assert "No data yet." in response.content.decode()


def test_users_table_searches_by_email_or_name(staff, business):
    page = staff.get("/staff/users/", {"q": "builder"}).content.decode()
    assert "bob@example.com" in page
    assert "alice@example.com" not in page
    assert "1 user found." in page
    admins = staff.get("/staff/users/", {"role": "admin"}).content.decode()
    assert "root@example.com" in admins
    assert "bob@example.com" not in admins


def test_users_table_pages_and_survives_bad_parameters(staff, settings, business):
    settings.PORTAL_STAFF_PAGE_SIZE = 2
    first = staff.get("/staff/users/").content.decode()
    assert "Page 1 of 3" in first
    assert staff.get("/staff/users/", {"page": "x"}).status_code == 200
    assert "Page 3 of 3" in staff.get("/staff/users/", {"page": "99"}).content.decode()
    bad = staff.get("/staff/users/", {"role": "emperor"})
    assert bad.status_code == 400
    assert "Select a valid choice" in bad.content.decode()


def test_failed_webhooks_are_listed_and_retried_from_the_page(
    staff,
    client,
    fake_stripe,
    user,
    eager_celery,
    django_capture_on_commit_callbacks,
):
    fake_stripe.put_customer("cus_w", user=user)
    remote = fake_stripe.put_subscription(
        stripe_subscription(
            sub_id="sub_w",
            customer="cus_w",
            user_id=user.pk,
            price=STRIPE_PRICES["pro"],
        )
    )
    with django_capture_on_commit_callbacks():  # stored, not processed yet
        post_stripe(
            client,
            stripe_event("customer.subscription.updated", remote, event_id="evt_w"),
        )
    WebhookEvent.objects.filter(event_id="evt_w").update(
        status=EventStatus.FAILED, attempts=6, last_error="Stripe was down"
    )
    page = staff.get("/staff/webhooks/").content.decode()
    assert 'data-event-id="evt_w"' in page
    assert "Stripe was down" in page

    event = WebhookEvent.objects.get(event_id="evt_w")
    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post("/staff/webhooks/retry/", {"event": event.pk})
    assert response.status_code == 302
    event.refresh_from_db()
    assert event.status == EventStatus.PROCESSED
    assert Subscription.objects.get(external_id="sub_w").plan.slug == "pro"
    after = staff.get("/staff/webhooks/").content.decode()
    assert "The event was re-queued" in after
    assert 'data-event-id="evt_w"' not in after


def test_retrying_a_processed_or_unknown_event_changes_nothing(staff):
    processed = _failed_event("evt_done")
    processed.status = EventStatus.PROCESSED
    processed.save()
    for data in ({"event": processed.pk}, {"event": 999999}, {"event": "x"}, {}):
        response = staff.post("/staff/webhooks/retry/", data, follow=True)
        assert response.status_code == 200
    page = response.content.decode()
    assert "Choose an event to retry." in page
    processed.refresh_from_db()
    assert processed.status == EventStatus.PROCESSED
    assert staff.get("/staff/webhooks/retry/").status_code == 405


def test_sending_a_notification_to_one_user(staff, user):
    response = staff.post(
        "/staff/notify/",
        {"audience": "user", "user_id": user.pk, "title": "Hola", "level": "info"},
        follow=True,
    )
    assert "Notification sent to 1 user(s)." in response.content.decode()
    assert Notification.objects.get(user=user).title == "Hola"
    assert Announcement.objects.get().sent_by.email == "root@example.com"


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"audience": "user", "title": "x", "level": "info"}, "Give the id of"),
        ({"audience": "plan", "title": "x", "level": "info"}, "Give the plan"),
        (
            {"audience": "plan", "plan": "gold", "title": "x", "level": "info"},
            "Unknown plan.",
        ),
        (
            {"audience": "user", "user_id": 99999, "title": "x", "level": "info"},
            "No active user with this id.",
        ),
        ({"audience": "all", "title": "", "level": "info"}, "This field is required"),
        ({"audience": "moon", "title": "x", "level": "info"}, "Select a valid choice"),
    ],
)
def test_a_bad_notification_form_is_refused_in_words(staff, data, words):
    response = staff.post("/staff/notify/", data)
    assert response.status_code == 400
    assert words in response.content.decode()
    assert not Announcement.objects.exists()


def test_staff_pages_speak_spanish(staff):
    User.objects.filter(is_staff=True).update(language="es")
    page = staff.get("/staff/webhooks/").content.decode()
    assert "Webhooks fallidos" in page
    assert "No hay eventos de webhook fallidos." in page
