#!/usr/bin/env bash
# Audit the locked dependencies (requirements*.txt) for known vulnerabilities with
# pip-audit, whose advisory data comes from PyPI's JSON API. A machine that reaches
# only a package index mirror (no JSON API) cannot audit: a probe with a release that
# has published advisories tells which case this is, and the audit is then skipped
# with a clear line instead of reporting "no vulnerabilities" or failing on the
# network. Found vulnerabilities fail the run.
set -euo pipefail
cd "$(dirname "$0")/.."
AUDIT=.venv/bin/pip-audit
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Django 3.2.0 has many published advisories: a working service always reports some.
echo "django==3.2.0" > "$tmp/probe.txt"
if ! timeout 120 "$AUDIT" -r "$tmp/probe.txt" --no-deps --disable-pip --progress-spinner off \
    --timeout 20 -f json -o "$tmp/probe.json" >/dev/null 2>"$tmp/probe.err" \
  && [ ! -s "$tmp/probe.json" ]; then
  echo "pip-audit: SKIPPED — the probe failed:"; sed 's/^/  /' "$tmp/probe.err" | tail -5
  exit 0
fi
if ! grep -q '"vulns": *\[ *{' "$tmp/probe.json"; then
  echo "pip-audit: SKIPPED — its vulnerability service (PyPI's JSON API) is not reachable"
  echo "  from this machine (a probe of a release with known advisories found none)."
  exit 0
fi
for lock in requirements.txt requirements-dev.txt; do
  echo "pip-audit: $lock"
  timeout 900 "$AUDIT" -r "$lock" --disable-pip --require-hashes --progress-spinner off \
    --timeout 20 ${PIP_AUDIT_ARGS:-}
done
