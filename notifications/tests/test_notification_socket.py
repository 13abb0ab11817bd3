"""`/ws/notifications/` consumer logic (WebsocketCommunicator, in-memory or Redis)."""

import asyncio

import pytest
from asgiref.sync import sync_to_async

from flowmatik import realtime
from flowmatik.testing.auth import jwt_for
from flowmatik.testing.websockets import communicator
from notifications.models import NotificationKind
from notifications.services import notification_broadcast, notification_send

pytestmark = pytest.mark.django_db(transaction=True)


async def connected(user):
    comm = communicator("/ws/notifications/", token=jwt_for(user))
    assert (await comm.connect())[0] is True
    return comm


async def test_users_own_notification_arrives_and_nobody_else_gets_it(user, other_user):
    mine, theirs = await connected(user), await connected(other_user)

    stored = await sync_to_async(notification_send)(
        user=user,
        kind=NotificationKind.PAYMENT_SUCCEEDED,
        title="Payment received",
        data={"amount": "19.00", "currency": "USD"},
    )

    event = await mine.receive_json_from(timeout=2)
    assert event["type"] == "notification"
    assert event["id"] == stored.pk
    assert event["kind"] == "payment.succeeded"
    assert event["data"] == {"amount": "19.00", "currency": "USD"}
    assert await theirs.receive_nothing(timeout=0.3)
    await mine.disconnect()
    await theirs.disconnect()


async def test_broadcast_reaches_every_connected_user(user, other_user):
    first, second = await connected(user), await connected(other_user)

    await sync_to_async(notification_broadcast)(title="Maintenance at 02:00 UTC")

    for comm in (first, second):
        event = await comm.receive_json_from(timeout=2)
        assert (event["kind"], event["title"]) == (
            "broadcast",
            "Maintenance at 02:00 UTC",
        )
        await comm.disconnect()


async def test_every_socket_of_the_same_user_gets_the_event(user):
    tab_one, tab_two = await connected(user), await connected(user)
    await sync_to_async(notification_send)(
        user=user, kind=NotificationKind.QUOTA_WARNING, title="80% used"
    )
    for comm in (tab_one, tab_two):
        assert (await comm.receive_json_from(timeout=2))["title"] == "80% used"
        await comm.disconnect()


async def test_a_rolled_back_notification_is_neither_stored_nor_pushed(user):
    comm = await connected(user)

    def send_then_fail():
        from django.db import transaction

        with transaction.atomic():
            notification_send(
                user=user, kind=NotificationKind.JOB_COMPLETED, title="never"
            )
            raise RuntimeError("the surrounding work failed")

    with pytest.raises(RuntimeError):
        await sync_to_async(send_then_fail)()
    assert await comm.receive_nothing(timeout=0.3)
    await comm.disconnect()


async def test_after_disconnect_the_socket_leaves_its_groups(user):
    comm = await connected(user)
    await comm.disconnect()
    layer = realtime.get_channel_layer()
    dropped = await layer.group_send(
        realtime.user_group(user.pk), {"type": "notify.event", "event": {}}
    )
    assert dropped == 0
    if hasattr(layer, "groups"):  # in-memory layer: nobody left in the group
        assert not layer.groups.get(realtime.user_group(user.pk))


async def test_ping_is_answered_and_other_frames_get_an_error(user):
    comm = await connected(user)
    await comm.send_json_to({"type": "ping"})
    assert await comm.receive_json_from(timeout=2) == {"type": "pong"}
    for frame in ({"text_data": "not json"}, {"bytes_data": b"\x00\x01"}):
        await comm.send_to(**frame)
        error = await comm.receive_json_from(timeout=2)
        assert (error["type"], error["code"]) == ("error", "invalid_message")
    await comm.disconnect()


async def test_open_sockets_are_counted_per_process_and_uncounted_on_close(user):
    await realtime.connection_count_publish()  # Redis agrees with the process
    before = await sync_to_async(realtime.connection_counts)()
    first, second = await connected(user), await connected(user)
    during = await sync_to_async(realtime.connection_counts)()
    assert during["this_process"] == before["this_process"] + 2
    assert during["total"] == before["total"] + 2
    await first.disconnect()
    await second.disconnect()
    after = await sync_to_async(realtime.connection_counts)()
    assert after["this_process"] == before["this_process"]
    assert after["total"] == before["total"]


async def test_a_client_too_slow_loses_live_pushes_counted_but_never_the_stored_rows(
    user, settings
):
    config = {**settings.CHANNEL_LAYERS["default"]}
    config["CONFIG"] = {**config["CONFIG"], "capacity": 2}
    settings.CHANNEL_LAYERS = {"default": config}  # resets the layer objects
    layer = realtime.get_channel_layer()
    stalled = await layer.new_channel()  # a socket whose consumer never reads
    await layer.group_add(realtime.user_group(user.pk), stalled)

    for n in range(5):
        await sync_to_async(notification_send)(
            user=user, kind=NotificationKind.JOB_PROGRESS, title=f"step {n}"
        )

    metrics = await sync_to_async(realtime.realtime_metrics)()
    assert metrics["dropped"] == 3
    assert metrics["push_failed"] == 0
    assert (await layer.receive(stalled))["event"]["title"] == "step 0"
    stored = await sync_to_async(user.notifications.count)()
    assert stored == 5


async def test_a_socket_open_longer_than_group_expiry_keeps_receiving(user, settings):
    config = {**settings.CHANNEL_LAYERS["default"]}
    config["CONFIG"] = {**config["CONFIG"], "group_expiry": 2}
    settings.CHANNEL_LAYERS = {"default": config}
    comm = await connected(user)

    assert await comm.receive_nothing(timeout=2.6)  # past the group expiry
    await sync_to_async(notification_send)(
        user=user, kind=NotificationKind.JOB_COMPLETED, title="still here"
    )

    assert (await comm.receive_json_from(timeout=2))["title"] == "still here"
    await comm.disconnect()


async def test_connection_count_key_expires_and_heartbeat_heals_drift(
    user, settings, redis_url
):
    import redis.asyncio as aioredis

    settings.WS_CONNECTION_HEARTBEAT_SECONDS = 0.1
    client = aioredis.Redis.from_url(redis_url)
    key = realtime._process_key()
    comm = await connected(user)
    await realtime.connection_count_publish()
    ttl = await client.ttl(key)
    assert 0 < ttl <= settings.WS_CONNECTION_TTL_SECONDS  # a dead process expires

    await client.set(key, 99)  # drift (e.g. a lost DECR)
    for _ in range(20):  # the heartbeat (every 0.1 s here) puts it right
        await asyncio.sleep(0.05)
        if int(await client.get(key) or -1) == realtime._local_connections:
            break
    assert int(await client.get(key)) == realtime._local_connections
    assert await client.ttl(key) > 0
    await comm.disconnect()
    await client.aclose()


async def test_a_socket_that_cannot_leave_its_groups_is_still_counted_closed(
    user, monkeypatch
):
    """Hundreds of sockets closing at once can find the channel layer's pool busy:
    a failed `group_discard` (the membership then expires) must not leave the
    socket counted open in this process."""
    from channels.layers import get_channel_layer

    from flowmatik.testing.websockets import communicator as make

    before = realtime._local_connections
    comm = make("/ws/notifications/", token=jwt_for(user))
    assert (await comm.connect())[0] is True
    assert realtime._local_connections == before + 1

    async def busy(group, channel):
        raise ConnectionError("Too many connections")

    monkeypatch.setattr(get_channel_layer(), "group_discard", busy)
    await comm.disconnect()
    assert realtime._local_connections == before
