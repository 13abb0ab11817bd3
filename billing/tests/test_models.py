"""Database invariants of billing: one live subscription per user, enforced there."""

import pytest
from django.db import IntegrityError, transaction

from billing.models import Plan, Subscription, SubscriptionStatus
from billing.tests.factories import subscription_row


def _row(user, **fields) -> Subscription:
    defaults = {
        "user": user,
        "plan": Plan.objects.get(slug="starter"),
        "provider": "stripe",
        "external_id": "sub_x",
        "status": SubscriptionStatus.ACTIVE,
        "live_user": user.pk,
    }
    defaults.update(fields)
    return Subscription(**defaults)


def test_database_refuses_a_second_live_subscription_for_one_user(user):
    subscription_row(user=user)
    with pytest.raises(IntegrityError), transaction.atomic():
        _row(user, external_id="sub_second").save()


def test_ended_subscriptions_do_not_hold_the_slot(user):
    subscription_row(user=user, status=SubscriptionStatus.CANCELED)
    subscription_row(user=user, status=SubscriptionStatus.EXPIRED)
    live = subscription_row(user=user)
    assert live.live_user == user.pk


def test_database_refuses_an_ended_subscription_holding_the_slot(user):
    with pytest.raises(IntegrityError), transaction.atomic():
        _row(user, status=SubscriptionStatus.CANCELED).save()


def test_database_refuses_a_slot_held_for_another_user(user, staff_user):
    with pytest.raises(IntegrityError), transaction.atomic():
        _row(user, live_user=staff_user.pk).save()


def test_provider_subscription_id_is_unique_per_provider(user, staff_user):
    subscription_row(user=user, external_id="sub_same")
    subscription_row(user=staff_user, external_id="sub_same", provider="lemonsqueezy")
    with pytest.raises(IntegrityError), transaction.atomic():
        subscription_row(
            user=staff_user, external_id="sub_same", status=SubscriptionStatus.EXPIRED
        )
