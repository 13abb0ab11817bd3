"""The account pages in a real browser (headless Chromium against the live server)."""

import pytest

from accounts.models import User
from flowmatik.testing.browser import screenshot

pytestmark = pytest.mark.browser


def test_sign_up_lands_in_the_app(browser_page, portal_server):
    page = browser_page
    page.goto(portal_server.url("/"))
    page.get_by_role("link", name="Sign up").first.click()
    page.get_by_label("Name").fill("Ada Lovelace")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill("Analytical-Engine-1843")
    screenshot(page, "signup")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/app/chat/")
    assert User.objects.filter(email="ada@example.com").exists()
    assert page.errors == []
