"""Non-streamed `/v1/chat/completions`: 1 client (added latency) and 50 clients.

Each round runs the bare upstream, the platform and (when given) LiteLLM one after
the other with the same request bodies; the table shows the medians of the rounds.
"""

from bench.scenarios import Context, Row, RssSampler, at_most, median, rounded
from bench.stack import children, cpu_seconds

ADDED_P50_MS, ADDED_P99_MS = 3.0, 10.0
THROUGHPUT_RPS, THROUGHPUT_VS_LITELLM = 800.0, 2.5
P99_MS, CPU_MS_PER_REQUEST = 150.0, 2.0
PATH = "/v1/chat/completions"


def _p(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def latency(ctx: Context) -> dict:
    n = 40 if ctx.quick else 100
    rounds: list[dict] = []
    for _ in ctx.round_range():
        current = {}
        for label, base in ctx.targets():
            out = ctx.job(
                "sequential",
                {
                    "base": base,
                    "path": PATH,
                    "headers": ctx.headers(label),
                    "n": n,
                    "warmup": 10,
                },
            )
            current[label] = {
                "p50_ms": _p(out["timings"], 50),
                "p99_ms": _p(out["timings"], 99),
                "errors": out["errors"],
            }
        rounds.append(current)

    def med(label: str, key: str) -> float | None:
        return median([r[label][key] for r in rounds if label in r])

    rows = []
    for key, limit in (("p50_ms", ADDED_P50_MS), ("p99_ms", ADDED_P99_MS)):
        direct, platform = med("direct", key), med("platform", key)
        added = platform - direct if platform is not None and direct else None
        litellm = med("litellm", key)
        rows.append(
            Row(
                "chat, 1 client",
                f"latency {key[:3]} (ms; added = platform − direct)",
                rounded(platform),
                rounded(direct),
                rounded(litellm),
                rounded(added),
                f"added ≤ {limit:g} ms",
                at_most(added, limit),
            )
        )
    errors = sum(r["platform"]["errors"] for r in rounds)
    rows.append(Row("chat, 1 client", "errors", errors, target="0", ok=errors == 0))
    return {"result": {"requests_per_round": n, "rounds": rounds}, "rows": rows}


def _gateway_pids(ctx: Context, label: str) -> list[int]:
    stack = ctx.stack
    for name, process in stack._procs:
        if (label == "platform" and name == "web") or (
            label == "litellm" and name == "litellm"
        ):
            return [process.pid, *children(process.pid)]
        if label == "direct" and name == "upstream":
            return [process.pid]
    return []


def throughput(ctx: Context) -> dict:
    seconds, clients = (3.0, 50) if ctx.quick else (4.0, 50)
    rounds: list[dict] = []
    peak_worker_kb = peak_total_kb = 0
    for _ in ctx.round_range():
        current = {}
        for label, base in ctx.targets():
            pids = _gateway_pids(ctx, label)
            cpu_before = sum(cpu_seconds(p) for p in pids)
            with RssSampler(lambda label=label: _gateway_pids(ctx, label)) as sampler:
                out = ctx.job(
                    "concurrent",
                    {
                        "base": base,
                        "path": PATH,
                        "headers": ctx.headers(label),
                        "clients": clients,
                        "seconds": seconds,
                        "warmup_s": 1.0,
                    },
                )
            cpu = sum(cpu_seconds(p) for p in _gateway_pids(ctx, label)) - cpu_before
            # CPU over warm-up + measured window, per request of the measured window
            # scaled to the whole window's duration.
            total_requests = out["rps"] * (seconds + 1.0)
            out["cpu_ms_per_request"] = cpu * 1000 / max(total_requests, 1)
            out["rss_peak_total_kb"] = sampler.peak_total_kb()
            current[label] = out
            if label == "platform":
                workers = set(ctx.stack.worker_pids())
                peak_worker_kb = max(
                    peak_worker_kb,
                    max(
                        (
                            kb
                            for _, s in sampler.samples
                            for pid, kb in s.items()
                            if pid in workers
                        ),
                        default=0,
                    ),
                )
                peak_total_kb = max(peak_total_kb, sampler.peak_total_kb())
        rounds.append(current)
    ctx.shared["rss_under_load"] = {
        "peak_worker_kb": peak_worker_kb,
        "peak_total_kb": peak_total_kb,
        "litellm_peak_total_kb": median(
            [r["litellm"]["rss_peak_total_kb"] for r in rounds if "litellm" in r]
        ),
    }

    def med(label: str, key: str) -> float | None:
        return median([r[label][key] for r in rounds if label in r])

    rps = med("platform", "rps")
    direct_rps, litellm_rps = med("direct", "rps"), med("litellm", "rps")
    if litellm_rps:
        rps_target = f"≥ {THROUGHPUT_VS_LITELLM:g}× LiteLLM"
        rps_ok = rps is not None and rps >= THROUGHPUT_VS_LITELLM * litellm_rps
    else:
        rps_target = f"≥ {THROUGHPUT_RPS:g} req/s (≈ 2.5× LiteLLM)"
        rps_ok = rps is not None and rps >= THROUGHPUT_RPS
    p99 = med("platform", "p99_ms")
    errors = sum(r["platform"]["errors"] for r in rounds)
    cpu = med("platform", "cpu_ms_per_request")
    scenario = f"chat, {clients} clients"
    rows = [
        Row(
            scenario,
            "requests/s",
            rounded(rps, 1),
            rounded(direct_rps, 1),
            rounded(litellm_rps, 1),
            None,
            rps_target,
            rps_ok,
        ),
        Row(
            scenario,
            "req/s as a fraction of direct",
            rounded(rps / direct_rps, 3) if rps and direct_rps else None,
            target="(no target)",
        ),
        Row(
            scenario,
            "latency p99 (ms)",
            rounded(p99, 1),
            rounded(med("direct", "p99_ms"), 1),
            rounded(med("litellm", "p99_ms"), 1),
            None,
            f"≤ {P99_MS:g} ms",
            at_most(p99, P99_MS),
        ),
        Row(
            scenario,
            "errors (non-200)",
            errors,
            med("direct", "errors"),
            med("litellm", "errors"),
            None,
            "0",
            errors == 0,
        ),
        Row(
            scenario,
            "CPU per request (ms, all server processes)",
            rounded(cpu),
            rounded(med("direct", "cpu_ms_per_request")),
            rounded(med("litellm", "cpu_ms_per_request")),
            None,
            f"≤ {CPU_MS_PER_REQUEST:g} ms",
            at_most(cpu, CPU_MS_PER_REQUEST),
        ),
    ]
    return {
        "result": {"clients": clients, "seconds": seconds, "rounds": rounds},
        "rows": rows,
    }
