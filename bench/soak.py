"""`make bench-soak`: steady load for `--minutes` (10 by default); RSS growth slope.

20 clients send non-streamed chat completions without pause while the web workers'
RSS is sampled every 5 s; the slope (least squares, MB per minute) is fitted to the
samples after the first fifth of the run, once the caches and pools are warm.
"""

from bench.scenarios import Context, Row, RssSampler, at_most

SLOPE_MB_PER_MIN = 1.0


def slope_mb_per_min(samples: list[tuple[float, int]]) -> float | None:
    """Least-squares slope of (seconds, KB) samples, in MB per minute."""
    if len(samples) < 3:
        return None
    xs = [t / 60 for t, _ in samples]
    ys = [kb / 1024 for _, kb in samples]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    if var == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var


def run(ctx: Context, minutes: float) -> dict:
    seconds = minutes * 60
    with RssSampler(ctx.stack.worker_pids, every=5.0) as sampler:
        out = ctx.job(
            "concurrent",
            {
                "base": ctx.stack.base,
                "path": "/v1/chat/completions",
                "headers": ctx.headers("platform"),
                "clients": 20,
                "seconds": seconds,
            },
            timeout=seconds + 300,
        )
    start = sampler.samples[0][0] if sampler.samples else 0.0
    series = [(t - start, sum(s.values())) for t, s in sampler.samples]
    steady = [p for p in series if p[0] >= seconds / 5]
    slope = slope_mb_per_min(steady)
    first, last = (steady[0][1], steady[-1][1]) if steady else (0, 0)
    rows = [
        Row(
            f"soak, {minutes:g} min",
            "web workers' RSS growth (MB/min)",
            None if slope is None else round(slope, 3),
            target=f"≤ {SLOPE_MB_PER_MIN:g} MB/min",
            ok=at_most(slope, SLOPE_MB_PER_MIN),
        ),
        Row(
            f"soak, {minutes:g} min",
            "web workers' RSS after warm-up → end (MB)",
            f"{first / 1024:.1f} → {last / 1024:.1f}",
            target="(no target)",
        ),
        Row(
            f"soak, {minutes:g} min",
            "requests/s, errors",
            f"{out['rps']:.1f}, {out['errors']}",
            target="0 errors",
            ok=out["errors"] == 0,
        ),
    ]
    return {"result": {"load": out, "series_kb": series}, "rows": rows}
