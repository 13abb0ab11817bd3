"""The portal's sockets: a one-use ticket minted for the logged-in session
(`POST /app/ws-ticket/`) opens `/ws/chat/` and `/ws/notifications/` over the real
server; a reused, expired, foreign-origin or logged-out ticket is refused."""

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.test import Client
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from flowmatik.ws_auth import CLOSE_UNAUTHENTICATED
from notifications.services import notification_send


def _session_cookie(user) -> str:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client.cookies[settings.SESSION_COOKIE_NAME].value


@contextlib.asynccontextmanager
async def portal_session(live, user) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client holding `user`'s portal session and its CSRF token."""
    session = await sync_to_async(_session_cookie)(user)
    async with httpx.AsyncClient(
        base_url=live.http_url, cookies={settings.SESSION_COOKIE_NAME: session}
    ) as http:
        await http.get("/login/")  # any page with a form sets the CSRF cookie
        http.headers["X-CSRFToken"] = http.cookies[settings.CSRF_COOKIE_NAME]
        yield http


async def mint(http: httpx.AsyncClient) -> str:
    response = await http.post("/app/ws-ticket/")
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    return response.json()["ticket"]


def open_with_ticket(live, path: str, ticket: str, *, origin: str | None = None):
    return connect(
        f"{live.ws_url}{path}",
        origin=origin or live.http_url,
        subprotocols=["ticket", ticket],
        open_timeout=5,
    )


async def next_json(ws, timeout: float = 5) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def assert_refused(live, path: str, ticket: str, **kwargs) -> None:
    async with open_with_ticket(live, path, ticket, **kwargs) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd.code == CLOSE_UNAUTHENTICATED


async def test_logged_in_session_opens_chat_and_notification_sockets(live_asgi, user):
    async with portal_session(live_asgi, user) as http:
        async with open_with_ticket(live_asgi, "/ws/chat/", await mint(http)) as ws:
            assert ws.subprotocol == "ticket"
            await ws.send(json.dumps({"type": "ping"}))
            assert await next_json(ws) == {"type": "pong"}
        notifications = await mint(http)
        async with open_with_ticket(
            live_asgi, "/ws/notifications/", notifications
        ) as ws:
            assert ws.subprotocol == "ticket"
            await live_asgi.run_in_server(
                notification_send, user=user, kind="job.completed", title="Done"
            )
            assert (await next_json(ws))["title"] == "Done"


async def test_a_ticket_works_once(live_asgi, user):
    async with portal_session(live_asgi, user) as http:
        ticket = await mint(http)
    async with open_with_ticket(live_asgi, "/ws/notifications/", ticket) as ws:
        await ws.send(json.dumps({"type": "ping"}))
        assert await next_json(ws) == {"type": "pong"}
    await assert_refused(live_asgi, "/ws/notifications/", ticket)


async def test_an_expired_ticket_is_refused(live_asgi, user, settings):
    settings.WS_TICKET_TTL_SECONDS = 1
    async with portal_session(live_asgi, user) as http:
        ticket = await mint(http)
    await asyncio.sleep(1.5)
    await assert_refused(live_asgi, "/ws/chat/", ticket)


async def test_a_page_of_another_site_can_neither_mint_nor_use_a_ticket(
    live_asgi, user
):
    async with portal_session(live_asgi, user) as http:
        # The session cookie rides along, but without the page's CSRF token
        # (another site cannot read it) no ticket is minted.
        forged = await http.post("/app/ws-ticket/", headers={"X-CSRFToken": ""})
        assert forged.status_code == 403
        ticket = await mint(http)
    # A stolen ticket presented from another origin is spent and refused.
    await assert_refused(
        live_asgi, "/ws/chat/", ticket, origin="http://evil.example:8000"
    )


async def test_the_ticket_of_a_logged_out_session_is_refused(live_asgi, user):
    async with portal_session(live_asgi, user) as http:
        ticket = await mint(http)
        logout = await http.post("/logout/")
        assert logout.status_code == 302
    await assert_refused(live_asgi, "/ws/notifications/", ticket)


async def test_anonymous_visitors_get_no_ticket(live_asgi):
    async with httpx.AsyncClient(base_url=live_asgi.http_url) as http:
        page = await http.get("/login/")
        token = page.cookies[settings.CSRF_COOKIE_NAME]
        response = await http.post("/app/ws-ticket/", headers={"X-CSRFToken": token})
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "not_authenticated"
        assert (await http.get("/app/ws-ticket/")).status_code == 405


def test_a_garbage_ticket_resolves_to_nobody(db):
    from accounts.services import ws_ticket_redeem

    started = time.monotonic()
    assert ws_ticket_redeem(ticket="x" * 300, origin="http://testserver") is None
    assert ws_ticket_redeem(ticket="", origin="http://testserver") is None
    assert ws_ticket_redeem(ticket="nope", origin="http://testserver") is None
    assert time.monotonic() - started < 1
