"""2,000 idle WebSockets on `/ws/notifications/` (API key auth): memory per socket.

The server processes' RSS (supervisor + workers, from /proc) is read before the
sockets open and once they are all open and settled; the difference divided by the
open sockets is the cost of one idle socket.
"""

import time

from bench.loadgen import HeldJob
from bench.scenarios import Context, Row, at_most

KB_PER_SOCKET = 50.0


def run(ctx: Context) -> dict:
    count = 200 if ctx.quick else 2000
    ws_url = ctx.stack.base.replace("http://", "ws://") + "/ws/notifications/"
    before = sum(ctx.stack.rss().values())
    held = HeldJob(
        {
            "ws_url": ws_url,
            "token": ctx.stack.api_key,
            "origin": ctx.stack.base,
            "count": count,
            "parallel": 50,
        },
        workdir=ctx.workdir,
    )
    try:
        ready = held.ready()
        time.sleep(2.0)
        after = sum(ctx.stack.rss().values())
    finally:
        finished = held.finish()
    opened = ready["ready"]
    per_socket = (after - before) / opened if opened else None
    scenario = f"{count} idle WebSockets"
    rows = [
        Row(
            scenario,
            "memory per socket (KB, all server processes)",
            None if per_socket is None else round(per_socket, 1),
            target=f"≤ {KB_PER_SOCKET:g} KB",
            ok=at_most(per_socket, KB_PER_SOCKET),
        ),
        Row(
            scenario,
            "sockets open (still open at the end)",
            f"{opened} ({finished['still_open']})",
            target=f"{count}",
            ok=opened == count and finished["still_open"] == count,
        ),
        Row(
            scenario,
            "seconds to open them all",
            round(finished["open_seconds"], 1),
            target="(no target)",
        ),
    ]
    return {
        "result": {
            "count": count,
            "rss_before_kb": before,
            "rss_after_kb": after,
            **finished,
        },
        "rows": rows,
    }
