"""Writer: upsert a validated source into the database, all or nothing, in batches.

Rows are matched by natural keys (dataset name + product_id / query_id; query + product for logs and labels):
a re-import updates the rows that exist and adds the new ones, never duplicates. Rows that a re-imported file
no longer contains are kept (an import never deletes, since other tables may point at them).
Each batch is one INSERT ... ON CONFLICT DO UPDATE (`bulk_create(update_conflicts=True)` for products and
queries, the same statement through `executemany` for logs and labels), on SQLite and PostgreSQL alike; foreign
keys are resolved per batch with one query per side, so memory stays flat.
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Iterable, Iterator

from django.db import connection, transaction

from ..models import Dataset, Interaction, Product, Qrel, Query
from .rows import Kind, Problem, RowError, Source
from .validation import CONVERTERS, ProgressCallback, ValidationReport

DEFAULT_BATCH_SIZE = 1000


class SourceChanged(RuntimeError):
    """A row that passed validation failed when read again for writing (the files changed meanwhile)."""


def write_source(
    *,
    source: Source,
    report: ValidationReport,
    dataset_name: str,
    source_path: str,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: ProgressCallback | None = None,
) -> tuple[Dataset, dict[str, dict[str, int]]]:
    """Write every table of a source that passed validation in one transaction.

    Returns the dataset and, per kind, how many rows were created and how many existed and were updated.
    """
    if not report.ok:
        raise ValueError("refusing to write a source that did not pass validation")
    total = sum(report.rows.values())
    written = 0
    counts: dict[str, dict[str, int]] = {}
    with transaction.atomic():
        manifest = source.manifest
        dataset, _ = Dataset.objects.update_or_create(
            name=dataset_name,
            defaults={
                "description": manifest.get("description", ""),
                "license": manifest.get("license", ""),
                "grade_scale": manifest.get("grade_scale", {}),
                "source_path": source_path[:500],
                "source_format": source.format,
            },
        )
        for table in source.tables:
            tally: Counter = Counter()
            upsert = UPSERTS[table.kind]
            for batch in _batches(_records(table), batch_size):
                created = upsert(dataset, batch, report)
                tally["created"] += created
                tally["updated"] += len(batch) - created
                written += len(batch)
                if progress is not None:
                    progress("write", written, total)
            counts[table.kind.value] = dict(tally)
        if progress is not None:
            progress("write", total, total)
    return dataset, counts


def _records(table) -> Iterator[Any]:
    convert = CONVERTERS[table.kind]
    for row in table.read():
        if row.error:
            raise SourceChanged(str(Problem(row.location, row.error)))
        try:
            yield convert(row.fields, table.field_names)
        except RowError as exc:
            raise SourceChanged(str(Problem(row.location, str(exc)))) from None


def _batches(records: Iterable[Any], size: int) -> Iterator[list]:
    batch: list = []
    for record in records:
        batch.append(record)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _upsert_products(dataset: Dataset, batch: list, report: ValidationReport) -> int:
    ids = [r.product_id for r in batch]
    existing = set(Product.objects.filter(dataset=dataset, product_id__in=ids).values_list("product_id", flat=True))
    Product.objects.bulk_create(
        [
            Product(dataset=dataset, product_id=r.product_id, title=r.title, description=r.description,
                    brand=r.brand, category=r.category, price=r.price, attributes=r.attributes)
            for r in batch
        ],
        update_conflicts=True,
        unique_fields=["dataset", "product_id"],
        update_fields=["title", "description", "brand", "category", "price", "attributes"],
    )
    return len(batch) - len(existing)


def _upsert_queries(dataset: Dataset, batch: list, report: ValidationReport) -> int:
    ids = [r.query_id for r in batch]
    existing = set(Query.objects.filter(dataset=dataset, query_id__in=ids).values_list("query_id", flat=True))
    Query.objects.bulk_create(
        [
            Query(dataset=dataset, query_id=r.query_id, text=r.text, frequency=r.frequency,
                  segment=r.segment or report.derived_segments[r.query_id], query_type=r.query_type)
            for r in batch
        ],
        update_conflicts=True,
        unique_fields=["dataset", "query_id"],
        update_fields=["text", "frequency", "segment", "query_type"],
    )
    return len(batch) - len(existing)


def _pair_keys(dataset: Dataset, batch: list) -> tuple[dict[str, int], dict[str, int]]:
    query_pks = dict(Query.objects.filter(dataset=dataset, query_id__in={r.query_id for r in batch})
                     .values_list("query_id", "pk"))
    product_pks = dict(Product.objects.filter(dataset=dataset, product_id__in={r.product_id for r in batch})
                       .values_list("product_id", "pk"))
    return query_pks, product_pks


def _existing_pairs(model, query_pks: dict, product_pks: dict) -> set[tuple[int, int]]:
    return set(model.objects.filter(query_id__in=set(query_pks.values()), product_id__in=set(product_pks.values()))
               .values_list("query_id", "product_id"))


def _upsert_interactions(dataset: Dataset, batch: list, report: ValidationReport) -> int:
    query_pks, product_pks = _pair_keys(dataset, batch)
    existing = _existing_pairs(Interaction, query_pks, product_pks)
    rows = [(query_pks[r.query_id], product_pks[r.product_id], r.impressions, r.clicks, r.purchases) for r in batch]
    _upsert_pair_rows(Interaction, ["impressions", "clicks", "purchases"], rows)
    return sum(1 for row in rows if (row[0], row[1]) not in existing)


def _upsert_qrels(dataset: Dataset, batch: list, report: ValidationReport) -> int:
    query_pks, product_pks = _pair_keys(dataset, batch)
    existing = _existing_pairs(Qrel, query_pks, product_pks)
    rows = [(query_pks[r.query_id], product_pks[r.product_id], r.grade, r.split) for r in batch]
    _upsert_pair_rows(Qrel, ["grade", "split"], rows)
    return sum(1 for row in rows if (row[0], row[1]) not in existing)


def _upsert_pair_rows(model, value_fields: list[str], rows: list[tuple]) -> None:
    """INSERT ... ON CONFLICT (query, product) DO UPDATE, as `bulk_create(update_conflicts=True)` would emit,
    but through one `executemany`: logs and labels are the big tables and hold only integers and short
    strings, so the ORM's per-object work (model instances, per-value SQL compilation) is most of the cost.
    Same SQL on SQLite (>= 3.24) and PostgreSQL; the database's constraints still check every row."""
    quote = connection.ops.quote_name
    meta = model._meta
    key_columns = [meta.get_field("query").column, meta.get_field("product").column]
    value_columns = [meta.get_field(name).column for name in value_fields]
    columns = ", ".join(quote(c) for c in key_columns + value_columns)
    placeholders = ", ".join(["%s"] * (len(key_columns) + len(value_columns)))
    updates = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in value_columns)
    sql = (f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({placeholders}) "
           f"ON CONFLICT ({', '.join(quote(c) for c in key_columns)}) DO UPDATE SET {updates}")
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


UPSERTS = {
    Kind.PRODUCTS: _upsert_products,
    Kind.QUERIES: _upsert_queries,
    Kind.INTERACTIONS: _upsert_interactions,
    Kind.QRELS: _upsert_qrels,
}
