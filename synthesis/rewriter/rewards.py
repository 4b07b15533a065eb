"""Rewards for training the rewriter with RL (GRPO): one documented function per signal, combined with weights.

Every reward has TRL's reward shape `f(prompts, completions, **kw) -> list[float]` with one value in [0, 1] per
completion, so `trl.GRPOTrainer` can take them as they are. The dataset's `query` column (the ORIGINAL query of
each prompt) reaches them as the `query` keyword. What a reward needs besides the text (a retriever, a judge, a
catalogue space) is a keyword-only argument, bound with `functools.partial` by `reward_functions`; tests pass tiny
fakes instead of the real retriever and judge.

The signals follow arXiv 2602.23620 (semantic relevance, product-side distribution alignment, diversity) and
BEQUE (arXiv 2311.03758: relevance, increment):

- `relevance_reward`: are the products the rewrite finds relevant to the ORIGINAL query?
- `alignment_reward`: does the rewrite speak the catalogue's language (close to real product titles)?
- `diversity_reward`: does the candidate differ from its siblings (the other candidates for the same query)?
- `incremental_reward`: does the rewrite find relevant products the baseline misses for the original query?
- `format_reward`: is it one clean keyword rewrite, not empty, not a copy of the query, of sensible length?

A completion is read the way the `hf-local` rewriter reads an answer at synthesis time (the model's own words by
`parsing.model_answer`, then its first candidate, cleaned by `parsing.clean_rewrite`), so the rewards score
exactly what the pipeline would use.
"""
from __future__ import annotations

import functools
import math
import re
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .feedback import CatalogueSpace, RetrievalFeedback
from .parsing import clean_rewrite, model_answer, normalise_query, split_candidates

REWARD_NAMES = ("relevance", "alignment", "diversity", "incremental", "format")
DEFAULT_WEIGHTS: dict[str, float] = {
    "relevance": 1.0, "alignment": 0.5, "diversity": 0.5, "incremental": 1.0, "format": 1.0,
}
_UNCAPPED = 10**6
_LETTER = re.compile(r"[^\W\d_]")


# --- reading completions ---------------------------------------------------------------------------------------

def completion_text(completion: Any) -> str:
    """The raw text of one completion: a plain string, or the content of a conversational completion's messages."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Mapping):
        return str(completion.get("content") or "")
    if isinstance(completion, Sequence):
        return "".join(completion_text(message) for message in completion)
    raise TypeError(f"A completion must be a string or a list of chat messages, got {type(completion).__name__}.")


def completion_rewrite(completion: Any, *, max_words: int = _UNCAPPED) -> str:
    """The rewrite a completion proposes: its first candidate line, cleaned ("" when there is none)."""
    for raw in split_candidates(model_answer(completion_text(completion))):
        rewrite = clean_rewrite(raw, max_chars=_UNCAPPED, max_words=max_words)
        if rewrite:
            return rewrite
    return ""


def _original_queries(query: Sequence[str] | None, count: int) -> list[str]:
    if query is None:
        raise ValueError("Rewards need the original query of every completion: give the dataset a `query` column.")
    queries = [query] * count if isinstance(query, str) else list(query)
    if len(queries) != count:
        raise ValueError(f"{len(queries)} original queries for {count} completions; they must match one to one.")
    return queries



def _retrieved_for(completions: Sequence[Any], feedback: RetrievalFeedback) -> list[tuple[str, list[int]]]:
    """(rewrite, its top-k pks) per completion; an empty rewrite retrieves nothing."""
    rewrites = [completion_rewrite(c) for c in completions]
    texts = [r for r in rewrites if r]
    found = dict(zip(texts, feedback.retrieved(texts))) if texts else {}
    return [(rewrite, found[rewrite] if rewrite else []) for rewrite in rewrites]


# --- the rewards ------------------------------------------------------------------------------------------------

def relevance_reward(prompts: Sequence[Any], completions: Sequence[Any], *, query: Sequence[str] | None = None,
                     feedback: RetrievalFeedback, **_: Any) -> list[float]:
    """Semantic relevance: the mean judge score, against the ORIGINAL query, of the rewrite's top-k products.

    Why: a rewrite is only useful if what it finds is relevant to what the shopper asked (the training pair is
    always (original query, product)); judging against the rewrite itself would reward drifting away.
    Range [0, 1]: the mean over the k result slots (an empty slot, or an empty rewrite, scores 0), so a rewrite
    that fills its top-k with relevant products scores near 1.
    """
    queries = _original_queries(query, len(completions))
    rewards = []
    for original, (rewrite, pks) in zip(queries, _retrieved_for(completions, feedback)):
        rewards.append(sum(feedback.scores(original, pks)) / feedback.k if pks else 0.0)
    return rewards


def incremental_reward(prompts: Sequence[Any], completions: Sequence[Any], *, query: Sequence[str] | None = None,
                       feedback: RetrievalFeedback, **_: Any) -> list[float]:
    """Increment (BEQUE): the share of the relevant products a rewrite retrieves that the baseline misses.

    Relevant = judged at or above `feedback.threshold` for the original query, among the rewrite's top-k; missed =
    not in the baseline's top-`baseline_k` for the original query. Why: the synthetic pairs are worth most where
    they teach the online retriever products it cannot find yet; a rewrite that only re-finds the baseline's
    results adds nothing. Range [0, 1]: 0 when the rewrite finds no relevant product (or only ones the baseline
    has), 1 when every relevant product it finds is new.
    """
    queries = _original_queries(query, len(completions))
    rewards = []
    for original, (rewrite, pks) in zip(queries, _retrieved_for(completions, feedback)):
        relevant = [pk for pk, s in zip(pks, feedback.scores(original, pks)) if s >= feedback.threshold]
        if not relevant:
            rewards.append(0.0)
            continue
        baseline = feedback.baseline_top(original)
        rewards.append(sum(1 for pk in relevant if pk not in baseline) / len(relevant))
    return rewards




def alignment_reward(prompts: Sequence[Any], completions: Sequence[Any], *, catalogue: CatalogueSpace,
                     **_: Any) -> list[float]:
    """Product-side alignment: how close the rewrite lies to its nearest product titles in the catalogue.

    Why: shoppers and merchants word things differently; a rewrite in the merchants' words ("insulated stainless
    travel mug 500ml") reaches products that a question or a story does not, and keeps the rewriter's output
    inside the distribution of the product side. Range [0, 1]: the mean cosine similarity to the nearest
    `catalogue.neighbours` titles (negative similarities count 0); an empty rewrite scores 0.
    """
    rewrites = [completion_rewrite(c) for c in completions]
    texts = [r for r in rewrites if r]
    closeness = dict(zip(texts, catalogue.closeness(texts))) if texts else {}
    return [closeness[r] if r else 0.0 for r in rewrites]


def _word_set(text: str) -> frozenset[str]:
    return frozenset(normalise_query(text).split())


def diversity_reward(prompts: Sequence[Any], completions: Sequence[Any], *, query: Sequence[str] | None = None,
                     **_: Any) -> list[float]:
    """Diversity: how different a candidate is from its siblings, the other candidates for the same query.

    Distance is 1 minus the word-set Jaccard similarity (normalised words), taken to the NEAREST sibling, so two
    identical candidates both score 0 however different the rest are. Siblings are the completions in the same
    call with the same original query (in GRPO, the group of `num_generations` samples of one prompt). Why: the
    pipeline retrieves with every candidate, and n near-copies find the same products n times. Range [0, 1]:
    1 for a candidate sharing no word with any sibling (or with no sibling at all), 0 for an empty rewrite or
    an exact copy of a sibling.
    """
    if query is None:  # without the query column, siblings are the completions of the same prompt
        keys = [repr(p) for p in prompts]
    else:
        keys = _original_queries(query, len(completions))
    words = [_word_set(completion_rewrite(c)) for c in completions]
    groups: dict[str, list[int]] = defaultdict(list)
    for index, key in enumerate(keys):
        groups[key].append(index)
    rewards = []
    for index, key in enumerate(keys):
        mine = words[index]
        if not mine:
            rewards.append(0.0)
            continue
        nearest = 0.0
        for other in groups[key]:
            if other != index:
                theirs = words[other]
                union = len(mine | theirs)
                nearest = max(nearest, len(mine & theirs) / union if union else 0.0)
        rewards.append(1.0 - nearest)
    return rewards


def format_reward(prompts: Sequence[Any], completions: Sequence[Any], *, query: Sequence[str] | None = None,
                  min_words: int = 2, max_words: int = 12, **_: Any) -> list[float]:
    """Format: one clean keyword rewrite, not empty, not a copy of the query, within the length bounds.

    0 for an empty answer, an answer with no letters, or a copy of the original query (compared normalised:
    case, accents and punctuation do not count). Otherwise 1, minus 0.5 when the rewrite has fewer than
    `min_words` or more than `max_words` words, minus 0.5 when the answer holds more than the rewrite (a
    second line, an explanation, a list), which the pipeline would throw away. Why: the pipeline uses only the
    first clean line; rambling wastes generation time and copies retrieve nothing new. Range [0, 1].
    """
    if min_words < 1 or max_words < min_words:
        raise ValueError("Need 1 <= min_words <= max_words")
    queries = _original_queries(query, len(completions))
    rewards = []
    for original, completion in zip(queries, completions):
        rewrite = completion_rewrite(completion)
        if not rewrite or not _LETTER.search(rewrite) or normalise_query(rewrite) == normalise_query(original):
            rewards.append(0.0)
            continue
        score = 1.0
        if not min_words <= len(rewrite.split()) <= max_words:
            score -= 0.5
        if len(split_candidates(model_answer(completion_text(completion)))) > 1:
            score -= 0.5
        rewards.append(score)
    return rewards


REWARD_FUNCTIONS: dict[str, Callable[..., list[float]]] = {
    "relevance": relevance_reward, "alignment": alignment_reward, "diversity": diversity_reward,
    "incremental": incremental_reward, "format": format_reward,
}


# --- configuration and combination --------------------------------------------------------------------------------

@dataclass(frozen=True)
class RewardSettings:
    """Which rewards count and how much, and the knobs of each. A weight of 0 switches a reward off."""

    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    k: int = 10
    threshold: float | None = None  # None: the judge version's calibrated keep threshold (else 0.5)
    baseline_k: int = 100
    min_words: int = 2
    max_words: int = 12
    neighbours: int = 5

    def __post_init__(self):
        unknown = sorted(set(self.weights) - set(REWARD_NAMES))
        if unknown:
            raise ValueError(f"Unknown reward(s) {unknown}; the rewards are {', '.join(REWARD_NAMES)}.")
        bad = {name: w for name, w in self.weights.items()
               if not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0}
        if bad:
            raise ValueError(f"Reward weights must be finite numbers >= 0, got {bad}.")
        if not any(self.weights.values()):
            raise ValueError("At least one reward needs a weight above 0.")
        if self.k < 1 or self.baseline_k < 1 or self.neighbours < 1:
            raise ValueError("k, baseline_k and neighbours must be at least 1")
        if self.threshold is not None and not 0 <= self.threshold <= 1:
            raise ValueError(f"The relevance threshold must be in [0, 1], got {self.threshold}")
        if self.min_words < 1 or self.max_words < self.min_words:
            raise ValueError("Need 1 <= min_words <= max_words")

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> RewardSettings:
        """From a job config's `rewards` object: `{"weights": {...}, "k": 10, ...}`; weights left out keep defaults."""
        config = dict(config or {})
        known = {"weights", "k", "threshold", "baseline_k", "min_words", "max_words", "neighbours"}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(f"Unknown reward setting(s) {unknown}; known: {', '.join(sorted(known))}.")
        weights = {**DEFAULT_WEIGHTS, **{str(k): v for k, v in dict(config.pop("weights", None) or {}).items()}}
        return cls(weights=weights, **config)

    @property
    def active(self) -> list[str]:
        """The rewards with a weight above 0, in the fixed order of REWARD_NAMES."""
        return [name for name in REWARD_NAMES if self.weights.get(name, 0) > 0]

    def normalised_weights(self) -> list[float]:
        """The active rewards' weights scaled to sum to 1, so the combined reward stays in [0, 1]."""
        total = sum(self.weights[name] for name in self.active)
        return [self.weights[name] / total for name in self.active]

    def as_dict(self) -> dict:
        return {"weights": {name: float(self.weights.get(name, 0.0)) for name in REWARD_NAMES}, "k": self.k,
                "threshold": self.threshold, "baseline_k": self.baseline_k, "min_words": self.min_words,
                "max_words": self.max_words, "neighbours": self.neighbours}


def reward_functions(*, settings: RewardSettings, feedback: RetrievalFeedback | None = None,
                     catalogue: CatalogueSpace | None = None) -> list[Callable[..., list[float]]]:
    """The active rewards with their dependencies bound, in `settings.active` order (TRL's `reward_funcs`).

    Bound with `functools.partial`, so TRL logs each under the function's own name (`rewards/<name>_reward/mean`).
    """
    functions = []
    for name in settings.active:
        if name in ("relevance", "incremental"):
            if feedback is None:
                raise ValueError(f"The {name} reward needs a retriever and a judge (RetrievalFeedback).")
            functions.append(functools.partial(REWARD_FUNCTIONS[name], feedback=feedback))
        elif name == "alignment":
            if catalogue is None:
                raise ValueError("The alignment reward needs the catalogue's titles (CatalogueSpace).")
            functions.append(functools.partial(alignment_reward, catalogue=catalogue))
        elif name == "format":
            functions.append(functools.partial(format_reward, min_words=settings.min_words,
                                               max_words=settings.max_words))
        else:
            functions.append(REWARD_FUNCTIONS[name])
    return functions


def reward_name(function: Callable) -> str:
    """The short reward name ("relevance") of a reward function or a partial of one."""
    while isinstance(function, functools.partial):
        function = function.func
    return getattr(function, "__name__", type(function).__name__).removesuffix("_reward")


def combine_rewards(components: Mapping[str, Sequence[float]], *, settings: RewardSettings) -> list[float]:
    """The combined reward per completion: the weighted mean of the active components (in [0, 1])."""
    names, weights = settings.active, settings.normalised_weights()
    missing = [name for name in names if name not in components]
    if missing:
        raise ValueError(f"Missing reward component(s) {missing}.")
    count = len(components[names[0]])
    return [sum(w * components[name][i] for name, w in zip(names, weights)) for i in range(count)]


def score_completions(*, prompts: Sequence[Any], completions: Sequence[Any], queries: Sequence[str],
                      functions: Sequence[Callable[..., list[float]]],
                      settings: RewardSettings) -> dict[str, list[float]]:
    """Every active component and the combined reward for a batch of completions (outside a trainer)."""
    components = {reward_name(f): list(f(prompts=prompts, completions=completions, query=list(queries)))
                  for f in functions}
    components["combined"] = combine_rewards(components, settings=settings)
    return components
