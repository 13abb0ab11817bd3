"""`make bench` keeps working: a quick latency run of the real harness (`python -m
bench`) against the platform's real processes, on this test run's database."""

import json
import shlex
import subprocess
import sys

import pytest
from django.conf import settings

from bench.stack import PRODUCTION_FLAGS
from flowmatik.testing.processes import database_url_of_tests

# The harness's own start-up (2 uvicorn workers, the upstream, the load generator)
pytestmark = [pytest.mark.timeout(120, func_only=True)]


@pytest.mark.django_db(transaction=True)
def test_quick_latency_run_measures_platform_and_upstream_and_writes_the_table(
    tmp_path,
):
    stem = tmp_path / "results" / "smoke"
    out = subprocess.run(  # noqa: S603 - our own interpreter and module
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--scenarios",
            "latency",
            "--rounds",
            "1",
            "--workers",
            "1",  # the same code path; half the start-up on a 2-core CI box
            "--database-url",
            database_url_of_tests(),
            "--no-migrate",
            "--redis-url",
            "",
            "--litellm",
            "",
            "--output",
            str(stem),
            "--time-limit",
            "100",
        ],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    document = json.loads(stem.with_suffix(".json").read_text())
    rows = {row["metric"]: row for row in document["rows"]}
    p50 = rows["latency p50 (ms; added = platform − direct)"]
    # Both sides measured in the same run; the platform cannot beat its upstream.
    assert 0 < p50["direct"] < p50["platform"]
    assert p50["added"] == pytest.approx(p50["platform"] - p50["direct"], abs=0.02)
    assert rows["errors"]["platform"] == 0
    assert document["scenarios"]["latency"]["rounds"][0]["platform"]["errors"] == 0
    table = stem.with_suffix(".md").read_text()
    assert "| chat, 1 client | latency p50" in table
    assert table in out.stdout


def test_bench_starts_the_platform_with_the_dockerfile_server_flags():
    cmd = next(
        line
        for line in (settings.BASE_DIR / "Dockerfile").read_text().splitlines()
        if line.startswith("CMD ")
    )
    words = shlex.split(json.loads(cmd[4:])[-1])
    assert words[:2] == ["exec", "uvicorn"]
    assert "--workers" in words
    for flag in PRODUCTION_FLAGS:
        assert flag in words
