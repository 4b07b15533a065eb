"""Rewriter training benchmark: base SmolLM2 vs SFT vs GRPO on held-out tail queries of a bundle (the demo bundle
by default), with the time per training step on this machine.

    python bench/rewriter_training.py [--bundle DIR] [--workdir DIR] [--sft-steps 8] [--grpo-steps 12]
        [--seed-queries 60] [--eval-queries 30] [--candidates 4] [--judge cross-encoder] [--out FILE.json]

Runs in-process on a throw-away database and artifact folder (`--workdir` keeps them; a re-run with the same
workdir reuses the retrievers, the judge and finished training runs), with the app's own functions:

1. import the bundle (`manage.py build_demo_bundle` writes the demo one when `--bundle` is not given);
2. retrievers: BM25, the shipped MiniLM as a dense baseline (`--baseline dense-logs` fine-tunes it on the logs
   first, slower), and their hybrid (RRF) as the strong offline retriever the rewrites go through;
3. the relevance judge: `cross-encoder` (default) trains the app's cross-encoder judge on `train` qrels and logs
   (`--judge-examples`); `embedding` scores a product by the shipped MiniLM's cosine similarity to the original
   query. Either way its relevant/irrelevant threshold is fit on `train` qrels (Youden's J; `--threshold judge`
   takes the cross-encoder's own threshold, calibrated on its validation split, as synthesis jobs and the
   training job do), and its AUC on the tail queries' `test` qrels is printed as a diagnostic;
4. SFT seeds: the base model rewrites `--seed-queries` training tail queries (`--candidates` each) and the
   synthesis pipeline's curation (`pipeline.curate_query`) keeps products; a rewrite that found a kept product is
   a seed pair (what `seed_pairs_from_synthesis` reads from a synthesis job), written as a JSONL seed file;
5. SFT from SmolLM2 on the seeds, then GRPO from the SFT model on the training tail queries with the five
   rewards at their default weights and a group of `--candidates` per query;
6. evaluation (`rewriter_eval.evaluate_rewriter`) of the base model, SFT and GRPO on held-out tail queries (20%
   of the tail, a seeded split no training step sees), with paired bootstrap 95% intervals (scipy) of the
   per-query differences, and the human-label check (qrels of grade >= 2, evaluation only).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.django_env import setup_django  # noqa: E402  (after the path set-up)

REWARD_COLUMNS = ("combined", "relevance", "alignment", "diversity", "incremental", "format")


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- set-up: data, retrievers, judge ----------------------------------------------------------------------------------

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


def cross_encoder_judge(dataset, max_examples: int):
    """The app's cross-encoder judge (trained here once on `train` qrels and logs) as `judge_products`."""
    from synthesis.judging.judges import judge_keep_threshold, load_judge, product_judge
    from synthesis.judging.training import judge_version_start
    from synthesis.models import JudgeVersion

    name = f"bench-judge-{max_examples}"
    version = JudgeVersion.objects.filter(name=name, status="ready").first()
    if version is None:
        JudgeVersion.objects.filter(name=name).delete()
        version = judge_version_start(dataset=dataset, name=name, max_examples=max_examples, batch_size=16,
                                      learning_rate=1e-4)  # the demo's settings (2e-5 often stays near AUC 0.5)
        version.refresh_from_db()
    if version.status != "ready":
        raise SystemExit(f"judge training failed: {version.job.error if version.job else version.status}")
    judge = load_judge(judge_version=version)
    return product_judge(judge, fields=version.hyperparams.get("fields")), {
        "judge": f"cross-encoder {name}", "validation_auc": round(version.metrics.get("auc") or 0, 3),
        "own_threshold": judge_keep_threshold(version)}


def embedding_judge(dataset):
    """Cosine similarity (the shipped MiniLM) of the original query and the product text, clipped to [0, 1]."""
    import numpy as np

    from retrieval.encoders import encode_texts, load_encoder
    from retrieval.product_text import dataset_product_texts

    encoder = load_encoder(None)
    pks, texts = dataset_product_texts(dataset=dataset)
    vectors = encode_texts(encoder, texts)
    row = {pk: i for i, pk in enumerate(pks)}
    queries: dict[str, np.ndarray] = {}

    def judge_products(query: str, product_pks):
        if query not in queries:
            queries[query] = encode_texts(encoder, [query])[0]
        return [min(1.0, max(0.0, float(vectors[row[pk]] @ queries[query]))) for pk in product_pks]

    return judge_products, {"judge": "embedding (MiniLM cosine)"}


def calibrate(judge_products, *, dataset, seed: int, limit: int = 2000) -> tuple[float, dict]:
    """The judge's relevant/irrelevant threshold, fit on `train` qrels (grade >= 2 relevant; Youden's J), and its
    AUC there and on the tail queries' `test` qrels (a diagnostic: nothing is fit on those)."""
    import random
    from collections import defaultdict

    from retrieval.models import Qrel
    from synthesis.judging.training import judge_metrics

    def scored(split: str, **filters):
        rows = list(Qrel.objects.filter(query__dataset=dataset, split=split, **filters)
                    .values_list("query__text", "product_id", "grade").order_by("pk"))
        rows = random.Random(seed).sample(rows, min(limit, len(rows)))
        by_query = defaultdict(list)
        for query, product, grade in rows:
            by_query[query].append((product, grade))
        scores, labels = [], []
        for query, items in by_query.items():
            scores += judge_products(query, [p for p, _ in items])
            labels += [int(g >= 2) for _, g in items]
        return {"scores": scores, "labels": labels}

    train = judge_metrics(**scored("train"))  # the app's Youden's J threshold and AUC
    tail = judge_metrics(**scored("test", query__segment="tail"))
    return train["threshold"], {"threshold": round(train["threshold"], 3), "train_auc": round(train["auc"], 3),
                                "tail_test_auc": round(tail["auc"], 3)}


# --- seeds, training, evaluation ---------------------------------------------------------------------------------------

def kept_rewrite_seeds(*, rewriter, queries, candidates: int, setup, out: Path) -> int:
    """Rewrites of the base model whose retrieval found a product the curation kept, as a JSONL seed file."""
    from synthesis.pipeline import curate_query

    texts = [text for _, text in queries]
    rows = []
    for (pk, text), rewrites in zip(queries, rewriter.rewrite(texts, candidates)):
        curation = curate_query(query_pk=pk, query_text=text, rewrites=rewrites, retrieve_many=setup.curation_retrieve,
                                judge_products=setup.feedback.scores,
                                baseline_top=setup.feedback.baseline_top(text), logged=setup.logged.get(pk, ()),
                                settings=setup.curation)
        kept = [rewrite for rewrite in rewrites if curation.kept_per_rewrite.get(rewrite, 0) > 0]
        if kept:
            rows.append({"query": text, "rewrites": kept})
    out.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return len(rows)


def timed_training(train, callbacks=(), **kwargs) -> tuple[Path, list[dict], float]:
    """Run train_sft / train_grpo (with `callbacks` too) keeping the curve and the median step time."""
    from synthesis.rewriter.checkpoints import merge_curve, training_report_callback

    curve: list[dict] = []
    ends: list[float] = []

    def on_point(point):
        curve[:] = merge_curve(curve, point)

    def on_step(step, total):
        ends.append(time.monotonic())
        say(f"  step {step}/{total}")

    out = train(**kwargs, callbacks=[*callbacks, training_report_callback(on_point=on_point, on_step=on_step)])
    durations = [b - a for a, b in zip(ends, ends[1:])]
    return out, curve, statistics.median(durations) if durations else float("nan")


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


def report(*, evaluation: dict, training: dict, args) -> str:
    labels = {"base": "base SmolLM2-135M-Instruct", "sft": f"SFT ({args.sft_steps} steps)",
              "grpo": f"GRPO ({args.grpo_steps} steps, from SFT)"}
    lines = ["| rewriter | " + " | ".join(REWARD_COLUMNS) + " | new relevant share | labelled new relevant share "
             "| pairs kept / query | incremental pairs / query | rewrites / query | s / training step |",
             "|---" + "|---:" * (len(REWARD_COLUMNS) + 6) + "|"]
    for key, metrics in evaluation.items():
        per_step = training.get(key, {}).get("seconds_per_step")
        lines.append(
            f"| {labels[key]} | " + " | ".join(f"{metrics['rewards'].get(c, 0):.3f}" for c in REWARD_COLUMNS)
            + f" | {metrics['new_relevant_share']:.2f} | {metrics['labelled_new_relevant_share'] or 0:.2f}"
            + f" | {metrics['pairs_per_query']:.2f} | {metrics['incremental_pairs_per_query']:.2f}"
            + f" | {metrics['rewrites_per_query']:.2f} | {'-' if per_step is None else f'{per_step:.1f}'} |")
    out = ["\n".join(lines), "",
           "| paired difference on held-out queries, mean [95% CI] | combined reward | pairs kept / query "
           "| new relevant (0/1) |", "|---|---:|---:|---:|"]
    for label, before, after in (("GRPO − SFT", "sft", "grpo"), ("GRPO − base", "base", "grpo"),
                                 ("SFT − base", "base", "sft")):
        if before in evaluation and after in evaluation:
            a, b = evaluation[before]["per_query"], evaluation[after]["per_query"]
            cells = []
            for key in ("combined", "pairs", "new_relevant"):
                mean, low, high = paired_interval([float(q[key]) for q in a], [float(q[key]) for q in b],
                                                  seed=args.seed)
                cells.append(f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]")
            out.append(f"| {label} | " + " | ".join(cells) + " |")
    curve = training.get("grpo", {}).get("curve") or []
    if curve:
        third = max(1, len(curve) // 3)
        first = sum(p["combined"] for p in curve[:third]) / third
        last = sum(p["combined"] for p in curve[-third:]) / third
        out.append(f"\nGRPO training reward (combined, training queries): mean of the first {third} steps "
                   f"{first:.3f}, of the last {third} steps {last:.3f}.")
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
    parser.add_argument("--seed-queries", type=int, default=60, help="training tail queries rewritten for seeds")
    parser.add_argument("--eval-queries", type=int, default=30)
    parser.add_argument("--retrieve-k", type=int, default=50, help="products per rewrite in the curation")
    parser.add_argument("--judge", choices=("cross-encoder", "embedding"), default="cross-encoder")
    parser.add_argument("--judge-examples", type=int, default=3000, help="cross-encoder training examples")
    parser.add_argument("--threshold", choices=("train-labels", "judge"), default="train-labels",
                        help="relevant at: Youden's J on train qrels, or the judge's own calibrated threshold "
                             "(its validation split, what synthesis jobs and the training job use)")
    parser.add_argument("--baseline", choices=("dense-zero-shot", "dense-logs"), default="dense-zero-shot")
    parser.add_argument("--dense-samples", type=int, default=2048, help="training examples of dense-logs")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="rewriter-bench-") as tmp:
        workdir = (args.workdir or Path(tmp)).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        setup_django(workdir)
        run(args, workdir)


def run(args, workdir: Path) -> None:
    from django.core.management import call_command

    from synthesis.pipeline import CurationSettings, logged_products, version_retrieve_many
    from synthesis.rewriter.backends import load_rewriter, resolve_rewriter_model
    from synthesis.rewriter.evaluation import EvaluationSetup, evaluate_rewriter, query_labels
    from synthesis.rewriter.feedback import RetrievalFeedback
    from synthesis.rewriter.jobs import split_tail_queries
    from synthesis.rewriter.rewards import RewardSettings, reward_functions
    from synthesis.rewriter.seed_pairs import seed_pairs_from_jsonl
    from synthesis.rewriter.setup import catalogue_space_for
    from synthesis.rewriter.training import TrainingSettings, train_grpo, train_sft

    bundle = args.bundle
    if bundle is None:
        bundle = workdir / "demo_bundle"
        if not (bundle / "catalog.jsonl").exists():
            call_command("build_demo_bundle", "--out", str(bundle), verbosity=0)
    if not (bundle / "catalog.jsonl").exists():
        raise SystemExit(f"{bundle} is not a bundle folder (no catalog.jsonl).")
    started = time.perf_counter()
    dataset = ensure_dataset(bundle)
    say(f"data set: {dataset.products.count()} products, {dataset.queries.filter(segment='tail').count()} tail queries")
    bm25 = ensure_retriever(dataset, "bench-bm25", "bm25", {})
    dense = {"max_seq_length": 64, "encode_batch_size": 64}
    if args.baseline == "dense-logs":
        dense.update({"epochs": 1, "samples_per_epoch": args.dense_samples, "batch_size": 32, "temperature": 0.05,
                      "random_negatives": 1})
    else:
        dense["train"] = False
    baseline = ensure_retriever(dataset, f"bench-{args.baseline}", "dense", dense)
    hybrid = ensure_retriever(dataset, f"bench-hybrid-{args.baseline}", "hybrid",
                              {"components": [bm25.name, baseline.name]})
    say(f"retrievers ready; judge: {args.judge}")
    if args.judge == "embedding":
        judge, judge_info = embedding_judge(dataset)
    else:
        judge, judge_info = cross_encoder_judge(dataset, args.judge_examples)
    threshold, calibration = calibrate(judge, dataset=dataset, seed=args.seed)
    judge_info.update(calibration)
    if args.threshold == "judge":
        if "own_threshold" not in judge_info:
            raise SystemExit("--threshold judge needs the cross-encoder judge (it calibrates on its validation split)")
        threshold = judge_info["threshold"] = judge_info.pop("own_threshold")
    say(f"judge: {judge_info}")

    settings = RewardSettings(threshold=threshold)
    retrieve = version_retrieve_many(hybrid)
    feedback = RetrievalFeedback(retrieve=retrieve, judge=judge, baseline_retrieve=version_retrieve_many(baseline),
                                 k=settings.k, threshold=threshold, baseline_k=settings.baseline_k)
    training_queries, held_out = split_tail_queries(dataset=dataset, held_out_share=0.2, seed=args.seed)
    held_out = held_out[:args.eval_queries]
    query_pks = [pk for pk, _ in training_queries + held_out]
    setup = EvaluationSetup(feedback=feedback, settings=settings, catalogue=catalogue_space_for(dataset=dataset),
                            curation=CurationSettings(retrieve_k=args.retrieve_k, threshold=threshold),
                            curation_retrieve=retrieve, logged=logged_products(query_pks),
                            labels=query_labels(dataset=dataset, query_pks=[pk for pk, _ in held_out]))
    setup_seconds = time.perf_counter() - started
    base_path, _ = resolve_rewriter_model("")
    runs = workdir / "rewriter-runs" / f"{args.judge}-{args.threshold}-{args.seed}"
    runs.mkdir(parents=True, exist_ok=True)

    def rewriter_for(path):
        return load_rewriter(backend="hf-local", model=str(path), seed=args.seed, max_new_tokens=24)

    seed_file = runs / f"seeds-{args.seed_queries}.jsonl"
    if not seed_file.exists():
        say(f"seeds: the base model rewrites {args.seed_queries} training tail queries; curation keeps products")
        count = kept_rewrite_seeds(rewriter=rewriter_for(base_path), queries=training_queries[:args.seed_queries],
                                   candidates=args.candidates, setup=setup, out=seed_file)
        say(f"  {count} queries have kept rewrites")
    pairs = seed_pairs_from_jsonl(seed_file)
    training: dict[str, dict] = {}
    results_file = runs / f"training-{args.sft_steps}-{args.grpo_steps}.json"
    if results_file.exists():
        training = json.loads(results_file.read_text())
    sft_dir, grpo_dir = runs / f"sft-{args.sft_steps}", runs / f"grpo-{args.sft_steps}-{args.grpo_steps}"
    if "sft" not in training:
        say(f"SFT: {len(pairs)} seed pairs, {args.sft_steps} steps of {args.sft_batch}")
        _, curve, per_step = timed_training(
            train_sft, model_path=str(base_path), pairs=pairs, out_dir=sft_dir,
            settings=TrainingSettings(max_steps=args.sft_steps, batch_size=args.sft_batch,
                                      learning_rate=args.sft_learning_rate, save_steps=4, seed=args.seed))
        training["sft"] = {"curve": curve, "seconds_per_step": per_step, "seed_pairs": len(pairs),
                           "seed_queries": len({p.query for p in pairs})}
        results_file.write_text(json.dumps(training))
    if "grpo" not in training:
        say(f"GRPO: {args.grpo_steps} steps, {args.grpo_prompts} queries x {args.candidates} candidates per step")
        _, curve, per_step = timed_training(
            train_grpo, model_path=str(sft_dir / "model"), queries=[text for _, text in training_queries],
            reward_funcs=reward_functions(settings=settings, feedback=feedback, catalogue=setup.catalogue),
            reward_weights=settings.normalised_weights(), out_dir=grpo_dir,
            settings=TrainingSettings(max_steps=args.grpo_steps, batch_size=args.grpo_prompts,
                                      num_generations=args.candidates, learning_rate=args.grpo_learning_rate,
                                      save_steps=4, seed=args.seed))
        training["grpo"] = {"curve": curve, "seconds_per_step": per_step}
        results_file.write_text(json.dumps(training))
    evaluation = {}
    for key, path in (("base", base_path), ("sft", sft_dir / "model"), ("grpo", grpo_dir / "model")):
        say(f"evaluating {key} on {len(held_out)} held-out tail queries")
        evaluation[key] = evaluate_rewriter(rewriter=rewriter_for(path), queries=held_out, n=args.candidates,
                                            setup=setup)
    print(f"# Rewriter training on {bundle.name} ({dataset.products.count()} products, "
          f"{dataset.queries.filter(segment='tail').count()} tail queries; judge {judge_info}; set-up "
          f"{setup_seconds:.0f} s; load average {os.getloadavg()[0]:.1f})\n")
    print(report(evaluation=evaluation, training=training, args=args))
    print(f"\nSFT seeds: {training['sft']['seed_pairs']} kept rewrites of {training['sft']['seed_queries']} training "
          f"queries. Held-out tail queries: {len(held_out)}, {args.candidates} candidates each.")
    for key in evaluation:
        examples = evaluation[key]["examples"][:3]
        print(f"\n{key}: " + "; ".join(f"{e['query']!r} -> {e['rewrites']}" for e in examples))
    if args.out:
        args.out.write_text(json.dumps({"settings": {k: str(v) if isinstance(v, Path) else v
                                                     for k, v in vars(args).items()},
                                        "judge": judge_info, "evaluation": evaluation, "training": training},
                                       indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
