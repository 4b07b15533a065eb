"""The demo catalogue: products spread evenly over the knowledge table's product types, with marketplace titles.

Every product type gets an equal share of the products; brands and attribute values are spread evenly over a
type's products (shuffled), titles follow a handful of marketplace templates ("Brand Product Type - Feature,
Attribute, Attribute"), descriptions say what the product is for; a few carry HTML markup and entities, and one
title a <script> tag, so that pages must escape product text. Deterministic for a seed.
"""
from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from .data import PRODUCT_TYPES
from .data.schema import ProductType

MIN_PRODUCTS_PER_TYPE = 8
HTML_DESCRIPTION_SHARE = 0.15
SCRIPT_TITLE_SUFFIX = ' <script>alert("demo title")</script>'


@dataclass(frozen=True)
class CatalogueItem:
    row: dict  # the catalog.jsonl row
    product_type: ProductType

    @property
    def product_id(self) -> str:
        return self.row["product_id"]


def generate_catalogue(*, count: int, seed: int, types: Sequence[ProductType] = PRODUCT_TYPES) -> list[CatalogueItem]:
    """`count` products spread evenly over `types`, in a seeded random order with ids p00001, p00002, ..."""
    minimum = MIN_PRODUCTS_PER_TYPE * len(types)
    if count < minimum:
        raise ValueError(f"The demo catalogue needs at least {minimum} products ({MIN_PRODUCTS_PER_TYPE} for each "
                         f"of {len(types)} product types); got {count}.")
    rng = random.Random(f"{seed}:catalogue")
    base, extra = divmod(count, len(types))
    bonus = set(rng.sample(range(len(types)), extra))
    drafts: list[tuple[dict, ProductType]] = []
    for index, product_type in enumerate(types):
        drafts.extend((row, product_type) for row in _products_of_type(product_type, base + (index in bonus), rng))
    rng.shuffle(drafts)
    items = []
    for number, (row, product_type) in enumerate(drafts, start=1):
        items.append(CatalogueItem(row={"product_id": f"p{number:05d}", **row}, product_type=product_type))
    # One deliberately hostile title, so that every page that shows products must escape them.
    victim = items[rng.randrange(len(items))]
    victim.row["title"] += SCRIPT_TITLE_SUFFIX
    return items


def _spread(values: Sequence[str], count: int, rng: random.Random) -> list[str]:
    """`count` values using every value about equally often, in random order."""
    repeated = [values[i % len(values)] for i in range(count)]
    rng.shuffle(repeated)
    return repeated


def _products_of_type(product_type: ProductType, count: int, rng: random.Random) -> list[dict]:
    brands = _spread(product_type.brands, count, rng)
    columns = {name: _spread(values, count, rng) for name, values in product_type.attributes.items()}
    rows, seen_titles = [], set()
    for i in range(count):
        attributes = {name: column[i] for name, column in columns.items()}
        for _attempt in range(4):  # a few retries keep titles distinct without giving up determinism
            features = rng.sample(product_type.features, k=min(3, len(product_type.features)))
            title = _compose_title(product_type, brands[i], features[0], attributes, rng)
            if title not in seen_titles:
                break
        seen_titles.add(title)
        rows.append({
            "title": title,
            "description": _compose_description(product_type, brands[i], features, attributes, rng),
            "brand": brands[i],
            "category": product_type.category,
            "price": _price(product_type.price, rng),
            "attributes": attributes,
        })
    return rows


def _attribute_phrase(name: str, value: str) -> str:
    if name == "age_range" and value.endswith(" Years"):
        return f"Ages {value.removesuffix(' Years')}"
    return value


def _compose_title(product_type: ProductType, brand: str, feature: str, attributes: dict, rng: random.Random) -> str:
    names = list(attributes)
    shown = sorted(rng.sample(names, k=min(len(names), rng.choice((1, 2, 2)))), key=names.index)
    phrases = [_attribute_phrase(name, attributes[name]) for name in shown]
    noun = product_type.noun
    template = rng.randrange(5)
    if template == 0:
        return f"{brand} {noun} - {feature}, {', '.join(phrases)}"
    if template == 1:
        return f"{brand} {noun}, {' | '.join(phrases)}, {feature}"
    if template == 2:
        rest = f" ({phrases[1]})" if len(phrases) > 1 else ""
        return f"{brand} {phrases[0]} {noun}, {feature}{rest}"
    if template == 3:
        return f"{noun} by {brand} | {feature} | {', '.join(phrases)}"
    return f"{brand} {feature} {noun} {' '.join(phrases)}"


def _compose_description(product_type: ProductType, brand: str, features: list[str], attributes: dict,
                         rng: random.Random) -> str:
    details = [f"{name.replace('_', ' ').capitalize()}: {value}" for name, value in attributes.items()]
    if rng.random() < HTML_DESCRIPTION_SHARE:
        items = "".join(f"<li>{feature}</li>" for feature in features)
        return (f"<p><b>{brand} {product_type.noun}</b> &ndash; made for {product_type.use}.</p>"
                f"<ul>{items}</ul><p>{' &amp; '.join(details)}</p>")
    lead = rng.choice(("The {brand} {noun} is made for {use}.", "{noun} from {brand}, for {use}.",
                       "Designed for {use}, this {noun_lower} from {brand} is built to last."))
    text = lead.format(brand=brand, noun=product_type.noun, noun_lower=product_type.noun.lower(),
                       use=product_type.use)
    return f"{text} {', '.join(features)}. {'. '.join(details)}."


def _price(bounds: tuple[float, float], rng: random.Random) -> float:
    low, high = bounds
    return round(math.floor(low + (high - low) * rng.random()) + 0.99, 2)
