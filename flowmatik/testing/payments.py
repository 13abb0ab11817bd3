"""Payment test constants: plan prices at the fake providers, webhook secrets."""

STRIPE_PRICES = {
    "starter": "price_starter_test",
    "pro": "price_pro_test",
    "business": "price_business_test",
}
LS_VARIANTS = {"starter": "101", "pro": "102", "business": "103"}
PLAN_CENTS = {"starter": 1900, "pro": 3900, "business": 7900}

STRIPE_WEBHOOK_SECRET = "whsec_test_secret_for_webhooks"
LEMONSQUEEZY_WEBHOOK_SECRET = "ls-test-signing-secret"
