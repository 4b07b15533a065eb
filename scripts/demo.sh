#!/usr/bin/env bash
# `make demo`: the whole loop on the embedded defaults (SQLite + kombu filesystem broker, no services needed).
# Re-running reuses what is already built (imports are idempotent; the pipeline skips finished stages).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
export DEBUG=${DEBUG:-true}
VAR=${VAR_DIR:-var}
mkdir -p "$VAR/log"
# shellcheck source=scripts/demo_lib.sh
. scripts/demo_lib.sh

# One demo at a time: a second `make demo` would start a second worker on the same broker and database.
if demo_worker_alive "$VAR"; then
  echo "A demo worker is already running (pid $(cat "$VAR/worker.pid")): stop that demo with Ctrl-C in its" >&2
  echo "terminal, or run: kill -- -$(cat "$VAR/worker.pid")" >&2
  exit 1
fi
if demo_port_busy "$HOST" "$PORT"; then
  echo "Something already answers on http://$HOST:$PORT/ (a running demo?): stop it, or run make demo PORT=8001." >&2
  exit 1
fi

echo "== development settings"
demo_write_env "${DJANGO_ENV_FILE-.env}" "$PY"

echo "== migrate"
$PY manage.py migrate --no-input -v 0

echo "== demo data set"
$PY manage.py build_demo_bundle --out "$VAR/demo_bundle"
$PY manage.py import_bundle "$VAR/demo_bundle" --format bundle --name demo

echo "== Celery worker with beat (log: $VAR/log/worker.log)"
# -B: beat runs inside this single worker and sends the stale-job sweep every JOBS_SWEEP_SECONDS (config/celery.py).
demo_start_worker "$VAR" "$VAR/log/worker.log" .venv/bin/celery -A celery_worker worker -B \
  --schedule "$VAR/celerybeat-schedule" -Q default,ml --concurrency 2 --loglevel INFO
echo "   started (pid $(cat "$VAR/worker.pid"))"
WEB_PID=""
trap 'demo_stop "$VAR" "$WEB_PID"' EXIT
trap 'exit 130' INT TERM HUP  # exiting runs the EXIT trap: both processes are stopped, whatever state they are in

echo "== web server: http://$HOST:$PORT/ (log: $VAR/log/web.log)"
$PY manage.py runserver "$HOST:$PORT" --noreload >"$VAR/log/web.log" 2>&1 &
WEB_PID=$!

echo "== logins"
$PY manage.py demo_users

echo "== pipeline (each stage is a Celery job; watch them at http://$HOST:$PORT/jobs/)"
$PY manage.py demo_pipeline

echo
echo "== logins"
$PY manage.py demo_users
echo
echo "   Open http://$HOST:$PORT/  (Ctrl-C stops the web server and the worker)"
wait "$WEB_PID"
