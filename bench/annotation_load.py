"""Benchmark: many annotators judging, skipping and undoing at once against a real server (locust as load tool).

It builds a fresh database (PostgreSQL, or with `--engine sqlite` a new SQLite file as `make demo` uses), fills it
with an active campaign (frozen 10-product lists per side) and annotator accounts, starts gunicorn on it with
production settings, and lets locust users log in and judge continuously: each "judge-and-next" is the htmx POST
that stores a judgment and returns the next item (the thing an annotator waits for); some actions skip the item or
undo the last answer (judgment or skip), which is then answered again. Afterwards it checks the database against
what the clients were told: every judgment and skip confirmed to a client is stored once, nothing else is stored,
no item has more judgments than asked, and no annotator judged an item twice. With `--dashboards N`, N analysts
keep the campaign's dashboard open meanwhile (its live part polls every 10 s, as the page does), over a campaign
that `--prefill` fills with judgments made before the run; a Celery worker (`default` queue, solo pool) then runs
beside the server, since the dashboard's metrics are recomputed there and not in the web request.

    .venv/bin/python bench/annotation_load.py                   # PostgreSQL, 50 annotators, 60 s, think ~1 s
    .venv/bin/python bench/annotation_load.py --engine sqlite   # the same on a fresh SQLite file
    .venv/bin/python bench/annotation_load.py --users 50 --duration 120 --think 0.5 --workers 3 --threads 8
    .venv/bin/python bench/annotation_load.py --dashboards 20 --prefill 5000   # open dashboards on a big campaign

Targets: 50 annotators, judge-and-next p95 < 150 ms (issue 6); 0 server errors and 0 lost or duplicated answers on
both databases (issue 15); the same p95 with 20 dashboards open over 5,000 judgments (issue 16).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.annotation_load_db import PASSWORD  # noqa: E402  (after the path set-up)
REQUESTS = (("judge-and-next", "POST"), ("skip", "POST"), ("undo", "POST"), ("judge page", "GET"),
            ("dashboard poll", "GET"))
ENGINES = {"postgresql": "PostgreSQL", "sqlite": "SQLite (WAL)"}
INTEGRITY_CHECKS = ("lost", "unconfirmed_extra", "overfilled_items", "double_judged", "counter_mismatches",
                    "skips_lost", "skips_unconfirmed_extra")  # each must be 0
BENCH_SETTINGS = '''
from config.settings import *  # noqa
# Production settings served over plain HTTP on localhost: cookies without the Secure flag, no HSTS.
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_SSL_REDIRECT = False
SECURE_HSTS_SECONDS = 0
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
# Logins are not what is measured; a cheap hasher keeps seeding 50 accounts fast.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Persistent connections, as a production deployment would use.
DATABASES["default"]["CONN_MAX_AGE"] = 60
LOGGING["root"]["level"] = "WARNING"
'''


# ------------------------------------------------------------------------------------------------ the load


def server_cpu_seconds(pid: int) -> float:
    """CPU time used so far by the gunicorn master and its workers."""
    import psutil

    master = psutil.Process(pid)
    total = 0.0
    for process in [master, *master.children(recursive=True)]:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def run_load(*, host: str, server_pid: int, campaign_id: int, users: list[str], duration: float, think: float,
             undo_rate: float, skip_rate: float, spawn_rate: float,
             analysts: list[str] = ()) -> tuple[dict, list, list]:
    import gevent
    from locust import HttpUser, between, constant, task
    from locust.env import Environment

    confirmed: list[tuple[str, str]] = []  # (user, submit key) of each judgment a client was told is saved
    confirmed_skips: list[tuple[str, str]] = []  # the same for skips
    accounts, analyst_accounts = iter(users), iter(analysts)
    token_re = re.compile(r'hx-post="/sbs/judge/([^/"]+)/"')
    key_re = re.compile(r'name="submit_key" value="([^"]+)"')
    csrf_re = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')

    class Annotator(HttpUser):
        wait_time = between(think * 0.5, think * 1.5)

        def on_start(self):
            self.username = next(accounts)
            # (user, submit key, item token, skipped) of each answer confirmed as saved and not undone
            self.mine: list[tuple[str, str, str, bool]] = []
            self.rng = random.Random(self.username)
            page = self.client.get("/login/", name="login page")
            self.client.post("/login/", name="login", data={
                "username": self.username, "password": PASSWORD,
                "csrfmiddlewaretoken": csrf_re.search(page.text).group(1)})
            self.read(self.client.get(f"/sbs/campaigns/{campaign_id}/judge/", name="judge page").text)

        def read(self, html: str) -> None:
            token, key = token_re.search(html), key_re.search(html)
            self.token = token.group(1) if token else None
            self.key = key.group(1) if key else None

        def headers(self) -> dict:
            return {"HX-Request": "true", "X-CSRFToken": self.client.cookies.get("csrftoken", "")}

        @task
        def judge_and_next(self):
            if self.token is None:
                self.read(self.client.get(f"/sbs/campaigns/{campaign_id}/judge/", name="judge page").text)
                return
            if self.mine and self.rng.random() < undo_rate:
                with self.client.post(f"/sbs/campaigns/{campaign_id}/undo/", name="undo", headers=self.headers(),
                                      catch_response=True) as response:
                    if response.status_code == 200 and "taken back" in response.text:
                        self.read(response.text)
                        # The server took back our latest answer (judgment or skip), the one on the item shown.
                        for entry in [entry for entry in self.mine if entry[2] == self.token]:
                            self.mine.remove(entry)
                            (confirmed_skips if entry[3] else confirmed).remove(entry[:2])
                    elif response.status_code != 200:
                        response.failure(f"HTTP {response.status_code}: {response.error or ''}")
                return
            self.answer(skip=self.rng.random() < skip_rate)

        def answer(self, *, skip: bool) -> None:
            """Judge the item shown (or skip it); an answer confirmed as saved is remembered with its key."""
            form = {"submit_key": self.key}
            if not skip:
                form["choice"] = str(self.rng.randint(-2, 2))
                if self.rng.random() < 0.3:
                    form.update({"reasons": ["relevance"], "mark-l-0": "3", "mark-r-1": "1", "comment": "bench"})
            path, name = (f"/sbs/judge/{self.token}/skip/", "skip") if skip else (f"/sbs/judge/{self.token}/",
                                                                               "judge-and-next")
            with self.client.post(path, data=form, headers=self.headers(), name=name, catch_response=True) as response:
                if response.status_code != 200 or 'id="judge-panel"' not in response.text:
                    response.failure(f"HTTP {response.status_code}: {response.error or ''}")
                    return
                if ("Skipped." if skip else "Saved.") in response.text:
                    self.mine.append((self.username, self.key, self.token, skip))
                    (confirmed_skips if skip else confirmed).append((self.username, self.key))
                elif "error" in response.text and 'role="alert"' in response.text:
                    response.failure(f"the server refused the {name}")
                self.read(response.text)

    class Analyst(HttpUser):
        """An open dashboard: the page once, then its live metrics every 10 s (hx-trigger="every 10s")."""
        wait_time = constant(10)

        def on_start(self):
            page = self.client.get("/login/", name="login page")
            self.client.post("/login/", name="login", data={
                "username": next(analyst_accounts), "password": PASSWORD,
                "csrfmiddlewaretoken": csrf_re.search(page.text).group(1)})
            self.client.get(f"/sbs/campaigns/{campaign_id}/", name="dashboard page")

        @task
        def poll(self):
            with self.client.get(f"/sbs/campaigns/{campaign_id}/live/", headers={"HX-Request": "true"},
                                 name="dashboard poll", catch_response=True) as response:
                if response.status_code != 200 or 'id="dashboard-metrics"' not in response.text:
                    response.failure(f"HTTP {response.status_code}: {response.error or ''}")

    # stop_timeout: at the end every user finishes the request it is in, so each judgment the server stored
    # was also confirmed (or refused) to a client; nothing is cut off mid-flight. Analysts start first.
    env = Environment(user_classes=[Analyst, Annotator] if analysts else [Annotator], host=host, stop_timeout=60)
    Analyst.fixed_count, Annotator.fixed_count = len(analysts), len(users)
    runner = env.create_local_runner()
    total = len(users) + len(analysts)
    runner.start(total, spawn_rate=spawn_rate)
    gevent.sleep(total / spawn_rate + 1)  # everyone is logged in and judging
    env.stats.reset_all()
    confirmed_before_window = len(confirmed)
    cpu_before = server_cpu_seconds(server_pid)
    gevent.sleep(duration)
    cpu_used = server_cpu_seconds(server_pid) - cpu_before
    runner.stop()
    runner.quit()
    stats = {}
    for name, method in REQUESTS:
        entry = env.stats.get(name, method)
        if entry.num_requests:
            stats[name] = {
                "requests": entry.num_requests, "failures": entry.num_failures,
                "median_ms": entry.get_response_time_percentile(0.5),
                "p95_ms": entry.get_response_time_percentile(0.95),
                "p99_ms": entry.get_response_time_percentile(0.99), "mean_ms": round(entry.avg_response_time, 1),
                "max_ms": round(entry.max_response_time, 1), "per_s": round(entry.num_requests / duration, 1),
            }
    stats["_all_failures"] = env.stats.total.num_failures
    stats["_errors"] = [str(e.error)[:200] for e in env.stats.errors.values()]
    stats["_confirmed_in_window"] = len(confirmed) - confirmed_before_window
    handled = sum(env.stats.get(n, m).num_requests for n, m in REQUESTS)
    stats["_server_cpu_ms_per_request"] = round(1000 * cpu_used / handled, 1) if handled else None
    return stats, [list(pair) for pair in confirmed], [list(pair) for pair in confirmed_skips]


# ----------------------------------------------------------------------------------------------- orchestration


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fresh_database(admin_url: str, name: str) -> str:
    import psycopg

    parts = urlsplit(admin_url)
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


def child(env: dict, function: str, **kwargs) -> dict:
    code = (f"import json, sys; sys.path.insert(0, {str(ROOT)!r}); from bench.annotation_load_db import {function}; "
            f"print('RESULT' + json.dumps({function}(**json.loads(sys.stdin.read()))))")
    # through stdin: the confirmed ids of a long run overflow a command line
    out = subprocess.run([sys.executable, "-c", code], input=json.dumps(kwargs), env=env, cwd=ROOT,
                         capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{function} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.split("RESULT", 1)[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60, help="measured seconds (after everyone logged in)")
    parser.add_argument("--think", type=float, default=1.0, help="mean seconds an annotator looks at an item")
    parser.add_argument("--undo-rate", type=float, default=0.05, help="share of actions that undo the last answer")
    parser.add_argument("--skip-rate", type=float, default=0.05, help="share of actions that skip the item")
    parser.add_argument("--items", type=int, default=3000)
    parser.add_argument("--judgments-per-item", type=int, default=3)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per gunicorn worker")
    parser.add_argument("--engine", choices=("postgresql", "sqlite"), default="postgresql",
                        help="PostgreSQL (a fresh database on --postgres) or SQLite (a fresh file, as `make demo`)")
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--database", default="sbs_annotation_bench", help="name of the PostgreSQL database")
    parser.add_argument("--dashboards", type=int, default=0, help="analysts with the campaign's dashboard open")
    parser.add_argument("--prefill", type=int, default=0, help="judgments already in the campaign before the run")
    parser.add_argument("--json", action="store_true", help="print the raw results as JSON too")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="sbs-annotation-bench-"))
    (tmp / "annotation_bench_settings.py").write_text(BENCH_SETTINGS)
    database_url = (f"sqlite:///{tmp / 'annotation-bench.sqlite3'}" if args.engine == "sqlite"
                    else fresh_database(args.postgres, args.database))
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG",)}
    env.update({
        "DATABASE_URL": database_url, "SECRET_KEY": "bench-" + "k" * 50, "DEBUG": "false",
        "SECURE_SSL_REDIRECT": "false", "ALLOWED_HOSTS": "127.0.0.1,localhost", "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "annotation_bench_settings",
        "PYTHONPATH": os.pathsep.join([str(tmp), str(ROOT), env.get("PYTHONPATH", "")]),
        # the run's own broker folder and dashboard cache (not the demo's under var/)
        "CELERY_BROKER_FOLDER": str(tmp / "celery"), "DASHBOARD_CACHE_URL": f"filecache://{tmp / 'dashboards'}",
    })
    subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"], env=env, cwd=ROOT, check=True)
    seeded = child(env, "seed", items=args.items, users=args.users, judgments_per_item=args.judgments_per_item,
                   prefill=args.prefill, analysts=args.dashboards)

    # Open dashboards have their metrics recomputed by a Celery worker (`sbsapp.dashboard_cache`), as deployed.
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "celery_worker", "worker", "-Q", "default", "--pool", "solo",
         "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        env=env, cwd=ROOT, start_new_session=True, stdout=(tmp / "worker.log").open("w"),
        stderr=subprocess.STDOUT) if args.dashboards else None
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "config.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", str(args.workers), "--threads", str(args.threads), "--worker-class", "gthread",
         "--timeout", "120", "--backlog", "2048", "--log-level", "warning"],
        env=env, cwd=ROOT,
    )
    try:
        import requests

        for _ in range(120):
            try:
                if requests.get(f"http://127.0.0.1:{port}/login/", timeout=15).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.5)
        else:
            raise SystemExit("the server did not start")
        stats, confirmed, confirmed_skips = run_load(
            host=f"http://127.0.0.1:{port}", server_pid=server.pid, campaign_id=seeded["campaign"],
            users=seeded["users"], duration=args.duration, think=args.think, undo_rate=args.undo_rate,
            skip_rate=args.skip_rate, spawn_rate=10, analysts=seeded["analysts"])
    finally:
        server.terminate()
        server.wait(timeout=30)
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)
    checks = child(env, "verify", campaign_id=seeded["campaign"], confirmed=confirmed, confirmed_skips=confirmed_skips)

    if worker is not None:
        log = (tmp / "worker.log").read_text()
        stats["_worker_recomputations"] = sum("recompute_dashboard_metrics[" in line and " succeeded " in line
                                              for line in log.splitlines())
    print_report(args, stats, checks)
    if args.json:
        print(json.dumps({"stats": stats, "checks": checks}, indent=2))
    judge = stats.get("judge-and-next", {})
    ok = stats["_all_failures"] == 0 and not any(checks[key] for key in INTEGRITY_CHECKS)
    print(f"\nTarget p95 < 150 ms: {'met' if judge.get('p95_ms', 1e9) < 150 else 'NOT met'}; "
          f"integrity: {'ok' if ok else 'FAILED'}")
    return 0 if ok else 1


def print_report(args, stats: dict, checks: dict) -> None:
    cpu = os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    dashboards = f", {args.dashboards} open dashboards" if args.dashboards else ""
    prefill = f", {args.prefill} judgments made before the run" if args.prefill else ""
    print(f"\n## Annotation load: {args.users} annotators{dashboards}{prefill}, {args.duration:.0f} s, think time "
          f"~{args.think} s, gunicorn {args.workers}x{args.threads} gthread, {ENGINES[args.engine]} ({cpu} CPUs, "
          f"load avg {load:.1f} at end)\n")
    print("| request | requests | per s | failures | median ms | p95 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, _method in REQUESTS:
        row = stats.get(name)
        if row:
            print(f"| {name} | {row['requests']} | {row['per_s']} | {row['failures']} | {row['median_ms']} | "
                  f"{row['p95_ms']} | {row['p99_ms']} | {row['max_ms']} |")
    print("\n| database check | value |\n|---|---:|")
    for key in ("confirmed", "stored", "lost", "unconfirmed_extra", "duplicate_confirmations", "double_judged",
                "overfilled_items", "counter_mismatches", "skips_confirmed", "skips_stored", "skips_lost",
                "skips_unconfirmed_extra", "items_complete", "judgments_in_campaign", "annotators"):
        print(f"| {key.replace('_', ' ')} | {checks[key]} |")
    database = "SQLite included: it runs inside them" if args.engine == "sqlite" else "PostgreSQL not included"
    print(f"\nserver CPU per request (gunicorn processes, {database}): {stats['_server_cpu_ms_per_request']} ms")
    if "_worker_recomputations" in stats:
        print(f"dashboard metrics recomputed by the Celery worker: {stats['_worker_recomputations']} times")
    if stats["_errors"]:
        print("\nerrors:", *stats["_errors"], sep="\n  ")


if __name__ == "__main__":
    from gevent import monkey  # locust's clients are greenlets; patch before anything opens a socket

    monkey.patch_all()
    sys.exit(main())
