"""The payments API through Stripe: our real client against a fake Stripe server."""

import pytest

from accounts.tests.factories import UserFactory
from billing.models import Subscription, SubscriptionStatus
from billing.selectors import plan_get_for_user, user_has_feature, user_is_premium
from billing.services import (
    checkout_session_completed_stripe,
    subscription_reconcile,
    subscription_sync_from_stripe,
)
from flowmatik.testing.payments import STRIPE_PRICES

SUBSCRIBE = "/api/payments/subscribe/stripe"


def subscribe_and_pay(client, fake, plan: str = "starter") -> Subscription:
    """Checkout, pay on the (fake) hosted page, and deliver what webhooks would."""
    response = client.post(SUBSCRIBE, {"plan": plan}, format="json")
    assert response.status_code == 200, response.json()
    session_id = list(fake.sessions)[-1]
    remote = fake.complete_checkout(session_id)
    checkout_session_completed_stripe(session=fake.session_object(session_id))
    return subscription_sync_from_stripe(stripe_subscription=remote)


def test_plans_are_public_and_name_the_providers_that_sell_them(
    api_client, fake_stripe
):
    response = api_client.get("/api/payments/plans")
    assert response.status_code == 200
    plans = {p["slug"]: p for p in response.json()["results"]}
    assert list(plans) == ["free", "starter", "pro", "business"]
    assert plans["pro"]["price"] == "39.00"
    assert plans["pro"]["currency"] == "USD"
    assert "workflows" in plans["pro"]["features"]
    assert plans["business"]["requests_per_day"] is None
    assert plans["starter"]["providers"] == ["stripe"]
    assert plans["free"]["providers"] == []


def test_checkout_sends_price_customer_and_user_to_stripe(
    auth_client, user, fake_stripe, settings
):
    response = auth_client.post(SUBSCRIBE, {"plan": "pro"}, format="json")

    assert response.status_code == 200
    assert response.json()["checkout_url"].startswith(f"{fake_stripe.url}/c/pay/cs_")
    customer_call = fake_stripe.last("POST", "/v1/customers")
    assert customer_call.body["email"] == user.email
    assert customer_call.body["metadata"]["user_id"] == str(user.pk)
    customer_id = next(iter(fake_stripe.customers))
    call = fake_stripe.last("POST", "/v1/checkout/sessions")
    assert call.body["mode"] == "subscription"
    assert call.body["line_items"] == [{"price": STRIPE_PRICES["pro"], "quantity": "1"}]
    assert call.body["customer"] == customer_id
    assert call.body["client_reference_id"] == str(user.pk)
    assert call.body["subscription_data"]["metadata"] == {
        "user_id": str(user.pk),
        "plan": "pro",
    }
    assert call.body["success_url"] == settings.BILLING_SUCCESS_URL
    assert call.headers["stripe-version"] == settings.STRIPE_API_VERSION
    assert call.headers["idempotency-key"].startswith(f"fmk:checkout:{user.pk}:pro:")
    # A checkout alone grants nothing: access comes from provider state only.
    assert plan_get_for_user(user=user).slug == "free"


def test_double_click_reuses_the_customer_and_the_checkout_session(
    auth_client, fake_stripe
):
    first = auth_client.post(SUBSCRIBE, {"plan": "starter"}, format="json").json()
    second = auth_client.post(SUBSCRIBE, {"plan": "starter"}, format="json").json()
    assert first == second
    assert len(fake_stripe.customers) == 1
    assert len(fake_stripe.sessions) == 1
    keys = {r.headers["idempotency-key"] for r in fake_stripe.calls("POST", "/v1/c")}
    assert len(keys) == 2  # one for the customer, one for the session


def test_second_live_subscription_is_refused_with_409(
    auth_client, user, fake_stripe, fake_lemonsqueezy
):
    subscribe_and_pay(auth_client, fake_stripe)
    sessions_before = len(fake_stripe.sessions)

    response = auth_client.post(SUBSCRIBE, {"plan": "pro"}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "subscription_exists"
    other = auth_client.post(
        "/api/payments/subscribe/lemonsqueezy", {"plan": "pro"}, format="json"
    )
    assert other.status_code == 409
    assert len(fake_stripe.sessions) == sessions_before
    assert fake_lemonsqueezy.calls("POST") == []


def test_subscription_follows_stripe_and_gates_features(auth_client, user, fake_stripe):
    assert not user_has_feature(user=user, feature="images")
    subscribe_and_pay(auth_client, fake_stripe, plan="starter")

    body = auth_client.get("/api/payments/subscription").json()
    assert body["plan"]["slug"] == "starter"
    assert body["subscription"]["provider"] == "stripe"
    assert body["subscription"]["status"] == "active"
    assert body["subscription"]["cancel_at_period_end"] is False
    assert user_is_premium(user=user)
    assert user_has_feature(user=user, feature="images")
    assert not user_has_feature(user=user, feature="workflows")


def test_user_without_subscription_is_on_free(auth_client):
    body = auth_client.get("/api/payments/subscription").json()
    assert body["plan"]["slug"] == "free"
    assert body["subscription"] is None


def test_cancel_resume_and_change_plan_go_through_stripe(
    auth_client, user, fake_stripe
):
    sub = subscribe_and_pay(auth_client, fake_stripe, plan="starter")
    path = f"/v1/subscriptions/{sub.external_id}"

    cancelled = auth_client.post("/api/payments/subscription/cancel", {}, format="json")
    assert cancelled.status_code == 200
    assert cancelled.json()["cancel_at_period_end"] is True
    assert fake_stripe.last("POST", path).body == {"cancel_at_period_end": "true"}
    assert user_is_premium(user=user)  # paid up until the period ends

    resumed = auth_client.post("/api/payments/subscription/resume")
    assert resumed.status_code == 200
    assert resumed.json()["cancel_at_period_end"] is False
    assert fake_stripe.last("POST", path).body == {"cancel_at_period_end": "false"}

    again = auth_client.post("/api/payments/subscription/resume")
    assert again.status_code == 409

    changed = auth_client.post(
        "/api/payments/subscription/change-plan", {"plan": "business"}, format="json"
    )
    assert changed.status_code == 200
    assert changed.json()["plan"] == "business"
    body = fake_stripe.last("POST", path).body
    item_id = fake_stripe.subscriptions[sub.external_id]["items"]["data"][0]["id"]
    assert body["items"] == [{"id": item_id, "price": STRIPE_PRICES["business"]}]
    assert body["proration_behavior"] == "create_prorations"
    assert plan_get_for_user(user=user).slug == "business"
    assert user_has_feature(user=user, feature="sla")


def test_only_admins_cancel_immediately(auth_client, user, fake_stripe):
    subscribe_and_pay(auth_client, fake_stripe)
    response = auth_client.post(
        "/api/payments/subscription/cancel", {"immediately": True}, format="json"
    )
    assert response.status_code == 403
    assert fake_stripe.calls("DELETE") == []


def test_admin_cancel_immediately_ends_access_now(
    staff_client, staff_user, fake_stripe
):
    sub = subscribe_and_pay(staff_client, fake_stripe, plan="pro")
    response = staff_client.post(
        "/api/payments/subscription/cancel", {"immediately": True}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["status"] == "canceled"
    assert fake_stripe.last("DELETE", f"/v1/subscriptions/{sub.external_id}")
    assert plan_get_for_user(user=staff_user).slug == "free"
    assert staff_client.get("/api/payments/subscription").json()["subscription"] is None


def test_invoices_and_card_come_from_stripe(auth_client, user, fake_stripe):
    sub = subscribe_and_pay(auth_client, fake_stripe, plan="pro")
    fake_stripe.add_invoice(
        sub.external_customer_id, STRIPE_PRICES["pro"], status="open", amount_paid=0
    )

    invoices = auth_client.get("/api/payments/invoices").json()
    assert invoices["count"] == 2
    newest, first = invoices["results"]
    assert newest["status"] == "open"
    assert first["amount"] == "39.00"
    assert first["currency"] == "USD"
    assert first["status"] == "paid"
    assert first["number"].startswith("FAKE-")
    assert first["url"].endswith(".pdf")
    assert newest["date"] >= first["date"]
    call = fake_stripe.last("GET", "/v1/invoices")
    assert call.query["customer"] == sub.external_customer_id

    methods = auth_client.get("/api/payments/payment-methods").json()["results"]
    assert methods == [
        {
            "provider": "stripe",
            "brand": "visa",
            "last4": "4242",
            "exp_month": 12,
            "exp_year": 2030,
        }
    ]


def test_a_user_never_sees_another_users_invoices(api_client, fake_stripe):
    alice, bob = UserFactory(), UserFactory()
    api_client.force_authenticate(alice)
    subscribe_and_pay(api_client, fake_stripe, plan="business")
    api_client.force_authenticate(bob)
    assert api_client.get("/api/payments/invoices").json()["count"] == 0
    bob_sub = subscribe_and_pay(api_client, fake_stripe, plan="starter")

    invoices = api_client.get("/api/payments/invoices").json()["results"]
    assert [i["amount"] for i in invoices] == ["19.00"]
    call = fake_stripe.last("GET", "/v1/invoices")
    assert call.query["customer"] == bob_sub.external_customer_id


def test_portal_url_is_fresh_from_stripe(auth_client, fake_stripe, settings):
    sub = subscribe_and_pay(auth_client, fake_stripe)
    first = auth_client.get("/api/payments/portal").json()["url"]
    second = auth_client.get("/api/payments/portal").json()["url"]
    assert first != second
    call = fake_stripe.last("POST", "/v1/billing_portal/sessions")
    assert call.body == {
        "customer": sub.external_customer_id,
        "return_url": settings.BILLING_PORTAL_RETURN_URL,
    }


def test_no_subscription_means_404_for_cancel_and_portal(auth_client, fake_stripe):
    assert auth_client.post("/api/payments/subscription/cancel").status_code == 404
    response = auth_client.get("/api/payments/portal")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "no_subscription"


@pytest.mark.parametrize(
    ("status", "body", "expected_status", "expected_code"),
    [
        (500, None, 502, "payment_provider_error"),
        (503, None, 502, "payment_provider_error"),
        (400, None, 502, "payment_provider_rejected"),
        (
            402,
            {"error": {"type": "card_error", "code": "card_declined", "message": "no"}},
            402,
            "payment_declined",
        ),
        (
            401,
            {"error": {"type": "invalid_request_error", "message": "bad key"}},
            502,
            "payment_provider_auth_failed",
        ),
        (
            429,
            {"error": {"type": "invalid_request_error", "code": "rate_limit"}},
            503,
            "payment_provider_unavailable",
        ),
    ],
)
def test_stripe_errors_become_our_codes(
    auth_client, fake_stripe, status, body, expected_status, expected_code
):
    fake_stripe.fail_next(status, body, match="/v1/checkout/sessions")
    response = auth_client.post(SUBSCRIBE, {"plan": "starter"}, format="json")
    assert response.status_code == expected_status
    assert response.json()["error"]["code"] == expected_code
    assert "sk_test" not in response.content.decode()


def test_stripe_timeout_becomes_504(auth_client, fake_stripe, settings):
    settings.STRIPE_TIMEOUT_SECONDS = 0.3
    fake_stripe.delay_next(1.5, match="/v1/checkout/sessions")
    response = auth_client.post(SUBSCRIBE, {"plan": "starter"}, format="json")
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "payment_provider_timeout"


def test_unreachable_stripe_is_a_502(auth_client, fake_stripe, settings):
    fake_stripe.stop()
    response = auth_client.post(SUBSCRIBE, {"plan": "starter"}, format="json")
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "payment_provider_unreachable"


def test_library_retry_reuses_our_idempotency_key(auth_client, fake_stripe, settings):
    settings.STRIPE_MAX_NETWORK_RETRIES = 1
    fake_stripe.fail_next(500, match="/v1/checkout/sessions")
    response = auth_client.post(SUBSCRIBE, {"plan": "starter"}, format="json")
    assert response.status_code == 200
    attempts = fake_stripe.calls("POST", "/v1/checkout/sessions")
    assert len(attempts) == 2
    assert (
        attempts[0].headers["idempotency-key"] == attempts[1].headers["idempotency-key"]
    )


def test_stripe_not_configured_answers_503(auth_client, settings):
    settings.STRIPE_SECRET_KEY = ""
    response = auth_client.post(SUBSCRIBE, {"plan": "starter"}, format="json")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "payments_not_configured"


def test_plan_without_a_price_id_answers_503(auth_client, fake_stripe, settings):
    settings.BILLING_STRIPE_PRICE_IDS = {}
    response = auth_client.post(SUBSCRIBE, {"plan": "pro"}, format="json")
    assert response.status_code == 503
    assert response.json()["error"]["details"]["plan"] == "pro"


def test_admin_price_id_wins_over_the_environment(auth_client, fake_stripe):
    from billing.models import Plan

    fake_stripe.add_price("price_admin_set", 3900)
    Plan.objects.filter(slug="pro").update(stripe_price_id="price_admin_set")
    assert (
        auth_client.post(SUBSCRIBE, {"plan": "pro"}, format="json").status_code == 200
    )
    call = fake_stripe.last("POST", "/v1/checkout/sessions")
    assert call.body["line_items"][0]["price"] == "price_admin_set"


@pytest.mark.parametrize(("plan", "code"), [("free", 400), ("gold", 404)])
def test_free_or_unknown_plan_cannot_be_bought(auth_client, fake_stripe, plan, code):
    response = auth_client.post(SUBSCRIBE, {"plan": plan}, format="json")
    assert response.status_code == code


def test_reconcile_repairs_drift_from_stripe(auth_client, user, fake_stripe):
    sub = subscribe_and_pay(auth_client, fake_stripe, plan="pro")
    # The provider ended it and the webhook was lost.
    fake_stripe.set_subscription(sub.external_id, status="canceled")
    other = UserFactory()
    stray = fake_stripe.add_subscription(
        price_id=STRIPE_PRICES["starter"], metadata={"user_id": str(other.pk)}
    )

    assert subscription_reconcile(provider="stripe") == 2
    sub.refresh_from_db()
    assert sub.status == SubscriptionStatus.CANCELED
    assert plan_get_for_user(user=user).slug == "free"
    assert Subscription.objects.get(external_id=stray["id"]).user == other
    assert subscription_reconcile(provider="stripe") == 0


def test_reconcile_skips_unknown_history_and_survives_missing_ones(user, fake_stripe):
    from billing.tests.factories import subscription_row

    ghost = subscription_row(user=user, external_id="sub_not_at_stripe")
    fake_stripe.add_subscription(price_id=STRIPE_PRICES["pro"], status="canceled")

    assert subscription_reconcile(provider="stripe") == 0
    ghost.refresh_from_db()
    assert ghost.status == SubscriptionStatus.ACTIVE
    assert Subscription.objects.count() == 1
    assert fake_stripe.last("GET", "/v1/subscriptions/sub_not_at_stripe")


def test_plan_list_costs_one_query(api_client, fake_stripe, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert api_client.get("/api/payments/plans").status_code == 200


def test_subscription_endpoint_query_count(
    auth_client, fake_stripe, django_assert_max_num_queries
):
    subscribe_and_pay(auth_client, fake_stripe, plan="pro")
    with django_assert_max_num_queries(3):
        assert auth_client.get("/api/payments/subscription").status_code == 200


def test_reconcile_follows_stripe_cursor_pagination(monkeypatch, fake_stripe):
    from billing.providers import stripe as stripe_provider

    monkeypatch.setattr(stripe_provider, "LIST_LIMIT", 2)
    users = [UserFactory() for _ in range(5)]
    for user in users:
        fake_stripe.add_subscription(
            price_id=STRIPE_PRICES["starter"], metadata={"user_id": str(user.pk)}
        )
    assert subscription_reconcile(provider="stripe") == 5
    active_pages = [
        r
        for r in fake_stripe.calls("GET", "/v1/subscriptions")
        if r.query["status"] == "active"
    ]
    assert len(active_pages) == 3
    assert all(plan_get_for_user(user=u).slug == "starter" for u in users)
