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

`--synthesis` adds `dense-mpnet` (the shipped all-mpnet-base-v2 zero-shot: the retriever the rewrites go through,
unless `--rewrite-retriever` names another system) and runs the synthesis protocol of `bench/synthesis_protocol.py`
over `--seeds` seeds: judges of every kind, a held-out share of tail queries, per seed a baseline, a synthesis job
and a treatment (synthetic pairs added to the baseline's examples), ablations (`--ablations` on the first seed,
`--seed-ablations` on every seed with their own paired CIs; `soft-labels` is the app's MarginMSE treatment), and the
paired bootstrap CI of treatment - baseline per segment (`head`, `torso`, `tail`, `tail_synthesised`,
`tail_unseen`). The whole result is written as JSON to `bench/results/retrieval_quality-<bundle>.json` (`--out` to
change it). `--seed-results DIR` keeps every finished seed's per-query results in DIR and loads the seeds already
there, so that a protocol longer than one sitting is finished by a later run (`bench/seed_results.py`).
"""
from __future__ import annotations

import argparse
import contextlib
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
               "learning_rate": args.learning_rate, "temperature": 0.05, "random_negatives": 1,
               **({"early_stopping": True} if args.early_stopping else {})}
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

    from retrieval.models import RetrieverVersion

    started = time.perf_counter()
    name = f"bench-{slugify(label)}"
    version = RetrieverVersion.objects.filter(name=name, status=RetrieverVersion.Status.READY).first()
    if version is None:  # not built by an earlier run in the same --workdir
        RetrieverVersion.objects.filter(name=name).delete()  # an interrupted earlier build
        version = version_build(dataset=dataset, name=name, kind=kind, config=config, seed=seed, inline=True)
    return evaluate_built(version, label=label, started=started)


def evaluate_built(version, *, label: str, started: float) -> dict:
    """Evaluate a version built by a service (eager jobs: it is already built when the service returns)."""
    from retrieval.versions import version_evaluate

    version.refresh_from_db()
    if version.status != "ready":
        raise SystemExit(f"{label}: build failed: {version.error}")
    build_seconds = time.perf_counter() - started
    started = time.perf_counter()
    if not version.metrics:
        job = version_evaluate(version=version, inline=True)
        if job.status != "succeeded":
            raise SystemExit(f"{label}: evaluation failed: {job.error}")
        version.refresh_from_db()
    return {"label": label, "name": version.name, "kind": version.kind, "metrics": version.metrics,
            "manifest": version.manifest,
            "build_s": round(build_seconds, 1), "evaluate_s": round(time.perf_counter() - started, 1)}


def first_seed_stored(args) -> bool:
    from bench.seed_results import seed_path

    return bool(args.seed_results) and seed_path(args.seed_results, args.seed).exists()


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


def write_results(args, results: list[dict], stages: dict | None = None, protocol: dict | None = None) -> None:
    settings = {key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # `systems`: the protocol's baseline and treatment means per segment (over seeds); `built`: every version
    # this run built or reused, with its full metrics and manifest
    args.out.write_text(json.dumps({"bundle": args.bundle_name, "settings": settings, "built": results,
                                    "synthesis_stages": stages or {}, **(protocol or {})}, indent=2, default=str),
                        encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, required=True, help="a dataset bundle folder")
    parser.add_argument("--out", type=Path, help="write every system's full report as JSON")
    parser.add_argument("--samples", type=int, default=2048, help="training examples per epoch (weighted sample)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs (with --early-stopping: at most)")
    parser.add_argument("--early-stopping", action="store_true",
                        help="trained systems stop when nDCG@10 on a validation split of train labels stops improving")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--max-seq-length", type=int, default=64, help="product tokens for both dense systems")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--only", help="comma-separated labels of the default systems to run")
    parser.add_argument("--system", action="append", default=[], help="extra system LABEL=KIND:JSON")
    parser.add_argument("--synthesis", action="store_true", help="add the synthesis protocol (see above)")
    parser.add_argument("--bundle-name", help="name in the results file (default: bundle.json's name)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds of the protocol: --seed, --seed+1, ...")
    parser.add_argument("--synthesis-runs", choices=("per-seed", "one"), default="per-seed",
                        help="one: every seed's synthesis job runs with the first seed's rewriter seed, so all see the "
                             "same rewrites and pairs (only the incremental flags follow each seed's baseline); seeds "
                             "then vary the student's example sampling, order and negatives")
    parser.add_argument("--seed-results", type=Path, help="keep each seed's results in this folder and load the "
                        "seeds already there (finish a long protocol over several sittings; bench/seed_results.py)")
    parser.add_argument("--workdir", type=Path, help="keep the database and artifacts here (default: a temporary "
                        "folder); a later run with the same folder reuses what is built (versions, judges, jobs)")
    parser.add_argument("--holdout", type=float, default=1 / 3, help="share of tail queries held out of synthesis")
    parser.add_argument("--holdout-seed", type=int, default=13)
    parser.add_argument("--rewrite-retriever", default="dense-mpnet", help="system label the rewrites go through")
    parser.add_argument("--max-queries", type=int, help="tail queries the synthesis job rewrites (default: all)")
    parser.add_argument("--candidates", type=int, default=4, help="rewrites per query")
    parser.add_argument("--retrieve-k", type=int, default=50, help="products retrieved per rewrite")
    parser.add_argument("--max-pairs", type=int, default=20, help="kept pairs per query at most")
    parser.add_argument("--per-pair", type=float, default=0.5, help="training examples ADDED per synthetic pair")
    parser.add_argument("--ratio", type=float, help="instead of --per-pair: the synthetic share of a fixed budget")
    parser.add_argument("--threshold", type=float, help="keep products the judge scores at or above (default: "
                        "the judge's calibrated threshold, Youden's J on its validation split)")
    parser.add_argument("--judges", default="mpnet-bi-encoder,cross-encoder,minilm-bi-encoder",
                        help="judge kinds to make and measure; the synthesis uses the best-measured")
    parser.add_argument("--judge-examples", type=int, default=3000)
    parser.add_argument("--judge-epochs", type=int, default=1)
    parser.add_argument("--judge-learning-rate", type=float, default=1e-4)
    parser.add_argument("--ablations", default="no-judge,rewrite-pairs,original-only",
                        help="comma-separated ablations built on the first seed (no-judge, rewrite-pairs, "
                             "original-only, soft-labels)")
    parser.add_argument("--no-ablations", dest="ablations", action="store_const", const="")
    parser.add_argument("--seed-ablations", default="",
                        help="comma-separated ablations built on every seed and compared with paired CIs")
    args = parser.parse_args()
    if not (args.bundle / "catalog.jsonl").exists():
        raise SystemExit(f"{args.bundle} is not a bundle folder (no catalog.jsonl).")
    if args.ratio is not None:
        args.per_pair = None
    from bench.synthesis_protocol import ABLATIONS

    for flag in ("ablations", "seed_ablations"):
        setattr(args, flag, [name for name in getattr(args, flag).split(",") if name])
        if unknown := set(getattr(args, flag)) - set(ABLATIONS):
            parser.error(f"--{flag.replace('_', '-')}: unknown {sorted(unknown)}; choose from {sorted(ABLATIONS)}")
    if args.bundle_name is None:
        manifest = args.bundle / "bundle.json"
        args.bundle_name = json.loads(manifest.read_text())["name"] if manifest.exists() else args.bundle.name
    if args.synthesis and args.out is None:
        args.out = ROOT / "bench" / "results" / f"retrieval_quality-{args.bundle_name}.json"

    with contextlib.ExitStack() as stack:
        workdir = args.workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="retrieval-quality-")))
        workdir.mkdir(parents=True, exist_ok=True)
        setup_django(workdir)
        from django.core.management import call_command

        from retrieval.evaluation import metrics_table
        from retrieval.models import Dataset

        started = time.perf_counter()
        if not Dataset.objects.filter(name="bench").exists():  # a --workdir of an earlier run keeps its import
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
        baseline_stored = args.synthesis and first_seed_stored(args)
        if baseline_stored and "hybrid-bm25-logs" not in [s[0] for s in systems] \
                and args.rewrite_retriever != "dense-logs":  # the first seed's baseline is not needed again
            systems = [s for s in systems if s[0] != "dense-logs"]
            print(f"dense-logs not built: seed {args.seed} is stored in {args.seed_results}", file=sys.stderr)
        if args.synthesis and args.rewrite_retriever == "dense-mpnet":  # the teacher's index (slow to encode)
            systems.append(("dense-mpnet", "dense", {"train": False, "base_model": "all-mpnet-base-v2",
                                                     "max_seq_length": args.max_seq_length, "encode_batch_size": 64}))
        results = []
        for label, kind, config in systems:
            print(f"building {label} ...", file=sys.stderr, flush=True)
            results.append(build_and_evaluate(dataset=dataset, label=label, kind=kind, config=config, seed=args.seed))
            print(f"  {label}: nDCG@10 {results[-1]['metrics']['all'].get('nDCG@10')} "
                  f"({results[-1]['build_s']} s)", file=sys.stderr, flush=True)
            if args.out:  # after every system, so that a late failure keeps the earlier results
                write_results(args, results)
        stage_seconds: dict = {}
        protocol = None
        if args.synthesis:
            needed = {args.rewrite_retriever} | (set() if baseline_stored else {"dense-logs"})
            if not needed <= {r["label"] for r in results}:
                raise SystemExit(f"--synthesis needs the {' and '.join(sorted(needed))} systems (check --only).")
            from bench.synthesis_protocol import synthesis_protocol

            protocol = synthesis_protocol(dataset=dataset, args=args, stages=stage_seconds,
                                          build_and_evaluate=build_and_evaluate)
            results += protocol.pop("ablations")
            write_results(args, results, stage_seconds, protocol)
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
            print("## Synthesis stages (seconds)\n")
            print(stages_table(stage_seconds) + "\n")
        if protocol:
            print_protocol(protocol)


def print_protocol(protocol: dict) -> None:
    from bench.paired_stats import paired_table
    from bench.protocol_judges import judge_table
    from bench.synthesis_protocol import training_table

    seeds = protocol["seeds"]
    print(f"## Treatment vs baseline over seeds {seeds}: mean ± sd over seeds, paired bootstrap 95 % CI over "
          f"queries (rewrites through {protocol['rewrite_retriever']}; {protocol['holdout']['tail_unseen_queries']} "
          "tail queries held out of synthesis = tail_unseen)\n")
    print(paired_table(protocol["summary"]) + "\n")
    for label, comparison in protocol.get("ablation_summaries", {}).items():
        versus = "baseline" if label.endswith("-baseline") else "treatment"
        print(f"## {label.rsplit('-', 1)[0]} vs the {versus} over seeds {seeds} (the table's 'treatment' columns "
              f"are the ablation, its 'baseline' columns the {versus})\n")
        print(paired_table(comparison) + "\n")
    print("## Judges (every kind; the synthesis job uses the default)\n")
    print(judge_table(protocol["judges"]) + "\n")
    print("## Synthesis per seed\n")
    print("| seed | queries | queries/min | kept pairs | incremental share | found only by rewrites | kept pairs "
          "relevant by test labels | baseline examples | treatment examples |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in protocol["per_seed"]:
        s, data = row["synthesis"], row["training_data"]
        check = s["test_label_check"]
        print(f"| {row['seed']} | {s['queries']} | {s['queries_per_min']} | {s['kept_pairs']} | "
              f"{s['incremental_share']} | {s['found_only_by_rewrites']} | {check['precision']} of "
              f"{check['labelled_pairs']} | {(data['baseline'] or {}).get('examples')} | "
              f"{(data['treatment'] or {}).get('examples')} |")
    print("\n## Training per seed (early stopping: the best epoch on the validation split is kept)\n")
    print(training_table(protocol["per_seed"]))
    print("\n## Tail gain by query type (treatment - baseline, mean over seeds and queries)\n")
    print("| query type | queries | Δ nDCG@10 | Δ Recall@100 |\n|---|---:|---:|---:|")
    for name, row in protocol["gain_by_query_type"]["tail"].items():
        print(f"| {name} | {row['queries']} | {100 * row['nDCG@10']:+.1f} | {100 * row['Recall@100']:+.1f} |")
    print()


if __name__ == "__main__":
    main()
