"""`make bench`: the platform against the bare upstream (and LiteLLM), one command.

`python -m bench [--quick] [--scenarios latency,sse,...] [--rounds N]` starts
everything on loopback (`bench.stack`), runs each scenario (`bench.scenarios`) with
the load generated from a separate process (`bench.loadgen`), prints a markdown
table with the issue's targets as pass/fail and writes `bench/results/latest.json`
and `latest.md`. `--soak [--minutes 10]` runs the soak instead (`soak.json/.md`).
Redis and MariaDB are used when given (`--redis-url`/`BENCH_REDIS_URL`, `auto`
starting a private redis-server; `--database-url`/`BENCH_DATABASE_URL`, migrated),
else the embedded default. It stops by itself: every scenario is bounded, and the
measurements end after `--time-limit` seconds whatever happens (start-up is
bounded on its own).
"""

import argparse
import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import report, soak
from bench.scenarios import SCENARIO_NAMES, Context, Row, scenario
from bench.stack import ROOT, Options, Stack

SETUP_LIMIT_SECONDS = 1200


class TimeLimit(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    env = os.environ.get
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--quick", action="store_true", help="small counts, 1 round (≤ 90 s)"
    )
    parser.add_argument(
        "--scenarios",
        default="",
        help=f"comma-separated, of: {','.join(SCENARIO_NAMES)}",
    )
    parser.add_argument(
        "--rounds", type=int, default=0, help="repeats (default 3; --quick 1)"
    )
    parser.add_argument("--workers", type=int, default=int(env("WEB_CONCURRENCY") or 2))
    parser.add_argument(
        "--database-url",
        default=env("BENCH_DATABASE_URL", ""),
        help="a scratch MySQL/MariaDB database to migrate and use",
    )
    parser.add_argument(
        "--redis-url",
        default=env("BENCH_REDIS_URL", ""),
        help="a scratch Redis, or 'auto' to start one on a free port",
    )
    parser.add_argument(
        "--no-migrate",
        action="store_true",
        help="the --database-url already has the schema and seed rows",
    )
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="upstream latency"
    )
    parser.add_argument(
        "--chunk-gap-ms", type=float, default=0.0, help="upstream chunk gap"
    )
    parser.add_argument(
        "--chunks", type=int, default=32, help="content chunks per stream"
    )
    parser.add_argument(
        "--litellm",
        nargs="?",
        const=env("BENCH_LITELLM_BIN") or "litellm",
        default=env("BENCH_LITELLM_BIN", ""),
        help="compare with LiteLLM Proxy (its executable)",
    )
    parser.add_argument("--soak", action="store_true", help="run the soak instead")
    parser.add_argument("--minutes", type=float, default=10.0, help="soak length")
    parser.add_argument(
        "--time-limit",
        type=float,
        default=0.0,
        help="stop measuring after this many seconds once everything is up "
        "(default 270; --quick 75)",
    )
    parser.add_argument(
        "--output", default="", help="results file stem (default latest)"
    )
    return parser


def _alarm(signum, frame):
    raise TimeLimit


def _terminate(signum, frame):
    raise SystemExit(128 + signum)  # unwinds the `with Stack`: everything stops


def _git_commit() -> str:
    out = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - git on PATH
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() or "unknown"


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 3)
    names = [
        n.strip() for n in args.scenarios.split(",") if n.strip()
    ] or SCENARIO_NAMES
    unknown = set(names) - set(SCENARIO_NAMES)
    if unknown:
        print(f"unknown scenario(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    litellm = args.litellm
    if litellm and not (Path(litellm).exists() or shutil.which(litellm)):
        print(f"bench: no LiteLLM executable at {litellm!r}; running without it")
        litellm = ""
    limit = args.time_limit or (
        args.minutes * 60 + 120 if args.soak else 75 if args.quick else 270
    )
    options = Options(
        workers=args.workers,
        database_url=args.database_url,
        redis_url=args.redis_url,
        migrate=not args.no_migrate,
        latency_ms=args.latency_ms,
        chunk_gap_ms=args.chunk_gap_ms,
        chunks=args.chunks,
        litellm_bin=litellm,
        limited_users=rounds,
    )
    started = time.monotonic()
    load_before = _load()
    signal.signal(signal.SIGALRM, _alarm)
    signal.signal(signal.SIGTERM, _terminate)
    # Start-up has its own bound (a first migration of an empty MariaDB takes
    # minutes); the time limit is for the measurements.
    signal.alarm(SETUP_LIMIT_SECONDS)
    scenarios: dict[str, dict] = {}
    rows: list[Row] = []
    try:
        with (
            tempfile.TemporaryDirectory(prefix="flowmatik-bench-") as tmp,
            Stack(options, Path(tmp)) as stack,
        ):
            signal.alarm(int(limit))
            ctx = Context(
                stack=stack, workdir=Path(tmp), quick=args.quick, rounds=rounds
            )
            # Warm both paths (connections, caches), then read the idle memory.
            ctx.job(
                "sequential",
                {
                    "base": stack.base,
                    "path": "/v1/chat/completions",
                    "headers": ctx.headers("platform"),
                    "n": 20,
                    "warmup": 0,
                },
            )
            time.sleep(1.0)
            ctx.shared["rss_idle"] = stack.rss()
            if stack.litellm_error:
                rows.append(
                    Row(
                        "LiteLLM",
                        "comparison gateway",
                        "did not start",
                        target="(optional)",
                        ok=None,
                    )
                )
            if args.soak:
                names = ["soak"]
                done = soak.run(ctx, args.minutes)
                scenarios["soak"] = done["result"]
                rows += done["rows"]
            else:
                measure_until = time.monotonic() + limit
                for index, name in enumerate(names):
                    print(f"bench: {name} ...", flush=True)
                    # An equal share of what is left: later rounds are dropped first
                    left = measure_until - time.monotonic()
                    ctx.share_ends = time.monotonic() + left / (len(names) - index)
                    try:
                        done = scenario(name)(ctx)
                    except TimeLimit:
                        raise
                    except Exception as exc:
                        done = {
                            "result": {"error": repr(exc)},
                            "rows": [
                                Row(
                                    name,
                                    "scenario failed",
                                    repr(exc)[:200],
                                    target="runs",
                                    ok=False,
                                )
                            ],
                        }
                    scenarios[name] = done["result"]
                    rows += done["rows"]
    except TimeLimit:
        rows.append(
            Row(
                "bench",
                f"stopped at the time limit ({limit:.0f} s)",
                "incomplete",
                target="finishes",
                ok=False,
            )
        )
    finally:
        signal.alarm(0)
    meta = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": _git_commit(),
        "cpus": os.cpu_count(),
        "load_before": load_before,
        "load_after": _load(),
        "workers": args.workers,
        "database": "MariaDB/MySQL"
        if args.database_url.startswith("mysql")
        else ("given" if args.database_url else "embedded SQLite"),
        "redis": ("private (auto)" if args.redis_url == "auto" else "given")
        if args.redis_url
        else "none (embedded)",
        "rounds": rounds,
        "quick": args.quick,
        "soak": args.soak,
        "litellm": bool(litellm),
        "scenarios": names,
        "seconds": time.monotonic() - started,
        "rounds_done": {
            name: len(result["rounds"])
            for name, result in scenarios.items()
            if isinstance(result.get("rounds"), list)
        },
        "upstream": {
            "latency_ms": args.latency_ms,
            "chunk_gap_ms": args.chunk_gap_ms,
            "chunks": args.chunks,
        },
    }
    stem = args.output or ("soak" if args.soak else "latest")
    print(report.write(meta, scenarios, rows, stem))
    return 1 if any(r.metric == "scenario failed" for r in rows) else 0
