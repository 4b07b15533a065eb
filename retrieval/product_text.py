"""The text a retriever sees for a product: title, brand, category path and attributes (configurable fields).

The same function feeds the dense encoder, BM25 and the relevance judges, so every system reads a product
the same way. Fields are named in a version's config (`"fields": [...]`) and recorded with it.
"""
from __future__ import annotations

from typing import Any, Iterable, Iterator, Mapping, Sequence

PRODUCT_FIELDS = ("title", "brand", "category", "attributes", "description")
DEFAULT_FIELDS: tuple[str, ...] = ("title", "brand", "category", "attributes")
DESCRIPTION_CHARS = 300
ATTRIBUTE_VALUE_CHARS = 80
SEPARATOR = " | "


def validate_fields(fields: Sequence[str] | None) -> tuple[str, ...]:
    """The fields to use, in order; raises ValueError naming any unknown field."""
    if not fields:
        return DEFAULT_FIELDS
    unknown = [f for f in fields if f not in PRODUCT_FIELDS]
    if unknown:
        raise ValueError(f"Unknown product text field(s) {unknown}; choose from {list(PRODUCT_FIELDS)}.")
    if "title" not in fields:
        raise ValueError("Product text fields must include 'title'.")
    return tuple(dict.fromkeys(fields))


def product_text(product: Any, fields: Sequence[str] | None = None) -> str:
    """One product as text, e.g. "Cast iron pan 28cm | brand: Lodge | category: Home > Kitchen | size: 28 cm".

    `product` is a Product instance or a mapping with the same keys (as `.values()` returns).
    """
    get = product.get if isinstance(product, Mapping) else lambda name, default=None: getattr(product, name, default)
    parts: list[str] = []
    for field in validate_fields(fields):
        value = get(field, None)
        if not value:
            continue
        if field == "title":
            parts.append(_clean(value))
        elif field == "attributes":
            rendered = _attributes_text(value)
            if rendered:
                parts.append(rendered)
        elif field == "description":
            parts.append(_clean(value)[:DESCRIPTION_CHARS])
        else:
            parts.append(f"{field}: {_clean(value)}")
    return SEPARATOR.join(parts)


def _attributes_text(attributes: Any) -> str:
    if not isinstance(attributes, Mapping):
        return ""
    rendered = []
    for key, value in attributes.items():
        if value is None or value == "" or value == []:
            continue
        if isinstance(value, (list, tuple)):
            value = ", ".join(str(v) for v in value)
        elif isinstance(value, Mapping):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        rendered.append(f"{_clean(key)}: {_clean(value)[:ATTRIBUTE_VALUE_CHARS]}")
    return "; ".join(rendered)


def _clean(value: Any) -> str:
    return " ".join(str(value).split())


def catalogue_texts(
    products: Iterable[Mapping[str, Any]], fields: Sequence[str] | None = None
) -> Iterator[tuple[int, str]]:
    """(primary key, text) for rows of `Product.objects.values("pk", *fields)`."""
    for row in products:
        yield row["pk"], product_text(row, fields)


def dataset_product_texts(*, dataset, fields: Sequence[str] | None = None) -> tuple[list[int], list[str]]:
    """Every product of a data set, ordered by primary key: (pks, texts)."""
    fields = validate_fields(fields)
    rows = dataset.products.order_by("pk").values("pk", *fields).iterator(chunk_size=5000)
    pks: list[int] = []
    texts: list[str] = []
    for pk, text in catalogue_texts(rows, fields):
        pks.append(pk)
        texts.append(text)
    return pks, texts
