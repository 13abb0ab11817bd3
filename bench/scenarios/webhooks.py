"""Signed Stripe webhooks, every event delivered 3 times, a real Celery worker behind.

The deliveries (copies spread over the run, some concurrent) are acknowledged by
`/api/webhooks/stripe`; the worker (`celery -A flowmatik worker`, started for this
scenario) then handles each stored event. The event type is one the platform does
not act on, so the worker's handling ends in `ignored` without calling Stripe; the
check is that every event is one row, finished, after exactly one attempt.
"""

import hashlib
import hmac
import json
import random
import time

from bench.scenarios import Context, Row, at_most
from bench.stack import WEBHOOK_SECRET

ACK_P99_MS, EVENTS_PER_S, COPIES = 50.0, 300.0, 3

CHECK_SCRIPT = """
import json, time
from webhooks_app.models import WebhookEvent
prefix, expected, deadline = PREFIX, EXPECTED, time.monotonic() + TIMEOUT
started = time.monotonic()
while True:
    rows = list(WebhookEvent.objects.filter(event_id__startswith=prefix)
                .values_list("status", "attempts"))
    done = [r for r in rows if r[0] in ("processed", "ignored", "failed")]
    if len(done) >= expected or time.monotonic() > deadline:
        break
    time.sleep(0.25)
print(json.dumps({
    "rows": len(rows), "finished": len(done),
    "statuses": sorted({r[0] for r in rows}),
    "attempts": sorted({r[1] for r in rows}),
    "waited_s": time.monotonic() - started,
}))
"""


def _signed(payload: bytes) -> str:
    ts = int(time.time())
    mac = hmac.new(WEBHOOK_SECRET.encode(), f"{ts}.".encode() + payload, hashlib.sha256)
    return f"t={ts},v1={mac.hexdigest()}"


def run(ctx: Context) -> dict:
    events = 150 if ctx.quick else 500
    ctx.stack.start_celery_worker()
    rounds = []
    for r in range(1):  # one round: no direct side to compare with
        prefix = f"evt_bench_{ctx.stack.run_id}_{r}_"
        payloads = [
            json.dumps(
                {
                    "id": f"{prefix}{i}",
                    "object": "event",
                    "type": "customer.updated",
                    "created": int(time.time()),
                    "livemode": False,
                    "data": {"object": {"id": f"cus_bench_{i}", "object": "customer"}},
                }
            ).encode()
            for i in range(events)
        ]
        deliveries = [p for p in payloads for _ in range(COPIES)]
        random.Random(r).shuffle(deliveries)
        out = ctx.job(
            "webhooks",
            {
                "base": ctx.stack.base,
                "path": "/api/webhooks/stripe",
                "concurrency": 20,
                "deliveries": [
                    {"body": p.decode(), "signature": _signed(p)} for p in deliveries
                ],
            },
        )
        script = (
            f"PREFIX, EXPECTED, TIMEOUT = {prefix!r}, {events}, 120\n" + CHECK_SCRIPT
        )
        check = json.loads(
            ctx.stack._manage("shell", "-c", script, capture=True)
            .strip()
            .splitlines()[-1]
        )
        # From the first delivery to the last event finished by the worker (the
        # check polls every 0.25 s; its own start-up is not counted).
        out["processed_per_s"] = events / (out["seconds"] + check["waited_s"])
        out["check"] = check
        rounds.append(out)

    def med(key: str) -> float:
        values = sorted(r[key] for r in rounds)
        return values[len(values) // 2]

    once = all(
        r["check"]["rows"] == events
        and r["check"]["finished"] == events
        and r["check"]["attempts"] == [1]
        and set(r["check"]["statuses"]) <= {"processed", "ignored"}
        for r in rounds
    )
    bad_acks = sum(n for r in rounds for s, n in r["statuses"].items() if s != "200")
    scenario = f"Stripe webhooks, {events} events × {COPIES}"
    rows = [
        Row(
            scenario,
            "ack p99 (ms)",
            round(med("ack_p99_ms"), 2),
            target=f"≤ {ACK_P99_MS:g} ms",
            ok=at_most(med("ack_p99_ms"), ACK_P99_MS),
        ),
        Row(
            scenario,
            "deliveries acknowledged per s",
            round(med("deliveries_per_s"), 1),
            target=f"≥ {EVENTS_PER_S:g}/s",
            ok=med("deliveries_per_s") >= EVENTS_PER_S,
        ),
        Row(
            scenario,
            "events finished by the worker per s",
            round(med("processed_per_s"), 1),
            target="(no target)",
        ),
        Row(
            scenario, "non-200 acknowledgements", bad_acks, target="0", ok=bad_acks == 0
        ),
        Row(
            scenario,
            "each event stored once, processed once (1 attempt)",
            "yes" if once else "no",
            target="yes",
            ok=once,
        ),
    ]
    return {
        "result": {"events": events, "copies": COPIES, "rounds": rounds},
        "rows": rows,
    }
