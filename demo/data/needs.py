"""The knowledge table for tail queries: every shopper need, with its phrasings and the product types that meet it.

Each need maps a situation ("re-grout a shower", "a dinosaur-loving 5 year old") to the product types that
satisfy it (grade 3, or 2 for helpful extras), attribute constraints (age range, "not leather", "fragrance-free")
and lexically close types that do not help. The phrasings describe the situation rather than naming products,
which is what makes these queries hard for lexical retrieval.
"""
from __future__ import annotations

from . import needs_everyday, needs_family, needs_home, needs_outdoors
from .schema import Need

NEEDS: tuple[Need, ...] = tuple(
    n for module in (needs_home, needs_family, needs_outdoors, needs_everyday) for n in module.NEEDS
)
