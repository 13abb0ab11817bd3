"""Streaming: SSE on `/v1/chat/completions`, the portal's `/ws/chat/` WebSocket, and
200 concurrent SSE streams at 50 chunks/s (the largest gap between two chunks).

Per-chunk added time is the platform's (full − TTFT) minus the upstream's, divided
by the chunks after the first. The WebSocket coalesces deltas into one frame per
`WS_CHAT_COALESCE_MS`, so its frames are fewer than the upstream's chunks.
"""

from bench.scenarios import Context, Row, at_most, median, rounded

TTFT_ADDED_MS, PER_CHUNK_ADDED_MS, FANOUT_GAP_MS = 3.0, 0.1, 100.0
PATH = "/v1/chat/completions"


def _summary(streams: list[dict]) -> dict:
    ok = [s for s in streams if s.get("status", 200) == 200 and not s.get("error")]
    return {
        "ttft_ms": median([s["ttft_ms"] for s in ok]),
        "full_ms": median([s["full_ms"] for s in ok]),
        "chunks": median([s.get("chunks", s.get("frames")) for s in ok]),
        "errors": len(streams) - len(ok),
    }


def _direct(ctx: Context, n: int) -> dict:
    out = ctx.job(
        "streams",
        {
            "base": ctx.stack.upstream,
            "path": PATH,
            "headers": ctx.headers("direct"),
            "n": n,
            "warmup": 3,
        },
    )
    return _summary(out["streams"])


def _rows(scenario: str, rounds: list[dict], chunks: int) -> list[Row]:
    def med(label: str, key: str) -> float | None:
        return median([r[label][key] for r in rounds if label in r])

    def per_chunk(label: str) -> float | None:
        values = []
        for r in rounds:
            if label not in r or r[label]["ttft_ms"] is None:
                continue
            tail = r[label]["full_ms"] - r[label]["ttft_ms"]
            direct_tail = r["direct"]["full_ms"] - r["direct"]["ttft_ms"]
            values.append((tail - direct_tail) / max(chunks - 1, 1))
        return median(values)

    ttft, direct_ttft = med("platform", "ttft_ms"), med("direct", "ttft_ms")
    added = ttft - direct_ttft if ttft is not None and direct_ttft is not None else None
    litellm_ttft = med("litellm", "ttft_ms")
    chunk = per_chunk("platform")
    errors = sum(r["platform"]["errors"] for r in rounds)
    return [
        Row(
            scenario,
            "time to first token (ms)",
            rounded(ttft),
            rounded(direct_ttft),
            rounded(litellm_ttft),
            rounded(added),
            f"added ≤ {TTFT_ADDED_MS:g} ms",
            at_most(added, TTFT_ADDED_MS),
        ),
        Row(
            scenario,
            f"full stream, {chunks} chunks (ms)",
            rounded(med("platform", "full_ms")),
            rounded(med("direct", "full_ms")),
            rounded(med("litellm", "full_ms")),
            rounded(
                (med("platform", "full_ms") or 0) - (med("direct", "full_ms") or 0)
            ),
            "(no target)",
        ),
        Row(
            scenario,
            "added per further chunk (ms)",
            rounded(chunk, 3),
            None,
            rounded(per_chunk("litellm"), 3),
            None,
            f"≤ {PER_CHUNK_ADDED_MS:g} ms",
            at_most(chunk, PER_CHUNK_ADDED_MS),
        ),
        Row(scenario, "errors", errors, target="0", ok=errors == 0),
    ]


def sse(ctx: Context) -> dict:
    n = 15 if ctx.quick else 25
    rounds = []
    for _ in ctx.round_range():
        current = {}
        for label, base in ctx.targets():
            out = ctx.job(
                "streams",
                {
                    "base": base,
                    "path": PATH,
                    "headers": ctx.headers(label),
                    "n": n,
                    "warmup": 3,
                },
            )
            current[label] = _summary(out["streams"])
        rounds.append(current)
    chunks = ctx.stack.options.chunks
    return {
        "result": {"streams_per_round": n, "rounds": rounds},
        "rows": _rows("stream, SSE", rounds, chunks),
    }


def websocket(ctx: Context) -> dict:
    n = 10 if ctx.quick else 15
    rounds = []
    origin = ctx.stack.base
    ws_url = ctx.stack.base.replace("http://", "ws://") + "/ws/chat/"
    for _ in ctx.round_range():
        direct = _direct(ctx, n)
        out = ctx.job(
            "ws_chat",
            {
                "ws_url": ws_url,
                "token": ctx.stack.api_key,
                "origin": origin,
                "n": n,
                "warmup": 2,
            },
        )
        rounds.append({"direct": direct, "platform": _summary(out["chats"])})
    chunks = ctx.stack.options.chunks
    return {
        "result": {"chats_per_round": n, "rounds": rounds},
        "rows": _rows("stream, WebSocket", rounds, chunks),
    }


def fanout(ctx: Context) -> dict:
    streams = 50 if ctx.quick else 200
    chunks = 25 if ctx.quick else 50
    directive = f"[[gap:20]] [[chunks:{chunks}]]"  # 50 chunks/s
    rounds = []
    for _ in ctx.round_range():
        current = {}
        for label, base in ctx.targets():
            current[label] = ctx.job(
                "fanout",
                {
                    "base": base,
                    "path": PATH,
                    "headers": ctx.headers(label),
                    "streams": streams,
                    "directive": directive,
                },
            )
        rounds.append(current)

    def med(label: str, key: str) -> float | None:
        return median([r[label][key] for r in rounds if label in r])

    gap = med("platform", "max_gap_ms")
    failed = sum(r["platform"]["streams"] - r["platform"]["ok"] for r in rounds)
    scenario = f"{streams} streams at 50 chunks/s"
    rows = [
        Row(
            scenario,
            "largest gap between chunks (ms)",
            rounded(gap, 1),
            rounded(med("direct", "max_gap_ms"), 1),
            rounded(med("litellm", "max_gap_ms"), 1),
            None,
            f"≤ {FANOUT_GAP_MS:g} ms",
            at_most(gap, FANOUT_GAP_MS),
        ),
        Row(
            scenario,
            "p99 of each stream's largest gap (ms)",
            rounded(med("platform", "p99_max_gap_ms"), 1),
            rounded(med("direct", "p99_max_gap_ms"), 1),
            rounded(med("litellm", "p99_max_gap_ms"), 1),
            target="(no target)",
        ),
        Row(scenario, "failed streams", failed, target="0", ok=failed == 0),
    ]
    return {
        "result": {"streams": streams, "chunks": chunks, "rounds": rounds},
        "rows": rows,
    }
