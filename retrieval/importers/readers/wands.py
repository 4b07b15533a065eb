"""Reader for WANDS, the Wayfair ANnotation DataSet (Chen et al., ECIR 2022): tab-separated files despite the
`.csv` names.

Files: `product.csv` (product_id, product_name, product_class, category hierarchy, product_description,
product_features, rating_count, average_rating, review_count), `query.csv` (query_id, query, query_class) and
`label.csv` (id, query_id, product_id, label).

Mapping to the bundle:
- grade: Exact -> 3, Partial -> 1, Irrelevant -> 0. WANDS has three levels; Partial (the product matches the
  query only in part) sits with ESCI's substitutes/complements rather than with exact matches, so it gets 1 and
  grade 2 is unused.
- split: WANDS has none. A query goes to `test` when the first 8 hex digits of sha256(query_id), read as a
  fraction of 2**32, are below `test_share` (default 0.5), otherwise to `train`; all labels of a query share its
  split, and the split of a query never changes between imports.
- products: title = product_name, description = product_description, category = the category hierarchy with
  " / " turned into " > "; product_features ("key:value|key:value") become `attributes`, with product_class,
  rating_count, average_rating and review_count.
- queries: no logs in WANDS, so no frequency (the segment rule makes them `tail`); query_type `plain`.
"""
from __future__ import annotations

import hashlib
from functools import partial
from pathlib import Path

from ..rows import Kind, Location, Problem, Source, Table
from .textfiles import count_lines, delimited_rows

PRODUCT_FILE = "product.csv"
QUERY_FILE = "query.csv"
LABEL_FILE = "label.csv"
WANDS_GRADES = {"Exact": 3, "Partial": 1, "Irrelevant": 0}
DEFAULT_TEST_SHARE = 0.5


def looks_like_wands(path: Path) -> bool:
    return (path / PRODUCT_FILE).is_file() and (path / QUERY_FILE).is_file()


def wands_split(query_id: str, *, test_share: float) -> str:
    """Deterministic train/test split of a query by a hash of its id (see the module docstring)."""
    fraction = int(hashlib.sha256(query_id.encode("utf-8")).hexdigest()[:8], 16) / 2**32
    return "test" if fraction < test_share else "train"


def open_wands(path: Path, *, test_share: float = DEFAULT_TEST_SHARE) -> Source:
    if not 0.0 <= test_share <= 1.0:
        raise ValueError(f"test_share must be between 0 and 1, got {test_share}")
    problems: list[Problem] = []
    specs = (
        (Kind.PRODUCTS, PRODUCT_FILE, ["product_id", "product_name"], _products,
         {"product_id": "product_id", "title": "product_name"}),
        (Kind.QUERIES, QUERY_FILE, ["query_id", "query"], _queries, {"query_id": "query_id", "text": "query"}),
        (Kind.QRELS, LABEL_FILE, ["query_id", "product_id", "label"], partial(_label, test_share=test_share),
         {"query_id": "query_id", "product_id": "product_id", "grade": "label"}),
    )
    tables = []
    for kind, name, columns, mapper, field_names in specs:
        file = path / name
        if not file.is_file():
            problems.append(Problem(Location(name), "file not found"))
            continue
        tables.append(Table(kind, name, _mapped(file, name, columns, mapper),
                            lambda f=file: max(0, count_lines(f) - 1), field_names))
    manifest = {
        "description": "Wayfair ANnotation DataSet (WANDS)",
        "license": "MIT (wayfair/WANDS)",
        "grade_scale": {"3": "Exact", "1": "Partial", "0": "Irrelevant"},
    }
    return Source(format="wands", default_name="wands", manifest=manifest, tables=tables, problems=problems)


def _mapped(file: Path, label: str, columns: list[str], mapper):
    def read():
        for row in delimited_rows(file, label=label, delimiter="\t", required_columns=columns):
            if not row.error:
                try:
                    row.fields = mapper(row.fields)
                except ValueError as exc:
                    row.error = str(exc)
            yield row
    return read


def _products(fields: dict) -> dict:
    attributes: dict = {}
    for pair in (fields.get("product_features") or "").split("|"):
        key, sep, value = pair.partition(":")
        if sep and key.strip() and value.strip():
            attributes[key.strip()] = value.strip()
    if fields.get("product_class"):
        attributes["product_class"] = fields["product_class"].strip()
    for key in ("rating_count", "average_rating", "review_count"):
        value = (fields.get(key) or "").strip()
        if value:
            try:
                attributes[key] = float(value) if key == "average_rating" else int(float(value))
            except ValueError:
                raise ValueError(f"{key} must be a number, got {value!r}") from None
    hierarchy = fields.get("category hierarchy") or ""
    return {
        "product_id": fields["product_id"],
        "title": fields["product_name"],
        "description": fields.get("product_description") or "",
        "category": " > ".join(part.strip() for part in hierarchy.split("/") if part.strip()),
        "attributes": attributes,
    }


def _queries(fields: dict) -> dict:
    return {"query_id": fields["query_id"], "text": fields["query"]}


def _label(fields: dict, *, test_share: float) -> dict:
    label = fields["label"].strip()
    if label not in WANDS_GRADES:
        raise ValueError(f"unknown label {label!r} (expected Exact, Partial or Irrelevant)")
    query_id = fields["query_id"].strip()
    return {
        "query_id": query_id,
        "product_id": fields["product_id"],
        "grade": WANDS_GRADES[label],
        "split": wands_split(query_id, test_share=test_share),
    }
