"""Chat prompts for the rewriter, the LLM relevance judge and the LLM query-type tagger, with few-shot examples.

The rewriter is asked for catalogue-style keyword queries that make the implicit product need explicit (what a
merchant would write in a title), never answers or explanations: the rewrites exist only to find products.
"""
from __future__ import annotations

import json

REWRITE_SYSTEM = (
    "You rewrite e-commerce search queries into product search keywords. "
    "Make the implicit product need explicit: name the product type, key attributes and materials the way a "
    "shop writes product titles. Resolve questions, negations, alternatives and gift or use-case wishes into "
    "concrete products. Answer with keywords only, no explanations."
)

# (query, rewrites): tail, knowledge-intensive queries of the kinds mining tags, each with catalogue-style answers.
REWRITE_EXAMPLES: list[tuple[str, list[str]]] = [
    ("something to keep my coffee hot on my desk all day",
     ["usb mug warmer electric", "insulated stainless steel coffee mug with lid", "heated coffee cup warmer plate"]),
    ("shampoo without sulfates for curly hair",
     ["sulfate free curl shampoo", "curly hair moisturizing shampoo sulfate-free", "co-wash cleansing conditioner curls"]),
    ("what do i need to start rock climbing indoors",
     ["climbing shoes beginner", "climbing harness with belay device", "chalk bag climbing chalk"]),
    ("cheaper alternative to airpods for running",
     ["wireless sport earbuds ear hooks", "bluetooth running earphones sweatproof", "budget true wireless earbuds"]),
]

JUDGE_SYSTEM = (
    "You judge e-commerce search relevance. Given a shopper's query and one product, grade how well the product "
    "satisfies the query: 3 = exact match (what the shopper wants), 2 = substitute (close, usable instead), "
    "1 = complement or loosely related, 0 = irrelevant or contradicts the query (for example it has what the "
    "query says it must not have). Answer with JSON only: {\"grade\": <0-3>}."
)

JUDGE_EXAMPLES: list[tuple[str, str, int]] = [
    ("sulfate free shampoo", "Title: Moisture Shampoo (sulfate-free) | Category: Beauty > Hair Care > Shampoo", 3),
    ("sulfate free shampoo", "Title: Clarifying Shampoo with SLS | Category: Beauty > Hair Care > Shampoo", 0),
    ("gift for a new runner", "Title: Reflective Running Vest | Category: Sports > Running > Safety", 2),
]

TAGGER_TYPES = ("knowledge", "qa", "negation", "alternative", "multi_intent")

TAGGER_SYSTEM = (
    "You classify e-commerce search queries. Types: knowledge (needs world knowledge to know which products fit, "
    "e.g. use cases, occasions, recipients), qa (a question), negation (excludes something), alternative (wants "
    "a substitute for something), multi_intent (asks for several different products). A query can have several "
    "types or none. Answer with JSON only: {\"types\": [...], \"reason\": \"<one short sentence>\"}."
)


def rewrite_messages(query: str, *, n: int, as_list: bool) -> list[dict]:
    """Chat messages asking for rewrites of `query`.

    `as_list` asks for `n` rewrites as a JSON array in one answer (for capable remote models); otherwise each
    answer is one rewrite and the caller samples `n` answers (small local models follow that far better).
    """
    messages = [{"role": "system", "content": REWRITE_SYSTEM}]
    for example_query, rewrites in REWRITE_EXAMPLES:
        if as_list:
            messages.append({"role": "user", "content": f"Query: {example_query}\nGive {len(rewrites)} rewrites."})
            messages.append({"role": "assistant", "content": json.dumps(rewrites)})
        else:
            messages.append({"role": "user", "content": f"Query: {example_query}"})
            messages.append({"role": "assistant", "content": rewrites[0]})
    if as_list:
        messages.append({"role": "user", "content": f"Query: {query}\nGive {n} rewrites."})
    else:
        messages.append({"role": "user", "content": f"Query: {query}"})
    return messages


def judge_messages(query: str, product: str) -> list[dict]:
    """Chat messages asking for a 0-3 relevance grade of one product for the original query."""
    messages = [{"role": "system", "content": JUDGE_SYSTEM}]
    for example_query, example_product, grade in JUDGE_EXAMPLES:
        messages.append({"role": "user", "content": f"Query: {example_query}\nProduct: {example_product}"})
        messages.append({"role": "assistant", "content": json.dumps({"grade": grade})})
    messages.append({"role": "user", "content": f"Query: {query}\nProduct: {product}"})
    return messages


def tagger_messages(query: str) -> list[dict]:
    """Chat messages asking an LLM which knowledge-intensive types a query has, with a reason."""
    return [
        {"role": "system", "content": TAGGER_SYSTEM},
        {"role": "user", "content": "Query: gluten free birthday cake for a diabetic"},
        {"role": "assistant", "content": json.dumps(
            {"types": ["negation", "knowledge"], "reason": "excludes gluten; needs to know what suits diabetics"})},
        {"role": "user", "content": f"Query: {query}"},
    ]
