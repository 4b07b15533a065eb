"""Hand-written knowledge behind the built-in demo data set: product types per department and shopper needs.

`demo.bundle` turns it into a catalogue, queries, click logs and graded labels. Nothing here is
random: the builder draws brands, attribute values and prices from these lists with a seeded RNG.
"""
from __future__ import annotations

from . import (
    automotive,
    baby,
    clothing,
    electronics,
    garden,
    home,
    home_improvement,
    home_systems,
    kitchen,
    kitchen_storage,
    office,
    outdoors,
    personal_care,
    pets,
    toys,
)
from .needs import NEEDS
from .schema import Need, ProductType, age_span

DEPARTMENT_MODULES = (home_improvement, home_systems, kitchen, kitchen_storage, home, toys, baby, pets, outdoors,
                      garden, electronics, office, personal_care, clothing, automotive)
PRODUCT_TYPES: tuple[ProductType, ...] = tuple(t for module in DEPARTMENT_MODULES for t in module.TYPES)


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


__all__ = ["NEEDS", "PRODUCT_TYPES", "DEPARTMENT_MODULES", "Need", "ProductType", "check_knowledge"]
