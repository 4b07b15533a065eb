"""Rewriter training benchmark: base SmolLM2 vs SFT vs GRPO on held-out tail queries of a bundle (the demo bundle
by default), with the time per training step on this machine.

    python bench/rewriter_training.py [--bundle DIR] [--workdir DIR] [--sft-steps 8] [--grpo-steps 12]
        [--seed-queries 60] [--eval-queries 30] [--candidates 4] [--baseline dense-zero-shot] [--out FILE.json]

Everything runs in-process through the app's own services and jobs, in a throw-away database and artifact folder
(`--workdir` keeps them, and a re-run with the same workdir reuses what is already built):

1. import the bundle (`manage.py build_demo_bundle` writes the demo one when `--bundle` is not given);
2. retrievers: BM25, a dense baseline (the shipped MiniLM as it is, or `--baseline dense-logs` to fine-tune it
   on the logs first), and their hybrid (RRF) as the strong offline retriever;
3. the cross-encoder relevance judge, trained on `train` qrels and logs;
4. SFT seed data: a synthesis job with the base SmolLM2 over `--seed-queries` tail queries; its kept rewrites
   (rewrites whose retrieval found products the judge kept) are the seed pairs, minus any held-out query;
5. the rewriter training job: SFT from SmolLM2, then GRPO from the SFT version on the training tail queries, with
   all five rewards at their default weights, `--candidates` candidates per query (the GRPO group size);
6. the job's evaluation of the base model, the SFT and the GRPO version on held-out tail queries (20% of the tail
   queries, a seeded split no training step sees), printed as a table, with paired bootstrap 95% intervals of
   the per-query differences (scipy) so that a difference can be told from noise.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REWARD_COLUMNS = ("combined", "relevance", "alignment", "diversity", "incremental", "format")


def setup_django(workdir: Path) -> None:
    os.environ.setdefault("DEBUG", "true")
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz")
    os.environ["VAR_DIR"] = str(workdir)
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


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def ensure_dataset(bundle: Path):
    from django.core.management import call_command

    from retrieval.models import Dataset

    dataset = Dataset.objects.filter(name="bench").first()
    if dataset is None:
        call_command("import_bundle", str(bundle), "--format", "bundle", "--name", "bench", "--no-progress",
                     verbosity=0)
        dataset = Dataset.objects.get(name="bench")
    return dataset


def ensure_retriever(dataset, name: str, kind: str, config: dict):
    from retrieval.models import RetrieverVersion
    from retrieval.versions import version_build, version_start_build

    version = RetrieverVersion.objects.filter(name=name).first()
    if version is None:
        version = version_build(dataset=dataset, name=name, kind=kind, config=config, inline=True)
    elif version.status != "ready":
        version_start_build(version=version, inline=True)
        version.refresh_from_db()
    if version.status != "ready":
        raise SystemExit(f"{name}: build failed: {version.error}")
    return version


def ensure_judge(dataset, max_examples: int):
    from synthesis.models import JudgeVersion
    from synthesis.services import judge_version_start

    name = f"bench-judge-{max_examples}"
    judge = JudgeVersion.objects.filter(name=name, status="ready").first()
    if judge is None:
        JudgeVersion.objects.filter(name=name).delete()
        judge = judge_version_start(dataset=dataset, name=name, max_examples=max_examples)
        judge.refresh_from_db()
    if judge.status != "ready":
        raise SystemExit(f"judge training failed: {judge.job.error if judge.job else judge.status}")
    return judge


def ensure_seed_synthesis(*, dataset, hybrid, baseline, judge, max_queries: int, candidates: int, retrieve_k: int):
    from sbsapp.models import Job
    from synthesis.services import SynthesisConfig, synthesis_job_start

    job = Job.objects.filter(kind="synthesis", status="succeeded", config__max_queries=max_queries,
                             config__candidates=candidates, config__judge_version_id=judge.pk,
                             config__retriever_version_id=hybrid.pk).order_by("-pk").first()
    if job is None:
        config = SynthesisConfig(dataset_id=dataset.pk, retriever_version_id=hybrid.pk,
                                 baseline_version_id=baseline.pk, judge_version_id=judge.pk, candidates=candidates,
                                 retrieve_k=retrieve_k, max_queries=max_queries, segments=("tail",), device="cpu")
        job = synthesis_job_start(config=config)
        job.refresh_from_db()
    if job.status != "succeeded":
        raise SystemExit(f"seed synthesis job failed: {job.error}")
    return job


def paired_interval(a: list[float], b: list[float], *, seed: int) -> tuple[float, float, float]:
    """Mean of b - a per query and its paired bootstrap 95% interval."""
    import numpy as np
    from scipy.stats import bootstrap

    differences = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    if len(differences) < 2 or np.all(differences == differences[0]):
        return float(differences.mean()), float(differences.mean()), float(differences.mean())
    result = bootstrap((differences,), np.mean, confidence_level=0.95, n_resamples=5000, method="percentile",
                       random_state=seed)
    return float(differences.mean()), float(result.confidence_interval.low), float(result.confidence_interval.high)


def report(*, evaluation: dict, versions: dict, args, seed_manifest: dict, job_seconds: float) -> str:
    rows = [("base SmolLM2-135M", evaluation["start"], None)]
    rows += [(f"SFT ({args.sft_steps} steps)", evaluation.get("sft"), versions.get("sft")),
             (f"GRPO ({args.grpo_steps} steps, from SFT)", evaluation.get("grpo"), versions.get("grpo"))]
    header = ("| rewriter | " + " | ".join(f"{c} reward" for c in REWARD_COLUMNS)
              + " | new relevant share | labelled new relevant share | pairs kept / query | incremental pairs / query"
              " | rewrites / query | s / training step |")
    lines = [header, "|---" + "|---:" * (len(REWARD_COLUMNS) + 7) + "|"]
    for label, metrics, version in rows:
        if metrics is None:
            continue
        train = (version.metrics.get("train") if version is not None else None) or {}
        lines.append(
            f"| {label} | " + " | ".join(f"{metrics['rewards'].get(c, 0):.3f}" for c in REWARD_COLUMNS)
            + f" | {metrics['new_relevant_share']:.2f} | {metrics['labelled_new_relevant_share'] or 0:.2f}"
            + f" | {metrics['pairs_per_query']:.2f} | {metrics['incremental_pairs_per_query']:.2f}"
            + f" | {metrics['rewrites_per_query']:.2f} | {train.get('seconds_per_step', '-')} |")
    out = ["\n".join(lines), ""]
    comparisons = [("GRPO vs SFT", "sft", "grpo"), ("GRPO vs base", "start", "grpo"), ("SFT vs base", "start", "sft")]
    out.append("| paired difference (held-out queries) | combined reward | pairs kept / query | new relevant share |")
    out.append("|---|---:|---:|---:|")
    for label, before, after in comparisons:
        if before not in evaluation or after not in evaluation:
            continue
        a, b = evaluation[before]["per_query"], evaluation[after]["per_query"]
        cells = []
        for key in ("combined", "pairs", "new_relevant"):
            mean, low, high = paired_interval([float(q[key]) for q in a], [float(q[key]) for q in b], seed=args.seed)
            cells.append(f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]")
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    grpo = versions.get("grpo")
    if grpo is not None and grpo.reward_curves:
        curve = grpo.reward_curves
        third = max(1, len(curve) // 3)
        first = sum(p["combined"] for p in curve[:third]) / third
        last = sum(p["combined"] for p in curve[-third:]) / third
        out.append(f"\nGRPO training reward (combined, on training queries): first {third} steps {first:.3f}, "
                   f"last {third} steps {last:.3f}.")
    out.append(f"\nSFT seed pairs: {seed_manifest.get('pairs')} from {seed_manifest.get('queries')} training queries "
               f"(kept rewrites of the base model's synthesis job; {seed_manifest.get('dropped_held_out', 0)} pairs "
               f"of held-out queries dropped). Held-out tail queries evaluated: {evaluation['start']['queries']}, "
               f"{args.candidates} candidates each. Training job {job_seconds:.0f} s in all (evaluation included); "
               f"load average {os.getloadavg()[0]:.1f} at the end.")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, help="a bundle folder (default: the demo bundle, built here)")
    parser.add_argument("--workdir", type=Path, help="keep the database and artifacts here (default: temporary)")
    parser.add_argument("--out", type=Path, help="write the evaluation and curves as JSON")
    parser.add_argument("--sft-steps", type=int, default=8)
    parser.add_argument("--sft-batch", type=int, default=4)
    parser.add_argument("--sft-learning-rate", type=float, default=5e-5)
    parser.add_argument("--grpo-steps", type=int, default=12)
    parser.add_argument("--grpo-prompts", type=int, default=1, help="queries per GRPO step")
    parser.add_argument("--grpo-learning-rate", type=float, default=1e-5)
    parser.add_argument("--candidates", type=int, default=4, help="candidates per query = GRPO group size")
    parser.add_argument("--seed-queries", type=int, default=60, help="tail queries the seed synthesis job rewrites")
    parser.add_argument("--eval-queries", type=int, default=30)
    parser.add_argument("--retrieve-k", type=int, default=50, help="products per rewrite in the pipeline")
    parser.add_argument("--judge-examples", type=int, default=1500)
    parser.add_argument("--baseline", choices=("dense-zero-shot", "dense-logs"), default="dense-zero-shot",
                        help="the online baseline (dense-logs trains the encoder on the logs first: slower)")
    parser.add_argument("--dense-samples", type=int, default=2048, help="training examples of dense-logs")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="rewriter-bench-") as tmp:
        workdir = (args.workdir or Path(tmp)).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        setup_django(workdir)
        from django.core.management import call_command

        bundle = args.bundle
        if bundle is None:
            bundle = workdir / "demo_bundle"
            if not (bundle / "catalog.jsonl").exists():
                call_command("build_demo_bundle", "--out", str(bundle), verbosity=0)
        if not (bundle / "catalog.jsonl").exists():
            raise SystemExit(f"{bundle} is not a bundle folder (no catalog.jsonl).")
        started = time.perf_counter()
        dataset = ensure_dataset(bundle)
        say(f"data set: {dataset.products.count()} products, {dataset.queries.filter(segment='tail').count()} tail "
            "queries")
        say(f"retrievers: bm25, the {args.baseline} dense baseline, and their hybrid")
        bm25 = ensure_retriever(dataset, "bench-bm25", "bm25", {})
        dense = {"max_seq_length": 64, "encode_batch_size": 64}
        if args.baseline == "dense-logs":
            dense.update({"epochs": 1, "samples_per_epoch": args.dense_samples, "batch_size": 32,
                          "temperature": 0.05, "random_negatives": 1})
        else:
            dense["train"] = False
        baseline = ensure_retriever(dataset, f"bench-{args.baseline}", "dense", dense)
        hybrid = ensure_retriever(dataset, f"bench-hybrid-{args.baseline}", "hybrid",
                                  {"components": [bm25.name, baseline.name]})
        say("relevance judge")
        judge = ensure_judge(dataset, args.judge_examples)
        say(f"judge ready (validation AUC {judge.metrics.get('auc')}); seed synthesis job with the base model")
        synthesis_job = ensure_seed_synthesis(dataset=dataset, hybrid=hybrid, baseline=baseline, judge=judge,
                                              max_queries=args.seed_queries, candidates=args.candidates,
                                              retrieve_k=args.retrieve_k)
        setup_seconds = time.perf_counter() - started
        say(f"seed synthesis done ({synthesis_job.result.get('pairs', synthesis_job.counts)}); training")

        from sbsapp.models import Job
        from synthesis.models import RewriterVersion
        from synthesis.rewriter_training import rewriter_training_start

        name = f"bench-{args.sft_steps}-{args.grpo_steps}-{args.seed}-{judge.name}"
        job = Job.objects.filter(kind="rewriter_training", config__name=name).order_by("-pk").first()
        started = time.perf_counter()
        if job is None:
            job = rewriter_training_start(config={
                "dataset_id": dataset.pk, "name": name, "methods": ["sft", "grpo"],
                "seed_sources": {"synthesis": {"job_ids": [synthesis_job.pk]}},
                "sft": {"max_steps": args.sft_steps, "batch_size": args.sft_batch,
                        "learning_rate": args.sft_learning_rate, "save_steps": 4},
                "grpo": {"max_steps": args.grpo_steps, "batch_size": args.grpo_prompts,
                         "num_generations": args.candidates, "learning_rate": args.grpo_learning_rate,
                         "save_steps": 4},
                "retriever_version_id": hybrid.pk, "baseline_version_id": baseline.pk,
                "judge": {"backend": "cross-encoder", "judge_version_id": judge.pk},
                "evaluate": True, "eval_queries": args.eval_queries, "eval_candidates": args.candidates,
                "curation": {"retrieve_k": args.retrieve_k}, "seed": args.seed, "device": "auto"})
        elif job.status != "succeeded":
            from sbsapp.jobs import job_retry

            job_retry(job=job)
        job.refresh_from_db()
        if job.status != "succeeded":
            raise SystemExit(f"training job failed: {job.error}")
        job_seconds = (job.finished_at - job.started_at).total_seconds()
        versions = {v.method: v for v in RewriterVersion.objects.filter(job=job)}
        evaluation = job.result["evaluation"]
        print(f"# Rewriter training on {bundle.name} ({dataset.products.count()} products; set-up "
              f"{setup_seconds:.0f} s)\n")
        print(report(evaluation=evaluation, versions=versions, args=args,
                     seed_manifest=versions["sft"].manifest if "sft" in versions else {}, job_seconds=job_seconds))
        for label in ("start", "sft", "grpo"):
            examples = evaluation.get(label, {}).get("examples", [])[:3]
            print(f"\n{label} examples: " + "; ".join(f"{e['query']!r} -> {e['rewrites']}" for e in examples))
        if args.out:
            args.out.write_text(json.dumps({
                "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                "evaluation": evaluation,
                "versions": {m: {"name": v.name, "metrics": v.metrics, "reward_curves": v.reward_curves,
                                 "manifest": v.manifest} for m, v in versions.items()}}, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
