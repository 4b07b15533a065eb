# Functions `scripts/demo.sh` uses (sourced; tests/test_demo_script.py sources it too). Bash; safe under `set -eu`.

# Write a development settings file (DEBUG=true, a generated SECRET_KEY) when none exists, so that a plain
# `.venv/bin/python manage.py …` in this checkout gets the demo's settings. An existing file is left as it is.
# Production has no such file: DEBUG stays off and SECRET_KEY must come from the environment.
demo_write_env() {  # FILE PYTHON
  local file=$1 py=$2 key
  [ -n "$file" ] || return 0
  if [ -e "$file" ]; then
    echo "   $file exists (left as it is)"
    return 0
  fi
  key=$("$py" -c 'import secrets; print(secrets.token_urlsafe(50))')
  (
    umask 077
    printf '%s\n' "# Written by \`make demo\`: development settings for this checkout only (gitignored)." \
      "# The environment wins over this file; production sets DEBUG=false and its own SECRET_KEY." \
      "DEBUG=true" "SECRET_KEY=$key" >"$file"
  )
  echo "   wrote $file (DEBUG=true and a generated development SECRET_KEY)"
}

# True when the pid file names a live Celery worker, or its process group still holds one (pool processes outlive
# a dead leader). A stale pid now used by another program does not count.
demo_worker_alive() {  # VAR_DIR
  local pid
  [ -f "$1/worker.pid" ] || return 1
  pid=$(cat "$1/worker.pid" 2>/dev/null || true)
  case "$pid" in '' | *[!0-9]*) return 1 ;; esac
  ps -eo pid=,pgid=,args= 2>/dev/null |
    awk -v p="$pid" '($1 == p || $2 == p) && /celery/ { found = 1 } END { exit !found }'
}

# True when something already answers on HOST:PORT (another demo's web server, or any other program).
demo_port_busy() {  # HOST PORT
  timeout 2 bash -c ': >"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null
}

# Start the worker in its own session and process group (its pool processes included), so that stopping can
# signal the whole group and a terminal hang-up does not leave part of it behind. Writes VAR_DIR/worker.pid.
demo_start_worker() {  # VAR_DIR LOG COMMAND...
  local var=$1 log=$2
  shift 2
  if command -v setsid >/dev/null 2>&1; then
    setsid nohup "$@" >"$log" 2>&1 </dev/null &
  else
    nohup "$@" >"$log" 2>&1 </dev/null &
  fi
  echo $! >"$var/worker.pid"
}

# Signal a process group (falling back to the single process), wait up to GRACE seconds, then kill it.
_demo_kill() {  # PID GRACE
  local pid=$1 grace=$2 waited=0
  case "$pid" in '' | *[!0-9]*) return 0 ;; esac
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || return 0
  while { kill -0 -- "-$pid" 2>/dev/null || kill -0 "$pid" 2>/dev/null; } && [ "$waited" -lt $((grace * 5)) ]; do
    sleep 0.2
    waited=$((waited + 1))
  done
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
}

# Stop the worker (its whole process group) and the web server. Every step tolerates a process that is already
# gone, so the web server is stopped (and its port freed) even when the worker died first. Safe to call twice.
demo_stop() {  # VAR_DIR [WEB_PID]
  local var=$1 web=${2:-} pid=""
  [ -f "$var/worker.pid" ] && pid=$(cat "$var/worker.pid" 2>/dev/null || true)
  [ -n "$web" ] && _demo_kill "$web" "${DEMO_STOP_GRACE:-5}"
  if demo_worker_alive "$var"; then  # a pid file naming some other program (a reused pid) is left alone
    _demo_kill "$pid" "${DEMO_STOP_GRACE:-10}"
  fi
  rm -f "$var/worker.pid"
  return 0
}
