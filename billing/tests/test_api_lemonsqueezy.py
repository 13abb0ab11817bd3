"""The payments API through LemonSqueezy: our client against a fake JSON:API server."""

from datetime import UTC, datetime

import pytest

from accounts.tests.factories import UserFactory
from billing.models import Subscription, SubscriptionStatus
from billing.selectors import plan_get_for_user, user_has_feature, user_is_premium
from billing.services import (
    subscription_reconcile,
    subscription_sync_from_lemonsqueezy,
)
from flowmatik.testing.payments import LS_VARIANTS

SUBSCRIBE = "/api/payments/subscribe/lemonsqueezy"
JSONAPI = "application/vnd.api+json"


def subscribe_and_pay(client, fake, plan: str = "starter") -> Subscription:
    """Checkout, pay on the (fake) hosted page, deliver what the webhook would."""
    response = client.post(SUBSCRIBE, {"plan": plan}, format="json")
    assert response.status_code == 200, response.json()
    checkout_id = list(fake.checkouts)[-1]
    data, custom = fake.complete_checkout(checkout_id)
    return subscription_sync_from_lemonsqueezy(data=data, custom_data=custom)


def test_checkout_sends_store_variant_and_user_id(auth_client, user, fake_lemonsqueezy):
    response = auth_client.post(SUBSCRIBE, {"plan": "pro"}, format="json")

    assert response.status_code == 200
    url = response.json()["checkout_url"]
    assert url.startswith(f"{fake_lemonsqueezy.url}/checkout/custom/")
    call = fake_lemonsqueezy.last("POST", "/v1/checkouts")
    assert call.headers["authorization"] == f"Bearer {fake_lemonsqueezy.api_key}"
    assert call.headers["accept"] == JSONAPI
    assert call.headers["content-type"] == JSONAPI
    data = call.body["data"]
    assert data["type"] == "checkouts"
    assert data["relationships"]["store"]["data"] == {"type": "stores", "id": "1"}
    assert data["relationships"]["variant"]["data"] == {
        "type": "variants",
        "id": LS_VARIANTS["pro"],
    }
    checkout_data = data["attributes"]["checkout_data"]
    assert checkout_data["custom"]["user_id"] == str(user.pk)
    assert checkout_data["email"] == user.email
    assert data["attributes"]["product_options"]["enabled_variants"] == [102]
    assert data["attributes"]["test_mode"] is True
    assert plan_get_for_user(user=user).slug == "free"  # nothing granted yet


def test_plans_list_lemonsqueezy_when_configured(api_client, fake_lemonsqueezy):
    plans = api_client.get("/api/payments/plans").json()["results"]
    assert {p["slug"]: p["providers"] for p in plans}["business"] == ["lemonsqueezy"]


def test_subscription_follows_lemonsqueezy_and_gates_features(
    auth_client, user, fake_lemonsqueezy
):
    subscribe_and_pay(auth_client, fake_lemonsqueezy, plan="pro")
    body = auth_client.get("/api/payments/subscription").json()
    assert body["plan"]["slug"] == "pro"
    assert body["subscription"]["provider"] == "lemonsqueezy"
    assert body["subscription"]["status"] == "active"
    assert user_is_premium(user=user)
    assert user_has_feature(user=user, feature="analytics")


def test_second_subscription_is_refused_with_409(auth_client, fake_lemonsqueezy):
    subscribe_and_pay(auth_client, fake_lemonsqueezy)
    response = auth_client.post(SUBSCRIBE, {"plan": "pro"}, format="json")
    assert response.status_code == 409
    assert len(fake_lemonsqueezy.calls("POST", "/v1/checkouts")) == 1


def test_cancel_resume_and_change_plan_go_through_lemonsqueezy(
    auth_client, user, fake_lemonsqueezy
):
    sub = subscribe_and_pay(auth_client, fake_lemonsqueezy, plan="starter")
    path = f"/v1/subscriptions/{sub.external_id}"

    cancelled = auth_client.post("/api/payments/subscription/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["cancel_at_period_end"] is True
    assert cancelled.json()["provider_status"] == "cancelled"
    assert fake_lemonsqueezy.last("DELETE", path)
    assert plan_get_for_user(user=user).slug == "starter"  # grace period

    resumed = auth_client.post("/api/payments/subscription/resume")
    assert resumed.status_code == 200
    assert resumed.json()["cancel_at_period_end"] is False
    patch = fake_lemonsqueezy.last("PATCH", path).body["data"]
    assert patch == {
        "type": "subscriptions",
        "id": sub.external_id,
        "attributes": {"cancelled": False},
    }

    changed = auth_client.post(
        "/api/payments/subscription/change-plan", {"plan": "business"}, format="json"
    )
    assert changed.status_code == 200
    assert changed.json()["plan"] == "business"
    patch = fake_lemonsqueezy.last("PATCH", path).body["data"]
    assert patch["attributes"] == {"variant_id": int(LS_VARIANTS["business"])}
    assert plan_get_for_user(user=user).slug == "business"


def test_change_to_the_same_plan_is_a_conflict(auth_client, fake_lemonsqueezy):
    subscribe_and_pay(auth_client, fake_lemonsqueezy, plan="pro")
    response = auth_client.post(
        "/api/payments/subscription/change-plan", {"plan": "pro"}, format="json"
    )
    assert response.status_code == 409
    assert fake_lemonsqueezy.calls("PATCH") == []


def test_admin_cancel_now_ends_access_and_a_late_echo_cannot_revive_it(
    staff_client, staff_user, fake_lemonsqueezy
):
    sub = subscribe_and_pay(staff_client, fake_lemonsqueezy, plan="pro")
    response = staff_client.post(
        "/api/payments/subscription/cancel", {"immediately": True}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["status"] == "expired"
    assert plan_get_for_user(user=staff_user).slug == "free"
    # The provider's `subscription_cancelled` webhook arrives afterwards.
    echo = fake_lemonsqueezy.subscription_resource(sub.external_id)
    subscription_sync_from_lemonsqueezy(data=echo, custom_data=None)
    assert plan_get_for_user(user=staff_user).slug == "free"


def test_invoices_and_card_come_from_lemonsqueezy(auth_client, fake_lemonsqueezy):
    sub = subscribe_and_pay(auth_client, fake_lemonsqueezy, plan="business")
    fake_lemonsqueezy.add_invoice(sub.external_id, status="refunded")

    invoices = auth_client.get("/api/payments/invoices").json()["results"]
    assert [i["status"] for i in invoices] == ["refunded", "paid"]
    assert invoices[1]["amount"] == "79.00"
    assert invoices[1]["currency"] == "USD"
    assert invoices[1]["url"].startswith(f"{fake_lemonsqueezy.url}/invoice/")
    call = fake_lemonsqueezy.last("GET", "/v1/subscription-invoices")
    assert call.query["filter"] == {"subscription_id": sub.external_id}

    methods = auth_client.get("/api/payments/payment-methods").json()["results"]
    assert methods == [
        {
            "provider": "lemonsqueezy",
            "brand": "visa",
            "last4": "4242",
            "exp_month": None,
            "exp_year": None,
        }
    ]


def test_a_user_never_sees_another_users_lemonsqueezy_invoices(
    api_client, fake_lemonsqueezy
):
    alice, bob = UserFactory(), UserFactory()
    api_client.force_authenticate(alice)
    subscribe_and_pay(api_client, fake_lemonsqueezy, plan="business")
    api_client.force_authenticate(bob)
    subscribe_and_pay(api_client, fake_lemonsqueezy, plan="starter")
    invoices = api_client.get("/api/payments/invoices").json()["results"]
    assert [i["amount"] for i in invoices] == ["19.00"]


def test_portal_url_is_signed_fresh_each_time(auth_client, fake_lemonsqueezy):
    subscribe_and_pay(auth_client, fake_lemonsqueezy)
    first = auth_client.get("/api/payments/portal").json()["url"]
    second = auth_client.get("/api/payments/portal").json()["url"]
    assert "signature=" in first
    assert first != second


def test_rate_limit_is_retried_with_backoff(auth_client, fake_lemonsqueezy):
    fake_lemonsqueezy.fail_next(
        429, times=2, headers={"Retry-After": "0"}, match="/v1/checkouts"
    )
    response = auth_client.post(SUBSCRIBE, {"plan": "starter"}, format="json")
    assert response.status_code == 200
    assert len(fake_lemonsqueezy.calls("POST", "/v1/checkouts")) == 3


def test_rate_limit_that_persists_is_a_503_with_retry_after(
    auth_client, fake_lemonsqueezy
):
    fake_lemonsqueezy.fail_next(
        429, times=2, headers={"Retry-After": "0"}, match="/v1/checkouts"
    )
    fake_lemonsqueezy.fail_next(
        429, headers={"Retry-After": "7"}, match="/v1/checkouts"
    )
    response = auth_client.post(SUBSCRIBE, {"plan": "starter"}, format="json")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "payment_provider_unavailable"
    assert response["Retry-After"] == "7"
    assert len(fake_lemonsqueezy.calls("POST", "/v1/checkouts")) == 3


@pytest.mark.parametrize("header", ["-5", "nan", "-inf", "inf"])
def test_negative_or_non_finite_retry_after_is_retried_not_a_500(
    auth_client, fake_lemonsqueezy, header
):
    fake_lemonsqueezy.fail_next(
        429, times=2, headers={"Retry-After": header}, match="/v1/checkouts"
    )
    response = auth_client.post(SUBSCRIBE, {"plan": "starter"}, format="json")
    assert response.status_code == 200
    assert len(fake_lemonsqueezy.calls("POST", "/v1/checkouts")) == 3


def test_retry_after_cap_is_a_setting_read_per_call(
    auth_client, fake_lemonsqueezy, settings
):
    settings.LEMONSQUEEZY_MAX_RETRY_AFTER_SECONDS = 0.05
    fake_lemonsqueezy.fail_next(
        429, times=3, headers={"Retry-After": "7"}, match="/v1/checkouts"
    )
    response = auth_client.post(SUBSCRIBE, {"plan": "starter"}, format="json")
    assert response.status_code == 503
    # The waits were capped too: the 7 s the provider asked would exceed the timeout.
    assert response["Retry-After"] == "1"  # rounded up to whole seconds
    assert len(fake_lemonsqueezy.calls("POST", "/v1/checkouts")) == 3


def test_server_error_on_a_write_is_not_retried(auth_client, fake_lemonsqueezy):
    fake_lemonsqueezy.fail_next(500, match="/v1/checkouts")
    response = auth_client.post(SUBSCRIBE, {"plan": "starter"}, format="json")
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "payment_provider_error"
    assert len(fake_lemonsqueezy.calls("POST", "/v1/checkouts")) == 1


def test_server_error_on_a_read_is_retried(auth_client, fake_lemonsqueezy):
    subscribe_and_pay(auth_client, fake_lemonsqueezy)
    fake_lemonsqueezy.fail_next(502, match="/v1/subscription-invoices")
    response = auth_client.get("/api/payments/invoices")
    assert response.status_code == 200
    assert len(fake_lemonsqueezy.calls("GET", "/v1/subscription-invoices")) == 2


@pytest.mark.parametrize(
    ("status", "expected_status", "expected_code"),
    [
        (422, 502, "payment_provider_rejected"),
        (404, 502, "payment_provider_rejected"),
        (401, 502, "payment_provider_auth_failed"),
    ],
)
def test_lemonsqueezy_errors_become_our_codes(
    auth_client, fake_lemonsqueezy, status, expected_status, expected_code
):
    fake_lemonsqueezy.fail_next(status, match="/v1/checkouts")
    response = auth_client.post(SUBSCRIBE, {"plan": "starter"}, format="json")
    assert response.status_code == expected_status
    assert response.json()["error"]["code"] == expected_code
    assert fake_lemonsqueezy.api_key not in response.content.decode()


def test_lemonsqueezy_timeout_becomes_504(
    auth_client, user, fake_lemonsqueezy, settings
):
    subscribe_and_pay(auth_client, fake_lemonsqueezy)
    settings.LEMONSQUEEZY_TIMEOUT_SECONDS = 0.3
    fake_lemonsqueezy.delay_next(1.5, match="DELETE /v1/subscriptions")
    response = auth_client.post("/api/payments/subscription/cancel")
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "payment_provider_timeout"
    assert plan_get_for_user(user=user).slug == "starter"


def test_lemonsqueezy_not_configured_answers_503(auth_client, settings):
    settings.LEMONSQUEEZY_API_KEY = ""
    response = auth_client.post(SUBSCRIBE, {"plan": "starter"}, format="json")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "payments_not_configured"


def test_reconcile_repairs_drift_from_lemonsqueezy(
    auth_client, user, fake_lemonsqueezy
):
    sub = subscribe_and_pay(auth_client, fake_lemonsqueezy, plan="pro")
    # Expired at the provider; the webhook was lost (LS retries for minutes only).
    fake_lemonsqueezy.set_subscription(sub.external_id, status="expired")
    assert subscription_reconcile(provider="lemonsqueezy") == 1
    sub.refresh_from_db()
    assert sub.status == SubscriptionStatus.EXPIRED
    assert sub.ended_at <= datetime.now(tz=UTC)
    assert plan_get_for_user(user=user).slug == "free"
    assert subscription_reconcile(provider="lemonsqueezy") == 0
    call = fake_lemonsqueezy.last("GET", "/v1/subscriptions")
    assert call.query["filter"] == {"store_id": "1"}


def test_reconcile_walks_every_page(monkeypatch, fake_lemonsqueezy):
    from billing.providers import lemonsqueezy

    monkeypatch.setattr(lemonsqueezy, "LIST_PAGE_SIZE", 1)
    users = [UserFactory() for _ in range(3)]
    for user in users:
        checkout = {
            "checkout_data": {"email": user.email, "custom": {"user_id": str(user.pk)}},
            "variant_id": int(LS_VARIANTS["pro"]),
        }
        checkout_id = f"co-{user.pk}"
        fake_lemonsqueezy.checkouts[checkout_id] = {"attributes": checkout}
        data, custom = fake_lemonsqueezy.complete_checkout(checkout_id)
        subscription_sync_from_lemonsqueezy(data=data, custom_data=custom)
        fake_lemonsqueezy.set_subscription(data["id"], status="past_due")

    assert subscription_reconcile(provider="lemonsqueezy") == 3
    pages = [
        r.query["page"]["number"]
        for r in fake_lemonsqueezy.calls("GET", "/v1/subscriptions")
    ]
    assert pages == ["1", "2", "3"]
    assert Subscription.objects.filter(status="past_due").count() == 3
