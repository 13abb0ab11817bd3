#!/usr/bin/env bash
# Start the whole platform in the foreground: demo AI model, Celery worker (+beat), ASGI.
# Ctrl-C stops all of it.
set -euo pipefail
cd "$(dirname "$0")/.."
HOST="${1:-127.0.0.1}"
PORT="${2:-8000}"
BIN=.venv/bin
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

if [ -z "${SILICONFLOW_API_KEY:-}${DOUBAO_API_KEY:-}${OPENAI_API_KEY:-}" ]; then
  "$BIN/python" manage.py demo_llm &
  pids+=($!)
fi
"$BIN/celery" -A flowmatik worker -B --loglevel=WARNING --concurrency=2 &
pids+=($!)
echo
echo "  Flowmatik is starting on http://$HOST:$PORT/"
echo "  API docs: http://$HOST:$PORT/api/docs/   health: http://$HOST:$PORT/health"
echo "  Admin:    http://$HOST:$PORT/admin/ (make superuser creates admin@example.com)"
echo
"$BIN/uvicorn" flowmatik.asgi:application --host "$HOST" --port "$PORT" --lifespan on \
  --no-access-log --proxy-headers --forwarded-allow-ips "${FORWARDED_ALLOW_IPS:-127.0.0.1}" &
pids+=($!)
wait -n "${pids[@]}"
