"""The bench's results: `bench/results/latest.json` and the table, `latest.md`."""

import json
from pathlib import Path
from typing import Any

from bench.scenarios import Row

RESULTS = Path(__file__).resolve().parent / "results"


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def markdown(meta: dict[str, Any], rows: list[Row]) -> str:
    litellm = any(r.litellm is not None for r in rows)
    header = ["scenario", "metric", "direct", "platform"]
    header += ["LiteLLM"] if litellm else []
    header += ["platform − direct", "target", "pass"]
    lines = [
        f"# `make {'bench-soak' if meta.get('soak') else 'bench'}` — {meta['date']}",
        "",
        f"commit `{meta['commit']}`, {meta['cpus']} CPUs, load average before "
        f"{meta['load_before']} / after {meta['load_after']}; platform: "
        f"{meta['workers']} uvicorn workers, database {meta['database']}, "
        f"Redis {meta['redis']}; up to {meta['rounds']} round(s), medians; "
        f"{meta['seconds']:.0f} s in all.",
        "",
        "| " + " | ".join(header) + " |",
        "|"
        + "|".join(["---"] * 2 + ["---:"] * (len(header) - 4) + ["---", ":---:"])
        + "|",
    ]
    for r in rows:
        cells = [r.scenario, r.metric, _cell(r.direct), _cell(r.platform)]
        cells += [_cell(r.litellm)] if litellm else []
        verdict = {True: "pass", False: "**FAIL**", None: ""}[r.ok]
        cells += [_cell(r.added), r.target, verdict]
        lines.append("| " + " | ".join(cells) + " |")
    failed = sum(1 for r in rows if r.ok is False)
    passed = sum(1 for r in rows if r.ok is True)
    lines += ["", f"{passed} target(s) met, {failed} missed."]
    if meta.get("rounds_done"):
        done = ", ".join(f"{k} {v}" for k, v in meta["rounds_done"].items())
        lines += [f"Rounds done (a scenario's share of the time limit): {done}."]
    return "\n".join(lines) + "\n"


def write(
    meta: dict[str, Any], scenarios: dict[str, Any], rows: list[Row], stem: str
) -> str:
    """Write `<stem>.json` and `<stem>.md` (in bench/results/ unless `stem` is a
    path) and return the markdown."""
    target = Path(stem) if "/" in stem else RESULTS / stem
    target.parent.mkdir(parents=True, exist_ok=True)
    text = markdown(meta, rows)
    document = {
        "meta": meta,
        "rows": [r.as_dict() for r in rows],
        "scenarios": scenarios,
    }
    target.with_suffix(".json").write_text(json.dumps(document, indent=2, default=str))
    target.with_suffix(".md").write_text(text)
    return text
