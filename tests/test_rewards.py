"""Rewriter RL rewards on hand-made cases: each reward favours what it documents and stays in [0, 1]."""
import functools

import numpy as np
import pytest

from synthesis.rewriter.feedback import CatalogueSpace, RetrievalFeedback
from synthesis.rewriter.rewards import (
    RewardSettings,
    alignment_reward,
    combine_rewards,
    completion_rewrite,
    diversity_reward,
    format_reward,
    incremental_reward,
    relevance_reward,
    reward_functions,
    reward_name,
    score_completions,
)

QUERY = "something to keep my coffee hot"


def said(text: str) -> list[dict]:
    """A conversational completion, as GRPOTrainer passes it."""
    return [{"role": "assistant", "content": text}]


class FakeCatalogue:
    """Retrieval by a fixed table (rewrite -> product pks) and a judge by a fixed table ((query, pk) -> score)."""

    def __init__(self, results: dict[str, list[int]], grades: dict[tuple[str, int], float],
                 baseline: dict[str, list[int]] | None = None):
        self.results, self.grades, self.baseline = results, grades, baseline or {}
        self.retrieve_calls: list[list[str]] = []
        self.judged_queries: list[str] = []

    def retrieve(self, texts, k):
        self.retrieve_calls.append(list(texts))
        return [self.results.get(text, [])[:k] for text in texts]

    def retrieve_baseline(self, texts, k):
        return [self.baseline.get(text, [])[:k] for text in texts]

    def judge(self, query, pks):
        self.judged_queries.append(query)
        return [self.grades.get((query, pk), 0.0) for pk in pks]

    def feedback(self, **kwargs) -> RetrievalFeedback:
        return RetrievalFeedback(retrieve=self.retrieve, judge=self.judge, baseline_retrieve=self.retrieve_baseline,
                                 **kwargs)


@pytest.fixture
def catalogue():
    return FakeCatalogue(
        results={
            "usb mug warmer": [1, 2, 3, 4],
            "insulated travel mug": [5, 6, 1, 7],
            "coffee beans": [8, 9, 10, 11],
        },
        grades={(QUERY, 1): 1.0, (QUERY, 2): 1.0, (QUERY, 3): 0.6, (QUERY, 4): 0.2,
                (QUERY, 5): 1.0, (QUERY, 6): 0.8, (QUERY, 7): 0.1,
                # relevant to the rewrite, not to the shopper's query: must not count
                ("coffee beans", 8): 1.0, ("coffee beans", 9): 1.0},
        baseline={QUERY: [1, 2, 40]},
    )


def test_completions_are_read_like_the_rewriter_reads_answers():
    assert completion_rewrite(said('1. "USB mug warmer"\n2. heated plate')) == "USB mug warmer"
    assert completion_rewrite("Rewrite: insulated mug.") == "insulated mug"
    assert completion_rewrite(said("  \n ")) == ""
    assert completion_rewrite("assistant\nmanual coffee grinder") == "manual coffee grinder"  # a turn it opened


def test_relevance_is_the_mean_judge_score_for_the_original_query_over_k_slots(catalogue):
    feedback = catalogue.feedback(k=4)
    rewards = relevance_reward(
        prompts=["p"] * 4,
        completions=[said("usb mug warmer"), said("coffee beans"), said(""), said("no such products")],
        query=[QUERY] * 4, feedback=feedback)
    assert rewards == pytest.approx([(1.0 + 1.0 + 0.6 + 0.2) / 4, 0.0, 0.0, 0.0])
    assert set(catalogue.judged_queries) == {QUERY}  # never judged against the rewrite


def test_relevance_counts_missing_result_slots_as_zero(catalogue):
    feedback = catalogue.feedback(k=8)
    [reward] = relevance_reward(prompts=["p"], completions=[said("usb mug warmer")], query=[QUERY],
                                feedback=feedback)
    assert reward == pytest.approx(2.8 / 8)


def test_incremental_is_the_share_of_relevant_finds_the_baseline_misses(catalogue):
    feedback = catalogue.feedback(k=4, threshold=0.5)
    rewards = incremental_reward(
        prompts=["p"] * 3,
        completions=[said("usb mug warmer"), said("insulated travel mug"), said("coffee beans")],
        query=[QUERY] * 3, feedback=feedback)
    # usb mug warmer: relevant 1, 2, 3; baseline has 1 and 2 -> 1 of 3 new.
    # insulated travel mug: relevant 5, 6, 1; only 1 is in the baseline -> 2 of 3 new.
    # coffee beans: nothing relevant to the original query -> 0.
    assert rewards == pytest.approx([1 / 3, 2 / 3, 0.0])


def test_feedback_retrieves_and_judges_a_repeated_rewrite_once(catalogue):
    feedback = catalogue.feedback(k=4)
    completions = [said("usb mug warmer")] * 3
    relevance_reward(prompts=["p"] * 3, completions=completions, query=[QUERY] * 3, feedback=feedback)
    incremental_reward(prompts=["p"] * 3, completions=completions, query=[QUERY] * 3, feedback=feedback)
    assert catalogue.retrieve_calls == [["usb mug warmer"]]
    assert len(catalogue.judged_queries) == 1


def test_rewards_refuse_completions_without_their_original_query(catalogue):
    with pytest.raises(ValueError, match="query"):
        relevance_reward(prompts=["p"], completions=[said("usb mug warmer")], feedback=catalogue.feedback())
    with pytest.raises(ValueError, match="match"):
        format_reward(prompts=["p", "p"], completions=[said("a b"), said("c d")], query=[QUERY])


def bag_of_words_space(titles: list[str]) -> CatalogueSpace:
    vocabulary = sorted({word for title in titles for word in title.split()} | {"how", "do", "i", "stay", "warm"})

    def embed(texts):
        rows = np.zeros((len(texts), len(vocabulary)), dtype=np.float32)
        for row, text in zip(rows, texts):
            for word in text.lower().split():
                if word in vocabulary:
                    row[vocabulary.index(word)] += 1
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        return rows / np.where(norms == 0, 1, norms)

    return CatalogueSpace(title_vectors=embed(titles), embed=embed, neighbours=2)


def test_alignment_prefers_rewrites_worded_like_product_titles():
    space = bag_of_words_space(["usb mug warmer", "electric mug warmer plate", "insulated travel mug"])
    catalogue_like, story_like, empty = alignment_reward(
        prompts=["p"] * 3, completions=[said("electric mug warmer"), said("how do i stay warm"), said("")],
        catalogue=space)
    assert catalogue_like > 0.7
    assert story_like == 0.0
    assert empty == 0.0
    assert 0.0 <= catalogue_like <= 1.0


def test_catalogue_space_refuses_an_empty_catalogue():
    with pytest.raises(ValueError, match="at least one title"):
        CatalogueSpace(title_vectors=np.zeros((0, 3)), embed=lambda texts: texts)


def test_diversity_scores_distance_to_the_nearest_sibling_of_the_same_query():
    rewards = diversity_reward(
        prompts=["p1"] * 3 + ["p2"] * 2,
        completions=[said("usb mug warmer"), said("USB mug-warmer!"), said("insulated travel bottle"),
                     said("usb mug warmer"), said("")],
        query=["q1"] * 3 + ["q2"] * 2)
    assert rewards[0] == rewards[1] == 0.0  # copies of each other (normalised)
    assert rewards[2] == 1.0  # shares no word with its siblings
    assert rewards[3] == 1.0  # same text as in q1, but its only sibling (q2's empty answer) is different
    assert rewards[4] == 0.0  # empty


def test_diversity_of_partly_overlapping_siblings_is_one_minus_jaccard():
    a, b = diversity_reward(prompts=["p"] * 2, completions=[said("red wool scarf"), said("red wool hat")],
                            query=["q", "q"])
    assert a == b == pytest.approx(1 - 2 / 4)


def test_format_rewards_one_clean_rewrite_and_punishes_copies_and_rambling():
    rewards = format_reward(
        prompts=["p"] * 7,
        completions=[said("insulated coffee mug with lid"), said("Something to keep my coffee HOT!"), said(""),
                     said("!!! ???"), said("mug"), said("usb mug warmer\nThis keeps coffee warm because..."),
                     said(" ".join(["word"] * 20))],
        query=[QUERY] * 7, min_words=2, max_words=12)
    assert rewards == [1.0, 0.0, 0.0, 0.0, 0.5, 0.5, 0.5]


def test_reward_settings_reject_unknown_negative_or_all_zero_weights():
    with pytest.raises(ValueError, match="Unknown reward"):
        RewardSettings.from_config({"weights": {"fluency": 1}})
    with pytest.raises(ValueError, match=">= 0"):
        RewardSettings.from_config({"weights": {"relevance": -1}})
    with pytest.raises(ValueError, match="above 0"):
        RewardSettings(weights={name: 0 for name in ("relevance", "alignment", "diversity", "incremental", "format")})
    with pytest.raises(ValueError, match="Unknown reward setting"):
        RewardSettings.from_config({"topk": 3})


def test_combined_reward_is_the_weighted_mean_of_active_components():
    settings = RewardSettings.from_config({"weights": {"relevance": 3, "format": 1, "alignment": 0,
                                                       "diversity": 0, "incremental": 0}})
    assert settings.active == ["relevance", "format"]
    combined = combine_rewards({"relevance": [1.0, 0.0], "format": [0.0, 1.0]}, settings=settings)
    assert combined == pytest.approx([0.75, 0.25])


def test_reward_functions_bind_dependencies_and_keep_names_trl_logs(catalogue):
    from trl.trainer.utils import get_callable_name

    settings = RewardSettings.from_config({"weights": {"alignment": 0}, "k": 4})
    functions = reward_functions(settings=settings, feedback=catalogue.feedback(k=4))
    assert [reward_name(f) for f in functions] == ["relevance", "diversity", "incremental", "format"]
    assert [get_callable_name(f) for f in functions][0] == "relevance_reward"
    assert all(isinstance(f, functools.partial) or callable(f) for f in functions)
    scored = score_completions(prompts=["p"] * 2, completions=[said("usb mug warmer"), said("coffee beans")],
                               queries=[QUERY] * 2, functions=functions, settings=settings)
    assert set(scored) == {"relevance", "diversity", "incremental", "format", "combined"}
    assert scored["combined"][0] > scored["combined"][1]
    assert all(0.0 <= value <= 1.0 for values in scored.values() for value in values)


def test_reward_functions_say_which_dependency_is_missing():
    with pytest.raises(ValueError, match="retriever and a judge"):
        reward_functions(settings=RewardSettings(), feedback=None)
    with pytest.raises(ValueError, match="catalogue"):
        reward_functions(settings=RewardSettings(), feedback=RetrievalFeedback(retrieve=None, judge=None))
