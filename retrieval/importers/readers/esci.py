"""Reader for the Amazon Shopping Queries data set (ESCI, arXiv 2206.06588), read straight from its parquet files.

Files (in one folder): `shopping_queries_dataset_products.parquet` (product_id, product_title,
product_description, product_bullet_point, product_brand, product_color, product_locale),
`shopping_queries_dataset_examples.parquet` (query_id, query, product_id, product_locale, esci_label,
small_version, large_version, split) and, optionally, `shopping_queries_dataset_sources.csv` (query_id, source).

Mapping to the bundle:
- grade: esci_label E (exact) -> 3, S (substitute) -> 2, C (complement) -> 1, I (irrelevant) -> 0;
- split: the examples' `split` column (train/test) is the qrel split as it is;
- queries come from the examples (one per query_id; every row of a query must carry the same text); ESCI has no
  logs, so queries have no frequency and the importer's segment rule makes them `tail`;
- query_type: `negation` where the sources file says `negations`, otherwise `plain`;
- products: title, brand, description (HTML stripped and entities decoded by validation, as for every format);
  bullet points (HTML stripped here), colour and locale go to `attributes`.
- locales: all locales by default, or only those listed. An ASIN can occur in several locales with different
  text, so product ids are `<locale>:<ASIN>` unless exactly one locale is selected, in which case they are the
  plain ASIN. Queries keep ESCI's query_id (unique across locales).
- `small_version_only` keeps only the examples of the reduced ("task 1") version.
Parquet has no text lines: locations are `file:ROW` with ROW the 1-based row number.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Sequence

from ..html_text import html_to_text
from ..rows import Kind, Location, Problem, Source, SourceRow, Table
from .textfiles import delimited_rows

PRODUCTS_FILE = "shopping_queries_dataset_products.parquet"
EXAMPLES_FILE = "shopping_queries_dataset_examples.parquet"
SOURCES_FILE = "shopping_queries_dataset_sources.csv"
ESCI_GRADES = {"E": 3, "S": 2, "C": 1, "I": 0}
NEGATION_SOURCE = "negations"
PRODUCT_COLUMNS = ["product_id", "product_title", "product_locale"]
PRODUCT_OPTIONAL = ["product_description", "product_bullet_point", "product_brand", "product_color"]
EXAMPLE_COLUMNS = ["query_id", "query", "product_id", "product_locale", "esci_label", "split"]
BATCH_ROWS = 20_000


def looks_like_esci(path: Path) -> bool:
    return (path / EXAMPLES_FILE).is_file() or (path / PRODUCTS_FILE).is_file()


def open_esci(path: Path, *, locales: Sequence[str] = (), small_version_only: bool = False) -> Source:
    reader = EsciReader(path, locales=locales, small_version_only=small_version_only)
    return reader.source()


class EsciReader:
    def __init__(self, path: Path, *, locales: Sequence[str], small_version_only: bool):
        self.path = path
        self.locales = frozenset(locales)
        self.small_version_only = small_version_only
        self.problems: list[Problem] = []
        self.query_sources = self._read_sources()

    def source(self) -> Source:
        tables = []
        for name in (PRODUCTS_FILE, EXAMPLES_FILE):
            if not (self.path / name).is_file():
                self.problems.append(Problem(Location(name), "file not found"))
        if (self.path / PRODUCTS_FILE).is_file():
            tables.append(Table(Kind.PRODUCTS, PRODUCTS_FILE, self.products, self._estimate(PRODUCTS_FILE),
                                {"product_id": "product_id", "title": "product_title"}))
        if (self.path / EXAMPLES_FILE).is_file():
            names = {"query_id": "query_id", "text": "query", "product_id": "product_id", "grade": "esci_label"}
            tables.append(Table(Kind.QUERIES, EXAMPLES_FILE, self.queries, self._estimate(EXAMPLES_FILE), names))
            tables.append(Table(Kind.QRELS, EXAMPLES_FILE, self.qrels, self._estimate(EXAMPLES_FILE), names))
        suffix = "-" + "-".join(sorted(self.locales)) if self.locales else ""
        manifest = {
            "description": "Amazon Shopping Queries (ESCI) data set",
            "license": "Apache-2.0 (amazon-science/esci-data)",
            "grade_scale": {"3": "Exact", "2": "Substitute", "1": "Complement", "0": "Irrelevant"},
        }
        return Source(format="esci", default_name=f"esci{suffix}", manifest=manifest, tables=tables,
                      problems=self.problems)

    def product_key(self, asin: Any, locale: Any) -> str | None:
        if asin is None or asin == "":
            return None
        return str(asin) if len(self.locales) == 1 else f"{locale}:{asin}"

    def products(self) -> Iterator[SourceRow]:
        for row in parquet_rows(self.path / PRODUCTS_FILE, required=PRODUCT_COLUMNS, optional=PRODUCT_OPTIONAL):
            if row.error:
                yield row
                continue
            f = row.fields
            if self.locales and f["product_locale"] not in self.locales:
                continue
            attributes = {
                "locale": f["product_locale"],
                "bullet_points": html_to_text(f.get("product_bullet_point")),
                "color": f.get("product_color") or "",
            }
            row.fields = {
                "product_id": self.product_key(f["product_id"], f["product_locale"]),
                "title": f["product_title"],
                "description": f.get("product_description") or "",
                "brand": f.get("product_brand") or "",
                "attributes": {k: v for k, v in attributes.items() if v},
            }
            yield row

    def examples(self) -> Iterator[SourceRow]:
        optional = ["small_version"] if self.small_version_only else []
        for row in parquet_rows(self.path / EXAMPLES_FILE, required=EXAMPLE_COLUMNS, optional=optional):
            if row.error:
                yield row
                continue
            if self.locales and row.fields["product_locale"] not in self.locales:
                continue
            if self.small_version_only and not row.fields.get("small_version"):
                continue
            yield row

    def queries(self) -> Iterator[SourceRow]:
        """One row per query_id, at its first example; a later example with other text is an error."""
        first_seen: dict[str, tuple[str, int | None]] = {}
        for row in self.examples():
            if row.error:
                yield row
                continue
            query_id = None if row.fields["query_id"] is None else str(row.fields["query_id"])
            text = row.fields["query"]
            if query_id is not None and query_id in first_seen:
                first_text, first_line = first_seen[query_id]
                if text != first_text:
                    yield SourceRow(row.location, {}, f"query_id {query_id} has query {text!r} here but "
                                                      f"{first_text!r} on row {first_line}")
                continue
            if query_id is not None:
                first_seen[query_id] = (text, row.location.line)
            source = self.query_sources.get(query_id or "")
            row.fields = {"query_id": query_id, "text": text,
                          "query_type": "negation" if source == NEGATION_SOURCE else "plain"}
            yield row

    def qrels(self) -> Iterator[SourceRow]:
        for row in self.examples():
            if row.error:
                yield row
                continue
            f = row.fields
            label = f["esci_label"]
            if label not in ESCI_GRADES:
                row.error = f"unknown esci_label {label!r} (expected E, S, C or I)"
                yield row
                continue
            row.fields = {
                "query_id": None if f["query_id"] is None else str(f["query_id"]),
                "product_id": self.product_key(f["product_id"], f["product_locale"]),
                "grade": ESCI_GRADES[label],
                "split": f["split"],
            }
            yield row

    def _read_sources(self) -> dict[str, str]:
        file = self.path / SOURCES_FILE
        if not file.is_file():
            return {}
        sources: dict[str, str] = {}
        for row in delimited_rows(file, label=SOURCES_FILE, delimiter=",", required_columns=["query_id", "source"]):
            if row.error:
                self.problems.append(Problem(row.location, row.error))
                continue
            sources[row.fields["query_id"].strip()] = row.fields["source"].strip()
        return sources

    def _estimate(self, name: str):
        return lambda: parquet_row_count(self.path / name)


def parquet_row_count(file: Path) -> int:
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(file).metadata.num_rows
    except Exception:
        return 0


def parquet_rows(file: Path, *, required: Sequence[str], optional: Sequence[str] = ()) -> Iterator[SourceRow]:
    """Stream a parquet file in record batches as SourceRows (1-based row numbers), reading only the columns
    asked for. A missing required column, an unreadable or empty file is one error row for the file."""
    import pyarrow.parquet as pq

    label = file.name
    if file.stat().st_size == 0:
        yield SourceRow(Location(label), {}, "empty file", fatal=True)
        return
    try:
        parquet = pq.ParquetFile(file)
    except Exception as exc:  # pyarrow raises ArrowInvalid/OSError subclasses for corrupt files
        yield SourceRow(Location(label), {}, f"not a readable parquet file ({exc})", fatal=True)
        return
    names = set(parquet.schema_arrow.names)
    missing = [c for c in required if c not in names]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        yield SourceRow(Location(label), {}, f"missing required column{plural} " + ", ".join(f"'{c}'" for c in missing),
                        fatal=True)
        return
    if parquet.metadata.num_rows == 0:
        yield SourceRow(Location(label), {}, "empty file", fatal=True)
        return
    columns = list(required) + [c for c in optional if c in names]
    number = 0
    for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=columns):
        for values in batch.to_pylist():
            number += 1
            yield SourceRow(Location(label, number), values)
