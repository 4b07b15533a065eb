"""Scale-out: the same catalogue encoding and synthesis job run by 1, then 2 (or more) real Celery worker processes.

    python bench/scale_out.py [--var var] [--workers 1,2] [--queries 60] [--encode-shard 500] [--chunk-size 8]

On a copy of the database `make demo` built under `--var` (its artifacts are read in place; the versions this
benchmark builds are deleted afterwards), for each worker count it starts that many `celery worker --pool solo`
processes on a private filesystem broker, then runs through them, one after the other:

- a catalogue encoding: a zero-shot build of the default encoder (MiniLM) over the demo catalogue, in shards of
  `--encode-shard` products (`ENCODE_SHARD_PRODUCTS`);
- a synthesis job with the demo's settings (4 candidates, K = 50, the best-measured judge, the teacher index) on
  `--queries` tail queries, in chunks of `--chunk-size` queries.

Each worker process gets `cores / workers` torch threads (OMP_NUM_THREADS), what one would configure on one machine.
Prints, per worker count, wall seconds from start to finish of each job (model loading in every worker included),
products/s, queries/min, and how many shards each worker ran.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


@contextmanager
def workers(count: int, *, env: dict, logs: Path):
    """`count` real workers on both queues, each ready before the block starts; stopped (TERM, then KILL) after."""
    procs = []
    with ExitStack() as stack:
        for i in range(count):
            log = stack.enter_context(open(logs / f"worker-{count}-{i}.log", "w"))
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "celery_worker", "worker", "-Q", "default,ml", "--pool", "solo",
                 "-n", f"scale{count}-{i}@%h", "--loglevel", "INFO", "--without-gossip", "--without-mingle",
                 "--without-heartbeat"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True))
        deadline = time.monotonic() + 180
        while not all("ready." in (logs / f"worker-{count}-{i}.log").read_text() for i in range(count)):
            if time.monotonic() > deadline or any(proc.poll() is not None for proc in procs):
                raise SystemExit(f"workers did not start; see {logs}")
            time.sleep(0.5)
        try:
            yield
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()


def wait(job, timeout: float = 3600):
    from jobs.models import Job

    deadline = time.monotonic() + timeout
    while Job.objects.get(pk=job.pk).is_active:
        if time.monotonic() > deadline:
            raise SystemExit(f"{job} did not finish within {timeout} s")
        time.sleep(0.5)
    job.refresh_from_db()
    if job.status != Job.Status.SUCCEEDED:
        raise SystemExit(f"{job} {job.status}: {job.error[:2000]}")
    return job


def per_worker(job) -> str:
    counts = Counter(job.shards.values_list("worker", flat=True))
    return " + ".join(str(n) for _, n in sorted(counts.items()))


def run(count: int, *, env: dict, logs: Path, queries: int, chunk_size: int) -> dict:
    from demo.pipeline import BASELINE, SYNTHESIS_CONFIG, TEACHER
    from retrieval.models import RetrieverVersion
    from retrieval.versions import version_create, version_path, version_start_build
    from synthesis.config import SynthesisConfig
    from synthesis.services import synthesis_job_start

    teacher, baseline = (RetrieverVersion.objects.get(name=name) for name in (TEACHER, BASELINE))
    with workers(count, env=env, logs=logs):
        version = version_create(dataset=teacher.dataset, name=f"scale-out-encode-{count}", kind="dense",
                                 config={"train": False, "max_seq_length": 64, "encode_batch_size": 64})
        started = time.perf_counter()
        encode = wait(version_start_build(version=version))
        encode_seconds = time.perf_counter() - started
        config = SynthesisConfig.model_validate({
            **SYNTHESIS_CONFIG, "max_queries": queries, "chunk_size": chunk_size, "dataset_id": teacher.dataset_id,
            "retriever_version_id": teacher.pk, "baseline_version_id": baseline.pk})
        started = time.perf_counter()
        synthesis = wait(synthesis_job_start(config=config))
        synthesis_seconds = time.perf_counter() - started
    shutil.rmtree(version_path(version), ignore_errors=True)
    products = encode.result["products"]
    done = synthesis.result["queries_done"]
    return {"workers": count, "products": products, "encode_s": encode_seconds,
            "products_per_s": products / encode_seconds, "encode_shards": per_worker(encode),
            "queries": done, "synthesis_s": synthesis_seconds, "queries_per_min": 60 * done / synthesis_seconds,
            "synthesis_shards": per_worker(synthesis), "kept_pairs": synthesis.result["kept_pairs"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--var", type=Path, default=ROOT / "var", help="the demo's folder")
    parser.add_argument("--workers", default="1,2", help="worker counts to run, in order")
    parser.add_argument("--queries", type=int, default=60, help="tail queries of the synthesis job")
    parser.add_argument("--encode-shard", type=int, default=500, help="products per encoding shard")
    parser.add_argument("--chunk-size", type=int, default=8, help="queries per synthesis shard")
    args = parser.parse_args()

    database = args.var / "db.sqlite3"
    if not database.exists():
        raise SystemExit(f"{database} is missing: run `make demo` first.")
    scratch = Path(tempfile.mkdtemp(prefix="scale-out-"))
    shutil.copy(database, scratch / "db.sqlite3")
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{scratch / 'db.sqlite3'}",
           "ARTIFACT_ROOT": str(args.var.resolve() / "artifacts"), "CELERY_BROKER_URL": "filesystem://",
           "CELERY_BROKER_FOLDER": str(scratch / "broker"), "ENCODE_SHARD_PRODUCTS": str(args.encode_shard),
           "CELERY_TASK_ALWAYS_EAGER": "false"}
    os.environ.update(env)
    from bench.django_env import setup_django

    setup_django()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)  # the copy, to this checkout's schema
    rows = []
    cores = os.cpu_count() or 1
    for count in [int(n) for n in args.workers.split(",")]:
        threads = str(max(1, cores // count))
        print(f"{count} worker(s), {threads} torch thread(s) each; load average {os.getloadavg()[0]:.2f}", flush=True)
        rows.append(run(count, env={**env, "OMP_NUM_THREADS": threads}, logs=scratch, queries=args.queries,
                        chunk_size=args.chunk_size))
    print("\n| workers | products | encoding s | products/s | shards per worker | queries | synthesis s | "
          "queries/min | shards per worker | kept pairs |\n|---:|---:|---:|---:|---|---:|---:|---:|---|---:|")
    for r in rows:
        print(f"| {r['workers']} | {r['products']} | {r['encode_s']:.1f} | {r['products_per_s']:.1f} | "
              f"{r['encode_shards']} | {r['queries']} | {r['synthesis_s']:.1f} | {r['queries_per_min']:.1f} | "
              f"{r['synthesis_shards']} | {r['kept_pairs']} |")
    print(f"\n{cores} cores; load average at the end {os.getloadavg()[0]:.2f}; logs and database copy in {scratch}")


if __name__ == "__main__":
    main()
