"""`make bench`: measure the full AI path against the bare upstream, and webhook ingest.

It starts, on loopback only, the demo OpenAI-compatible model and the real platform
(uvicorn serving `flowmatik.asgi:application`) on a fresh embedded database, creates a
user with an API key on a live Business subscription (unlimited quotas), then runs
bounded request loops:

1. latency: sequential non-streamed chat completions, upstream directly vs through
   `/v1/chat/completions` (added p50/p99);
2. time to first token for streamed completions (added TTFT);
3. throughput: concurrent clients through the platform (requests/s, p99);
4. webhook ingest: signed Stripe events posted concurrently (ack p99, events/s).

Results are printed as a table and as JSON (`--json PATH` writes them to a file).
"""

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
MODEL = "flowmatik-demo"
WEBHOOK_SECRET = "whsec_bench_" + secrets.token_hex(8)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def wait_http(url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not come up")


@contextmanager
def platform(workdir: Path, database_url: str = "", redis_url: str = ""):
    """Start the demo model and the platform; yield (upstream, platform, env)."""
    demo_port, web_port = free_port(), free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "flowmatik.settings.base",
        "FLOWMATIK_VAR_DIR": str(workdir),
        "FLOWMATIK_READ_DOT_ENV": "false",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "AI_DEMO_BASE_URL": f"http://127.0.0.1:{demo_port}/v1",
        # measure the platform, not the demo model's visible pacing
        "AI_DEMO_TOKENS_PER_SECOND": "0",
        "LOG_ACCESS": "false",
        "LOG_LEVEL": "WARNING",
        "RATELIMIT_AI_PER_USER": "10000000/m",
        "RATELIMIT_AI_PER_IP": "10000000/m",
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "CELERY_TASK_ALWAYS_EAGER": "false",
    }
    # Never a real provider, and never the caller's own database or Redis: the bench
    # migrates and writes to what it is given (--database-url / --redis-url) only.
    for name in (
        "SILICONFLOW_API_KEY",
        "DOUBAO_API_KEY",
        "OPENAI_API_KEY",
        "DATABASE_URL",
        "REDIS_URL",
        "CELERY_BROKER_URL",
        "CELERY_RESULT_BACKEND",
    ):
        env.pop(name, None)
    if database_url:
        env["DATABASE_URL"] = database_url
    if redis_url:
        env["REDIS_URL"] = redis_url
    subprocess.run(  # noqa: S603
        [PYTHON, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    procs = [
        subprocess.Popen(  # noqa: S603
            [PYTHON, "manage.py", "demo_llm", "--port", str(demo_port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
        ),
        subprocess.Popen(  # noqa: S603
            [
                PYTHON,
                "-m",
                "uvicorn",
                "flowmatik.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(web_port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
        ),
    ]
    try:
        upstream = f"http://127.0.0.1:{demo_port}/v1"
        base = f"http://127.0.0.1:{web_port}"
        wait_http(f"{upstream}/models")
        wait_http(f"{base}/health")
        yield upstream, base, env
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=10)


SETUP_SCRIPT = """
import secrets
from datetime import timedelta
from django.utils import timezone
from accounts.credentials import api_key_hash
from accounts.models import ApiKey, User
from billing.models import Plan, Subscription
password = secrets.token_hex(16)
user = User.objects.create_user(email="bench@example.com", password=password)
# A live Business subscription: API access and unlimited quotas, like a customer's.
Subscription.objects.create(
    user=user, plan=Plan.objects.get(slug="business"), provider="stripe",
    external_id="sub_bench", status="active", live_user=user.pk,
    current_period_end=timezone.now() + timedelta(days=30),
)
raw = "fmk_bench_" + secrets.token_hex(16)
hashed = api_key_hash(raw)
ApiKey.objects.create(user=user, name="bench", prefix=raw[4:14], hashed_key=hashed)
print(raw)
"""


def create_api_key(env: dict) -> str:
    out = subprocess.run(  # noqa: S603
        [PYTHON, "manage.py", "shell", "-c", SETUP_SCRIPT],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def chat_body(i: int, *, stream: bool = False) -> dict:
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": f"Write a tagline for product {i}"}],
        "max_tokens": 32,
    }
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


async def sequential_latency(client, url, headers, n: int) -> list[float]:
    timings = []
    for i in range(n):
        started = time.perf_counter()
        response = await client.post(url, json=chat_body(i), headers=headers)
        response.raise_for_status()
        timings.append((time.perf_counter() - started) * 1000)
    return timings


async def ttft(client, url, headers, n: int) -> list[float]:
    timings = []
    for i in range(n):
        started = time.perf_counter()
        async with client.stream(
            "POST", url, json=chat_body(i, stream=True), headers=headers
        ) as response:
            response.raise_for_status()
            first = None
            async for line in response.aiter_lines():  # read to the end of stream
                if first is None and line.startswith("data:") and '"content"' in line:
                    first = (time.perf_counter() - started) * 1000
            timings.append(first)
    return timings


async def throughput(client, url, headers, total: int, concurrency: int) -> dict:
    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)

    async def worker() -> None:
        nonlocal errors
        while not queue.empty():
            i = queue.get_nowait()
            started = time.perf_counter()
            try:
                response = await client.post(url, json=chat_body(i), headers=headers)
                if response.status_code != 200:
                    errors += 1
            except httpx.HTTPError:
                errors += 1
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {
        "requests": total,
        "concurrency": concurrency,
        "errors": errors,
        "rps": round(total / elapsed, 1),
        "p50_ms": round(percentile(latencies, 50), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
    }


def stripe_event(i: int) -> tuple[bytes, str]:
    payload = json.dumps(
        {
            "id": f"evt_bench_{i}_{secrets.token_hex(4)}",
            "object": "event",
            "type": "bench.unknown_event",
            "created": int(time.time()),
            "data": {"object": {"id": f"obj_{i}", "object": "unknown"}},
        }
    ).encode()
    ts = int(time.time())
    signature = hmac.new(
        WEBHOOK_SECRET.encode(), f"{ts}.".encode() + payload, hashlib.sha256
    ).hexdigest()
    return payload, f"t={ts},v1={signature}"


async def webhook_ingest(client, base: str, total: int, concurrency: int) -> dict:
    events = [stripe_event(i) for i in range(total)]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    cursor = iter(events)

    async def worker() -> None:
        for payload, signature in cursor:
            started = time.perf_counter()
            response = await client.post(
                f"{base}/api/webhooks/stripe",
                content=payload,
                headers={
                    "Content-Type": "application/json",
                    "Stripe-Signature": signature,
                },
            )
            latencies.append((time.perf_counter() - started) * 1000)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {
        "events": total,
        "concurrency": concurrency,
        "statuses": statuses,
        "events_per_s": round(total / elapsed, 1),
        "ack_p50_ms": round(percentile(latencies, 50), 2),
        "ack_p99_ms": round(percentile(latencies, 99), 2),
    }


def summary(timings: list[float]) -> dict:
    return {
        "p50_ms": round(statistics.median(timings), 2),
        "p99_ms": round(percentile(timings, 99), 2),
    }


async def run(args, upstream: str, base: str, api_key: str) -> dict:
    auth = {"Authorization": f"Bearer {api_key}"}
    upstream_headers = {"Authorization": "Bearer demo"}
    limits = httpx.Limits(max_connections=args.concurrency * 2)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        # Warm both paths (connections, caches) before measuring.
        await sequential_latency(
            client, f"{upstream}/chat/completions", upstream_headers, 5
        )
        await sequential_latency(client, f"{base}/v1/chat/completions", auth, 5)
        bare = await sequential_latency(
            client, f"{upstream}/chat/completions", upstream_headers, args.requests
        )
        full = await sequential_latency(
            client, f"{base}/v1/chat/completions", auth, args.requests
        )
        bare_ttft = await ttft(
            client, f"{upstream}/chat/completions", upstream_headers, 50
        )
        full_ttft = await ttft(client, f"{base}/v1/chat/completions", auth, 50)
        load = await throughput(
            client, f"{base}/v1/chat/completions", auth, args.load, args.concurrency
        )
        hooks = await webhook_ingest(client, base, args.webhooks, args.concurrency)
    return {
        "latency": {
            "upstream": summary(bare),
            "platform": summary(full),
            "added_p50_ms": round(statistics.median(full) - statistics.median(bare), 2),
            "added_p99_ms": round(percentile(full, 99) - percentile(bare, 99), 2),
        },
        "ttft": {
            "upstream": summary(bare_ttft),
            "platform": summary(full_ttft),
            "added_p50_ms": round(
                statistics.median(full_ttft) - statistics.median(bare_ttft), 2
            ),
        },
        "throughput": load,
        "webhooks": hooks,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--load", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--webhooks", type=int, default=1000)
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--database-url",
        default="",
        help="a scratch database to migrate and use (default: SQLite in a temp dir)",
    )
    parser.add_argument(
        "--redis-url", default="", help="a scratch Redis (default: none, embedded)"
    )
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="flowmatik-bench-") as tmp,
        platform(Path(tmp), args.database_url, args.redis_url) as (upstream, base, env),
    ):
        api_key = create_api_key(env)
        results = asyncio.run(run(args, upstream, base, api_key))
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
