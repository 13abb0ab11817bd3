"""Concurrent provider deliveries for one user (MariaDB in CI): one live slot."""

import threading

import pytest
from django.db import connection

from accounts.tests.factories import UserFactory
from billing.models import Subscription
from billing.services import (
    subscription_sync_from_lemonsqueezy,
    subscription_sync_from_stripe,
)
from billing.tests.factories import ls_subscription, stripe_subscription

pytestmark = pytest.mark.mysql


# No serialized_rollback: after an earlier transactional test's flush it reloads
# content types that post_migrate has already re-created (duplicate key). The
# autouse `_plans` fixture re-seeds what this test needs.
@pytest.mark.django_db(transaction=True)
def test_two_providers_activating_at_once_leave_one_live_subscription(
    on_mysql, billing_prices
):
    if not on_mysql:
        pytest.skip("concurrent writers are exercised on MariaDB (CI)")
    user = UserFactory()
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(sync) -> None:
        try:
            barrier.wait(timeout=10)
            sync()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(
            target=run,
            args=(
                lambda: subscription_sync_from_stripe(
                    stripe_subscription=stripe_subscription(user_id=user.pk)
                ),
            ),
        ),
        threading.Thread(
            target=run,
            args=(
                lambda: subscription_sync_from_lemonsqueezy(
                    data=ls_subscription(), custom_data={"user_id": str(user.pk)}
                ),
            ),
        ),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    rows = Subscription.objects.filter(user=user)
    assert rows.count() == 2
    assert rows.filter(live_user=user.pk).count() == 1
