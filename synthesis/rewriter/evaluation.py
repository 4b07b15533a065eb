"""Evaluating a rewriter on held-out tail queries: its rewards, what it finds that the original misses, and the
end effect on synthesis (curated pairs kept per query).

For each query the rewriter samples `n` answers (as at synthesis time). Reported:

- the mean of each reward and of the combined reward over all sampled answers (the numbers GRPO optimises);
- `new_relevant_share`: the share of queries with at least one rewrite whose top-k holds a product the judge
  finds relevant to the ORIGINAL query and the original query's own top-k (same retriever, same k) misses;
- `labelled_new_relevant_share`: the same with human labels (qrels of grade >= 2, either split; evaluation
  only, nothing here trains) instead of the judge, over the queries that have labels: a check that a gain is
  not the rewriter learning the judge's blind spots;
- `pairs_per_query` and `incremental_pairs_per_query`: the curated (original query, product) pairs the synthesis
  pipeline (`pipeline.curate_query`) keeps with these rewrites, and how many of them the baseline misses;
- `per_query`: each query's mean combined reward, whether it found a new relevant product, and its kept pairs,
  so that two rewriters can be compared query by query (paired).
"""
from __future__ import annotations

import dataclasses
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from synthesis.pipeline import CurationSettings, RetrieveMany, curate_query

from .feedback import CatalogueSpace, RetrievalFeedback
from .parsing import parse_sampled_rewrites
from .rewards import REWARD_NAMES, RewardSettings, reward_functions, score_completions

LABEL_RELEVANT_GRADE = 2


@dataclass
class EvaluationSetup:
    """Everything an evaluation reads besides the rewriter: retrieval, judge, catalogue, labels, logs."""

    feedback: RetrievalFeedback
    settings: RewardSettings
    catalogue: CatalogueSpace | None = None
    curation: CurationSettings = field(default_factory=CurationSettings)
    curation_retrieve: RetrieveMany | None = None  # the pipeline's retriever (large K); defaults to feedback's
    logged: Mapping[int, set[int]] = field(default_factory=dict)  # query pk -> its log positives
    labels: Mapping[int, Mapping[int, int]] = field(default_factory=dict)  # query pk -> {product pk: grade}


def every_reward(settings: RewardSettings) -> RewardSettings:
    """The same settings with every reward switched on: an evaluation reports all components, and combines
    them with the original weights."""
    return dataclasses.replace(settings, weights={name: 1.0 for name in REWARD_NAMES})


def sample_answers(rewriter, queries: Sequence[str], n: int) -> list[list[str]]:
    """`n` raw answers per query: the rewriter's sampled answers when it exposes them (hf-local), else its rewrites."""
    if hasattr(rewriter, "sample"):
        if getattr(rewriter, "seed", None) is not None:
            import torch

            torch.manual_seed(rewriter.seed)
        return rewriter.sample(list(queries), n)
    return rewriter.rewrite(list(queries), n)


def evaluate_rewriter(*, rewriter, queries: Sequence[tuple[int, str]], n: int, setup: EvaluationSetup,
                      examples: int = 5) -> dict[str, Any]:
    """The evaluation described in the module docstring, for (pk, text) queries and `n` candidates each."""
    if n < 1:
        raise ValueError("n must be at least 1")
    if not queries:
        raise ValueError("No held-out queries to evaluate on.")
    started = time.monotonic()
    pks, texts = [pk for pk, _ in queries], [text for _, text in queries]
    answers = sample_answers(rewriter, texts, n)
    flat_prompts = [text for text, group in zip(texts, answers) for _ in group]
    flat_answers = [answer for group in answers for answer in group]
    functions = reward_functions(settings=every_reward(setup.settings), feedback=setup.feedback,
                                 catalogue=setup.catalogue)
    scored = score_completions(prompts=flat_prompts, completions=flat_answers, queries=flat_prompts,
                               functions=functions, settings=setup.settings)
    feedback = setup.feedback
    retrieve = setup.curation_retrieve or feedback.retrieve
    with_new_relevant = with_new_labelled = labelled_queries = 0
    pairs = incremental_pairs = rewrite_count = 0
    shown, per_query = [], []
    combined = iter(scored["combined"])
    for pk, text, group in zip(pks, texts, answers):
        query_combined = [next(combined) for _ in group]
        rewrites = parse_sampled_rewrites(group, query=text, limit=n)
        rewrite_count += len(rewrites)
        [original_top] = feedback.retrieved([text])
        original = set(original_top)
        new_by_rewrite = [[p for p in top if p not in original] for top in feedback.retrieved(rewrites)] \
            if rewrites else []
        new = list(dict.fromkeys(p for found in new_by_rewrite for p in found))
        found_new_relevant = bool(new) and any(s >= feedback.threshold for s in feedback.scores(text, new))
        with_new_relevant += found_new_relevant
        labels = setup.labels.get(pk)
        if labels:
            labelled_queries += 1
            if any(labels.get(p, 0) >= LABEL_RELEVANT_GRADE for p in new):
                with_new_labelled += 1
        curation = curate_query(query_pk=pk, query_text=text, rewrites=rewrites, retrieve_many=retrieve,
                                judge_products=feedback.scores, baseline_top=feedback.baseline_top(text),
                                logged=setup.logged.get(pk, ()), settings=setup.curation)
        pairs += len(curation.pairs)
        incremental_pairs += sum(1 for pair in curation.pairs if pair.incremental)
        per_query.append({"query_pk": pk, "combined": round(sum(query_combined) / len(query_combined), 4)
                          if query_combined else 0.0, "new_relevant": found_new_relevant,
                          "pairs": len(curation.pairs)})
        if len(shown) < examples:
            shown.append({"query": text, "rewrites": rewrites, "pairs": len(curation.pairs)})
    count = len(queries)
    return {
        "queries": count, "candidates": n,
        "rewards": {name: round(sum(values) / len(values), 4) if values else 0.0 for name, values in scored.items()},
        "rewrites_per_query": round(rewrite_count / count, 3),
        "new_relevant_share": round(with_new_relevant / count, 4),
        "labelled_queries": labelled_queries,
        "labelled_new_relevant_share": round(with_new_labelled / labelled_queries, 4) if labelled_queries else None,
        "pairs_per_query": round(pairs / count, 3),
        "incremental_pairs_per_query": round(incremental_pairs / count, 3),
        "seconds": round(time.monotonic() - started, 1),
        "examples": shown,
        "per_query": per_query,
    }


def query_labels(*, dataset, query_pks: Sequence[int]) -> dict[int, dict[int, int]]:
    """Human relevance grades per query (both splits; used only to evaluate)."""
    from retrieval.models import Qrel

    labels: dict[int, dict[int, int]] = defaultdict(dict)
    for query_pk, product_pk, grade in Qrel.objects.filter(query__dataset=dataset, query_id__in=list(query_pks)) \
            .values_list("query_id", "product_id", "grade"):
        labels[query_pk][product_pk] = grade
    return dict(labels)


def evaluation_setup(*, config: dict, dataset, settings: RewardSettings, device: str = "auto",
                     query_pks: Sequence[int] | None = None) -> EvaluationSetup:
    """The real setup for a data set from a training job's config (retriever, judge, catalogue, logs, labels).

    Every reward is evaluated whatever its training weight (the combined reward uses the weights), so versions
    trained with different weights compare.
    """
    from retrieval.models import RetrieverVersion
    from synthesis.pipeline import logged_products, version_retrieve_many

    from .setup import reward_setup

    feedback, catalogue = reward_setup(config=config, dataset=dataset, settings=every_reward(settings),
                                       device=device)
    curation = CurationSettings(**{"threshold": feedback.threshold, **dict(config.get("curation") or {})})
    retriever = RetrieverVersion.objects.get(pk=config["retriever_version_id"], dataset=dataset)
    if query_pks is None:
        query_pks = list(dataset.queries.values_list("pk", flat=True))
    return EvaluationSetup(feedback=feedback, settings=settings, catalogue=catalogue, curation=curation,
                           curation_retrieve=version_retrieve_many(retriever),
                           logged=logged_products(query_pks),
                           labels=query_labels(dataset=dataset, query_pks=query_pks))
