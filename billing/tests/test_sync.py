"""The services webhooks call: provider state in, one subscription per user out."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from accounts.tests.factories import UserFactory
from billing.models import Payment, Subscription, SubscriptionStatus
from billing.selectors import (
    plan_get_for_user,
    plan_info_for_user_id,
    user_has_feature,
    user_is_premium,
)
from billing.services import (
    SubscriberUnknown,
    checkout_session_completed_stripe,
    payment_record,
    subscription_expire_due,
    subscription_sync_from_lemonsqueezy,
    subscription_sync_from_stripe,
)
from billing.tests.factories import (
    LS_VARIANTS,
    STRIPE_PRICES,
    ls_subscription,
    stripe_subscription,
)
from notifications.models import Notification, NotificationKind

pytestmark = pytest.mark.usefixtures("billing_prices")


def test_stripe_subscription_grants_its_plan_to_the_user_in_metadata(
    user, django_capture_on_commit_callbacks
):
    assert plan_get_for_user(user=user).slug == "free"
    with django_capture_on_commit_callbacks(execute=True):
        sub = subscription_sync_from_stripe(
            stripe_subscription=stripe_subscription(
                user_id=user.pk, price=STRIPE_PRICES["pro"]
            )
        )
    assert sub.user == user
    assert sub.status == SubscriptionStatus.ACTIVE
    assert sub.live_user == user.pk
    assert plan_get_for_user(user=user).slug == "pro"
    assert user_is_premium(user=user)
    assert user_has_feature(user=user, feature="workflows")
    notification = Notification.objects.get(user=user)
    assert notification.kind == NotificationKind.SUBSCRIPTION_CHANGED
    assert notification.data["plan"] == "pro"


def test_period_end_comes_from_the_subscription_items(user):
    end = datetime(2031, 5, 17, 12, 0, tzinfo=UTC)
    sub = subscription_sync_from_stripe(
        stripe_subscription=stripe_subscription(user_id=user.pk, period_end=end)
    )
    assert sub.current_period_end == end


def test_older_stripe_event_does_not_overwrite_newer_state(user):
    obj = stripe_subscription(user_id=user.pk)
    t1 = datetime(2030, 1, 1, 12, 0, 5, tzinfo=UTC)
    subscription_sync_from_stripe(stripe_subscription=obj, event_created=t1)
    stale = dict(obj, status="incomplete")
    sub = subscription_sync_from_stripe(
        stripe_subscription=stale, event_created=t1 - timedelta(seconds=3)
    )
    assert sub.status == SubscriptionStatus.ACTIVE
    same_second = subscription_sync_from_stripe(
        stripe_subscription=stale, event_created=t1
    )
    assert same_second.status == SubscriptionStatus.ACTIVE
    newer = dict(obj, status="past_due")
    sub = subscription_sync_from_stripe(
        stripe_subscription=newer, event_created=t1 + timedelta(seconds=1)
    )
    assert sub.status == SubscriptionStatus.PAST_DUE


def test_plan_cache_is_invalidated_after_commit(
    user, django_capture_on_commit_callbacks
):
    assert plan_info_for_user_id(user_id=user.pk).slug == "free"
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        subscription_sync_from_stripe(
            stripe_subscription=stripe_subscription(user_id=user.pk)
        )
    # Before commit the cached Free plan is still served...
    assert plan_info_for_user_id(user_id=user.pk).slug == "free"
    for callback in callbacks:
        callback()
    assert plan_info_for_user_id(user_id=user.pk).slug == "starter"


def test_checkout_completed_links_the_customer_but_grants_nothing(user):
    session = {
        "id": "cs_1",
        "object": "checkout.session",
        "mode": "subscription",
        "client_reference_id": str(user.pk),
        "customer": "cus_linked",
        "subscription": "sub_linked",
        "metadata": {"user_id": str(user.pk), "plan": "business"},
        "livemode": False,
    }
    checkout_session_completed_stripe(session=session)
    sub = Subscription.objects.get(external_id="sub_linked")
    assert sub.status == SubscriptionStatus.INCOMPLETE
    assert plan_get_for_user(user=user).slug == "free"
    # The subscription's own data (no user metadata) finds the user via the link.
    obj = stripe_subscription(
        sub_id="sub_linked", customer="cus_linked", price=STRIPE_PRICES["business"]
    )
    subscription_sync_from_stripe(stripe_subscription=obj)
    assert plan_get_for_user(user=user).slug == "business"
    checkout_session_completed_stripe(session=session)  # a redelivery changes nothing
    assert Subscription.objects.get(external_id="sub_linked").status == "active"


def test_stripe_customer_linked_at_checkout_identifies_later_subscriptions(user):
    checkout_session_completed_stripe(
        session={
            "id": "cs_2",
            "mode": "subscription",
            "client_reference_id": str(user.pk),
            "customer": "cus_only",
            "subscription": None,
            "metadata": {},
        }
    )
    sub = subscription_sync_from_stripe(
        stripe_subscription=stripe_subscription(customer="cus_only")
    )
    assert sub.user == user


def test_subscription_of_an_unknown_customer_is_refused(db):
    with pytest.raises(SubscriberUnknown):
        subscription_sync_from_stripe(
            stripe_subscription=stripe_subscription(customer="cus_nobody")
        )


def test_second_live_subscription_stays_unlinked_until_the_first_ends(user):
    first = subscription_sync_from_stripe(
        stripe_subscription=stripe_subscription(user_id=user.pk, customer="cus_a")
    )
    second = subscription_sync_from_lemonsqueezy(
        data=ls_subscription(variant_id=LS_VARIANTS["pro"]),
        custom_data={"user_id": str(user.pk)},
    )
    assert first.live_user == user.pk
    assert second.live_user is None
    assert plan_get_for_user(user=user).slug == "starter"
    obj = stripe_subscription(
        sub_id=first.external_id, user_id=user.pk, customer="cus_a", status="canceled"
    )
    subscription_sync_from_stripe(stripe_subscription=obj)
    second.refresh_from_db()
    assert second.live_user == user.pk
    assert plan_get_for_user(user=user).slug == "pro"


def test_lemonsqueezy_user_id_arrives_as_a_string(user):
    sub = subscription_sync_from_lemonsqueezy(
        data=ls_subscription(variant_id=LS_VARIANTS["business"]),
        custom_data={"user_id": str(user.pk)},
    )
    assert sub.user == user
    assert sub.plan.slug == "business"
    assert sub.card_last4 == "4242"


def test_lemonsqueezy_later_events_find_the_user_by_stored_id(user):
    data = ls_subscription(sub_id="900")
    subscription_sync_from_lemonsqueezy(
        data=data, custom_data={"user_id": str(user.pk)}
    )
    later = ls_subscription(
        sub_id="900",
        status="past_due",
        updated_at=datetime.now(tz=UTC) + timedelta(minutes=1),
    )
    sub = subscription_sync_from_lemonsqueezy(data=later, custom_data=None)
    assert sub.status == SubscriptionStatus.PAST_DUE


def test_lemonsqueezy_out_of_order_update_is_ignored(user):
    now = datetime.now(tz=UTC)
    newer = ls_subscription(sub_id="901", status="expired", updated_at=now)
    older = ls_subscription(
        sub_id="901", status="active", updated_at=now - timedelta(minutes=5)
    )
    custom = {"user_id": str(user.pk)}
    subscription_sync_from_lemonsqueezy(data=newer, custom_data=custom)
    sub = subscription_sync_from_lemonsqueezy(data=older, custom_data=custom)
    assert sub.status == SubscriptionStatus.EXPIRED
    assert plan_get_for_user(user=user).slug == "free"


def test_lemonsqueezy_cancelled_keeps_access_until_ends_at(user):
    ends = datetime.now(tz=UTC) + timedelta(days=3)
    sub = subscription_sync_from_lemonsqueezy(
        data=ls_subscription(status="cancelled", ends_at=ends),
        custom_data={"user_id": str(user.pk)},
    )
    assert sub.cancel_at_period_end is True
    assert sub.current_period_end == ends.replace(
        microsecond=sub.current_period_end.microsecond
    )
    assert plan_get_for_user(user=user).slug == "starter"


def test_cancelled_subscription_drops_to_free_at_period_end(
    user, django_capture_on_commit_callbacks
):
    ends = datetime.now(tz=UTC) + timedelta(days=2)
    subscription_sync_from_stripe(
        stripe_subscription=stripe_subscription(
            user_id=user.pk,
            price=STRIPE_PRICES["pro"],
            period_end=ends,
            cancel_at_period_end=True,
        )
    )
    assert plan_info_for_user_id(user_id=user.pk).slug == "pro"
    assert subscription_expire_due() == 0
    with time_machine.travel(ends + timedelta(minutes=1), tick=False):
        assert plan_get_for_user(user=user).slug == "free"  # even before the task
        with django_capture_on_commit_callbacks(execute=True):
            assert subscription_expire_due() == 1
        assert subscription_expire_due() == 0
    sub = Subscription.objects.get(user=user)
    assert sub.status == SubscriptionStatus.CANCELED
    assert sub.live_user is None
    assert plan_info_for_user_id(user_id=user.pk).slug == "free"
    assert not user_is_premium(user=user)
    assert Notification.objects.filter(
        user=user, kind=NotificationKind.SUBSCRIPTION_CHANGED, title__contains="Free"
    ).exists()


def test_payment_record_is_idempotent_and_notifies_once(
    user, django_capture_on_commit_callbacks
):
    kwargs = {
        "provider": "stripe",
        "external_id": "in_1",
        "user": user,
        "plan": None,
        "amount": Decimal("19.00"),
        "currency": "usd",
        "paid_at": datetime.now(tz=UTC),
    }
    with django_capture_on_commit_callbacks(execute=True):
        first = payment_record(**kwargs)
        second = payment_record(**kwargs)
    assert first.pk == second.pk
    assert Payment.objects.count() == 1
    assert first.currency == "USD"
    assert (
        Notification.objects.filter(kind=NotificationKind.PAYMENT_SUCCEEDED).count()
        == 1
    )


def test_failed_payment_notifies_and_a_later_success_moves_it_forward(
    user, django_capture_on_commit_callbacks
):
    kwargs = {
        "provider": "lemonsqueezy",
        "external_id": "inv_9",
        "user": user,
        "plan": None,
        "amount": Decimal("39.00"),
        "currency": "USD",
        "paid_at": datetime.now(tz=UTC),
    }
    with django_capture_on_commit_callbacks(execute=True):
        payment_record(**kwargs, status="failed")
        payment = payment_record(**kwargs, status="paid")
    assert payment.status == "paid"
    kinds = set(Notification.objects.values_list("kind", flat=True))
    assert kinds == {
        NotificationKind.PAYMENT_FAILED,
        NotificationKind.PAYMENT_SUCCEEDED,
    }


def test_losing_the_slot_race_saves_the_subscription_unlinked(user, monkeypatch):
    from billing.services import sync

    subscription_sync_from_stripe(
        stripe_subscription=stripe_subscription(user_id=user.pk)
    )

    def claim_blindly(sub):  # as if the holder check ran before the other commit
        sub.live_user = sub.user_id

    monkeypatch.setattr(sync, "_claim_live_slot", claim_blindly)
    second = subscription_sync_from_lemonsqueezy(
        data=ls_subscription(), custom_data={"user_id": str(user.pk)}
    )
    assert second.pk is not None
    assert second.live_user is None
    assert Subscription.objects.filter(live_user=user.pk).count() == 1


def test_fake_servers_build_the_webhook_envelopes_the_services_consume(
    user, fake_stripe, fake_lemonsqueezy
):
    remote = fake_stripe.add_subscription(
        price_id=STRIPE_PRICES["pro"], metadata={"user_id": str(user.pk)}
    )
    event = fake_stripe.event("customer.subscription.updated", remote)
    assert event["data"]["object"]["id"] == remote["id"]
    sub = subscription_sync_from_stripe(
        stripe_subscription=event["data"]["object"],
        event_created=datetime.fromtimestamp(event["created"], tz=UTC),
    )
    assert sub.plan.slug == "pro"

    other = UserFactory()
    payload = fake_lemonsqueezy.webhook_payload(
        "subscription_created",
        ls_subscription(variant_id=LS_VARIANTS["business"]),
        {"user_id": str(other.pk)},
    )
    sub = subscription_sync_from_lemonsqueezy(
        data=payload["data"], custom_data=payload["meta"]["custom_data"]
    )
    assert (sub.user, sub.plan.slug) == (other, "business")


def test_stripe_library_objects_are_accepted_as_well_as_dicts(user):
    import stripe

    obj = stripe.Subscription.construct_from(
        stripe_subscription(user_id=user.pk, price=STRIPE_PRICES["business"]), "sk_x"
    )
    assert (
        subscription_sync_from_stripe(stripe_subscription=obj).plan.slug == "business"
    )
