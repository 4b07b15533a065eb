"""The judges of the synthesis protocol (`bench/synthesis_protocol.py`): every judge kind made and measured by the
app's judge job, each also measured on the pipeline's candidates against `test` labels, and their table."""
from __future__ import annotations

from bench.console import say, timed


def build_judges(*, dataset, args, stages: dict) -> list:
    """Every judge kind, made and measured by the app's judge job; returns the ready JudgeVersions."""
    from retrieval.encoders import default_encoder_path
    from synthesis.judging.training import judge_version_start

    kinds = {
        "mpnet-bi-encoder": {"kind": "bi-encoder", "max_seq_length": args.max_seq_length},
        "cross-encoder": {"kind": "cross-encoder", "epochs": args.judge_epochs, "batch_size": 16,
                          "learning_rate": args.judge_learning_rate},
        "minilm-bi-encoder": {"kind": "bi-encoder", "base_model": default_encoder_path(),
                              "max_seq_length": args.max_seq_length},
    }
    from synthesis.models import JudgeVersion

    judges = []
    for label in args.judges.split(","):
        ready = JudgeVersion.objects.filter(name=f"bench-judge-{label}", status="ready").first()
        if ready is not None:  # made by an earlier run in the same --workdir
            judges.append(ready)
            continue
        say(f"judge {label} ...")
        judge = timed(stages, f"judge {label}", lambda: judge_version_start(
            dataset=dataset, name=f"bench-judge-{label}", max_examples=args.judge_examples, seed=args.seed,
            **kinds[label]))
        judge.refresh_from_db()
        if judge.status != "ready":
            raise SystemExit(f"judge {label} failed: {judge.job.error if judge.job else judge.status}")
        judges.append(judge)
    return judges


def pipeline_candidate_auc(*, job, retriever, judges, retrieve_k: int) -> list[dict]:
    """Each judge's ROC AUC on the products the synthesis job judged (original + rewrites through the retriever,
    union) that carry a `test` label (relevant = grade >= 2): how well it judges what it is actually asked."""
    from sklearn.metrics import roc_auc_score

    from retrieval.evaluation import qrels_for_test_split
    from retrieval.models import RetrieverVersion
    from synthesis.judging.judges import index_backed_judge, load_judge, product_judge
    from synthesis.models import MinedQuery, RewriteCandidate
    from synthesis.pipeline import union_candidates, version_retrieve_many

    qrels = qrels_for_test_split(dataset=retriever.dataset)
    retrieve_many = version_retrieve_many(retriever)
    labelled: list[tuple[str, list[int], list[int]]] = []
    for mined in MinedQuery.objects.filter(job=job).select_related("query").order_by("position"):
        labels = qrels.get(str(mined.query_id))
        if not labels:
            continue
        rewrites = list(dict.fromkeys(RewriteCandidate.objects.filter(job=job, query_id=mined.query_id)
                                      .order_by("rank").values_list("text", flat=True)))
        results = retrieve_many([mined.query.text, *rewrites], retrieve_k)
        candidates = [pk for pk in union_candidates(original=results[0], by_rewrite=dict(zip(rewrites, results[1:])))
                      if str(pk) in labels]
        if candidates:
            labelled.append((mined.query.text, candidates, [int(labels[str(pk)] >= 2) for pk in candidates]))
    truth = [y for _, _, ys in labelled for y in ys]
    rows = []
    zero_shot = [v for v in RetrieverVersion.objects.filter(dataset=retriever.dataset, kind="dense", status="ready")
                 if not v.hyperparams.get("train", True)]
    for judge_version in judges:
        loaded = load_judge(judge_version=judge_version)
        judge = next((j for j in (index_backed_judge(loaded, judge_version=judge_version, retriever_version=v)
                                  for v in zero_shot) if j is not None), None) \
            or product_judge(loaded, fields=judge_version.hyperparams.get("fields"))
        scores = [s for text, pks, _ in labelled for s in judge(text, pks)]
        rows.append({"judge": judge_version.name, "kind": judge_version.hyperparams.get("kind"),
                     "pipeline_candidates": len(truth), "relevant": sum(truth),
                     "pipeline_auc": round(float(roc_auc_score(truth, scores)), 3) if 0 < sum(truth) < len(truth)
                     else None})
    return rows


def judge_rows(judges, candidate_aucs: list[dict], chosen) -> list[dict]:
    by_name = {row["judge"]: row for row in candidate_aucs}
    rows = []
    for judge in judges:
        metrics = judge.metrics or {}
        rows.append({"judge": judge.name, "kind": judge.hyperparams.get("kind"), "base_model": judge.base_model,
                     "validation_auc": metrics.get("auc"),
                     **{f"validation_{part}_auc": (metrics.get(part) or {}).get("auc") for part in ("tail", "graded")},
                     "threshold": metrics.get("threshold"), "chosen_by_default": judge.pk == chosen.pk,
                     **{k: v for k, v in by_name.get(judge.name, {}).items() if k not in ("judge", "kind")}})
    return rows


def auc_cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def judge_table(rows: list[dict]) -> str:
    lines = ["| judge | kind | held-out train labels AUC (all) | (tail) | (graded only) | pipeline candidates AUC "
             "(test labels) | candidates (relevant) | keep threshold | default |", "|---|---|" + "---:|" * 6 + "---|"]
    for r in rows:
        aucs = " | ".join(auc_cell(r.get(key)) for key in
                          ("validation_auc", "validation_tail_auc", "validation_graded_auc", "pipeline_auc"))
        lines.append(f"| {r['judge']} | {r['kind']} | {aucs} | "
                     f"{r.get('pipeline_candidates', '-')} ({r.get('relevant', '-')}) | "
                     f"{r['threshold']} | {'yes' if r['chosen_by_default'] else ''} |")
    return "\n".join(lines)


