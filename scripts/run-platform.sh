#!/usr/bin/env bash
# Start the whole platform in the foreground: demo AI model, Celery worker (+beat), ASGI.
# Ctrl-C stops all of it.
set -euo pipefail
cd "$(dirname "$0")/.."
HOST="${1:-127.0.0.1}"
PORT="${2:-8000}"
BIN=.venv/bin
# Everything printed (the JSON log lines included) also goes to the file `make logs-tail` reads.
LOG_FILE="${LOG_FILE:-var/log/platform.log}"
mkdir -p "$(dirname "$LOG_FILE")"
exec > >(tee -a "$LOG_FILE") 2>&1
pids=()
# Wait for our own children only: a bare `wait` would also wait for the log's `tee`,
# which ends only after this script does.
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ ${#pids[@]} -eq 0 ] || wait "${pids[@]}" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

eval "$("$BIN/python" scripts/ports.py "$HOST" "$PORT")"
if [ "$WEB_PORT_BUSY" = 1 ]; then
  echo "error: port $PORT ($HOST) is taken; start on another one: make run PORT=8001"
  exit 1
fi
if [ -z "${SILICONFLOW_API_KEY:-}${DOUBAO_API_KEY:-}${OPENAI_API_KEY:-}" ]; then
  if [ -z "$DEMO_PORT" ]; then echo "$DEMO_NOTE"; exit 1; fi
  [ -n "$DEMO_NOTE" ] && echo "$DEMO_NOTE"
  export AI_DEMO_PORT="$DEMO_PORT"  # the worker and the web process call it there
  "$BIN/python" manage.py demo_llm --port "$DEMO_PORT" &
  pids+=($!)
fi
"$BIN/celery" -A flowmatik worker -B --loglevel=WARNING --concurrency=2 &
pids+=($!)
echo
echo "  Flowmatik is starting on http://$HOST:$PORT/"
echo "  API docs: http://$HOST:$PORT/api/docs/   health: http://$HOST:$PORT/health"
echo "  Admin:    http://$HOST:$PORT/admin/ (make superuser creates admin@example.com)"
echo
# One web worker per core (WEB_CONCURRENCY overrides); the processes share the
# database, the cache and the channel relay, so they behave as one platform.
"$BIN/uvicorn" flowmatik.asgi:application --host "$HOST" --port "$PORT" --lifespan on \
  --workers "${WEB_CONCURRENCY:-$(nproc 2>/dev/null || echo 2)}" --loop uvloop --http httptools \
  --no-access-log --proxy-headers --forwarded-allow-ips "${FORWARDED_ALLOW_IPS:-127.0.0.1}" \
  --ws-per-message-deflate false &
pids+=($!)
wait -n "${pids[@]}"
