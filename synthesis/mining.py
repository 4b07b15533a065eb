"""Mining: pick the long-tail queries a synthesis job works on and tag their knowledge-intensive types.

A query is long-tail when its segment is one of the chosen segments (default `tail`) or it has fewer than
`max_clicks` logged clicks. Types (`knowledge`, `qa`, `negation`, `alternative`, `multi_intent`) come from
transparent rules, optionally from an LLM tagger, and from the imported `query_type`; each tag keeps the reason
it was given so a reviewer can check it.
"""
from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

TAGGER_TYPES = ("knowledge", "qa", "negation", "alternative", "multi_intent")

TAGGER_SYSTEM = (
    "You classify e-commerce search queries. Types: knowledge (needs world knowledge to know which products fit, "
    "e.g. use cases, occasions, recipients), qa (a question), negation (excludes something), alternative (wants "
    "a substitute for something), multi_intent (asks for several different products). A query can have several "
    "types or none. Answer with JSON only: {\"types\": [...], \"reason\": \"<one short sentence>\"}."
)

QUERY_TYPES = TAGGER_TYPES


@dataclass(frozen=True)
class TypeTag:
    type: str
    reason: str
    source: str = "rules"

    def as_dict(self) -> dict:
        return {"type": self.type, "reason": self.reason, "source": self.source}


@dataclass(frozen=True)
class MiningCriteria:
    """Which queries of a dataset a job mines. Empty `types` keeps every long-tail query, tagged or not."""

    segments: tuple[str, ...] = ("tail",)
    max_clicks: int | None = None
    types: tuple[str, ...] = ()
    limit: int | None = None
    seed: int = 13
    holdout_share: float = 0.0
    holdout_seed: int = 13

    def __post_init__(self):
        unknown = set(self.types) - set(QUERY_TYPES)
        if unknown:
            raise ValueError(f"Unknown query types {sorted(unknown)}; known: {', '.join(QUERY_TYPES)}.")
        if not self.segments and self.max_clicks is None:
            raise ValueError("Choose at least one segment or a click threshold, or no query is long-tail.")
        if self.limit is not None and self.limit < 1:
            raise ValueError("limit must be at least 1 when set")
        if not 0 <= self.holdout_share < 1:
            raise ValueError("holdout_share must be in [0, 1)")


def held_out_queries(query_pks: Iterable[int], *, share: float, seed: int) -> set[int]:
    """The seeded `share` of long-tail queries kept out of synthesis, so that an evaluation can tell a retriever
    that learnt the tail from one that memorised the synthesised queries. Depends only on the set of pks."""
    pks = sorted(set(query_pks))
    if not share or not pks:
        return set()
    return set(random.Random(f"holdout-{seed}").sample(pks, round(share * len(pks))))


@dataclass
class MinedCandidate:
    query_pk: int
    text: str
    clicks: int
    tags: list[TypeTag] = field(default_factory=list)

    @property
    def types(self) -> set[str]:
        return {tag.type for tag in self.tags}


_DEMOGRAPHIC = r"(?:men|mens|man|women|womens|woman|ladies|kids|kid|boys|girls|adults?|toddlers?|baby|babies|unisex)"
TYPE_RULES: list[tuple[str, re.Pattern, str]] = [
    ("negation", re.compile(r"\b(without|w/o|not|never|no|non|except|excluding|minus|free of)\b"),
     "negation cue {cue!r}: the query excludes something"),
    ("negation", re.compile(r"\b([a-z]+[- ]free)\b"), "'-free' cue {cue!r}: the query excludes an ingredient or feature"),
    ("qa", re.compile(r"^\s*(how|what|whats|what's|which|why|when|where|who|can|could|does|do|is|are|should|will)\b"),
     "starts with the question word {cue!r}"),
    ("qa", re.compile(r"(\?)\s*$"), "ends with a question mark"),
    ("alternative", re.compile(
        r"\b(alternatives? (?:to|for)|instead of|substitutes? (?:for|to)?|replacements? (?:for|of)|similar to"
        r"|dupes?|like (?:a|an|the)|comparable to|cheaper than|vs\.?|versus)\b"),
     "alternative cue {cue!r}: the query wants something in place of another thing"),
    ("multi_intent", re.compile(r"(?:\w\s*(,|&|\+)\s*\w)|\b(and|plus|as well as|along with)\b"),
     "conjunction {cue!r}: the query may ask for several products"),
    ("knowledge", re.compile(
        r"\b(gifts?|presents?|ideas?|best|good|suitable|recommended|perfect|ideal|compatible|fits|works with|"
        r"birthday|wedding|christmas|halloween|anniversary|graduation|valentines?|mothers day|fathers day|"
        r"baby shower|housewarming|retirement|camping|hiking|beginners?|to keep|to help|to stop|to make)\b"),
     "cue {cue!r} needs knowledge of which products fit a purpose, occasion or person"),
    ("knowledge", re.compile(rf"\bfor (?:a |an |my |the |his |her |your )?(?!{_DEMOGRAPHIC}\b)([a-z]+(?: [a-z]+)?)"),
     "purpose 'for {cue}': which products suit it is world knowledge"),
]


def tag_query_rules(text: str) -> list[TypeTag]:
    """Types of a query by transparent rules, one tag per type with the first cue that fired as its reason."""
    lowered = " ".join(text.lower().split())
    tags: dict[str, TypeTag] = {}
    for query_type, pattern, reason in TYPE_RULES:
        if query_type in tags:
            continue
        match = pattern.search(lowered)
        if match:
            cue = next((g for g in match.groups() if g), match.group(0)).strip()
            tags[query_type] = TypeTag(query_type, reason.format(cue=cue))
    return list(tags.values())


def tagger_messages(query: str) -> list[dict]:
    """Chat messages asking an LLM which knowledge-intensive types a query has, with a reason."""
    return [
        {"role": "system", "content": TAGGER_SYSTEM},
        {"role": "user", "content": "Query: gluten free birthday cake for a diabetic"},
        {"role": "assistant", "content": json.dumps(
            {"types": ["negation", "knowledge"], "reason": "excludes gluten; needs to know what suits diabetics"})},
        {"role": "user", "content": f"Query: {query}"},
    ]


def parse_type_tags(text: str, *, allowed: Iterable[str]) -> list[tuple[str, str]]:
    """(type, reason) pairs from an LLM tagger's JSON answer; unknown types are dropped."""
    allowed = set(allowed)
    try:
        start = text.index("{")
        value = json.loads(text[start:text.rindex("}") + 1])
    except ValueError:
        return []
    if not isinstance(value, dict):
        return []
    reason = str(value.get("reason", "")).strip()[:300]
    types = value.get("types", value.get("type", []))
    if isinstance(types, str):
        types = [types]
    if not isinstance(types, list):
        return []
    return [(t, reason) for t in dict.fromkeys(str(t).strip().lower() for t in types) if t in allowed]


def tag_queries_llm(texts: Sequence[str], *, client) -> list[list[TypeTag]]:
    """Types of each query from an OpenAI-compatible chat endpoint (`ChatClient`), with the model's reason."""
    answers = client.complete_many([tagger_messages(text) for text in texts], temperature=0.0, max_tokens=120)
    return [[TypeTag(query_type, reason or "LLM tagger", "llm")
             for query_type, reason in parse_type_tags(answer[0] if answer else "", allowed=QUERY_TYPES)]
            for answer in answers]


def merge_tags(*tag_lists: Sequence[TypeTag]) -> list[TypeTag]:
    """All tags, one per (type, source), in first-seen order."""
    merged: dict[tuple[str, str], TypeTag] = {}
    for tags in tag_lists:
        for tag in tags:
            merged.setdefault((tag.type, tag.source), tag)
    return list(merged.values())


def long_tail_queries(*, dataset, criteria: MiningCriteria):
    """Queries of `dataset` in the chosen segments or under the click threshold, annotated with `clicks`."""
    from django.db.models import Q, Sum, Value
    from django.db.models.functions import Coalesce

    from retrieval.models import Query

    queries = Query.objects.filter(dataset=dataset).annotate(clicks=Coalesce(Sum("interactions__clicks"), Value(0)))
    condition = Q(segment__in=list(criteria.segments)) if criteria.segments else Q(pk__in=[])
    if criteria.max_clicks is not None:
        condition |= Q(clicks__lt=criteria.max_clicks)
    return queries.filter(condition).order_by("pk")


def mine_queries(*, dataset, criteria: MiningCriteria, llm_client=None) -> list[MinedCandidate]:
    """The long-tail queries a job will synthesise for, tagged, filtered by type, sampled down to `limit`."""
    rows = list(long_tail_queries(dataset=dataset, criteria=criteria).values_list("pk", "text", "clicks", "query_type"))
    held_out = held_out_queries([row[0] for row in rows], share=criteria.holdout_share, seed=criteria.holdout_seed)
    rows = [row for row in rows if row[0] not in held_out]
    if criteria.limit is not None and not criteria.types and len(rows) > criteria.limit:
        rows = sorted(random.Random(criteria.seed).sample(rows, criteria.limit))
    llm_tags = tag_queries_llm([text for _, text, _, _ in rows], client=llm_client) if llm_client else None
    mined = []
    for index, (pk, text, clicks, imported_type) in enumerate(rows):
        imported = [TypeTag(imported_type, "query_type in the imported data", "import")] \
            if imported_type in QUERY_TYPES else []
        tags = merge_tags(imported, tag_query_rules(text), llm_tags[index] if llm_tags else [])
        mined.append(MinedCandidate(query_pk=pk, text=text, clicks=clicks, tags=tags))
    if criteria.types:
        mined = [m for m in mined if m.types & set(criteria.types)]
        if criteria.limit is not None and len(mined) > criteria.limit:
            mined = sorted(random.Random(criteria.seed).sample(mined, criteria.limit), key=lambda m: m.query_pk)
    return mined
