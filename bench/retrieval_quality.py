"""Retrieval quality benchmark: BM25 vs the zero-shot encoder vs the log-trained baseline on a bundle's `test` labels.

    python bench/retrieval_quality.py --bundle DIR [--out FILE.json] [--samples 2048] [--epochs 1]
        [--system LABEL=KIND:JSON ...]

Imports the bundle into a fresh throw-away database, builds each system as a retriever version (through the
same services and jobs as the app, run in-process), evaluates it on the `test` labels and prints markdown
tables: metrics for all, head, torso and tail queries (rows: systems), nDCG@10 and Recall@100 by query type,
and build timings.

Systems: `bm25`, `dense-zero-shot` (the base encoder as shipped), `dense-logs` (the encoder fine-tuned on the
bundle's click/purchase logs with in-batch + one random negative, InfoNCE, temperature 0.05), and
`hybrid-bm25-logs` (reciprocal rank fusion of BM25 and dense-logs). `--system` adds rows, e.g.
`--system 'dense-hard=dense:{"hard_negatives": {"from_version": "bench-bm25"}}'` (version names are
`bench-<label>`); the synthesis benchmark adds its treatment row the same way.

Both dense systems encode with the same `--max-seq-length` (default 64 tokens) so they differ only in training.

`--synthesis` adds the synthesis protocol (arXiv 2602.23620) after those systems, every stage timed:

1. a cross-encoder relevance judge trained on `train` labels and logs (`--judge-examples`, `--judge-epochs`);
2. a synthesis job over up to `--max-queries` tail queries: the shipped SmolLM2 rewrites each `--candidates` times,
   the hybrid retrieves `--retrieve-k` products per rewrite, the judge keeps (at its calibrated threshold)
   products relevant to the ORIGINAL query (nothing here reads a `test` label);
3. `treatment`: dense-logs' recipe (same examples per epoch) on logs + the job's (original query, product) pairs;
4. `ablation-no-judge`: the same rewrites and retrieval, no judge: the `max_pairs_per_query` best-ranked
   products of each query's rewrites (same cap, same logged-pair filter);
5. `ablation-rewrite-pairs`: the judge-kept products paired with the REWRITES that found them instead of the
   original query (each rewrite becomes a query row without labels, so it is never evaluated).
"""
from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.django_env import setup_django  # noqa: E402  (after the path set-up)


def default_systems(args) -> list[tuple[str, str, dict]]:
    dense = {"max_seq_length": args.max_seq_length, "encode_batch_size": 64}
    trained = {**dense, "epochs": args.epochs, "samples_per_epoch": args.samples, "batch_size": args.batch_size,
               "learning_rate": args.learning_rate, "temperature": 0.05, "random_negatives": 1}
    return [
        ("bm25", "bm25", {}),
        ("dense-zero-shot", "dense", {**dense, "train": False}),
        ("dense-logs", "dense", trained),
        ("hybrid-bm25-logs", "hybrid", {"components": ["bench-bm25", "bench-dense-logs"]}),
    ]


def parse_system(raw: str) -> tuple[str, str, dict]:
    label, sep, rest = raw.partition("=")
    kind, sep2, config = rest.partition(":")
    if not sep or kind not in ("bm25", "dense", "hybrid"):
        raise SystemExit(f"--system {raw!r}: expected LABEL=KIND:JSON with KIND bm25, dense or hybrid.")
    try:
        return label, kind, json.loads(config) if sep2 and config else {}
    except ValueError as exc:
        raise SystemExit(f"--system {raw!r}: bad JSON: {exc}")


def build_and_evaluate(*, dataset, label: str, kind: str, config: dict, seed: int) -> dict:
    """Build the version `bench-<label>` in-process and evaluate it; returns its metrics, manifest and timings."""
    from django.utils.text import slugify

    from retrieval.versions import version_build

    started = time.perf_counter()
    version = version_build(dataset=dataset, name=f"bench-{slugify(label)}", kind=kind, config=config, seed=seed,
                            inline=True)
    return evaluate_built(version, label=label, started=started)


# --- the synthesis protocol -------------------------------------------------------------------------------------

BENCH_PAIRS: dict[str, list[tuple[int, int, float]]] = {}  # pair lists the ablation sources hand to training


def bench_pair_source(dataset, *, name: str, **_):
    return BENCH_PAIRS[name]


def synthesis_protocol(*, dataset, args, stage_seconds: dict) -> list[dict]:
    """Judge, synthesis job, treatment and the two ablations; returns their build-and-evaluate results."""
    from retrieval.models import RetrieverVersion
    from retrieval.pair_sources import register_pair_source
    from synthesis.models import SyntheticPair
    from synthesis.config import SynthesisConfig
    from synthesis.judging.training import judge_version_start
    from synthesis.services import synthesis_job_start
    from synthesis.treatment import treatment_version_start

    def timed(stage, fn):
        started = time.perf_counter()
        result = fn()
        stage_seconds[stage] = round(time.perf_counter() - started, 1)
        print(f"  {stage}: {stage_seconds[stage]} s", file=sys.stderr, flush=True)
        return result

    baseline = RetrieverVersion.objects.get(name="bench-dense-logs")
    hybrid = RetrieverVersion.objects.get(name="bench-hybrid-bm25-logs")
    print("training the relevance judge ...", file=sys.stderr, flush=True)
    judge = timed("judge training", lambda: judge_version_start(
        dataset=dataset, name="bench-judge", epochs=args.judge_epochs, batch_size=16,
        learning_rate=args.judge_learning_rate, max_examples=args.judge_examples, seed=args.seed))
    judge.refresh_from_db()
    if judge.status != "ready":
        raise SystemExit(f"judge training failed: {judge.job.error if judge.job else judge.status}")
    stage_seconds["judge validation AUC"] = round(judge.metrics["auc"], 3)
    stage_seconds["judge calibrated threshold"] = judge.metrics["threshold"]

    config = SynthesisConfig(dataset_id=dataset.pk, retriever_version_id=hybrid.pk, baseline_version_id=baseline.pk,
                             judge_version_id=judge.pk, candidates=args.candidates, retrieve_k=args.retrieve_k,
                             baseline_k=100, max_queries=args.max_queries, segments=("tail",),
                             threshold=args.threshold, seed=args.seed)  # None: the judge's calibrated one
    print(f"synthesis over up to {args.max_queries} tail queries ...", file=sys.stderr, flush=True)
    job = timed("synthesis", lambda: synthesis_job_start(config=config))
    job.refresh_from_db()
    if job.status != "succeeded":
        raise SystemExit(f"synthesis failed: {job.error}")
    queries = job.counts.get("queries_done", 0)
    stage_seconds["synthesis queries"] = queries
    stage_seconds["synthesis queries/min"] = round(60 * queries / max(stage_seconds["synthesis"], 1e-9), 1)
    stage_seconds["synthesis kept pairs"] = SyntheticPair.objects.filter(job=job).count()

    results = []
    started = time.perf_counter()
    treatment = treatment_version_start(job=job, base_version=baseline, name="bench-treatment")
    results.append(evaluate_built(treatment, label="treatment", started=started))

    BENCH_PAIRS["unjudged"] = unjudged_pairs(job=job, hybrid=hybrid, config=config)
    BENCH_PAIRS["rewrite-pairs"] = rewrite_pairs(job=job, dataset=dataset)
    register_pair_source("bench", bench_pair_source)
    for label, name in (("ablation-no-judge", "unjudged"), ("ablation-rewrite-pairs", "rewrite-pairs")):
        ablation = {**treatment.hyperparams, "extra_sources": [{"name": "bench", "params": {"name": name}}]}
        print(f"building {label} ({len(BENCH_PAIRS[name])} pairs) ...", file=sys.stderr, flush=True)
        results.append(build_and_evaluate(dataset=dataset, label=label, kind="dense", config=ablation,
                                          seed=baseline.seed))
    return results


def evaluate_built(version, *, label: str, started: float) -> dict:
    """Evaluate a version built by a service (eager jobs: it is already built when the service returns)."""
    from retrieval.versions import version_evaluate

    version.refresh_from_db()
    if version.status != "ready":
        raise SystemExit(f"{label}: build failed: {version.error}")
    build_seconds = time.perf_counter() - started
    started = time.perf_counter()
    job = version_evaluate(version=version, inline=True)
    if job.status != "succeeded":
        raise SystemExit(f"{label}: evaluation failed: {job.error}")
    version.refresh_from_db()
    return {"label": label, "kind": version.kind, "metrics": version.metrics, "manifest": version.manifest,
            "build_s": round(build_seconds, 1), "evaluate_s": round(time.perf_counter() - started, 1)}


def unjudged_pairs(*, job, hybrid, config) -> list[tuple[int, int, float]]:
    """The job's rewrites through the same retrieval and curation, with retrieval rank in place of the judge."""
    from synthesis.models import MinedQuery, RewriteCandidate
    from synthesis.pipeline import select_pairs, union_candidates
    from synthesis.pipeline import logged_products, version_retrieve_many

    retrieve_many = version_retrieve_many(hybrid)
    mined = list(MinedQuery.objects.filter(job=job).select_related("query").order_by("query_id"))
    logged = logged_products([m.query_id for m in mined]) if config.drop_logged else {}
    pairs = []
    for m in mined:
        rewrites = list(dict.fromkeys(RewriteCandidate.objects.filter(job=job, query_id=m.query_id)
                                      .order_by("pk").values_list("text", flat=True)))
        results = retrieve_many([m.query.text, *rewrites], config.retrieve_k)
        candidates = union_candidates(original=results[0], by_rewrite=dict(zip(rewrites, results[1:])))
        best_rank = {}
        for ranked in results:
            for rank, pk in enumerate(ranked):
                best_rank[pk] = min(rank, best_rank.get(pk, rank))
        scores = {pk: 1 / (1 + best_rank[pk]) for pk in candidates if pk not in logged.get(m.query_id, set())}
        for pair in select_pairs(candidates=candidates, scores=scores, baseline_top=(), threshold=0,
                                 cap=config.max_pairs_per_query):
            pairs.append((m.query_id, pair.product_pk, 1.0))
    return pairs


def rewrite_pairs(*, job, dataset) -> list[tuple[int, int, float]]:
    """(rewrite, product) for every judge-kept product and each rewrite that found it; rewrites become label-less
    query rows of the throw-away database (evaluation reads `test` labels only, so they are never evaluated)."""
    from retrieval.models import Query
    from synthesis.models import SyntheticPair

    rows: dict[str, Query] = {}
    pairs = []
    for pair in SyntheticPair.objects.filter(job=job).order_by("pk"):
        for text in pair.rewrites:
            if text not in rows:
                rows[text] = Query.objects.create(dataset=dataset, query_id=f"bench-rewrite-{len(rows)}", text=text,
                                                  frequency=0, segment=Query.Segment.TAIL)
            pairs.append((rows[text].pk, pair.product_id, 1.0))
    return pairs


def stages_table(stage_seconds: dict) -> str:
    return "\n".join(["| stage | value |", "|---|---:|"] + [f"| {k} | {v} |" for k, v in stage_seconds.items()])


def timings_table(results: list[dict]) -> str:
    lines = ["| system | build s | evaluate s | training examples | steps | train loss | train s | index |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        training = (r["manifest"] or {}).get("training") or {}
        data = (r["manifest"] or {}).get("training_data") or {}
        index = ((r["manifest"] or {}).get("index") or {}).get("type", "-")
        lines.append(f"| {r['label']} | {r['build_s']} | {r['evaluate_s']} | {data.get('examples', '-')} | "
                     f"{training.get('steps', '-')} | {training.get('train_loss', '-')} | "
                     f"{training.get('seconds', '-')} | {index} |")
    return "\n".join(lines)


def write_results(args, results: list[dict], stages: dict | None = None) -> None:
    settings = {key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()}
    args.out.write_text(json.dumps({"bundle": str(args.bundle), "settings": settings, "systems": results,
                                    "synthesis_stages": stages or {}}, indent=2, default=str), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, required=True, help="a dataset bundle folder")
    parser.add_argument("--out", type=Path, help="write every system's full report as JSON")
    parser.add_argument("--samples", type=int, default=2048, help="training examples per epoch (weighted sample)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--max-seq-length", type=int, default=64, help="product tokens for both dense systems")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--only", help="comma-separated labels of the default systems to run")
    parser.add_argument("--system", action="append", default=[], help="extra system LABEL=KIND:JSON")
    parser.add_argument("--synthesis", action="store_true", help="add treatment and ablations (see above)")
    parser.add_argument("--max-queries", type=int, default=200, help="tail queries the synthesis job rewrites")
    parser.add_argument("--candidates", type=int, default=4, help="rewrites per query")
    parser.add_argument("--retrieve-k", type=int, default=100, help="products retrieved per rewrite")
    parser.add_argument("--threshold", type=float, help="keep products the judge scores at or above (default: "
                        "the judge's calibrated threshold, Youden's J on its validation split)")
    parser.add_argument("--judge-examples", type=int, default=3000)
    parser.add_argument("--judge-epochs", type=int, default=1)
    parser.add_argument("--judge-learning-rate", type=float, default=1e-4)
    args = parser.parse_args()
    if not (args.bundle / "catalog.jsonl").exists():
        raise SystemExit(f"{args.bundle} is not a bundle folder (no catalog.jsonl).")

    with tempfile.TemporaryDirectory(prefix="retrieval-quality-") as tmp:
        setup_django(Path(tmp))
        from django.core.management import call_command

        from retrieval.evaluation import metrics_table
        from retrieval.models import Dataset

        started = time.perf_counter()
        call_command("import_bundle", str(args.bundle), "--format", "bundle", "--name", "bench", "--no-progress",
                     verbosity=0, stdout=io.StringIO())
        dataset = Dataset.objects.get(name="bench")
        print(f"# Retrieval quality on {args.bundle.name} ({dataset.products.count()} products, "
              f"{dataset.queries.count()} queries; imported in {time.perf_counter() - started:.1f} s; "
              f"load average {os.getloadavg()[0]:.1f})\n", flush=True)
        systems = default_systems(args)
        if args.only:
            keep = set(args.only.split(","))
            systems = [s for s in systems if s[0] in keep]
        systems += [parse_system(raw) for raw in args.system]
        results = []
        for label, kind, config in systems:
            print(f"building {label} ...", file=sys.stderr, flush=True)
            results.append(build_and_evaluate(dataset=dataset, label=label, kind=kind, config=config, seed=args.seed))
            print(f"  {label}: nDCG@10 {results[-1]['metrics']['all'].get('nDCG@10')} "
                  f"({results[-1]['build_s']} s)", file=sys.stderr, flush=True)
            if args.out:  # after every system, so that a late failure keeps the earlier results
                write_results(args, results)
        stage_seconds: dict = {}
        if args.synthesis:
            if not {"dense-logs", "hybrid-bm25-logs"} <= {r["label"] for r in results}:
                raise SystemExit("--synthesis needs the dense-logs and hybrid-bm25-logs systems (check --only).")
            results += synthesis_protocol(dataset=dataset, args=args, stage_seconds=stage_seconds)
            if args.out:
                write_results(args, results, stage_seconds)
        rows = [(r["label"], r["metrics"]) for r in results]
        segments = [("all",)] + [("segment", s) for s in ("head", "torso", "tail")
                                 if any(s in (m.get("segment") or {}) for _, m in rows)]
        for group in segments:
            title = "all queries" if group == ("all",) else f"{group[-1]} queries"
            print(f"## Test labels, {title}\n")
            print(metrics_table(rows, groups=(group,)) + "\n")
        types = sorted({t for _, m in rows for t in (m.get("query_type") or {})})
        print("## nDCG@10 and Recall@100 by query type\n")
        print(metrics_table(rows, metrics=("nDCG@10", "Recall@100"),
                            groups=tuple(("query_type", t) for t in types)) + "\n")
        print("## Build and training\n")
        print(timings_table(results) + "\n")
        if stage_seconds:
            print("## Synthesis stages (seconds unless named)\n")
            print(stages_table(stage_seconds) + "\n")


if __name__ == "__main__":
    main()
