"""The shapes of the demo catalogue's knowledge: product types (what can be sold) and needs (what shoppers ask for).

The knowledge itself lives in this folder's JSON files (see `demo.data`). `kind` and `need` build one of each from
a compact text notation, handy for small hand-made cases (tests): attributes as ``"colour=Black|White;
pack=1-Pack|2-Pack"``, lists as ``"a|b|c"``, graded type lists as ``"grout_saw grout_sealer:2"`` (grade 3 unless
``:N`` is given), query phrasings as ``"qa: how do I ..."``.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

TAIL_QUERY_TYPES = ("knowledge", "qa", "negation", "alternative", "multi_intent")
AGE_RANGE = re.compile(r"^(\d+)(?:-(\d+)|\+) (Months|Years)$")


@dataclass(frozen=True)
class ProductType:
    """One kind of product ("Grout Saw"): where it sits, how its titles read, what it costs, what varies."""

    key: str
    category: str  # "Department > Sub-department > Leaf"
    noun: str  # the product-type phrase titles are built around
    brands: tuple[str, ...]
    price: tuple[float, float]
    attributes: Mapping[str, tuple[str, ...]]
    features: tuple[str, ...]
    use: str  # what it is for, for the description
    queries: tuple[str, ...] = ()  # plain head/torso queries this type answers exactly (grade 3)
    related: Mapping[str, int] = field(default_factory=dict)  # other type key -> grade for this type's queries

    @property
    def department(self) -> str:
        return self.category.split(" > ")[0]

    @property
    def sub_department(self) -> str:
        return " > ".join(self.category.split(" > ")[:2])


@dataclass(frozen=True)
class Need:
    """A knowledge-intensive shopper need and the product types (with attribute constraints) that satisfy it.

    `age`: a product with an `age_range` attribute satisfies the need only if the range holds this age (years).
    `only`: attribute -> the values that satisfy it; `exclude`: attribute -> values that break it. Constraints
    apply to products that have the attribute; a product of a wanted type that breaks one is a hard negative
    (grade 0 when the query says "not"/"without", else 1). `wrong`: lexically close types that do not help.
    """

    key: str
    phrasings: tuple[tuple[str, str], ...]  # (query text, query_type)
    wants: tuple[tuple[str, int], ...]  # (product type key, grade 2 or 3)
    wrong: tuple[str, ...] = ()
    age: float | None = None
    only: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    exclude: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def split_list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split("|") if part.strip())


def parse_attributes(text: str) -> dict[str, tuple[str, ...]]:
    """``"colour=Black|White; pack=1-Pack|2-Pack"`` -> {"colour": ("Black", "White"), "pack": (...)}."""
    attributes: dict[str, tuple[str, ...]] = {}
    for chunk in text.split(";"):
        if not chunk.strip():
            continue
        name, _, values = chunk.partition("=")
        if not values:
            raise ValueError(f"attribute {chunk!r} has no values (expected name=a|b)")
        attributes[name.strip()] = split_list(values)
    return attributes


def parse_graded(text: str, *, default: int = 3) -> tuple[tuple[str, int], ...]:
    """``"grout_saw grout_sealer:2"`` -> (("grout_saw", 3), ("grout_sealer", 2))."""
    graded = []
    for item in text.split():
        key, _, grade = item.partition(":")
        graded.append((key, int(grade) if grade else default))
    return tuple(graded)


def kind(key: str, category: str, noun: str, *, brands: tuple[str, ...], price: tuple[float, float],
         attrs: str, features: str, use: str, queries: str = "", related: str = "") -> ProductType:
    """A ProductType from the compact notation (see the module docstring)."""
    return ProductType(
        key=key, category=category, noun=noun, brands=brands, price=price,
        attributes=parse_attributes(attrs), features=split_list(features), use=use,
        queries=split_list(queries), related=dict(parse_graded(related, default=1)),
    )


def need(key: str, phrasings: list[str], *, wants: str, wrong: str = "", age: float | None = None,
         only: str = "", exclude: str = "") -> Need:
    """A Need from the compact notation; each phrasing is ``"query_type: text"``."""
    parsed = []
    for phrasing in phrasings:
        query_type, _, text = phrasing.partition(":")
        if query_type not in TAIL_QUERY_TYPES or not text.strip():
            raise ValueError(f"need {key}: phrasing {phrasing!r} must be 'TYPE: text' with TYPE in {TAIL_QUERY_TYPES}")
        parsed.append((text.strip(), query_type))
    return Need(key=key, phrasings=tuple(parsed), wants=parse_graded(wants), wrong=tuple(wrong.split()), age=age,
                only=parse_attributes(only), exclude=parse_attributes(exclude))


def age_span(value: str) -> tuple[float, float]:
    """``"3-8 Years"`` -> (3, 8); ``"0-6 Months"`` -> (0, 0.5); ``"14+ Years"`` -> (14, 99)."""
    match = AGE_RANGE.match(value)
    if not match:
        raise ValueError(f"bad age range {value!r} (expected e.g. '3-8 Years', '0-6 Months' or '14+ Years')")
    low, high, unit = int(match[1]), match[2], match[3]
    scale = 12 if unit == "Months" else 1
    return low / scale, (int(high) / scale if high else 99.0)
