"""The load generator: runs in its own process, so it never shares a CPU with the
servers' event loops by accident of scheduling inside one interpreter.

`python -m bench.loadgen SPEC.json` runs one job (`JOBS[spec["job"]]`) and prints its
result as one JSON line. The HTTP client is a minimal HTTP/1.1 keep-alive client on
raw asyncio streams (content-length and chunked bodies): httpx costs several times
more CPU per request, which on a 2-core machine would be measured as the gateway's.
The orchestrator's side is `run_job` (and `HeldJob` for the idle-socket job, which
keeps its sockets open until told to close them).
"""

import asyncio
import json
import re
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

CONTENT = re.compile(rb'"(?:content|delta)":\s*"[^"]')


class Closed(Exception):
    pass


class Connection:
    """One keep-alive HTTP/1.1 connection to `base` (http://host:port)."""

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(
            self.host, self.port, limit=2**20
        )

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(
        self,
        path: str,
        body: bytes,
        headers: dict[str, str],
        on_event=None,
        method: str = "POST",
    ) -> tuple[int, bytes]:
        """Send one request; returns (status, body). `on_event(bytes)` is called
        with every received piece of a chunked body as it arrives."""
        if self.writer is None:
            await self._open()
        assert self.reader is not None
        assert self.writer is not None
        head = f"{method} {self.prefix}{path} HTTP/1.1\r\n"
        head += f"Host: {self.host}:{self.port}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        head += f"Content-Length: {len(body)}\r\n\r\n"
        self.writer.write(head.encode() + body)
        try:
            raw = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            self.close()
            raise Closed from exc
        lines = raw.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, chunked, close = None, False, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value:
                chunked = True
            elif name == b"connection" and value == b"close":
                close = True
        if chunked:
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    break
                data = await self.reader.readexactly(size + 2)
                if on_event is not None:
                    on_event(data)
                parts.append(data[:-2])
            payload = b"".join(parts)
        elif length is not None:
            payload = await self.reader.readexactly(length)
        else:
            payload = await self.reader.read()
            close = True
        if close:
            self.close()
        return status, payload


def percentile(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def chat_body(i: int, *, stream: bool = False, directive: str = "") -> bytes:
    body: dict[str, Any] = {
        "model": "flowmatik-demo",
        "messages": [
            {"role": "user", "content": f"Tagline for product {i} {directive}"}
        ],
        "max_tokens": 64,
    }
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return json.dumps(body).encode()


def _headers(spec: dict) -> dict[str, str]:
    return {"Content-Type": "application/json", **spec.get("headers", {})}


async def job_sequential(spec: dict) -> dict:
    """`n` non-streamed requests one after another: latencies in ms."""
    conn, headers, timings, errors = Connection(spec["base"]), _headers(spec), [], 0
    for i in range(spec["warmup"] + spec["n"]):
        started = time.perf_counter()
        status, _ = await conn.request(spec["path"], chat_body(i), headers)
        if i >= spec["warmup"]:
            timings.append((time.perf_counter() - started) * 1000)
            errors += status != 200
    conn.close()
    return {"timings": timings, "errors": errors}


async def job_concurrent(spec: dict) -> dict:
    """`clients` keep-alive clients sending without pause; what completes between
    `warmup_s` and `warmup_s + seconds` is counted (requests still in flight at the
    end are not)."""
    headers, statuses = _headers(spec), {}
    latencies: list[float] = []
    measure_from = time.perf_counter() + spec.get("warmup_s", 0.0)
    stop_at = measure_from + spec["seconds"]

    async def client(k: int) -> None:
        conn, i = Connection(spec["base"]), 0
        while (started := time.perf_counter()) < stop_at:
            i += 1
            try:
                status, _ = await asyncio.wait_for(
                    conn.request(spec["path"], chat_body(k * 100000 + i), headers),
                    max(0.1, stop_at - started + 30),
                )
            except (Closed, ConnectionError, asyncio.IncompleteReadError, TimeoutError):
                conn.close()
                status = 0
            ended = time.perf_counter()
            if measure_from <= ended <= stop_at:
                latencies.append((ended - started) * 1000)
                statuses[status] = statuses.get(status, 0) + 1
        conn.close()

    await asyncio.gather(*(client(k) for k in range(spec["clients"])))
    counted = len(latencies)
    return {
        "requests": counted,
        "rps": counted / spec["seconds"],
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "errors": sum(n for s, n in statuses.items() if s != 200),
        "statuses": {str(k): v for k, v in statuses.items()},
    }


async def _one_stream(conn: Connection, spec: dict, i: int) -> dict:
    events: list[float] = []

    def seen(data: bytes) -> None:
        if CONTENT.search(data):
            events.append(time.perf_counter())

    started = time.perf_counter()
    status, _ = await conn.request(
        spec["path"],
        chat_body(i, stream=True, directive=spec.get("directive", "")),
        _headers(spec),
        on_event=seen,
    )
    ended = time.perf_counter()
    gaps = [b - a for a, b in zip(events, events[1:], strict=False)]
    return {
        "status": status,
        "ttft_ms": (events[0] - started) * 1000 if events else None,
        "full_ms": (ended - started) * 1000,
        "chunks": len(events),
        "max_gap_ms": max(gaps) * 1000 if gaps else 0.0,
    }


async def job_streams(spec: dict) -> dict:
    """`n` SSE streams one after another: TTFT, full time, content chunks."""
    conn, results = Connection(spec["base"]), []
    for i in range(spec["warmup"] + spec["n"]):
        result = await _one_stream(conn, spec, i)
        if i >= spec["warmup"]:
            results.append(result)
    conn.close()
    return {"streams": results}


async def job_fanout(spec: dict) -> dict:
    """`streams` SSE streams at once: the largest gap between two chunks."""

    async def one(i: int) -> dict:
        conn = Connection(spec["base"])
        try:
            return await _one_stream(conn, spec, i)
        except (Closed, ConnectionError, asyncio.IncompleteReadError):
            return {"status": 0, "max_gap_ms": 0.0, "chunks": 0}
        finally:
            conn.close()

    results = await asyncio.gather(*(one(i) for i in range(spec["streams"])))
    gaps = [r["max_gap_ms"] for r in results if r["status"] == 200]
    return {
        "streams": len(results),
        "ok": len(gaps),
        "max_gap_ms": max(gaps) if gaps else None,
        "p99_max_gap_ms": percentile(gaps, 99) if gaps else None,
        "chunks_min": min((r["chunks"] for r in results), default=0),
    }


async def job_burst(spec: dict) -> dict:
    """`total` requests all in flight at once (one connection each)."""
    start = asyncio.Event()

    async def one(i: int) -> tuple[int, bytes]:
        conn = Connection(spec["base"])
        try:
            await conn._open()
            await start.wait()
            return await conn.request(spec["path"], chat_body(i), _headers(spec))
        except (Closed, ConnectionError, asyncio.IncompleteReadError, OSError):
            return 0, b""
        finally:
            conn.close()

    tasks = [asyncio.ensure_future(one(i)) for i in range(spec["total"])]
    await asyncio.sleep(0.5)  # let every connection open
    started = time.perf_counter()
    start.set()
    results = await asyncio.gather(*tasks)
    statuses: dict[str, int] = {}
    codes: dict[str, int] = {}
    for status, body in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        if status != 200:
            found = re.search(rb'"code":\s*"([a-z_]+)"', body)
            code = found.group(1).decode() if found else "?"
            codes[code] = codes.get(code, 0) + 1
    return {
        "statuses": statuses,
        "error_codes": codes,
        "seconds": time.perf_counter() - started,
    }


async def job_webhooks(spec: dict) -> dict:
    """Post every delivery (already signed) with `concurrency` clients."""
    deliveries = [
        (d["body"].encode(), d["signature"]) for d in spec["deliveries"]
    ]  # each event appears `copies` times, spread over the run
    cursor = iter(deliveries)
    latencies: list[float] = []
    statuses: dict[str, int] = {}

    async def client() -> None:
        conn = Connection(spec["base"])
        for body, signature in cursor:
            started = time.perf_counter()
            try:
                status, _ = await conn.request(
                    spec["path"],
                    body,
                    {"Content-Type": "application/json", "Stripe-Signature": signature},
                )
            except (Closed, ConnectionError, asyncio.IncompleteReadError):
                conn.close()
                status = 0
            latencies.append((time.perf_counter() - started) * 1000)
            statuses[str(status)] = statuses.get(str(status), 0) + 1
        conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(spec["concurrency"])))
    elapsed = time.perf_counter() - started
    return {
        "deliveries": len(deliveries),
        "seconds": elapsed,
        "deliveries_per_s": len(deliveries) / elapsed,
        "ack_p50_ms": percentile(latencies, 50),
        "ack_p99_ms": percentile(latencies, 99),
        "statuses": statuses,
    }


async def _ws_connect(spec: dict):
    from websockets.asyncio.client import connect

    return await connect(
        spec["ws_url"],
        subprotocols=["bearer", spec["token"]],  # type: ignore[list-item]
        origin=spec["origin"],
        open_timeout=60,
        ping_interval=None,
        max_size=2**22,
    )


async def job_ws_chat(spec: dict) -> dict:
    """`n` chats over one `/ws/chat/` socket: TTFT (first delta), full (done)."""
    socket = await _ws_connect(spec)
    results = []
    for i in range(spec["warmup"] + spec["n"]):
        started = time.perf_counter()
        await socket.send(
            json.dumps(
                {
                    "type": "chat",
                    "message": f"Tagline for product {i} {spec.get('directive', '')}",
                    "model": "flowmatik-demo",
                }
            )
        )
        first, frames, error = None, 0, None
        while True:
            frame = json.loads(await asyncio.wait_for(socket.recv(), 30))
            kind = frame.get("type")
            if kind == "delta":
                frames += 1
                if first is None:
                    first = time.perf_counter()
            elif kind == "error":
                error = frame.get("code")
                break
            elif kind == "done":
                break
        ended = time.perf_counter()
        if i >= spec["warmup"]:
            results.append(
                {
                    "error": error,
                    "ttft_ms": (first - started) * 1000 if first else None,
                    "full_ms": (ended - started) * 1000,
                    "frames": frames,
                }
            )
    await socket.close()
    return {"chats": results}


async def job_idle_ws(spec: dict) -> dict:
    """Open `count` sockets, say READY, keep them open until stdin says close."""
    sockets, failed = [], 0
    semaphore = asyncio.Semaphore(spec.get("parallel", 50))

    async def one() -> None:
        nonlocal failed
        async with semaphore:
            try:
                sockets.append(await _ws_connect(spec))
            except Exception:
                failed += 1

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(spec["count"])))
    opened_s = time.perf_counter() - started
    print(json.dumps({"ready": len(sockets), "failed": failed}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    still_open = sum(1 for s in sockets if s.state.name == "OPEN")
    await asyncio.gather(*(s.close() for s in sockets), return_exceptions=True)
    return {
        "opened": len(sockets),
        "failed": failed,
        "open_seconds": opened_s,
        "still_open": still_open,
    }


JOBS = {
    "sequential": job_sequential,
    "concurrent": job_concurrent,
    "streams": job_streams,
    "fanout": job_fanout,
    "burst": job_burst,
    "webhooks": job_webhooks,
    "ws_chat": job_ws_chat,
    "idle_ws": job_idle_ws,
}


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def run_job(job: str, spec: dict, *, workdir: Path, timeout: float) -> dict:
    """Run one job in a fresh load-generator process; its JSON result."""
    path = workdir / f"job-{job}-{time.monotonic_ns()}.json"
    path.write_text(json.dumps({**spec, "job": job}))
    out = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "bench.loadgen", str(path)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=Path(__file__).resolve().parent.parent,
    )
    if out.returncode != 0:
        raise RuntimeError(f"load generator {job} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


class HeldJob:
    """The idle-socket job: started, waited for until READY, then told to close."""

    def __init__(self, spec: dict, *, workdir: Path) -> None:
        path = workdir / f"job-idle-{time.monotonic_ns()}.json"
        path.write_text(json.dumps({**spec, "job": "idle_ws"}))
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter
            [sys.executable, "-m", "bench.loadgen", str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
        )

    def ready(self) -> dict:
        assert self.process.stdout is not None
        return json.loads(self.process.stdout.readline())

    def finish(self, timeout: float = 60) -> dict:
        out, _ = self.process.communicate("close\n", timeout=timeout)
        return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    _raise_fd_limit()
    spec = json.loads(Path(sys.argv[1]).read_text())
    runner = JOBS[spec["job"]](spec)
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(runner)
    else:
        result = uvloop.run(runner)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
