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


def setup_django(workdir: Path) -> None:
    os.environ.setdefault("DEBUG", "true")
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz")
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite3'}"
    os.environ["ARTIFACT_ROOT"] = str(workdir / "artifacts")
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "true"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sbsapp.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


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

    from retrieval.versions import version_build, version_evaluate

    started = time.perf_counter()
    version = version_build(dataset=dataset, name=f"bench-{slugify(label)}", kind=kind, config=config, seed=seed,
                            inline=True)
    build_seconds = time.perf_counter() - started
    if version.status != "ready":
        raise SystemExit(f"{label}: build failed: {version.error}")
    started = time.perf_counter()
    job = version_evaluate(version=version, inline=True)
    if job.status != "succeeded":
        raise SystemExit(f"{label}: evaluation failed: {job.error}")
    version.refresh_from_db()
    return {"label": label, "kind": kind, "metrics": version.metrics, "manifest": version.manifest,
            "build_s": round(build_seconds, 1), "evaluate_s": round(time.perf_counter() - started, 1)}


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


def write_results(args, results: list[dict]) -> None:
    settings = {key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()}
    args.out.write_text(json.dumps({"bundle": str(args.bundle), "settings": settings, "systems": results},
                                   indent=2, default=str), encoding="utf-8")


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


if __name__ == "__main__":
    main()
