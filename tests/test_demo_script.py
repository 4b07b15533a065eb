"""`make demo`'s shell side (scripts/demo.sh, scripts/demo_lib.sh): dev settings, one demo at a time, stopping."""
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIB = ROOT / "scripts" / "demo_lib.sh"


def bash(script: str, *args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run `script` in bash with the library sourced and the demo script's strict options."""
    return subprocess.run(["bash", "-c", f"set -euo pipefail\n. {LIB}\n{script}", "bash", *args], cwd=ROOT,
                          env=env or dict(os.environ), capture_output=True, text=True, timeout=timeout)


def running(pid: int) -> bool:
    """A live process (a zombie waiting for its parent to reap it counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG", "SECURE_SSL_REDIRECT")}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env={**base, **env},
                          capture_output=True, text=True, timeout=300)


def test_the_env_file_make_demo_writes_gives_manage_py_the_development_settings(tmp_path):
    env_file = tmp_path / ".env"
    first = bash('demo_write_env "$1" "$2"', str(env_file), sys.executable)
    assert first.returncode == 0, first.stderr
    text = env_file.read_text()
    assert "DEBUG=true" in text.splitlines()
    key = next(line for line in text.splitlines() if line.startswith("SECRET_KEY="))
    assert len(key) > len("SECRET_KEY=") + 40
    assert env_file.stat().st_mode & 0o077 == 0  # only its owner reads the key
    again = bash('demo_write_env "$1" "$2"', str(env_file), sys.executable)
    assert again.returncode == 0 and env_file.read_text() == text  # an existing file is kept as it is

    ok = manage("check", DJANGO_ENV_FILE=str(env_file), VAR_DIR=str(tmp_path))
    assert ok.returncode == 0, ok.stderr
    # Without the file (production) DEBUG is off and the key must come from the environment.
    strict = manage("check", DJANGO_ENV_FILE=str(tmp_path / "absent.env"), VAR_DIR=str(tmp_path))
    assert strict.returncode != 0
    assert "SECRET_KEY must be set in the environment when DEBUG is off" in strict.stderr


def test_stopping_with_a_dead_worker_still_stops_the_web_server(tmp_path):
    port = free_port()
    script = """
        true & dead=$!; wait "$dead"; echo "$dead" >"$1/worker.pid"   # the worker has already exited
        "$3" -m http.server --bind 127.0.0.1 "$2" >/dev/null 2>&1 & web=$!
        for _ in $(seq 100); do demo_port_busy 127.0.0.1 "$2" && break; sleep 0.1; done
        demo_port_busy 127.0.0.1 "$2"
        echo "web $web"
        demo_stop "$1" "$web"
        echo "stopped"
        if demo_port_busy 127.0.0.1 "$2"; then echo "port still busy"; exit 1; fi
    """
    result = bash(script, str(tmp_path), str(port), sys.executable)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "stopped" in result.stdout
    web = int(result.stdout.split("web ", 1)[1].split()[0])
    assert not running(web)
    assert not (tmp_path / "worker.pid").exists()


def test_stopping_signals_the_worker_whole_process_group(tmp_path):
    script = """
        demo_start_worker "$1" "$1/worker.log" \
          bash -c 'sleep 300 & echo $! >"$0/pool"; exec -a celery-dummy sleep 301' "$1"
        for _ in $(seq 100); do [ -s "$1/pool" ] && break; sleep 0.1; done
        demo_worker_alive "$1"
        cat "$1/worker.pid" "$1/pool"
        demo_stop "$1" ""
        demo_stop "$1" ""   # twice (a signal trap, then the EXIT trap) is harmless
    """
    result = bash(script, str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    leader, pool = (int(line) for line in result.stdout.split()[:2])
    deadline = time.monotonic() + 10
    while (running(leader) or running(pool)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not running(leader) and not running(pool)
    assert not (tmp_path / "worker.pid").exists()


def _second_demo(tmp_path, port: int) -> subprocess.CompletedProcess:
    # PY=false: were the check to let it through, the script would stop at its first Python step.
    env = {**os.environ, "VAR_DIR": str(tmp_path), "HOST": "127.0.0.1", "PORT": str(port), "PY": "false",
           "DJANGO_ENV_FILE": ""}
    return subprocess.run(["bash", str(ROOT / "scripts" / "demo.sh")], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def test_a_second_demo_refuses_to_start_beside_a_running_worker(tmp_path):
    worker = subprocess.Popen(["bash", "-c", "exec -a celery-dummy sleep 300"], start_new_session=True)
    try:
        (tmp_path / "worker.pid").write_text(f"{worker.pid}\n")
        result = _second_demo(tmp_path, free_port())
    finally:
        worker.kill()
        worker.wait()
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"A demo worker is already running (pid {worker.pid})" in result.stderr
    assert "migrate" not in result.stdout


def test_a_second_demo_refuses_a_busy_port_and_ignores_a_stale_pid_file(tmp_path):
    (tmp_path / "worker.pid").write_text("999999999\n")  # no such process: stale, not a running demo
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        result = _second_demo(tmp_path, server.getsockname()[1])
    assert result.returncode == 1, result.stdout + result.stderr
    assert "already answers on http://127.0.0.1:" in result.stderr
    assert "already running" not in result.stderr
