"""WebSocket authentication (communicator): JWT or API key, by subprotocol or query."""

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from flowmatik.testing.auth import api_key_for, jwt_for
from flowmatik.testing.websockets import communicator
from flowmatik.ws_auth import CLOSE_UNAUTHENTICATED

pytestmark = pytest.mark.django_db(transaction=True)


async def assert_closed_unauthenticated(comm, expected_subprotocol=None):
    connected, subprotocol = await comm.connect()
    assert connected is True  # accepted so that the client can read the code
    assert subprotocol == expected_subprotocol
    assert await comm.receive_output(timeout=2) == {
        "type": "websocket.close",
        "code": CLOSE_UNAUTHENTICATED,
        "reason": "unauthenticated",
    }


async def test_jwt_in_bearer_subprotocol_connects_and_echoes_only_bearer(user):
    comm = communicator("/ws/notifications/", token=jwt_for(user))
    connected, subprotocol = await comm.connect()
    assert connected is True
    assert subprotocol == "bearer"
    await comm.send_json_to({"type": "ping"})
    assert await comm.receive_json_from(timeout=2) == {"type": "pong"}
    await comm.disconnect()


async def test_jwt_in_query_parameter_connects_without_subprotocol(user):
    comm = communicator("/ws/chat/", token=jwt_for(user), via="query")
    connected, subprotocol = await comm.connect()
    assert (connected, subprotocol) == (True, None)
    await comm.send_json_to({"type": "ping"})
    assert await comm.receive_json_from(timeout=2) == {"type": "pong"}
    await comm.disconnect()


async def test_api_key_connects_by_subprotocol_and_by_query(user):
    key = await sync_to_async(api_key_for)(user)
    for via in ("subprotocol", "query"):
        comm = communicator("/ws/notifications/", token=key, via=via)
        connected, _ = await comm.connect()
        assert connected is True
        await comm.send_json_to({"type": "ping"})
        assert await comm.receive_json_from(timeout=2) == {"type": "pong"}
        await comm.disconnect()


async def test_missing_token_closes_with_4401():
    await assert_closed_unauthenticated(communicator("/ws/notifications/"))


async def test_garbage_token_in_subprotocol_closes_with_4401_after_echoing_bearer():
    comm = communicator("/ws/chat/", token="not-a-jwt")
    await assert_closed_unauthenticated(comm, expected_subprotocol="bearer")


async def test_expired_jwt_closes_with_4401(user):
    token = jwt_for(user, lifetime=timedelta(seconds=-5))
    await assert_closed_unauthenticated(
        communicator("/ws/chat/", token=token), expected_subprotocol="bearer"
    )


async def test_revoked_and_expired_api_keys_close_with_4401(user):
    revoked = await sync_to_async(api_key_for)(user, revoked_at=timezone.now())
    expired = await sync_to_async(api_key_for)(
        user, expires_at=timezone.now() - timedelta(minutes=1)
    )
    for key in (revoked, expired):
        await assert_closed_unauthenticated(
            communicator("/ws/notifications/", token=key, via="query")
        )


async def test_inactive_user_closes_with_4401(user):
    user.is_active = False
    await sync_to_async(user.save)()
    await assert_closed_unauthenticated(
        communicator("/ws/notifications/", token=jwt_for(user), via="query")
    )


async def test_origin_outside_allowed_hosts_is_refused_before_the_handshake(
    settings, user
):
    from channels.testing import WebsocketCommunicator

    from flowmatik.asgi import websocket_application

    settings.ALLOWED_HOSTS = ["app.flowmatik.co"]
    token = jwt_for(user)
    app = websocket_application()

    evil = WebsocketCommunicator(
        app,
        f"/ws/notifications/?token={token}",
        headers=[(b"origin", b"https://evil.example"), (b"host", b"app.flowmatik.co")],
    )
    connected, _ = await evil.connect()
    assert connected is False

    good = WebsocketCommunicator(
        app,
        f"/ws/notifications/?token={token}",
        headers=[
            (b"origin", b"https://app.flowmatik.co"),
            (b"host", b"app.flowmatik.co"),
        ],
    )
    connected, _ = await good.connect()
    assert connected is True
    await good.disconnect()


async def test_unknown_socket_path_is_refused_at_the_handshake(user):
    comm = communicator("/ws/nope/", token=jwt_for(user))
    connected, _ = await comm.connect()
    assert connected is False


async def test_socket_is_closed_with_4401_when_its_jwt_expires(user):
    comm = communicator(
        "/ws/notifications/", token=jwt_for(user, lifetime=timedelta(seconds=2))
    )
    assert (await comm.connect())[0] is True

    closed = await comm.receive_output(timeout=4)

    assert closed == {
        "type": "websocket.close",
        "code": CLOSE_UNAUTHENTICATED,
        "reason": "token expired",
    }
    await comm.disconnect()  # the client answers the close


async def test_api_key_sockets_have_no_token_expiry_timer(user):
    key = await sync_to_async(api_key_for)(user)
    comm = communicator("/ws/notifications/", token=key)
    assert (await comm.connect())[0] is True
    assert await comm.receive_nothing(timeout=0.3)
    await comm.disconnect()


async def _open(path: str, token: str):
    comm = communicator(path, token=token, via="query")
    connected, _ = await comm.connect()
    assert connected is True
    await comm.send_json_to({"type": "ping"})
    assert await comm.receive_json_from(timeout=2) == {"type": "pong"}
    return comm


async def test_api_key_revoked_while_connected_closes_its_sockets_with_4401(user):
    from accounts.credentials import api_key_hash
    from accounts.models import ApiKey
    from accounts.services import api_key_revoke

    key = await sync_to_async(api_key_for)(user)
    other_key = await sync_to_async(api_key_for)(user)
    sockets = [
        await _open("/ws/notifications/", key),
        await _open("/ws/chat/", key),
    ]
    untouched = [
        await _open("/ws/notifications/", other_key),
        await _open("/ws/notifications/", jwt_for(user)),
    ]
    row = await ApiKey.objects.aget(hashed_key=api_key_hash(key))
    await sync_to_async(api_key_revoke)(api_key=row)
    for comm in sockets:
        assert await comm.receive_output(timeout=2) == {
            "type": "websocket.close",
            "code": CLOSE_UNAUTHENTICATED,
            "reason": "api key revoked",
        }
    for comm in untouched:
        await comm.send_json_to({"type": "ping"})
        assert await comm.receive_json_from(timeout=2) == {"type": "pong"}
        await comm.disconnect()
