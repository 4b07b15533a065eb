"""Benchmark: stream N judgments out of /api/judgments/export as CSV and JSONL; time, rows/s, server memory.

For each size it builds a throwaway database (SQLite file, or a fresh PostgreSQL database with --postgres),
fills it with bulk_create (a campaign, items with frozen 10-product lists on each side, judgments with marks,
reasons and comments), starts a real WSGI server process on it, downloads the export with a token like an
analyst would, and samples the server process's resident memory while it streams. Peak memory that stays flat
between sizes shows the export runs in constant memory.

    .venv/bin/python bench/export_speed.py                       # 50k and 200k rows on SQLite
    .venv/bin/python bench/export_speed.py --sizes 20000 --postgres postgres://postgres@127.0.0.1:5432/postgres
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
PRODUCTS = 2000
PER_SIDE = 10
ANNOTATORS = 25
JUDGMENTS_PER_ITEM = 3
BATCH = 5000


def bench_env(database_url: str, var_dir: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG",)}
    env.update({
        "DATABASE_URL": database_url, "VAR_DIR": var_dir, "SECRET_KEY": "bench-" + "k" * 50, "DEBUG": "false",
        "SECURE_SSL_REDIRECT": "false", "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "API_THROTTLE_USER": "100000/min", "DJANGO_SETTINGS_MODULE": "config.settings",
    })
    return env


# --------------------------------------------------------------------------------------------- data (child)


def populate(rows: int) -> str:
    """Fill the (migrated) database with `rows` judgments; returns an analyst's API token."""
    from bench.django_env import setup_django

    setup_django()
    from decimal import Decimal

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.utils import timezone

    from retrieval.models import Dataset, Product, Query, RetrieverVersion
    from core.api.tokens import token_issue
    from sbsapp.campaigns import product_snapshot
    from sbsapp.models import Campaign, Item, Judgment
    from core.roles import ANALYST, ANNOTATOR

    rng = random.Random(7)
    items_needed = -(-rows // JUDGMENTS_PER_ITEM)
    dataset = Dataset.objects.create(name="bench")
    Product.objects.bulk_create(
        (Product(dataset=dataset, product_id=f"SKU-{i:06d}", title=f"Product {i} stainless steel pan 28 cm",
                 brand=f"Brand {i % 40}", category="Home > Kitchen > Pans", price=Decimal("9.99") + i % 90,
                 description="A sturdy pan for every hob, induction included. " * 4) for i in range(PRODUCTS)),
        batch_size=BATCH,
    )
    products = list(Product.objects.filter(dataset=dataset).order_by("pk"))
    Query.objects.bulk_create(
        (Query(dataset=dataset, query_id=f"Q{i}", text=f"long tail query number {i} for pans without teflon",
               segment=("head", "torso", "tail")[i % 3], query_type=("plain", "negation", "knowledge")[i % 3])
         for i in range(items_needed)),
        batch_size=BATCH,
    )
    system_a = RetrieverVersion.objects.create(dataset=dataset, name="bench-bm25", kind="bm25", status="ready")
    system_b = RetrieverVersion.objects.create(dataset=dataset, name="bench-dense", kind="dense", status="ready")
    campaign = Campaign.objects.create(name="bench", system_a=system_a, system_b=system_b, status="active",
                                       sample_size=items_needed, judgments_per_item=JUDGMENTS_PER_ITEM)
    User = get_user_model()
    User.objects.bulk_create(User(username=f"ann{n:02d}", password="!") for n in range(ANNOTATORS))
    annotators = list(User.objects.filter(username__startswith="ann").order_by("username"))
    Group.objects.get_or_create(name=ANNOTATOR)[0].user_set.add(*annotators)
    analyst = User.objects.create(username="bench-analyst", password="!")  # unusable password: token only
    analyst.groups.add(Group.objects.get_or_create(name=ANALYST)[0])

    snapshots = [product_snapshot(p, 1.0) for p in products]
    queries = list(Query.objects.filter(dataset=dataset).order_by("pk"))
    for start in range(0, items_needed, BATCH):
        Item.objects.bulk_create(
            Item(campaign=campaign, query=query, query_text=query.text, segment=query.segment,
                 query_type=query.query_type, b_on_left=rng.random() < 0.5,
                 results_a=rng.sample(snapshots, PER_SIDE), results_b=rng.sample(snapshots, PER_SIDE),
                 judgments_count=JUDGMENTS_PER_ITEM)
            for query in queries[start:start + BATCH]
        )
    items = list(Item.objects.filter(campaign=campaign).values_list("pk", "b_on_left", "results_a"))
    now = timezone.now()
    made = 0
    batch = []
    for item_pk, b_on_left, results_a in items:
        for judge in rng.sample(annotators, JUDGMENTS_PER_ITEM):
            if made == rows:
                break
            choice = rng.randint(-2, 2)
            batch.append(Judgment(
                item_id=item_pk, campaign=campaign, annotator=judge, choice=choice,
                preference=-choice if b_on_left else choice, b_on_left=b_on_left,
                marks={str(results_a[0]["product"]): rng.randint(0, 3)} if rng.random() < 0.5 else {},
                reasons=["relevance"] if rng.random() < 0.6 else [], comment="fine" if rng.random() < 0.1 else "",
                time_on_item_ms=rng.randint(2000, 60000), submit_key=f"{item_pk}-{judge.pk}", created_at=now,
            ))
            made += 1
        if len(batch) >= BATCH:
            Judgment.objects.bulk_create(batch)
            batch = []
    Judgment.objects.bulk_create(batch)
    assert Judgment.objects.count() == rows, (Judgment.objects.count(), rows)
    return token_issue(user=analyst).key


def serve(port: int) -> None:
    """The server process: Django's WSGI application behind wsgiref (one request at a time, as measured)."""
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from django.core.wsgi import get_wsgi_application

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    make_server("127.0.0.1", port, get_wsgi_application(), handler_class=QuietHandler).serve_forever()


# ------------------------------------------------------------------------------------------- driver (parent)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_listening(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("server did not start")


def measure_export(*, port: int, pid: int, token: str, fmt: str) -> dict:
    import psutil
    import requests

    process = psutil.Process(pid)
    url = f"http://127.0.0.1:{port}/api/judgments/export"
    headers = {"Authorization": f"Token {token}"}
    # Warm-up on one annotator's rows (imports, URL resolver, DB connection, first chunks), so that the growth
    # measured below is what the full export adds.
    requests.get(url, params={"format": fmt, "annotator": "ann00"}, headers=headers).raise_for_status()
    rss_before = process.memory_info().rss
    cpu_before = sum(process.cpu_times()[:2])
    peak = [rss_before]
    streaming = threading.Event()
    streaming.set()

    def sample():
        while streaming.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    lines = size = 0
    with requests.get(url, params={"format": fmt}, headers=headers, stream=True) as response:
        response.raise_for_status()
        for chunk in response.iter_content(chunk_size=1 << 16):
            size += len(chunk)
            lines += chunk.count(b"\n")
    elapsed = time.perf_counter() - started
    cpu = sum(process.cpu_times()[:2]) - cpu_before
    streaming.clear()
    sampler.join()
    rows = lines - 1 if fmt == "csv" else lines  # CSV has a header (no field holds a newline here)
    return {"rows": rows, "seconds": elapsed, "rows_per_s": rows / elapsed, "mb": size / 1e6, "cpu_s": cpu,
            "rows_per_cpu_s": rows / cpu if cpu else float("nan"),
            "rss_before_mb": rss_before / 2**20, "peak_rss_mb": peak[0] / 2**20,
            "growth_mb": (peak[0] - rss_before) / 2**20}


def throwaway_database(postgres_url: str | None, workdir: str, size: int) -> tuple[str, callable]:
    if not postgres_url:
        return f"sqlite:///{workdir}/bench-{size}.sqlite3", lambda: None
    import psycopg

    name = f"bench_export_{os.getpid()}_{size}"
    admin = psycopg.connect(postgres_url, autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(postgres_url)

    def drop():
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    return urlunsplit(parts._replace(path=f"/{name}")), drop


def run_size(*, size: int, postgres_url: str | None, formats: list[str]) -> list[dict]:
    workdir = tempfile.mkdtemp(prefix="export-bench-")
    os.makedirs(os.path.join(workdir, "staticfiles"))
    database_url, drop = throwaway_database(postgres_url, workdir, size)
    env = bench_env(database_url, workdir)
    server = None
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=env,
                       check=True)
        t0 = time.perf_counter()
        token = subprocess.run([sys.executable, __file__, "--populate", str(size)], cwd=ROOT, env=env, check=True,
                               capture_output=True, text=True).stdout.strip().splitlines()[-1]
        print(f"  {size:,} judgments written in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        port = free_port()
        server = subprocess.Popen([sys.executable, __file__, "--serve", str(port)], cwd=ROOT, env=env)
        wait_until_listening(port, server)
        results = []
        for fmt in formats:
            result = measure_export(port=port, pid=server.pid, token=token, fmt=fmt)
            assert result["rows"] == size, (fmt, result["rows"], size)
            results.append({"size": size, "format": fmt, **result})
        return results
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        drop()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[50_000, 200_000])
    parser.add_argument("--formats", nargs="+", default=["csv", "jsonl"], choices=["csv", "jsonl"])
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL server URL; a throwaway database is made")
    parser.add_argument("--populate", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.populate is not None:
        print(populate(args.populate))
        return
    if args.serve is not None:
        from bench.django_env import setup_django

        setup_django()
        serve(args.serve)
        return
    backend = "PostgreSQL" if args.postgres else "SQLite"
    load = os.getloadavg()[0]
    print(f"Export benchmark on {backend}, {os.cpu_count()} CPU(s), load average {load:.1f} at start; "
          "server: Django WSGI behind wsgiref (single process)\n")
    print("| judgments | format | time (s) | rows/s | server CPU (s) | rows per CPU-s | MB sent "
          "| server RSS before (MiB) | peak RSS (MiB) | growth (MiB) |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size in args.sizes:
        for r in run_size(size=size, postgres_url=args.postgres, formats=args.formats):
            print(f"| {r['size']:,} | {r['format']} | {r['seconds']:.1f} | {r['rows_per_s']:,.0f} | {r['cpu_s']:.1f} "
                  f"| {r['rows_per_cpu_s']:,.0f} | {r['mb']:.0f} | {r['rss_before_mb']:.0f} | {r['peak_rss_mb']:.0f} "
                  f"| {r['growth_mb']:.1f} |", flush=True)
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end (wall-clock rows/s suffer on a shared machine; "
          "rows per CPU-second of the server process do not)")


if __name__ == "__main__":
    main()
