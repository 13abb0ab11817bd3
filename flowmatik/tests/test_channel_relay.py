"""The embedded default's channel layer relays group messages between processes.

Two layer instances stand for two processes (each listens on its own port and
registers in the shared folder); the real-process test in test_platform.py covers
the Celery worker pushing to a uvicorn socket.
"""

import asyncio
import json
import socket
import struct
import subprocess
import sys

import msgpack
import pytest

from flowmatik.channel_relay import RelayChannelLayer

pytestmark = pytest.mark.asyncio


def _layer(folder) -> RelayChannelLayer:
    return RelayChannelLayer(relay_dir=str(folder), relay_timeout=1.0, capacity=10)


def _pending(layer: RelayChannelLayer, channel: str) -> int:
    queue = layer.channels.get(channel)
    return 0 if queue is None else queue.qsize()


async def test_a_group_message_sent_in_one_process_reaches_members_in_another(
    tmp_path,
):
    web, worker = _layer(tmp_path), _layer(tmp_path)
    channel = await web.new_channel()
    await web.group_add("user.7", channel)

    await worker.group_send("user.7", {"type": "notify.event", "event": {"id": 1}})

    message = await asyncio.wait_for(web.receive(channel), 2)
    assert message == {"type": "notify.event", "event": {"id": 1}}
    await web.flush()


async def test_members_in_the_sending_process_get_the_message_once(tmp_path):
    web, other = _layer(tmp_path), _layer(tmp_path)
    mine, theirs = await web.new_channel(), await other.new_channel()
    await web.group_add("broadcast", mine)
    await other.group_add("broadcast", theirs)

    await web.group_send("broadcast", {"type": "notify.event", "n": 1})

    assert await asyncio.wait_for(web.receive(mine), 2) == {
        "type": "notify.event",
        "n": 1,
    }
    assert (await asyncio.wait_for(other.receive(theirs), 2))["n"] == 1
    await asyncio.sleep(0.1)
    assert _pending(web, mine) == 0  # not relayed back to itself
    await web.flush()
    await other.flush()


async def test_a_frame_without_the_receivers_secret_is_refused(tmp_path):
    web = _layer(tmp_path)
    channel = await web.new_channel()
    await web.group_add("user.1", channel)
    (record,) = [json.loads(p.read_text()) for p in tmp_path.glob("*.json")]

    payload = msgpack.packb(
        {"s": "guessed", "g": "user.1", "m": {"type": "notify.event"}}
    )
    _, writer = await asyncio.open_connection("127.0.0.1", record["port"])
    writer.write(struct.pack(">I", len(payload)) + payload)
    await writer.drain()
    writer.close()

    await asyncio.sleep(0.2)
    assert _pending(web, channel) == 0
    await web.flush()


async def test_a_dead_process_registration_is_removed_by_the_next_sender(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    stale = tmp_path / "gone.json"
    stale.write_text(
        json.dumps(
            {
                "port": port,
                "secret": "x",
                "pid": int(dead.stdout),
                "host": socket.gethostname(),
            }
        )
    )

    await _layer(tmp_path).group_send("user.1", {"type": "notify.event"})

    assert not stale.exists()


async def test_registration_files_are_private_and_removed_on_flush(tmp_path):
    web = _layer(tmp_path)
    await web.group_add("user.1", await web.new_channel())
    (path,) = tmp_path.glob("*.json")
    assert path.stat().st_mode & 0o077 == 0
    await web.flush()
    assert not path.exists()
