"""What one further streamed token costs the process behind `/ws/chat/`."""

import sys

import pytest

from dashboard.tests.test_chat_socket import chat_socket, collect_reply

pytestmark = pytest.mark.django_db(transaction=True)

# Python calls per further token of a paced reply, everything in the socket's event
# loop (provider read, chat engine, consumer, send): 156 with a queue read by
# `asyncio.wait_for` (a task per wait) and `as_dict()` per delta; about 71 since,
# 108 in a CI run on a busy machine (the pure-Python test loop turns more often
# when tokens arrive one by one), so the bound sits between.
CALLS_PER_TOKEN = 130


async def _calls(user, words: int) -> int:
    calls = 0

    def count(frame, event, arg) -> None:
        nonlocal calls
        if event == "call":
            calls += 1

    comm = await chat_socket(user)
    sys.setprofile(count)
    try:
        await comm.send_json_to(
            {"type": "chat", "message": f"[[words:{words}]] [[delay:0.002]] hi"}
        )
        frames = await collect_reply(comm)
    finally:
        sys.setprofile(None)
        await comm.disconnect()
    assert frames[-1]["type"] == "done"
    return calls


async def test_a_further_token_costs_the_socket_few_python_calls(
    catalogue_tx, user, demo_server
):
    await _calls(user, 2)  # warm: connections, caches
    short = await _calls(user, 2)
    long = await _calls(user, 42)

    assert (long - short) / 40 <= CALLS_PER_TOKEN
