"""The notifications bell in a real browser: the unread count of the app shell
updates live (over /ws/notifications/, opened with the session's ticket) when a
notification is sent, and the list page shows it."""

import pytest

from accounts.tests.factories import UserFactory
from flowmatik.testing.browser import (
    csp_violations,
    login_in_browser,
    run_in_server,
    screenshot,
)
from notifications.services import notification_send

pytestmark = pytest.mark.browser


def test_the_bell_counts_a_new_notification_live(browser_page, portal_server):
    user = UserFactory()
    page = browser_page
    run_in_server(
        portal_server,
        notification_send,
        user=user,
        kind="job.completed",
        title="Earlier",
    )
    login_in_browser(page, user, portal_server)
    opened = []
    page.on("websocket", lambda ws: opened.append(ws.url))
    page.goto(portal_server.url("/app/notifications/"))
    count = page.locator("[data-bell-count]")
    assert count.inner_text() == "1"
    page.wait_for_function(
        "() => window.Flowmatik.notificationsSocket.socket "
        "&& window.Flowmatik.notificationsSocket.socket.readyState === 1"
    )
    assert any(url.endswith("/ws/notifications/") for url in opened)

    run_in_server(
        portal_server,
        notification_send,
        user=user,
        kind="job.completed",
        title="Your blog post is ready",
    )
    page.wait_for_function(
        "() => document.querySelector('[data-bell-count]').textContent === '2'"
    )
    assert page.get_by_text("Your blog post is ready", exact=True).is_visible()
    assert page.locator("[data-bell]").get_attribute("aria-label").endswith("2")
    screenshot(page, "notifications-live")

    # The socket drops; a notification sent meanwhile is missed live, and the
    # bell asks for the count again when the socket is back.
    page.evaluate("window.Flowmatik.notificationsSocket.socket.close()")
    page.wait_for_function(
        "() => window.Flowmatik.notificationsSocket.socket.readyState === 3"
    )
    run_in_server(
        portal_server,
        notification_send,
        user=user,
        kind="job.completed",
        title="While the socket was down",
    )
    page.wait_for_function(
        "() => document.querySelector('[data-bell-count]').textContent === '3'"
    )
    assert sum(url.endswith("/ws/notifications/") for url in opened) >= 2

    page.get_by_role("button", name="Mark all as read").click()
    page.wait_for_url("**/app/notifications/")
    assert count.is_hidden()
    assert page.errors == []
    assert csp_violations(page) == []
