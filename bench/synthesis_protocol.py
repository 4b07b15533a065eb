"""The synthesis protocol of `bench/retrieval_quality.py --synthesis` (arXiv 2602.23620), over several seeds.

Once per bundle:
1. judges: every judge kind made the app's way (`judge_version_start`): the all-mpnet-base-v2 bi-encoder (the
   teacher larger than and independent of the MiniLM student), the cross-encoder fine-tuned on `train` labels and
   logs, and the student's own MiniLM as a bi-encoder; each is measured on held-out `train` labels (all and
   tail queries) by its job, and on the pipeline's candidates against `test` labels here (measurement only);
2. a seeded share of the tail queries (`--holdout`) is held out of synthesis: the `tail_unseen` segment.

Per seed (seed = the baseline's and treatment's data order and negatives, the rewriter's sampling):
3. the baseline: the log-trained dense retriever (`dense-logs`' recipe) with that seed;
4. a synthesis job with the app's defaults for the judge (the best-measured ready judge) and its calibrated keep
   threshold; the rewrites go through `--rewrite-retriever` (measured in the systems table above);
5. the treatment: the baseline's recipe plus the job's pairs, ADDED (`--per-pair` examples per pair on top of the
   baseline's examples; `--ratio` instead mixes them into the fixed budget);
6. per-query metrics of both on the `test` labels; the first seed also builds the ablations (no judge, rewrite
   pairs, pairs the original query found alone), and those named in `--seed-ablations` are built on every seed.

Then the paired comparison (`paired_stats`): per segment (head, torso, tail, tail_synthesised, tail_unseen, all)
mean ± sd over seeds and the paired bootstrap 95 % CI of treatment - baseline over queries; for an every-seed
ablation the same against the baseline (`paired["ablation-<name>-baseline"]`) and against the treatment
(`paired["ablation-<name>-treatment"]`: ablation - treatment).
"""
from __future__ import annotations

import time
from collections import defaultdict

from bench.console import say, timed
from bench.paired_stats import paired_summary
from bench.protocol_judges import build_judges, judge_rows, pipeline_candidate_auc
from bench.seed_results import load_seed, save_seed

BENCH_PAIRS: dict[str, list[tuple[int, int, float]]] = {}  # pair lists the ablation sources hand to training


def bench_pair_source(dataset, *, name: str, **_):
    return BENCH_PAIRS[name]


def held_out_tail(*, dataset, args) -> set[str]:
    from synthesis.mining import MiningCriteria, held_out_queries, long_tail_queries

    tail = (long_tail_queries(dataset=dataset, criteria=MiningCriteria(segments=("tail",)))
            .exclude(query_id__startswith="bench-rewrite-").values_list("pk", flat=True))  # not the ablation's rows
    return {str(pk) for pk in held_out_queries(tail, share=args.holdout, seed=args.holdout_seed)}


def run_seed(*, dataset, args, seed: int, baseline, retriever, stages: dict, synthesis_seed: int) -> dict:
    """Baseline (given, built with `seed`), synthesis job (seeded `synthesis_seed`; one already done with the same
    config is reused) and treatment for one seed; per-query metrics of both."""
    from retrieval.evaluation import version_per_query
    from synthesis.config import SynthesisConfig
    from synthesis.selectors import synthesis_statistics
    from synthesis.services import synthesis_job_start
    from synthesis.treatment import treatment_version_start

    config = SynthesisConfig(dataset_id=dataset.pk, retriever_version_id=retriever.pk,
                             baseline_version_id=baseline.pk, candidates=args.candidates, retrieve_k=args.retrieve_k,
                             baseline_k=100, max_queries=args.max_queries, segments=["tail"],
                             max_pairs_per_query=args.max_pairs, holdout_share=args.holdout,
                             holdout_seed=args.holdout_seed, threshold=args.threshold, seed=synthesis_seed)
    job = done_synthesis_job(config)
    if job is None:
        say(f"seed {seed}: synthesis ...")
        job = timed(stages, f"seed {seed} synthesis", lambda: synthesis_job_start(config=config))
        job.refresh_from_db()
    else:
        stages.setdefault(f"seed {seed} synthesis", stages.get(f"seed {synthesis_seed} synthesis"))
    if job.status != "succeeded":
        raise SystemExit(f"synthesis failed: {job.error}")
    def build(name):
        say(f"seed {seed}: treatment ...")
        return timed(stages, f"seed {seed} treatment", lambda: treatment_version_start(
            job=job, base_version=baseline, name=name, per_pair=args.per_pair, ratio=args.ratio))

    treatment = ready_or_built(f"bench-treatment-s{seed}", build)
    baseline_per_query, query_rows, _ = version_per_query(version=baseline)
    treatment_per_query, _, _ = version_per_query(version=treatment)
    statistics = synthesis_statistics(job=job)
    queries_done = statistics["queries_done"]
    return {"seed": seed, "job": job, "treatment": treatment, "baseline": baseline, "query_rows": query_rows,
            "baseline_name": baseline.name, "treatment_name": treatment.name,
            "baseline_per_query": baseline_per_query, "treatment_per_query": treatment_per_query,
            "synthesised": synthesised_queries(job),
            "synthesis": {"config": job.config, "queries": queries_done,
                          "queries_per_min": round(60 * queries_done / stages[f"seed {seed} synthesis"], 1)
                          if stages.get(f"seed {seed} synthesis") else None,  # None: a job of an earlier run
                          "judge": job.result.get("components", {}).get("judge") if job.result else None,
                          **{k: statistics[k] for k in ("kept_pairs", "incremental_share", "found_only_by_rewrites",
                                                        "test_label_check", "pairs_per_query", "query_coverage")}},
            "training_data": {"baseline": baseline.manifest.get("training_data"),
                              "treatment": treatment.manifest.get("training_data")},
            "training": {"baseline": training_summary(baseline), "treatment": training_summary(treatment)}}


def training_summary(version) -> dict:
    """Steps, seconds and (with early stopping) the validation curve and the epoch kept, from the manifest."""
    training = version.manifest.get("training") or {}
    return {key: training.get(key) for key in ("steps", "seconds", "examples", "early_stopping")}


def training_table(per_seed: list[dict]) -> str:
    """Per seed and system: steps, and with early stopping the epoch kept of those run and the validation curve."""
    lines = ["| seed | system | examples | steps | epoch kept / run | validation nDCG@10 by epoch |",
             "|---:|---|---:|---:|---|---|"]
    for row in per_seed:
        for system in ("baseline", "treatment"):
            t = (row.get("training") or {}).get(system) or {}
            early = t.get("early_stopping") or {}
            kept = f"{early['best_epoch']} / {early['epochs_run']}" if early else "-"
            curve = ", ".join(f"{x:.3f}" for x in early.get("validation_ndcg@10_by_epoch", [])) or "-"
            lines.append(f"| {row['seed']} | {system} | {t.get('examples', '-')} | {t.get('steps', '-')} | {kept} | "
                         f"{curve} |")
    return "\n".join(lines)


def done_synthesis_job(config):
    """A succeeded synthesis job of an earlier seed or run with this config (judge and threshold as decided)."""
    from jobs.models import Job
    from synthesis.services import with_judge, with_keep_threshold

    wanted = with_keep_threshold(with_judge(config)).as_dict()
    return next((job for job in Job.objects.filter(kind="synthesis", status="succeeded").order_by("pk")
                 if job.config == wanted), None)


def synthesised_queries(job) -> set[str]:
    from synthesis.models import MinedQuery

    return {str(pk) for pk in MinedQuery.objects.filter(job=job).values_list("query_id", flat=True)}


def segments_of(query_rows: dict, evaluated, *, synthesised: set[str], unseen: set[str]) -> dict[str, list[str]]:
    """Evaluated queries (those with a relevant `test` label) by segment, the tail split into synthesised/unseen."""
    segments: dict[str, list[str]] = {"all": sorted(evaluated, key=int)}
    for segment in ("head", "torso", "tail"):
        segments[segment] = [q for q in segments["all"] if query_rows[q][1] == segment]
    segments["tail_synthesised"] = [q for q in segments["tail"] if q in synthesised]
    segments["tail_unseen"] = [q for q in segments["tail"] if q in unseen]
    return segments


def gain_by_query_type(runs: list[dict], queries: list[str]) -> dict:
    """Mean treatment - baseline nDCG@10 and Recall@100 (over seeds, then queries) per query type of `queries`."""
    by_type: dict[str, list[str]] = defaultdict(list)
    for q in queries:
        by_type[runs[0]["query_rows"][q][2] or "untyped"].append(q)
    out = {}
    for name, members in sorted(by_type.items()):
        out[name] = {"queries": len(members)}
        for metric in ("nDCG@10", "Recall@100"):
            diffs = [sum(r["treatment_per_query"][q][metric] - r["baseline_per_query"][q][metric] for r in runs)
                     / len(runs) for q in members]
            out[name][metric] = round(sum(diffs) / len(diffs), 4)
    return out


ABLATIONS = {"no-judge": "the same rewrites' top-ranked products, unjudged",
             "rewrite-pairs": "the kept products paired with the rewrites that found them",
             "original-only": "the kept pairs the original query found alone (no rewrite needed)",
             "soft-labels": "the kept pairs as MarginMSE triples against the judge's rejections (labels soft)"}


def ablation_pairs(*, name: str, job, dataset, retriever) -> str:
    """Register the ablation's pair list for `job` (once) and return the key the bench pair source reads."""
    from synthesis.models import SyntheticPair

    from bench.ablations import rewrite_pairs, unjudged_pairs

    key = f"{name}-job{job.pk}"
    if key not in BENCH_PAIRS:
        if name == "no-judge":
            BENCH_PAIRS[key] = unjudged_pairs(job=job, retriever=retriever)
        elif name == "rewrite-pairs":
            BENCH_PAIRS[key] = rewrite_pairs(job=job, dataset=dataset)
        else:
            BENCH_PAIRS[key] = [(q, p, 1.0) for q, p in SyntheticPair.objects.filter(
                job=job, found_by_original=True).order_by("pk").values_list("query_id", "product_id")]
    return key


def ablation_results(*, dataset, args, runs: list[dict], retriever, build_and_evaluate) -> tuple[list[dict], dict]:
    """Ablations with the treatment's recipe and mixing rule: those of `--ablations` on the first seed, those of
    `--seed-ablations` on every seed (their per-query metrics per seed, for the paired comparison)."""
    from retrieval.evaluation import version_per_query
    from retrieval.models import RetrieverVersion
    from retrieval.pair_sources import register_pair_source

    register_pair_source("bench", bench_pair_source)
    per_seed: dict[str, list] = defaultdict(list)
    results = []
    first = list(dict.fromkeys([*args.ablations, *args.seed_ablations]))
    for index, run in enumerate(runs):
        treatment = run["treatment"]
        synthetic = next(s for s in treatment.hyperparams["extra_sources"] if s["name"] == "synthetic")
        mixing = {key: synthetic[key] for key in ("ratio", "per_pair") if synthetic.get(key) is not None}
        for name in first if index == 0 else args.seed_ablations:
            label = f"ablation-{name}" + (f"-s{run['seed']}" if index else "")
            if name == "soft-labels":
                result = soft_label_treatment(label=label, run=run, per_pair=args.per_pair)
            else:
                key = ablation_pairs(name=name, job=run["job"], dataset=dataset, retriever=retriever)
                if not BENCH_PAIRS[key]:
                    say(f"{label}: no pairs, skipped")
                    continue
                config = {**treatment.hyperparams,
                          "extra_sources": [{"name": "bench", "params": {"name": key}, **mixing}]}
                say(f"building {label} ({len(BENCH_PAIRS[key])} pairs) ...")
                result = build_and_evaluate(dataset=dataset, label=label, kind="dense", config=config,
                                            seed=run["seed"])
            if index == 0:
                results.append(result)
            if name in args.seed_ablations:
                per_seed[name].append(version_per_query(version=RetrieverVersion.objects.get(name=result["name"]))[0])
    return results, dict(per_seed)


def ready_or_built(name: str, build):
    """The ready version `name` of an earlier run in this --workdir, or `build(name)` after dropping an interrupted
    attempt; fails loudly when the build does not end ready."""
    from retrieval.models import RetrieverVersion

    version = RetrieverVersion.objects.filter(name=name, status="ready").first()
    if version is None:
        RetrieverVersion.objects.filter(name=name).delete()  # an interrupted earlier build
        version = build(name)
    version.refresh_from_db()
    if version.status != "ready":
        raise SystemExit(f"{name} failed: {version.error}")
    return version


def soft_label_treatment(*, label: str, run: dict, per_pair: float | None) -> dict:
    """The app's soft-label treatment (`treatment_version_start(labels="soft")`) of this seed's job and baseline,
    as a row of the systems table."""
    from django.utils.text import slugify

    from synthesis.treatment import treatment_version_start

    from bench.retrieval_quality import evaluate_built

    def build(name):
        say(f"building {label} (soft labels) ...")
        return treatment_version_start(job=run["job"], base_version=run["baseline"], name=name, labels="soft",
                                       per_pair=per_pair)

    started = time.perf_counter()
    return evaluate_built(ready_or_built(f"bench-{slugify(label)}", build), label=label, started=started)


def ablation_comparisons(*, runs: list[dict], per_seed: dict, segments: dict) -> dict:
    """For each every-seed ablation: paired summaries against the baseline and against the treatment."""
    out = {}
    for name, ablation_runs in per_seed.items():
        if len(ablation_runs) != len(runs):
            continue  # an ablation skipped for some seed (no pairs): no paired comparison
        out[f"ablation-{name}-baseline"] = paired_summary(
            baseline=[r["baseline_per_query"] for r in runs], treatment=ablation_runs, segments=segments)
        out[f"ablation-{name}-treatment"] = paired_summary(
            baseline=[r["treatment_per_query"] for r in runs], treatment=ablation_runs, segments=segments)
    return out


def baseline_config(args) -> dict:
    """The baseline's recipe: the `dense-logs` system of the systems table."""
    from bench.retrieval_quality import default_systems

    return next(config for label, _, config in default_systems(args) if label == "dense-logs")


def synthesis_protocol(*, dataset, args, stages: dict, build_and_evaluate) -> dict:
    """Judges, then baseline / synthesis / treatment per seed, ablations, paired statistics (see the module)."""
    from retrieval.models import RetrieverVersion
    from synthesis.services import best_judge

    retriever = RetrieverVersion.objects.get(name=f"bench-{args.rewrite_retriever}")
    judges = build_judges(dataset=dataset, args=args, stages=stages)
    chosen = best_judge(dataset)
    say(f"default judge (best measured): {chosen.name}")
    unseen = held_out_tail(dataset=dataset, args=args)
    runs = []
    for index, seed in enumerate(range(args.seed, args.seed + args.seeds)):
        stored = load_seed(args.seed_results, args=args, seed=seed)
        if stored is not None:
            say(f"seed {seed}: loaded from {args.seed_results} (commit {stored.get('commit')})")
            stages.update({f"{stage} (stored)": seconds for stage, seconds in stored["stages"].items()})
            runs.append(stored)
            continue
        label = "dense-logs" if index == 0 else f"dense-logs-s{seed}"  # the first seed's is the systems table's row
        if not RetrieverVersion.objects.filter(name=f"bench-{label}", status="ready").exists():
            say(f"seed {seed}: baseline ...")
            timed(stages, f"seed {seed} baseline", lambda: build_and_evaluate(
                dataset=dataset, label=label, kind="dense", config=baseline_config(args), seed=seed))
        runs.append(run_seed(dataset=dataset, args=args, seed=seed, stages=stages, retriever=retriever,
                             baseline=RetrieverVersion.objects.get(name=f"bench-{label}"),
                             synthesis_seed=args.seed if args.synthesis_runs == "one" else seed))
        if args.seed_results:
            say(f"seed {seed}: stored in {save_seed(args.seed_results, args=args, run=runs[-1], stages=stages)}")
    built = [r for r in runs if not r.get("stored")]
    if (args.ablations or args.seed_ablations) and len(built) != len(runs):
        say("ablations skipped: they need every seed built in this run (some were loaded from --seed-results)")
    ablations, ablation_per_seed = (ablation_results(dataset=dataset, args=args, runs=runs, retriever=retriever,
                                                     build_and_evaluate=build_and_evaluate)
                                    if (args.ablations or args.seed_ablations) and len(built) == len(runs)
                                    else ([], {}))
    candidate_aucs = (pipeline_candidate_auc(job=built[0]["job"], retriever=retriever, judges=judges,
                                             retrieve_k=args.retrieve_k) if built else [])
    segments = segments_of(runs[0]["query_rows"], runs[0]["baseline_per_query"], synthesised=runs[0]["synthesised"],
                           unseen=unseen)
    summary = paired_summary(baseline=[r["baseline_per_query"] for r in runs],
                             treatment=[r["treatment_per_query"] for r in runs], segments=segments)
    comparisons = ablation_comparisons(runs=runs, per_seed=ablation_per_seed, segments=segments)
    return {
        "seeds": [r["seed"] for r in runs],
        "synthesis_runs": args.synthesis_runs,
        "rewrite_retriever": retriever.name,
        "holdout": {"share": args.holdout, "seed": args.holdout_seed, "tail_unseen_queries": len(unseen)},
        "systems": {label: {segment: {metric: summary[label][segment][metric]["mean"]
                                      for metric in summary[label][segment]} for segment in summary[label]}
                    for label in ("baseline", "treatment")},
        "paired": {"treatment-baseline": summary["treatment-baseline"],
                   **{label: comparison["treatment-baseline"] for label, comparison in comparisons.items()}},
        "summary": summary,
        "ablation_summaries": comparisons,
        "gain_by_query_type": {"tail": gain_by_query_type(runs, segments["tail"])},
        "judges": judge_rows(judges, candidate_aucs, chosen),
        "per_seed": [{"seed": r["seed"], "synthesis": r["synthesis"], "training_data": r["training_data"],
                      "training": r.get("training"),
                      "baseline": r["baseline_name"], "treatment": r["treatment_name"],
                      "stored": bool(r.get("stored"))} for r in runs],
        "ablations": ablations,
    }
