"""Synthesis speed on this CPU: hf-local rewrites per second at batch sizes 1/8/32, and original queries per
minute with 4 candidates (target >= 30/min), with the judge's cost per query beside it.

    python bench/synthesis_speed.py [--batch-sizes 1,8,32] [--candidates 4] [--judge-products 100]

Queries: the tail queries of the Etsy sample in ../shared/data/etsy_queries (read in place), or built-in
knowledge-intensive tail queries when it is absent. Batch size = queries per `generate` call; each query gets
`--candidates` sampled answers, so a batch of 32 generates 128 sequences. The rewriter is the shipped SmolLM2
converted once under ARTIFACT_ROOT (the conversion time is printed when it happens). The judge row times the
MiniLM cross-encoder scoring `--judge-products` (query, product) pairs, what one query's union of candidates
costs at small K; retrieval itself (BM25 / FAISS) is milliseconds and is not timed here.

    python bench/synthesis_speed.py --demo-job [--var var] [--queries 60]

End to end instead: a whole synthesis job (mining, model loading, rewrite -> retrieve -> judge -> write per
chunk) with the demo's settings (4 candidates, K = 50, the data set's best-measured judge, the teacher index) on a
copy of the database `make demo` built under `--var` (its artifacts are read in place, nothing is written to the
demo), run in this process. Prints queries per minute for the whole job and where the time went per stage.
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
ETSY = ROOT.parent / "shared" / "data" / "etsy_queries" / "final_queries.csv"
FALLBACK = ["gift for a dad who likes fishing", "shampoo without sulfates for curly hair",
            "cheaper alternative to airpods", "what to wear for a winter hike", "tent and sleeping bag",
            "something to keep coffee hot at my desk", "toy that keeps a cat busy", "pasta safe for coeliacs"]


def tail_queries(count: int) -> list[str]:
    texts = []
    if ETSY.exists():
        with ETSY.open(newline="", encoding="utf-8") as handle:
            texts = [row["Query"] for row in csv.DictReader(handle) if row.get("Frequency") == "Tail"]
    texts = texts or FALLBACK
    return [texts[i % len(texts)] for i in range(count)]


def demo_job(var: Path, queries: int) -> None:
    """One synthesis job end to end on a copy of the demo's database (see the module docstring)."""
    import shutil
    import tempfile

    database = var / "db.sqlite3"
    if not database.exists():
        raise SystemExit(f"{database} is missing: run `make demo` first.")
    copy = Path(tempfile.mkdtemp(prefix="synthesis-speed-")) / "db.sqlite3"
    shutil.copy(database, copy)
    os.environ.update({"DATABASE_URL": f"sqlite:///{copy}", "ARTIFACT_ROOT": str(var / "artifacts"),
                       "CELERY_TASK_ALWAYS_EAGER": "true"})
    from bench.django_env import setup_django

    setup_django()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)  # the copy, to this checkout's schema
    from demo.pipeline import BASELINE, SYNTHESIS_CONFIG, TEACHER
    from retrieval.models import RetrieverVersion
    from synthesis.config import SynthesisConfig
    from synthesis.services import synthesis_job_start

    teacher, baseline = (RetrieverVersion.objects.get(name=name) for name in (TEACHER, BASELINE))
    config = SynthesisConfig.model_validate({
        **SYNTHESIS_CONFIG, "max_queries": queries, "dataset_id": teacher.dataset_id,
        "retriever_version_id": teacher.pk, "baseline_version_id": baseline.pk})
    print(f"load average {os.getloadavg()[0]:.2f}", flush=True)
    started = time.perf_counter()
    job = synthesis_job_start(config=config)
    whole = time.perf_counter() - started
    job.refresh_from_db()
    if job.status != "succeeded":
        raise SystemExit(f"the job failed: {job.error}")
    timings, judge = job.result["timings"], job.result["components"]["judge"]["name"]
    done = job.result["queries_done"]
    print(f"\n| queries | whole job s | queries/min (whole job) | chunks s | queries/min (chunks) | rewrite s | "
          "retrieve s | judge s | write s | kept pairs |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    stages = timings["stages"]
    print(f"| {done} | {whole:.1f} | {60 * done / whole:.1f} | {timings['seconds']} | {timings['queries_per_min']} | "
          f"{stages['rewrite']} | {stages['retrieve']} | {stages['judge']} | {stages['write']} | "
          f"{job.result['kept_pairs']} |")
    print(f"\njudge: {judge}; {config.candidates} candidates, K = {config.retrieve_k}; load average at the end "
          f"{os.getloadavg()[0]:.2f} (target >= 30 queries/min for the whole job)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-sizes", default="1,8,32")
    parser.add_argument("--candidates", type=int, default=4)
    parser.add_argument("--batches", type=int, default=1, help="generate calls timed per batch size")
    parser.add_argument("--judge-products", type=int, default=100)
    parser.add_argument("--demo-job", action="store_true", help="time a whole synthesis job on the demo's data")
    parser.add_argument("--var", type=Path, default=ROOT / "var", help="the demo's folder (with --demo-job)")
    parser.add_argument("--queries", type=int, default=60, help="tail queries of the job (with --demo-job)")
    args = parser.parse_args()
    if args.demo_job:
        return demo_job(args.var, args.queries)

    from bench.django_env import setup_django

    setup_django()
    import torch

    from synthesis.judging.judges import CrossEncoderJudge, load_cross_encoder
    from synthesis.rewriter.backends import converted_default_folder, load_rewriter
    from retrieval.encoders import resolve_encoder

    print(f"torch threads: {torch.get_num_threads()}, load average: {os.getloadavg()[0]:.2f}", flush=True)
    started = time.perf_counter()
    converted = (converted_default_folder() / "config.json").exists()
    rewriter = load_rewriter(device="cpu")
    print(f"rewriter load: {time.perf_counter() - started:.1f} s"
          f"{'' if converted else ' (includes the one-time GGUF conversion)'}", flush=True)
    rewriter.rewrite(tail_queries(1), 1)  # warm-up

    rows = []
    for batch_size in [int(b) for b in args.batch_sizes.split(",")]:
        rewriter.batch_size = batch_size
        queries = tail_queries(batch_size * args.batches)
        started = time.perf_counter()
        result = rewriter.rewrite(queries, args.candidates)
        seconds = time.perf_counter() - started
        rewrites = sum(len(r) for r in result)
        sequences = len(queries) * args.candidates
        rows.append((batch_size, len(queries), sequences, rewrites, seconds))
        print(f"batch {batch_size}: {seconds:.1f} s, load average {os.getloadavg()[0]:.2f}", flush=True)

    judge = CrossEncoderJudge(model=load_cross_encoder(resolve_encoder(None), device="cpu", num_labels=1))
    products = [f"product title number {i} | brand: maker | category: Home > Kitchen > Mugs" for i in
                range(args.judge_products)]
    judge.score("warm up", products[:8])
    started = time.perf_counter()
    judge.score("something to keep coffee hot at my desk", products)
    judge_seconds = time.perf_counter() - started

    print(f"\n| batch size (queries) | sequences | rewrites kept | seconds | sampled rewrites/s | kept rewrites/s "
          f"| queries/min ({args.candidates} candidates, rewriting only) |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for batch_size, n_queries, sequences, rewrites, seconds in rows:
        print(f"| {batch_size} | {sequences} | {rewrites} | {seconds:.1f} | {sequences / seconds:.2f} | "
              f"{rewrites / seconds:.2f} | {60 * n_queries / seconds:.1f} |")
    best = max(rows, key=lambda r: r[1] / r[4])
    per_query_rewrite = best[4] / best[1]
    per_query_total = per_query_rewrite + judge_seconds
    print(f"\njudge (MiniLM cross-encoder): {args.judge_products} products in {judge_seconds:.2f} s")
    print(f"original queries per minute with {args.candidates} candidates at batch {best[0]}, rewriting + judging "
          f"{args.judge_products} products per query: {60 / per_query_total:.1f} (target >= 30)")


if __name__ == "__main__":
    main()
