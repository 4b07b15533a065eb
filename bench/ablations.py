"""Training-pair lists for the synthesis protocol's ablations (`bench/synthesis_protocol.py`)."""
from __future__ import annotations


def unjudged_pairs(*, job, retriever) -> list[tuple[int, int, float]]:
    """The job's rewrites through the same retrieval and curation, with retrieval rank in place of the judge."""
    from synthesis.config import SynthesisConfig
    from synthesis.models import MinedQuery, RewriteCandidate
    from synthesis.pipeline import logged_products, select_pairs, union_candidates, version_retrieve_many

    config = SynthesisConfig.model_validate(job.config)
    retrieve_many = version_retrieve_many(retriever)
    mined = list(MinedQuery.objects.filter(job=job).select_related("query").order_by("query_id"))
    logged = logged_products([m.query_id for m in mined]) if config.drop_logged else {}
    pairs = []
    for m in mined:
        rewrites = list(dict.fromkeys(RewriteCandidate.objects.filter(job=job, query_id=m.query_id)
                                      .order_by("rank").values_list("text", flat=True)))
        results = retrieve_many([m.query.text, *rewrites], config.retrieve_k)
        candidates = union_candidates(original=results[0], by_rewrite=dict(zip(rewrites, results[1:])))
        best_rank: dict[int, int] = {}
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

    import hashlib

    rows: dict[str, Query] = {}
    pairs = []
    for pair in SyntheticPair.objects.filter(job=job).order_by("pk"):
        for text in pair.rewrites:
            if text not in rows:  # one row per rewrite text, the same row when a later run asks again
                key = hashlib.sha1(text.encode()).hexdigest()[:16]
                rows[text], _ = Query.objects.get_or_create(
                    dataset=dataset, query_id=f"bench-rewrite-{key}",
                    defaults={"text": text, "frequency": 0, "segment": Query.Segment.TAIL})
            pairs.append((rows[text].pk, pair.product_id, 1.0))
    return pairs
