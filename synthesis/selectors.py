"""Reads over synthesis state: a job's counts and statistics, a sample for review, and the synthetic pair source."""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db.models import (
    Avg,
    Count,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce

from jobs.models import Job

from .models import MinedQuery, RewriteCandidate, SyntheticPair

COUNT_FIELDS = ("queries", "queries_done", "candidates", "rewrites", "kept_pairs", "incremental_pairs")


def _per_job(queryset: QuerySet, aggregate) -> Coalesce:
    return Coalesce(Subquery(queryset.filter(job=OuterRef("pk")).order_by().values("job").annotate(n=aggregate)
                             .values("n")[:1], output_field=IntegerField()), Value(0))


def with_synthesis_counts(jobs: QuerySet) -> QuerySet:
    """The jobs with their counts annotated (one subquery each), so a page of jobs reads them in ONE query."""
    return jobs.annotate(
        synthesis_queries=_per_job(MinedQuery.objects.all(), Count("pk")),
        synthesis_queries_done=_per_job(MinedQuery.objects.filter(done_at__isnull=False), Count("pk")),
        synthesis_candidates=_per_job(MinedQuery.objects.all(), Sum("candidates")),
        synthesis_rewrites=_per_job(RewriteCandidate.objects.all(), Count("pk")),
        synthesis_kept_pairs=_per_job(SyntheticPair.objects.all(), Count("pk")),
        synthesis_incremental_pairs=_per_job(SyntheticPair.objects.filter(incremental=True), Count("pk")))


def _counts(values: dict) -> dict:
    kept, incremental = values["kept_pairs"] or 0, values["incremental_pairs"] or 0
    return {**{name: values[name] or 0 for name in COUNT_FIELDS},
            "incremental_share": round(incremental / kept, 3) if kept else 0.0}


def synthesis_counts(*, job: Job) -> dict:
    """The numbers a job's progress shows: queries, rewrites, candidates, kept pairs, incremental share.

    Read from the annotations of `with_synthesis_counts` when the job row carries them, else counted now.
    """
    if hasattr(job, "synthesis_queries"):
        return _counts({name: getattr(job, f"synthesis_{name}") for name in COUNT_FIELDS})
    mined = MinedQuery.objects.filter(job=job).aggregate(
        queries=Count("pk"), queries_done=Count("pk", filter=Q(done_at__isnull=False)), candidates=Sum("candidates"))
    pairs = SyntheticPair.objects.filter(job=job).aggregate(kept_pairs=Count("pk"),
                                                            incremental_pairs=Count("pk", filter=Q(incremental=True)))
    return _counts({**mined, **pairs, "rewrites": RewriteCandidate.objects.filter(job=job).count()})


def synthesis_statistics(*, job: Job) -> dict:
    """Counts plus quality figures for a finished (or partial) job."""
    counts = synthesis_counts(job=job)
    pairs = SyntheticPair.objects.filter(job=job)
    done = counts["queries_done"]
    with_pairs = pairs.values("query").distinct().count()
    by_type: dict[str, dict] = {}
    for tags, pair_count in (MinedQuery.objects.filter(job=job, done_at__isnull=False)
                             .annotate(n=Count("query__synthetic_pairs", filter=Q(query__synthetic_pairs__job=job)))
                             .values_list("tags", "n")):
        for name in sorted({tag["type"] for tag in tags}) or ["untagged"]:
            row = by_type.setdefault(name, {"queries": 0, "pairs": 0})
            row["queries"] += 1
            row["pairs"] += pair_count
    useful_rewrites = RewriteCandidate.objects.filter(job=job, kept__gt=0).count()
    return {
        **counts,
        "queries_with_pairs": with_pairs,
        "query_coverage": round(with_pairs / done, 3) if done else 0.0,
        "pairs_per_query": round(counts["kept_pairs"] / done, 2) if done else 0.0,
        "rewrites_per_query": round(counts["rewrites"] / done, 2) if done else 0.0,
        "useful_rewrite_share": round(useful_rewrites / counts["rewrites"], 3) if counts["rewrites"] else 0.0,
        "found_only_by_rewrites": pairs.filter(found_by_original=False).count(),
        "mean_judge_score": round(pairs.aggregate(m=Avg("judge_score"))["m"] or 0.0, 3),
        "by_type": dict(sorted(by_type.items())),
        "test_label_check": kept_pairs_against_test_labels(job=job),
    }


def kept_pairs_against_test_labels(*, job: Job) -> dict:
    """Measurement only (the job never reads these labels): of the kept pairs that carry a `test` label, how many
    and the share graded relevant (grade >= 2) — the precision of what the judge kept, where it can be checked."""
    from retrieval.models import Qrel

    kept = set(SyntheticPair.objects.filter(job=job).values_list("query_id", "product_id"))
    grades = {(q, p): g for q, p, g in Qrel.objects.filter(split=Qrel.Split.TEST, query_id__in={q for q, _ in kept})
              .values_list("query_id", "product_id", "grade") if (q, p) in kept}
    relevant = sum(1 for grade in grades.values() if grade >= 2)
    return {"labelled_pairs": len(grades), "relevant": relevant,
            "precision": round(relevant / len(grades), 3) if grades else None}


def synthesis_sample(*, job: Job, limit: int = 20, pairs_per_query: int = 5) -> list[dict]:
    """Done queries (those with pairs first) with their rewrites and best kept products, for a reviewer."""
    mined = list(MinedQuery.objects.filter(job=job, done_at__isnull=False).select_related("query")
                 .annotate(n=Count("query__synthetic_pairs", filter=Q(query__synthetic_pairs__job=job)))
                 .order_by("-n", "position")[:limit])
    query_pks = [m.query_id for m in mined]
    rewrites: dict[int, list] = {pk: [] for pk in query_pks}
    for rewrite in RewriteCandidate.objects.filter(job=job, query_id__in=query_pks).order_by("rank"):
        rewrites[rewrite.query_id].append(rewrite)
    pairs: dict[int, list] = {pk: [] for pk in query_pks}
    for pair in (SyntheticPair.objects.filter(job=job, query_id__in=query_pks).select_related("product")
                 .order_by("query_id", "-judge_score")):
        if len(pairs[pair.query_id]) < pairs_per_query:
            pairs[pair.query_id].append(pair)
    return [{"mined": m, "query": m.query, "types": tag_types(m.tags), "rewrites": rewrites[m.query_id],
             "pairs": pairs[m.query_id], "pair_count": m.n} for m in mined]


def tag_types(tags: Sequence[dict]) -> list[dict]:
    """A query's type tags once per type, with every source's reason: `[{"type", "reasons"}]` in first-seen order."""
    reasons: dict[str, list[str]] = {}
    for tag in tags or ():
        reasons.setdefault(tag["type"], []).append(f"{tag.get('reason', '')} ({tag.get('source', '?')})")
    return [{"type": name, "reasons": "; ".join(found)} for name, found in reasons.items()]


def synthetic_pairs(dataset, *, job_ids: Sequence[int], only_incremental: bool = False,
                    min_score: float | None = None, weight: float = 1.0,
                    score_weighted: bool = False) -> Iterable[tuple[int, int, float]]:
    """The retrieval app's "synthetic" pair source: kept (original query, product) pairs of the given jobs.

    `weight` is each pair's training weight (times its judge score when `score_weighted`); a pair kept by
    several jobs comes once per job, and the retrieval side adds the weights up.
    """
    if not job_ids:
        raise ValueError("The synthetic pair source needs job_ids: the synthesis jobs whose pairs to use.")
    if weight <= 0:
        raise ValueError("weight must be positive")
    pairs = SyntheticPair.objects.filter(job_id__in=[int(j) for j in job_ids], query__dataset=dataset)
    if only_incremental:
        pairs = pairs.filter(incremental=True)
    if min_score is not None:
        pairs = pairs.filter(judge_score__gte=float(min_score))
    rows = pairs.order_by("query_id", "product_id", "job_id").values_list("query_id", "product_id", "judge_score")
    for query_pk, product_pk, score in rows.iterator(chunk_size=5000):
        yield query_pk, product_pk, weight * score if score_weighted else weight


def synthetic_margins(dataset, *, job_ids: Sequence[int], negatives_per_pair: int = 1
                      ) -> Iterable[tuple[int, int, int, float]]:
    """The retrieval app's "synthetic-margins" source (soft labels): for every kept pair of the given jobs, its
    query's hard negatives (the judge's rejections of products the pipeline retrieved, best-retrieved first; each
    kept pair takes the next ones in turn) with the judge's margin score(query, kept) - score(query, rejected)."""
    if not job_ids:
        raise ValueError("The synthetic-margins source needs job_ids: the synthesis jobs whose pairs to use.")
    if negatives_per_pair < 1:
        raise ValueError("negatives_per_pair must be at least 1")
    jobs = [int(j) for j in job_ids]
    negatives = {(job, query): rows for job, query, rows in MinedQuery.objects.filter(
        job_id__in=jobs, query__dataset=dataset).values_list("job_id", "query_id", "hard_negatives")}
    if not any(negatives.values()):
        raise ValueError(f"Synthesis job(s) {jobs} recorded no hard negatives (jobs run before soft labels existed, "
                         "or hard_negatives_per_query 0): run synthesis again to train with soft labels.")
    seen: dict[tuple[int, int], int] = {}
    for job, query, product, score in SyntheticPair.objects.filter(job_id__in=jobs, query__dataset=dataset).order_by(
            "job_id", "query_id", "-judge_score", "product_id").values_list("job_id", "query_id", "product_id",
                                                                            "judge_score"):
        rejected = negatives.get((job, query)) or []
        for _ in range(min(negatives_per_pair, len(rejected))):
            turn = seen.get((job, query), 0)
            seen[(job, query)] = turn + 1
            negative, negative_score = rejected[turn % len(rejected)]
            yield query, product, int(negative), float(score) - float(negative_score)
