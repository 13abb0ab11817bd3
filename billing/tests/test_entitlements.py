"""Entitlements elsewhere follow the subscription: the premium role (/api/auth/me)
and the API-key permission, from paying to the cancelled period's end."""

from datetime import timedelta

import time_machine

from accounts.identity import identity_from_api_key
from billing.models import Subscription
from billing.services import (
    subscription_expire_due,
    subscription_sync_from_lemonsqueezy,
)

SUBSCRIBE = "/api/payments/subscribe/lemonsqueezy"


def test_premium_role_and_api_keys_follow_the_subscription(
    auth_client, user, fake_lemonsqueezy, django_capture_on_commit_callbacks
):
    me = auth_client.get("/api/auth/me").json()
    assert (me["role"], me["plan"]["slug"]) == ("user", "free")
    assert (
        auth_client.post(
            "/api/auth/api-keys", {"name": "ci"}, format="json"
        ).status_code
        == 403
    )

    assert (
        auth_client.post(SUBSCRIBE, {"plan": "starter"}, format="json").status_code
        == 200
    )
    data, custom = fake_lemonsqueezy.complete_checkout(
        list(fake_lemonsqueezy.checkouts)[-1]
    )
    with django_capture_on_commit_callbacks(execute=True):
        subscription_sync_from_lemonsqueezy(data=data, custom_data=custom)

    me = auth_client.get("/api/auth/me").json()
    assert (me["role"], me["plan"]["slug"]) == ("premium", "starter")
    created = auth_client.post("/api/auth/api-keys", {"name": "ci"}, format="json")
    assert created.status_code == 201, created.json()
    raw_key = created.json()["key"]
    assert identity_from_api_key(raw_key).user_id == user.pk

    with django_capture_on_commit_callbacks(execute=True):
        assert auth_client.post("/api/payments/subscription/cancel").status_code == 200
    assert auth_client.get("/api/auth/me").json()["role"] == "premium"  # grace period

    period_end = Subscription.objects.get(user=user).current_period_end
    with time_machine.travel(period_end + timedelta(seconds=1), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            assert subscription_expire_due() == 1
        me = auth_client.get("/api/auth/me").json()
        assert (me["role"], me["plan"]["slug"]) == ("user", "free")
        assert identity_from_api_key(raw_key) is None
