"""Open sockets follow the account: deactivation, a password change or reset, a
portal log-out and losing the admin role close them with 4401 and a reason, through
the real interfaces (staff API, Django admin, auth API, portal) on the live server.

Each action sends `auth.revoked` to the group `auth.user.<id>` after commit; the
channel layer is channels-redis when REDIS_URL is set, else in-memory.
"""

import asyncio
import contextlib
import json
import re

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from websockets.exceptions import ConnectionClosed

from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from dashboard.tests.test_chat_socket import SLOW, assistant_messages
from flowmatik.testing.auth import api_key_for, jwt_for
from flowmatik.tests.test_ws_tickets import mint, open_with_ticket, portal_session
from flowmatik.ws_auth import CLOSE_UNAUTHENTICATED
from notifications.tests.test_e2e_notifications import next_json, open_socket

NEW_PASSWORD = "An0ther-long-passphrase!"


async def _drain(ws) -> None:
    while True:
        await ws.recv()


async def closed_with(ws, timeout: float = 5) -> tuple[int, str]:
    """Read frames until the server closes the socket: (code, reason)."""
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(_drain(ws), timeout)
    assert closed.value.rcvd is not None, "closed without a close frame"
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def still_open(ws) -> None:
    await ws.send(json.dumps({"type": "ping"}))
    assert await next_json(ws) == {"type": "pong"}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_staff_deactivating_a_user_closes_every_socket_and_saves_the_reply(
    live_asgi, catalogue_tx, ai_demo, user, other_user, staff_user
):
    key = await sync_to_async(api_key_for)(user)
    async with contextlib.AsyncExitStack() as stack:
        http = await stack.enter_async_context(portal_session(live_asgi, user))
        chat = await stack.enter_async_context(
            open_socket(live_asgi, "/ws/chat/", jwt_for(user))
        )
        by_ticket = await stack.enter_async_context(
            open_with_ticket(live_asgi, "/ws/notifications/", await mint(http))
        )
        by_key = await stack.enter_async_context(
            open_socket(live_asgi, "/ws/notifications/", key)
        )
        bystander = await stack.enter_async_context(
            open_socket(live_asgi, "/ws/notifications/", jwt_for(other_user))
        )
        await chat.send(json.dumps({"type": "chat", "message": SLOW}))
        assert (await next_json(chat, timeout=15))["type"] == "start"
        first = await next_json(chat)
        assert first["type"] == "delta"

        async with httpx.AsyncClient(base_url=live_asgi.http_url) as staff:
            response = await staff.patch(
                f"/api/admin/users/{user.pk}",
                json={"is_active": False},
                headers=_bearer(jwt_for(staff_user)),
            )
        assert response.status_code == 200, response.text

        for ws in (chat, by_ticket, by_key):
            assert await closed_with(ws) == (
                CLOSE_UNAUTHENTICATED,
                "account deactivated",
            )
        await still_open(bystander)
    partial = (await sync_to_async(assistant_messages)(user))[-1]
    assert partial.status == "partial"
    assert partial.content.startswith(first["content"])


async def test_the_django_admin_deactivate_action_closes_the_users_sockets(
    live_asgi, user
):
    superuser = await sync_to_async(UserFactory)(is_staff=True, is_superuser=True)
    async with (
        portal_session(live_asgi, superuser) as admin,
        open_socket(live_asgi, "/ws/notifications/", jwt_for(user)) as ws,
    ):
        response = await admin.post(
            "/admin/accounts/user/",
            data={
                "action": "deactivate_users",
                "_selected_action": str(user.pk),
                "csrfmiddlewaretoken": admin.cookies[settings.CSRF_COOKIE_NAME],
            },
        )
        assert response.status_code == 302, response.text
        assert await closed_with(ws) == (CLOSE_UNAUTHENTICATED, "account deactivated")


def _admin_form(superuser, target, **changes) -> dict:
    from django.test import Client

    from accounts.tests.test_admin_and_schema import admin_change_data

    client = Client()
    client.force_login(superuser)
    return admin_change_data(client, target, **changes)


async def test_unticking_staff_in_the_django_admin_closes_that_users_sockets(
    live_asgi,
):
    superuser = await sync_to_async(UserFactory)(is_staff=True, is_superuser=True)
    demoted = await sync_to_async(UserFactory)(is_staff=True)
    data = await sync_to_async(_admin_form)(superuser, demoted, is_staff=None)
    async with (
        portal_session(live_asgi, superuser) as admin,
        open_socket(live_asgi, "/ws/notifications/", jwt_for(demoted)) as ws,
    ):
        response = await admin.post(
            f"/admin/accounts/user/{demoted.pk}/change/",
            data={
                **data,
                "csrfmiddlewaretoken": admin.cookies[settings.CSRF_COOKIE_NAME],
            },
        )
        assert response.status_code == 302, response.text[:3000]
        assert await closed_with(ws) == (CLOSE_UNAUTHENTICATED, "role changed")


async def test_a_password_set_in_the_django_admin_closes_the_users_sockets(
    live_asgi, user
):
    superuser = await sync_to_async(UserFactory)(is_staff=True, is_superuser=True)
    key = await sync_to_async(api_key_for)(user)
    async with (
        portal_session(live_asgi, superuser) as admin,
        open_socket(live_asgi, "/ws/notifications/", jwt_for(user)) as by_jwt,
        open_socket(live_asgi, "/ws/notifications/", key) as by_key,
    ):
        response = await admin.post(
            f"/admin/accounts/user/{user.pk}/password/",
            data={
                "password1": NEW_PASSWORD,
                "password2": NEW_PASSWORD,
                "usable_password": "true",
                "csrfmiddlewaretoken": admin.cookies[settings.CSRF_COOKIE_NAME],
            },
        )
        assert response.status_code == 302, response.text[:3000]
        assert await closed_with(by_jwt) == (CLOSE_UNAUTHENTICATED, "password changed")
        await still_open(by_key)  # the key itself still works


async def test_logging_out_of_the_django_admin_closes_that_sessions_sockets(
    live_asgi,
):
    superuser = await sync_to_async(UserFactory)(is_staff=True, is_superuser=True)
    async with (
        portal_session(live_asgi, superuser) as admin,
        open_with_ticket(live_asgi, "/ws/notifications/", await mint(admin)) as ws,
    ):
        response = await admin.post("/admin/logout/")
        assert response.status_code == 200, response.text[:3000]
        assert await closed_with(ws) == (CLOSE_UNAUTHENTICATED, "logged out")


async def test_removing_the_admin_role_closes_that_users_sockets(live_asgi, staff_user):
    demoted = await sync_to_async(UserFactory)(is_staff=True)
    async with open_socket(live_asgi, "/ws/notifications/", jwt_for(demoted)) as ws:
        async with httpx.AsyncClient(base_url=live_asgi.http_url) as staff:
            response = await staff.patch(
                f"/api/admin/users/{demoted.pk}",
                json={"role": "user"},
                headers=_bearer(jwt_for(staff_user)),
            )
        assert response.status_code == 200, response.text
        assert await closed_with(ws) == (CLOSE_UNAUTHENTICATED, "role changed")


async def test_a_password_change_through_the_api_closes_token_and_ticket_sockets(
    live_asgi, user
):
    old = jwt_for(user)
    key = await sync_to_async(api_key_for)(user)
    async with (
        portal_session(live_asgi, user) as portal,
        open_socket(live_asgi, "/ws/notifications/", old) as by_jwt,
        open_with_ticket(live_asgi, "/ws/chat/", await mint(portal)) as by_ticket,
        open_socket(live_asgi, "/ws/notifications/", key) as by_key,
        httpx.AsyncClient(base_url=live_asgi.http_url) as http,
    ):
        response = await http.post(
            "/api/auth/change-password",
            json={"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
            headers=_bearer(old),
        )
        assert response.status_code == 200, response.text
        for ws in (by_jwt, by_ticket):
            assert await closed_with(ws) == (CLOSE_UNAUTHENTICATED, "password changed")
        await still_open(by_key)  # the API key still works, for REST too
        assert (await http.get("/api/auth/me", headers=_bearer(key))).status_code == 200
        # REST and sockets agree: the old token is refused, the new pair works.
        assert (await http.get("/api/auth/me", headers=_bearer(old))).status_code == 401
        async with open_socket(live_asgi, "/ws/notifications/", old) as again:
            assert await closed_with(again) == (
                CLOSE_UNAUTHENTICATED,
                "unauthenticated",
            )
        async with open_socket(
            live_asgi, "/ws/notifications/", response.json()["access"]
        ) as fresh:
            await still_open(fresh)


async def test_a_password_change_in_the_portal_keeps_only_that_sessions_sockets(
    live_asgi, user
):
    async with (
        portal_session(live_asgi, user) as here,
        portal_session(live_asgi, user) as elsewhere,
        open_with_ticket(live_asgi, "/ws/chat/", await mint(here)) as mine,
        open_with_ticket(live_asgi, "/ws/chat/", await mint(elsewhere)) as theirs,
    ):
        response = await here.post(
            "/app/settings/password/",
            data={
                "current_password": DEFAULT_PASSWORD,
                "new_password": NEW_PASSWORD,
                "new_password_again": NEW_PASSWORD,
            },
        )
        assert response.status_code == 302, response.text
        assert await closed_with(theirs) == (CLOSE_UNAUTHENTICATED, "password changed")
        await still_open(mine)
        # The change cycled this session's key; its log-out still finds its sockets.
        assert (await here.post("/logout/")).status_code == 302
        assert await closed_with(mine) == (CLOSE_UNAUTHENTICATED, "logged out")


async def test_a_password_reset_closes_the_users_sockets(live_asgi, user):
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = await sync_to_async(default_token_generator.make_token)(user)
    async with (
        open_socket(live_asgi, "/ws/notifications/", jwt_for(user)) as ws,
        httpx.AsyncClient(base_url=live_asgi.http_url) as http,
    ):
        response = await http.post(
            "/api/auth/reset-password",
            json={"uid": uid, "token": token, "new_password": NEW_PASSWORD},
        )
        assert response.status_code in (200, 204), response.text
        assert await closed_with(ws) == (CLOSE_UNAUTHENTICATED, "password changed")


async def test_a_portal_log_out_closes_that_sessions_sockets_only(live_asgi, user):
    async with (
        portal_session(live_asgi, user) as leaving,
        portal_session(live_asgi, user) as staying,
        open_with_ticket(live_asgi, "/ws/notifications/", await mint(leaving)) as a,
        open_with_ticket(live_asgi, "/ws/chat/", await mint(leaving)) as b,
        open_with_ticket(live_asgi, "/ws/chat/", await mint(staying)) as other,
        open_socket(live_asgi, "/ws/notifications/", jwt_for(user)) as by_jwt,
    ):
        response = await leaving.post("/logout/")
        assert response.status_code == 302, response.text
        assert re.search(r"/login/?$", response.headers["location"])
        for ws in (a, b):
            assert await closed_with(ws) == (CLOSE_UNAUTHENTICATED, "logged out")
        await still_open(other)
        await still_open(by_jwt)


@pytest.mark.django_db
def test_a_django_admin_log_out_without_tickets_closes_nothing(client, monkeypatch):
    """A session that never minted a socket ticket has no sockets to close: no tag
    is made up for it and no close message goes out."""
    calls: list[dict] = []
    monkeypatch.setattr(
        "accounts.services.user_session_logged_out", lambda **kw: calls.append(kw)
    )
    superuser = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(superuser)
    response = client.post("/admin/logout/")
    assert response.status_code == 200
    assert calls == []
