"""Billing writes: plans, subscriptions (ours and the providers'), payments.

Webhooks call the `*_sync_*`, `checkout_session_completed_stripe`, `payment_record`
and payment-problem services; beat runs reconciliation and expiry.
"""

from billing.services.payment_emails import (
    payment_action_required_notify,
    payment_problem_email_queue,
    payment_problem_email_send,
)
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
    subscriptions_reconcile_all,
)

__all__ = [
    "SubscriberUnknown",
    "SubscriptionPlanUnknown",
    "checkout_session_completed_stripe",
    "payment_action_required_notify",
    "payment_problem_email_queue",
    "payment_problem_email_send",
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
    "subscriptions_reconcile_all",
]
