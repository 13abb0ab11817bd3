"""The account pages in a real browser (headless Chromium against the live server):
sign up lands in the app, an API key is shown once, the language switch."""

import pytest

from accounts.models import ApiKey, User
from accounts.tests.factories import UserFactory
from billing.tests.factories import subscription_row
from flowmatik.testing.browser import csp_violations, login_in_browser, screenshot

pytestmark = pytest.mark.browser


def test_sign_up_lands_in_the_app(browser_page, portal_server):
    page = browser_page
    page.goto(portal_server.url("/"))
    screenshot(page, "landing")
    page.get_by_role("link", name="Sign up").first.click()
    page.get_by_label("Name").fill("Ada Lovelace")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill("Analytical-Engine-1843")
    screenshot(page, "signup")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/app/chat/")
    assert User.objects.filter(email="ada@example.com").exists()
    assert page.errors == []
    assert csp_violations(page) == []


def test_a_new_api_key_is_shown_once(browser_page, portal_server):
    user = UserFactory()
    subscription_row(user=user, plan="starter")
    page = browser_page
    login_in_browser(page, user, portal_server)
    page.goto(portal_server.url("/app/settings/"))
    page.get_by_label("Key name").fill("blog automation")
    page.get_by_role("button", name="Create a key").click()
    shown = page.locator("[data-new-api-key]")
    shown.wait_for()
    raw = shown.inner_text().strip()
    assert raw.startswith("fmk_")
    screenshot(page, "settings-api-key-once")
    assert ApiKey.objects.filter(user=user, name="blog automation").count() == 1

    page.goto(portal_server.url("/app/settings/"))
    assert page.locator("[data-new-api-key]").count() == 0
    assert raw not in page.content()
    assert page.get_by_role("cell", name="blog automation", exact=True).is_visible()
    assert page.errors == []
    assert csp_violations(page) == []


def test_switching_to_spanish_shows_spanish_and_is_remembered(
    browser_page, portal_server
):
    user = UserFactory()
    page = browser_page
    login_in_browser(page, user, portal_server)
    page.goto(portal_server.url("/app/settings/"))
    assert page.get_by_role("heading", name="Settings", level=1).is_visible()
    page.locator("#language-switch-settings").select_option("es")  # submits
    page.get_by_role("heading", name="Ajustes", level=1).wait_for()
    assert page.locator("html").get_attribute("lang") == "es"
    assert page.get_by_role("link", name="Notificaciones").first.is_visible()
    screenshot(page, "settings-es")
    user.refresh_from_db()
    assert user.language == "es"
    page.goto(portal_server.url("/pricing/"))
    assert page.get_by_role("heading", name="Precios").is_visible()
    assert page.errors == []
    assert csp_violations(page) == []
