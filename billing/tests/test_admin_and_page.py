"""Staff admin for billing, the /billing/ portal page, revenue, schema."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client

from accounts.tests.factories import UserFactory
from accounts.tests.openapi import declared_statuses, schema_document
from billing.models import Payment, PaymentEmail
from billing.selectors import mrr, revenue_total
from billing.services import payment_record, subscription_sync_from_stripe
from billing.tests.factories import subscription_row
from flowmatik.testing.payments import STRIPE_PRICES


@pytest.fixture
def admin_client(db):
    admin = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)
    return client


@pytest.fixture
def browser(user):
    client = Client()
    client.force_login(user)
    return client


def test_admin_lists_plans_subscriptions_and_payments(admin_client, user):
    subscription_row(user=user, plan="pro")
    payment_record(
        provider="stripe",
        external_id="in_adm",
        user=user,
        plan=None,
        amount=Decimal("39.00"),
        currency="USD",
        paid_at=datetime.now(tz=UTC),
    )
    PaymentEmail.objects.create(key="stripe:in_adm:1", user=user, kind="payment_failed")
    for model in ("plan", "subscription", "payment", "paymentemail"):
        response = admin_client.get(f"/admin/billing/{model}/")
        assert response.status_code == 200, model
    page = admin_client.get("/admin/billing/subscription/").content.decode()
    assert user.email in page
    page = admin_client.get("/admin/billing/paymentemail/").content.decode()
    assert "stripe:in_adm:1" in page


def test_admin_refresh_action_rereads_the_provider(admin_client, user, fake_stripe):
    remote = fake_stripe.add_subscription(
        price_id=STRIPE_PRICES["starter"], metadata={"user_id": str(user.pk)}
    )
    sub = subscription_sync_from_stripe(stripe_subscription=remote)
    fake_stripe.set_subscription(remote["id"], status="past_due")
    response = admin_client.post(
        "/admin/billing/subscription/",
        {"action": "refresh_from_provider", "_selected_action": [sub.pk]},
    )
    assert response.status_code == 302
    sub.refresh_from_db()
    assert sub.status == "past_due"


def test_billing_page_shows_plans_and_subscribe_buttons(browser, fake_stripe):
    page = browser.get("/billing/").content.decode()
    assert "Your plan: Free" in page
    assert "Upgrade to Pro with Stripe" in page
    assert "with LemonSqueezy" not in page


def test_billing_page_subscribe_redirects_to_the_provider_checkout(
    browser, fake_stripe
):
    response = browser.post("/billing/subscribe/stripe/", {"plan": "pro"})
    assert response.status_code == 302
    assert response["Location"].startswith(f"{fake_stripe.url}/c/pay/")


def test_billing_page_reports_provider_errors(browser, fake_stripe):
    fake_stripe.fail_next(500)
    response = browser.post("/billing/subscribe/stripe/", {"plan": "pro"}, follow=True)
    assert "payment provider failed" in response.content.decode()


def test_billing_page_needs_login(db):
    assert Client().get("/billing/").status_code == 302


def test_revenue_and_mrr_come_from_payments_and_live_subscriptions(db):
    alice, bob, carol = UserFactory(), UserFactory(), UserFactory()
    subscription_row(user=alice, plan="pro")
    subscription_row(user=bob, plan="starter")
    subscription_row(user=carol, plan="business", cancel_at_period_end=True)
    now = datetime.now(tz=UTC)
    for i, amount in enumerate(["39.00", "19.00"]):
        payment_record(
            provider="stripe",
            external_id=f"in_rev{i}",
            user=alice,
            plan=None,
            amount=Decimal(amount),
            currency="usd",
            paid_at=now,
        )
    payment_record(
        provider="stripe",
        external_id="in_failed",
        user=bob,
        plan=None,
        amount=Decimal("19.00"),
        currency="USD",
        paid_at=now,
        status="failed",
    )
    assert revenue_total() == {"USD": Decimal("58.00")}
    assert revenue_total(since=now + timedelta(seconds=1)) == {}
    assert mrr() == {"USD": Decimal("58.00")}
    assert Payment.objects.count() == 3


def test_schema_describes_the_payments_endpoints(api_client):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in (
        "plans",
        "subscription",
        "subscribe/stripe",
        "subscribe/lemonsqueezy",
        "subscription/cancel",
        "subscription/resume",
        "subscription/change-plan",
        "invoices",
        "payment-methods",
        "portal",
    ):
        assert f"/api/payments/{path}" in paths, path
    post = paths["/api/payments/subscribe/stripe"]["post"]
    ref = post["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    component = schema.json()["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert "checkout_url" in component["properties"]
    assert "409" in post["responses"]
    plans = paths["/api/payments/plans"]["get"]["responses"]["200"]
    plans_ref = plans["content"]["application/json"]["schema"]["$ref"]
    envelope = schema.json()["components"]["schemas"][plans_ref.rsplit("/", 1)[1]]
    assert set(envelope["properties"]) == {"count", "next", "previous", "results"}
    assert paths["/api/payments/plans"]["get"].get("security") in (None, [], [{}])


def test_cancel_and_change_plan_declare_their_400s(auth_client, api_client):
    document = schema_document(api_client)
    cancel = auth_client.post(
        "/api/payments/subscription/cancel", {"immediately": "maybe"}, format="json"
    )
    change = auth_client.post(
        "/api/payments/subscription/change-plan", {}, format="json"
    )
    assert cancel.status_code == change.status_code == 400
    assert cancel.json()["error"]["code"] == change.json()["error"]["code"]
    for path, response in (
        ("/api/payments/subscription/cancel", cancel),
        ("/api/payments/subscription/change-plan", change),
    ):
        assert response.status_code in declared_statuses(document, path, "post")


def test_paginated_lists_document_page_parameters_and_their_errors(api_client):
    document = schema_document(api_client)
    bad = api_client.get("/api/payments/plans", {"page_size": "0"})
    past = api_client.get("/api/payments/plans", {"page": "99"})
    assert (bad.status_code, past.status_code) == (400, 404)
    for path in (
        "/api/payments/plans",
        "/api/payments/invoices",
        "/api/payments/payment-methods",
    ):
        operation = document["paths"][path]["get"]
        assert {p["name"] for p in operation["parameters"]} >= {"page", "page_size"}
        assert {400, 404} <= declared_statuses(document, path, "get"), path
