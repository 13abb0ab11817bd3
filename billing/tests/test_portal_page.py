"""The /billing/ portal page: what a person sees and can do, against the fake
Stripe and LemonSqueezy servers."""

import pytest
from django.test import Client

from billing.models import Subscription
from billing.services import subscription_sync_from_stripe
from flowmatik.testing.payments import STRIPE_PRICES


@pytest.fixture
def browser(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def pro_at_stripe(user, fake_stripe):
    """The user pays Pro through Stripe: a card on file and a first invoice."""
    remote = fake_stripe.add_subscription(
        price_id=STRIPE_PRICES["pro"],
        metadata={"user_id": str(user.pk)},
        card_last4="4242",
    )
    return subscription_sync_from_stripe(stripe_subscription=remote)


def _page(browser) -> str:
    response = browser.get("/billing/")
    assert response.status_code == 200
    return response.content.decode()


def test_without_a_configured_provider_the_page_says_so_in_words(browser, settings):
    settings.STRIPE_SECRET_KEY = ""
    settings.LEMONSQUEEZY_API_KEY = ""
    page = _page(browser)
    assert "Payments are not set up on this server" in page
    assert "Upgrade to" not in page


def test_a_free_user_is_offered_an_upgrade_per_configured_provider(
    browser, fake_stripe, fake_lemonsqueezy
):
    page = _page(browser)
    assert "Your plan: Free" in page
    assert "Upgrade to Pro with Stripe" in page
    assert "Upgrade to Pro with LemonSqueezy" in page
    assert "Payments are not set up" not in page
    assert "No invoices yet." in page


def test_upgrading_through_lemonsqueezy_goes_to_its_checkout(
    browser, fake_lemonsqueezy
):
    response = browser.post("/billing/subscribe/lemonsqueezy/", {"plan": "pro"})
    assert response.status_code == 302
    assert response["Location"].startswith(f"{fake_lemonsqueezy.url}/checkout/")


def test_a_subscriber_sees_plan_status_card_and_invoices_with_links(
    browser, fake_stripe, pro_at_stripe
):
    page = _page(browser)
    assert "Your plan: Pro" in page
    assert 'data-subscription-status="active"' in page
    assert "•••• 4242" in page
    invoice = next(iter(fake_stripe.invoices.values()))
    assert invoice["number"] in page
    assert invoice["invoice_pdf"] in page or invoice["hosted_invoice_url"] in page
    assert "Switch to Business" in page
    assert "Upgrade to" not in page  # one subscription: change it instead


def test_changing_plan_moves_the_subscription_at_the_provider(
    browser, fake_stripe, pro_at_stripe, user
):
    response = browser.post("/billing/change-plan/", {"plan": "business"}, follow=True)
    assert "Your plan is now Business." in response.content.decode()
    remote = fake_stripe.subscription_object(pro_at_stripe.external_id)
    assert remote["items"]["data"][0]["price"]["id"] == STRIPE_PRICES["business"]
    assert Subscription.objects.get(pk=pro_at_stripe.pk).plan.slug == "business"


def test_cancel_then_resume_from_the_page(browser, fake_stripe, pro_at_stripe):
    page = browser.post("/billing/cancel/", follow=True).content.decode()
    assert "Your plan will end at the end of the billing period." in page
    assert "Keep my plan" in page
    assert fake_stripe.subscription_object(pro_at_stripe.external_id)[
        "cancel_at_period_end"
    ]
    page = browser.post("/billing/resume/", follow=True).content.decode()
    assert "Your subscription will continue." in page
    assert "Cancel at the end of the period" in page


def test_the_customer_portal_button_redirects_to_the_providers_portal(
    browser, fake_stripe, pro_at_stripe
):
    response = browser.post("/billing/portal/")
    assert response.status_code == 302
    assert response["Location"].startswith(fake_stripe.url)


def test_a_failing_provider_leaves_the_page_up_with_the_reason(
    browser, fake_stripe, pro_at_stripe
):
    fake_stripe.fail_next(500, times=2)
    page = _page(browser)
    assert "could not be loaded" in page
    assert "Your plan: Pro" in page


@pytest.mark.parametrize(
    ("path", "data", "words"),
    [
        ("/billing/subscribe/paypal/", {"plan": "pro"}, "Unknown payment provider"),
        ("/billing/subscribe/stripe/", {"plan": "nope"}, "No such plan."),
        ("/billing/subscribe/stripe/", {}, "No such plan."),
        ("/billing/subscribe/stripe/", {"plan": "free"}, "needs no subscription"),
        ("/billing/change-plan/", {"plan": "pro"}, "You have no live subscription."),
        ("/billing/cancel/", {}, "You have no live subscription."),
        ("/billing/resume/", {}, "You have no live subscription."),
        ("/billing/portal/", {}, "You have no live subscription."),
    ],
)
def test_bad_requests_come_back_as_messages_not_errors(
    browser, fake_stripe, path, data, words
):
    response = browser.post(path, data)
    assert response.status_code == 302
    assert response["Location"] == "/billing/"
    assert words in browser.get("/billing/").content.decode()


def test_change_plan_to_the_current_plan_is_refused_in_words(
    browser, fake_stripe, pro_at_stripe
):
    response = browser.post("/billing/change-plan/", {"plan": "pro"}, follow=True)
    assert "You are already on this plan." in response.content.decode()


def test_actions_refuse_get_and_anonymous_users(browser, db):
    assert browser.get("/billing/cancel/").status_code == 405
    anonymous = Client().post("/billing/cancel/")
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/login/")


def test_returning_from_checkout_explains_what_happens_next(browser, fake_stripe):
    page = browser.get("/billing/?checkout=success").content.decode()
    assert "Your payment is being confirmed" in page
    assert "being confirmed" not in browser.get("/billing/?checkout=x").content.decode()


def test_the_page_speaks_the_users_language(browser, user, fake_stripe):
    user.language = "es"
    user.save(update_fields=["language"])
    page = _page(browser)
    assert "Tu plan: Free" in page
    assert "Pasar a Pro con Stripe" in page
    assert "Todavía no hay facturas." in page
