"""The bench's scenarios, one module each; `SCENARIOS` maps a name to its runner.

A runner takes the `Context` and returns `{"result": {...}, "rows": [Row, ...]}`:
the raw per-round figures and the table rows (platform against the bare upstream,
and LiteLLM when it runs, medians of the rounds, with the issue's target).
"""

import statistics
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.loadgen import run_job
from bench.stack import Stack, rss_kb


@dataclass
class Row:
    scenario: str
    metric: str
    platform: float | str | None
    direct: float | str | None = None
    litellm: float | str | None = None
    added: float | str | None = None
    target: str = ""
    ok: bool | None = None  # None: no target, or nothing to judge

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Context:
    stack: Stack
    workdir: Path
    quick: bool
    rounds: int
    shared: dict[str, Any] = field(default_factory=dict)
    # When the current scenario's share of the time limit ends (monotonic clock)
    share_ends: float = float("inf")

    def round_range(self) -> Iterator[int]:
        """Round numbers: the first always, the others while the scenario's share of
        the time limit lasts, so a loaded machine still gets every scenario."""
        for number in range(self.rounds):
            if number and time.monotonic() >= self.share_ends:
                return
            yield number

    def targets(self) -> list[tuple[str, str]]:
        """(label, base URL) of what is compared: upstream, platform, LiteLLM."""
        found = [("direct", self.stack.upstream), ("platform", self.stack.base)]
        if self.stack.litellm:
            found.append(("litellm", self.stack.litellm))
        return found

    def headers(self, label: str) -> dict[str, str]:
        if label == "platform":
            return {"Authorization": f"Bearer {self.stack.api_key}"}
        return {"Authorization": "Bearer bench"}

    def job(self, job: str, spec: dict, timeout: float = 300) -> dict:
        return run_job(job, spec, workdir=self.workdir, timeout=timeout)


def median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def at_most(value: float | None, limit: float) -> bool | None:
    return None if value is None else value <= limit


def rounded(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


class RssSampler:
    """Samples the RSS (KB) of the given processes every `every` s in a thread."""

    def __init__(self, pids: Callable[[], list[int]], every: float = 0.5) -> None:
        self.pids, self.every = pids, every
        self.samples: list[tuple[float, dict[int, int]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(
                (time.monotonic(), {pid: rss_kb(pid) for pid in self.pids()})
            )
            self._stop.wait(self.every)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def peak_per_process_kb(self) -> int:
        return max((max(s.values(), default=0) for _, s in self.samples), default=0)

    def peak_total_kb(self) -> int:
        return max((sum(s.values()) for _, s in self.samples), default=0)


def _registry() -> dict[str, Callable[[Context], dict]]:
    from bench.scenarios import (
        admission,
        chat,
        idle_websockets,
        memory,
        quota_cost,
        streaming,
        webhooks,
    )

    return {
        "latency": chat.latency,
        "throughput": chat.throughput,
        "sse": streaming.sse,
        "websocket": streaming.websocket,
        "fanout": streaming.fanout,
        "admission": admission.run,
        "quota": quota_cost.run,
        "webhooks": webhooks.run,
        "idle_websockets": idle_websockets.run,
        "memory": memory.run,
    }


SCENARIO_NAMES = [
    "latency",
    "throughput",
    "sse",
    "websocket",
    "fanout",
    "admission",
    "quota",
    "webhooks",
    "idle_websockets",
    "memory",
]


def scenario(name: str) -> Callable[[Context], dict]:
    return _registry()[name]
