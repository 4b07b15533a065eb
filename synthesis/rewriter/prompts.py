"""Chat prompts for the rewriter, with few-shot examples.

The rewriter is asked for catalogue-style keyword queries that make the implicit product need explicit (what a
merchant would write in a title), never answers or explanations: the rewrites exist only to find products.
Training uses the very prompt the `hf-local` rewriter sends (`rewrite_prompt`), so what is trained is what runs.
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



def rewrite_prompt(query: str) -> list[dict]:
    """The chat prompt the `hf-local` rewriter sends for one rewrite of `query`."""
    return rewrite_messages(query, n=1, as_list=False)
