"""Billing: plans, subscriptions, payments through Stripe and LemonSqueezy."""
