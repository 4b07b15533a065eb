"""The knowledge behind the built-in demo data set: product types per department and shopper needs, as JSON files.

`demo.bundle` turns it into a catalogue, queries, click logs and graded labels. Nothing here is random: the
builder draws brands, attribute values and prices from these lists with a seeded RNG.

Files (all in this folder, UTF-8 JSON, read in the order below; the order is part of what a seed reproduces):

- `brands.json`: named brand lists, `{"tool": ["Ridgeline", ...], ...}`.
- one file per department (`DEPARTMENT_FILES`): `{"about": ..., "product_types": [...]}`; a product type has the
  fields of `schema.ProductType`: `key`, `category` ("Dept > Sub > Leaf"), `noun`, `brands` (a name from
  brands.json, or a list), `price` [low, high], `attributes` {name: [values]}, `features`, `use`, and optionally
  `queries` (plain queries it answers exactly) and `related` {other type key: grade 0-2}.
- the needs (`NEED_FILES`): `{"about": ..., "needs": [...]}`; a need has the fields of `schema.Need`: `key`,
  `phrasings` [[query_type, text], ...], `wants` [[type key, grade 2 or 3], ...], and optionally `wrong`
  (lexically close types that do not help), `age`, `only` and `exclude` ({attribute: [values]}).

Each need maps a situation ("re-grout a shower", "a dinosaur-loving 5 year old") to the product types that
satisfy it; its phrasings describe the situation rather than naming products, which is what makes these queries
hard for lexical retrieval.
"""
from __future__ import annotations

import json
from pathlib import Path

from .schema import TAIL_QUERY_TYPES, Need, ProductType, age_span

DATA_DIR = Path(__file__).resolve().parent
DEPARTMENT_FILES = ("home_improvement", "home_systems", "kitchen", "kitchen_storage", "home", "toys", "baby", "pets",
                    "outdoors", "garden", "electronics", "office", "personal_care", "clothing", "automotive")
NEED_FILES = ("needs_home", "needs_family", "needs_outdoors", "needs_everyday")
TYPE_FIELDS = {"key", "category", "noun", "brands", "price", "attributes", "features", "use", "queries", "related"}
NEED_FIELDS = {"key", "phrasings", "wants", "wrong", "age", "only", "exclude"}


def read_data(name: str, folder: Path = DATA_DIR):
    path = folder / f"{name}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{exc.lineno}: {exc.msg}") from exc


def _checked(entry: dict, fields: set[str], required: set[str], where: str) -> dict:
    unknown, missing = set(entry) - fields, required - set(entry)
    if unknown or missing:
        raise ValueError(f"{where} {entry.get('key', '?')!r}: unknown field(s) {sorted(unknown)}, "
                         f"missing field(s) {sorted(missing)}")
    return entry


def _value_lists(mapping: dict) -> dict[str, tuple[str, ...]]:
    return {name: tuple(values) for name, values in mapping.items()}


def load_product_types(names=DEPARTMENT_FILES, folder: Path = DATA_DIR) -> tuple[ProductType, ...]:
    brands = _value_lists(read_data("brands", folder))
    types = []
    for name in names:
        for entry in read_data(name, folder)["product_types"]:
            entry = _checked(entry, TYPE_FIELDS, TYPE_FIELDS - {"queries", "related"}, f"{name}.json: product type")
            named = entry["brands"]
            if isinstance(named, str) and named not in brands:
                raise ValueError(f"{name}.json: product type {entry['key']!r}: unknown brand list {named!r}")
            types.append(ProductType(
                key=entry["key"], category=entry["category"], noun=entry["noun"],
                brands=brands[named] if isinstance(named, str) else tuple(named), price=tuple(entry["price"]),
                attributes=_value_lists(entry["attributes"]), features=tuple(entry["features"]), use=entry["use"],
                queries=tuple(entry.get("queries", ())), related=dict(entry.get("related", {}))))
    return tuple(types)


def load_needs(names=NEED_FILES, folder: Path = DATA_DIR) -> tuple[Need, ...]:
    needs = []
    for name in names:
        for entry in read_data(name, folder)["needs"]:
            entry = _checked(entry, NEED_FIELDS, {"key", "phrasings", "wants"}, f"{name}.json: need")
            needs.append(Need(
                key=entry["key"], phrasings=tuple((text, query_type) for query_type, text in entry["phrasings"]),
                wants=tuple((key, grade) for key, grade in entry["wants"]), wrong=tuple(entry.get("wrong", ())),
                age=entry.get("age"), only=_value_lists(entry.get("only", {})),
                exclude=_value_lists(entry.get("exclude", {}))))
    return tuple(needs)


PRODUCT_TYPES: tuple[ProductType, ...] = load_product_types()
NEEDS: tuple[Need, ...] = load_needs()


def check_knowledge(types: tuple[ProductType, ...] = PRODUCT_TYPES, needs: tuple[Need, ...] = NEEDS) -> None:
    """Raise ValueError naming every inconsistency (unknown type keys, bad grades, bad age ranges, ...)."""
    problems: list[str] = []
    keys: dict[str, ProductType] = {}
    for product_type in types:
        if product_type.key in keys:
            problems.append(f"product type {product_type.key!r} is defined twice")
        keys[product_type.key] = product_type
        if len(product_type.category.split(" > ")) != 3:
            problems.append(f"{product_type.key}: category {product_type.category!r} is not 'Dept > Sub > Leaf'")
        low, high = product_type.price
        if not 0 < low < high:
            problems.append(f"{product_type.key}: bad price range {product_type.price}")
        if not (product_type.brands and product_type.features and product_type.attributes):
            problems.append(f"{product_type.key}: needs brands, features and attributes")
        for value in product_type.attributes.get("age_range", ()):
            try:
                age_span(value)
            except ValueError as exc:
                problems.append(f"{product_type.key}: {exc}")
    for product_type in types:
        for other, grade in product_type.related.items():
            if other not in keys or other == product_type.key:
                problems.append(f"{product_type.key}: related type {other!r} is unknown")
            if grade not in (0, 1, 2):
                problems.append(f"{product_type.key}: related grade for {other} must be 0-2, got {grade}")
    need_keys: set[str] = set()
    for need in needs:
        if need.key in need_keys:
            problems.append(f"need {need.key!r} is defined twice")
        need_keys.add(need.key)
        for text, query_type in need.phrasings:
            if query_type not in TAIL_QUERY_TYPES or not text.strip():
                problems.append(f"need {need.key}: phrasing {text!r} needs text and a type in {TAIL_QUERY_TYPES}")
        for key, grade in need.wants:
            if key not in keys:
                problems.append(f"need {need.key}: wanted type {key!r} is unknown")
            if grade not in (2, 3):
                problems.append(f"need {need.key}: wanted grade for {key} must be 2 or 3, got {grade}")
        for key in need.wrong:
            if key not in keys:
                problems.append(f"need {need.key}: wrong type {key!r} is unknown")
            if key in dict(need.wants):
                problems.append(f"need {need.key}: {key!r} is both wanted and wrong")
    if problems:
        raise ValueError("demo knowledge is inconsistent:\n  " + "\n  ".join(problems))


__all__ = ["NEEDS", "PRODUCT_TYPES", "Need", "ProductType", "check_knowledge", "load_needs", "load_product_types"]
