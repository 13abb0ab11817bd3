"""1,000 concurrent requests from one customer whose limit is 100 requests a day.

The customer has a staff quota override (`QuotaOverride.requests_per_day`); all the
requests are in flight at once. Exactly the limit must be admitted (200), the rest
refused with 429 `quota_exceeded`. Each round uses a fresh customer.
"""

from bench.scenarios import Context, Row

PATH = "/v1/chat/completions"


def run(ctx: Context) -> dict:
    total = 300 if ctx.quick else 1000
    limit = ctx.stack.options.admission_limit
    rounds = []
    for key, _ in zip(ctx.stack.limited_keys, ctx.round_range(), strict=False):
        rounds.append(
            ctx.job(
                "burst",
                {
                    "base": ctx.stack.base,
                    "path": PATH,
                    "headers": {"Authorization": f"Bearer {key}"},
                    "total": total,
                },
                timeout=300,
            )
        )
    admitted = [r["statuses"].get("200", 0) for r in rounds]
    other = [
        sum(n for s, n in r["statuses"].items() if s not in ("200", "429"))
        for r in rounds
    ]
    refused_codes = sorted({c for r in rounds for c in r["error_codes"]})
    scenario = f"{total} at once, limit {limit}"
    rows = [
        Row(
            scenario,
            "admitted (200) per round",
            "/".join(map(str, admitted)),
            target=f"exactly {limit}",
            ok=all(a == limit for a in admitted),
        ),
        Row(
            scenario,
            "refused with codes",
            ", ".join(refused_codes) or "—",
            target="quota_exceeded only",
            ok=refused_codes in ([], ["quota_exceeded"]),
        ),
        Row(
            scenario,
            "other statuses (not 200/429)",
            sum(other),
            target="0",
            ok=sum(other) == 0,
        ),
    ]
    return {"result": {"total": total, "limit": limit, "rounds": rounds}, "rows": rows}
