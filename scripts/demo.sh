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

echo "== migrate"
$PY manage.py migrate --no-input -v 0

echo "== demo data set"
$PY manage.py build_demo_bundle --out "$VAR/demo_bundle"
$PY manage.py import_bundle "$VAR/demo_bundle" --format bundle --name demo

echo "== Celery worker (log: $VAR/log/worker.log)"
if [ -f "$VAR/worker.pid" ] && kill -0 "$(cat "$VAR/worker.pid")" 2>/dev/null; then
  echo "   already running (pid $(cat "$VAR/worker.pid"))"
else
  nohup .venv/bin/celery -A celery_worker worker -Q default,ml --concurrency 2 --loglevel INFO \
    >"$VAR/log/worker.log" 2>&1 &
  echo $! > "$VAR/worker.pid"
  echo "   started (pid $(cat "$VAR/worker.pid"))"
fi
stop_all() {
  [ -f "$VAR/worker.pid" ] && kill "$(cat "$VAR/worker.pid")" 2>/dev/null
  [ -n "${WEB_PID:-}" ] && kill "$WEB_PID" 2>/dev/null
  rm -f "$VAR/worker.pid"
}
trap stop_all EXIT INT TERM

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
