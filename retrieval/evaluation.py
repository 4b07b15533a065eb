"""Offline evaluation of a retriever version on the `test` relevance labels, through `ir-measures`.

Metrics (grades 0-3; "relevant" and "good" mean grade >= 2):
- Recall@10, Recall@100, MRR@10 (reciprocal rank of the first relevant item in the top 10), nDCG@10 (graded gains);
- ItemGoodRate@10: share of the top 10 with grade >= 2 (an unjudged item counts as not good) = P(rel=2)@10;
- QueryGoodRate@10: share of queries whose top 10 holds at least one grade-3 item or at least two grade >= 2 items;
- Judged@10: share of the returned top 10 that has a label (ir-measures divides by the number returned, at most 10).
Each is a mean over queries, overall and split by segment and by query type. The queries evaluated are those
with at least one relevant `test` label (recall is undefined for the others). `train` labels are never used.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Callable, Iterable, Mapping

METRICS = ("Recall@10", "Recall@100", "nDCG@10", "MRR@10", "ItemGoodRate@10", "QueryGoodRate@10", "Judged@10")
RELEVANT_GRADE = 2
TOP_K = 10
EVAL_DEPTH = 100


def _measures():
    from ir_measures import P, R, RR, Judged, nDCG

    return {
        "Recall@10": R(rel=RELEVANT_GRADE) @ 10,
        "Recall@100": R(rel=RELEVANT_GRADE) @ 100,
        "nDCG@10": nDCG @ 10,
        "MRR@10": RR(rel=RELEVANT_GRADE) @ 10,
        "ItemGoodRate@10": P(rel=RELEVANT_GRADE) @ TOP_K,
        "_Grade3Rate@10": P(rel=3) @ TOP_K,
        "Judged@10": Judged @ TOP_K,
    }


def per_query_metrics(
    *, qrels: Mapping[str, Mapping[str, int]], run: Mapping[str, list[str]]
) -> dict[str, dict[str, float]]:
    """Metrics for each query of `qrels` that has a relevant label, given ranked product ids per query.

    `run[q]` is a ranked list (best first); rank order is kept exactly (scores are derived from ranks, so the
    library's tie-breaking never reorders a list). A query missing from `run` scores 0 everywhere.
    """
    import ir_measures

    measures = _measures()
    by_measure = {measure: name for name, measure in measures.items()}
    judged_queries = [q for q, labels in qrels.items() if any(g >= RELEVANT_GRADE for g in labels.values())]
    qrels_rows = [ir_measures.Qrel(q, doc, int(g)) for q in judged_queries for doc, g in qrels[q].items()]
    run_rows = []
    for q in judged_queries:
        ranked = _dedupe(run.get(q, []))
        run_rows.extend(ir_measures.ScoredDoc(q, doc, float(len(ranked) - rank)) for rank, doc in enumerate(ranked))
    results = {q: {name: 0.0 for name in measures} for q in judged_queries}
    if run_rows:
        for metric in ir_measures.iter_calc(list(measures.values()), qrels_rows, run_rows):
            results[metric.query_id][by_measure[metric.measure]] = float(metric.value)
    for values in results.values():
        grade3 = round(values.pop("_Grade3Rate@10") * TOP_K)
        good = round(values["ItemGoodRate@10"] * TOP_K)
        values["QueryGoodRate@10"] = 1.0 if grade3 >= 1 or good >= 2 else 0.0
    return results


def _dedupe(ranked: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(ranked))


def aggregate(
    per_query: Mapping[str, Mapping[str, float]], groups: Mapping[str, Mapping[str, str]]
) -> dict:
    """Mean of each metric overall and per value of each grouping (e.g. {"segment": {qid: "head"}})."""
    def mean_of(query_ids: list[str]) -> dict:
        out = {name: round(sum(per_query[q][name] for q in query_ids) / len(query_ids), 4) for name in METRICS}
        out["queries"] = len(query_ids)
        return out

    report: dict = {"all": mean_of(list(per_query)) if per_query else {"queries": 0}}
    for grouping, assignment in groups.items():
        members: dict[str, list[str]] = defaultdict(list)
        for q in per_query:
            members[assignment.get(q, "unknown")].append(q)
        report[grouping] = {value: mean_of(ids) for value, ids in sorted(members.items())}
    return report


def qrels_for_test_split(*, dataset) -> dict[str, dict[str, int]]:
    """The `test` labels of a data set as {query pk: {product pk: grade}} (string keys, as the library wants)."""
    from .models import Qrel

    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    rows = Qrel.objects.filter(query__dataset=dataset, split=Qrel.Split.TEST).values_list("query_id", "product_id", "grade")
    for query_pk, product_pk, grade in rows.iterator(chunk_size=5000):
        qrels[str(query_pk)][str(product_pk)] = int(grade)
    return dict(qrels)


def version_per_query(
    *,
    version,
    depth: int = EVAL_DEPTH,
    batch_size: int = 256,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, dict[str, float]], dict[str, tuple[str, str, str]], dict]:
    """Retrieve the top `depth` for every test query: (per-query metrics, {query pk: (text, segment, query_type)},
    the `test` labels). The per-query metrics are what paired comparisons of two versions need."""
    from .models import Query
    from .search import retrieve_many

    qrels = qrels_for_test_split(dataset=version.dataset)
    if not qrels:
        raise ValueError(f"Data set {version.dataset.name!r} has no `test` relevance labels to evaluate against.")
    query_rows = {
        str(pk): (text, segment, query_type)
        for pk, text, segment, query_type in Query.objects.filter(pk__in=[int(q) for q in qrels]).values_list(
            "pk", "text", "segment", "query_type")
    }
    query_ids = sorted(query_rows, key=int)
    run: dict[str, list[str]] = {}
    for start in range(0, len(query_ids), batch_size):
        chunk = query_ids[start:start + batch_size]
        for qid, hits in zip(chunk, retrieve_many(version, [query_rows[q][0] for q in chunk], depth)):
            run[qid] = [str(h.product_id) for h in hits]
        if progress:
            progress(min(start + batch_size, len(query_ids)), len(query_ids))
    return per_query_metrics(qrels=qrels, run=run), query_rows, qrels


def evaluate_version(
    *,
    version,
    depth: int = EVAL_DEPTH,
    batch_size: int = 256,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Retrieve the top `depth` for every test query and report the metrics overall, by segment and by type."""
    from django.utils import timezone

    per_query, query_rows, qrels = version_per_query(version=version, depth=depth, batch_size=batch_size,
                                                     progress=progress)
    report = aggregate(per_query, {
        "segment": {q: query_rows[q][1] for q in query_rows},
        "query_type": {q: query_rows[q][2] for q in query_rows},
    })
    report.update({
        "qrels": "test",
        "relevant_grade": RELEVANT_GRADE,
        "depth": depth,
        "queries_with_labels": len(qrels),
        "queries_without_relevant": len(qrels) - len(per_query),
        "evaluated_at": timezone.now().isoformat(timespec="seconds"),
    })
    return report


TABLE_GROUPS = (("all",), ("segment", "head"), ("segment", "tail"))
TABLE_METRICS = ("Recall@10", "Recall@100", "nDCG@10", "MRR@10", "ItemGoodRate@10", "QueryGoodRate@10", "Judged@10")


def metrics_table(rows: list[tuple[str, dict]], *, metrics=TABLE_METRICS, groups=TABLE_GROUPS) -> str:
    """A markdown table: one row per system, a column per (group, metric), e.g. "head nDCG@10"."""
    def cell(report: dict, group: tuple, metric: str) -> str:
        node = report
        for key in group:
            node = (node or {}).get(key) or {}
        value = node.get(metric)
        return "-" if value is None else f"{value:.3f}"

    def label(group: tuple) -> str:
        return group[-1]

    header = ["system"] + [f"{label(g)} {m}" for g in groups for m in metrics] + [f"{label(g)} n" for g in groups]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    for name, report in rows:
        counts = []
        for group in groups:
            node = report
            for key in group:
                node = (node or {}).get(key) or {}
            counts.append(str(node.get("queries", 0)))
        lines.append("| " + " | ".join([name] + [cell(report, g, m) for g in groups for m in metrics] + counts) + " |")
    return "\n".join(lines)
