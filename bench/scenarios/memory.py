"""Memory of the server processes (RSS from /proc), idle and under load.

Idle is read after the warm-up, before any scenario; under load is the peak sampled
during the 50-client scenario (run here, shortly, when that scenario was not).
"""

from bench.scenarios import Context, Row, at_most, chat

IDLE_MB_PER_WORKER, LOAD_MB_PER_WORKER = 150.0, 250.0


def run(ctx: Context) -> dict:
    idle = ctx.shared["rss_idle"]
    if "rss_under_load" not in ctx.shared:
        saved, ctx.rounds = ctx.rounds, 1
        try:
            chat.throughput(ctx)
        finally:
            ctx.rounds = saved
    load = ctx.shared["rss_under_load"]
    workers = {str(pid) for pid in ctx.stack.worker_pids()}
    idle_worker = max((kb for pid, kb in idle.items() if pid in workers), default=0)
    idle_mb, load_mb = idle_worker / 1024, load["peak_worker_kb"] / 1024
    litellm = load.get("litellm_peak_total_kb")
    rows = [
        Row(
            "memory",
            "largest web worker, idle (MB)",
            round(idle_mb, 1),
            target=f"≤ {IDLE_MB_PER_WORKER:g} MB",
            ok=at_most(idle_mb, IDLE_MB_PER_WORKER),
        ),
        Row(
            "memory",
            "largest web worker, under load (MB)",
            round(load_mb, 1),
            target=f"≤ {LOAD_MB_PER_WORKER:g} MB",
            ok=at_most(load_mb, LOAD_MB_PER_WORKER),
        ),
        Row(
            "memory",
            "all server processes, idle (MB)",
            round(sum(idle.values()) / 1024, 1),
            target="(no target)",
        ),
        Row(
            "memory",
            "all server processes, under load (MB)",
            round(load["peak_total_kb"] / 1024, 1),
            litellm=None if not litellm else round(litellm / 1024, 1),
            target="(no target)",
        ),
    ]
    return {"result": {"idle_kb": idle, "under_load": load}, "rows": rows}
