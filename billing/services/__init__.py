"""Billing writes: plans, subscriptions (ours and the providers'), payments.

Webhooks (issue 7) call the `*_sync_*`, `checkout_session_completed_stripe`,
`payment_record`, `subscription_reconcile` and `subscription_expire_due` services.
"""

from billing.services.payments import payment_record
from billing.services.plans import plan_seed_defaults
from billing.services.subscriptions import (
    subscription_cancel,
    subscription_change_plan,
    subscription_checkout_start,
    subscription_portal_url,
    subscription_resume,
)
from billing.services.sync import (
    SubscriberUnknown,
    SubscriptionPlanUnknown,
    checkout_session_completed_stripe,
    subscription_end,
    subscription_expire_due,
    subscription_reconcile,
    subscription_refresh,
    subscription_sync_from_lemonsqueezy,
    subscription_sync_from_stripe,
    subscription_sync_remote,
)

__all__ = [
    "SubscriberUnknown",
    "SubscriptionPlanUnknown",
    "checkout_session_completed_stripe",
    "payment_record",
    "plan_seed_defaults",
    "subscription_cancel",
    "subscription_change_plan",
    "subscription_checkout_start",
    "subscription_end",
    "subscription_expire_due",
    "subscription_portal_url",
    "subscription_reconcile",
    "subscription_refresh",
    "subscription_resume",
    "subscription_sync_from_lemonsqueezy",
    "subscription_sync_from_stripe",
    "subscription_sync_remote",
]
