"""Streaming export of judgments as CSV or JSON Lines, in constant memory whatever the row count.

Read → shape → write, each step small: `export_rows` reads judgments through a database cursor
(`QuerySet.iterator`) in chunks, joining each chunk to its items' frozen product lists with one extra query
(lists are held only for the current chunk); `csv_chunks` / `jsonl_chunks` turn the rows into text, many rows
per yielded string. Nothing but the current chunk is ever in memory.
"""
from __future__ import annotations

import csv
import io
import json
from itertools import islice
from typing import Iterable, Iterator

from django.db.models import QuerySet

from ..models import Item, Judgment

CHUNK_ROWS = 2000

# Column name -> what it holds. This list is the export contract (also shown in the OpenAPI description).
COLUMNS: dict[str, str] = {
    "judgment_id": "Judgment id.",
    "created_at": "When the judgment was recorded (ISO 8601, UTC).",
    "campaign_id": "Campaign id.",
    "campaign": "Campaign name.",
    "item_id": "Item id (one query of the campaign).",
    "item_kind": "regular, gold (expected answer set by an analyst) or aa (same list on both sides).",
    "query_id": "Catalogue query id.",
    "query": "Query text as shown to the annotator.",
    "segment": "Query segment: head, torso or tail.",
    "query_type": "Query type: plain, knowledge, qa, negation, alternative, multi_intent or typo.",
    "annotator": "Annotator username.",
    "system_a": "Baseline retriever version (name).",
    "system_b": "Treatment retriever version (name).",
    "left_system": "Version whose list was shown on the left (unblinded).",
    "right_system": "Version whose list was shown on the right.",
    "b_on_left": "true if system B was on the left.",
    "a_product_ids": "System A's list: catalogue product ids in rank order (JSON array in CSV).",
    "b_product_ids": "System B's list: catalogue product ids in rank order (JSON array in CSV).",
    "skipped": "true if the annotator skipped the item (choice and preference are then empty).",
    "choice": "What was clicked, screen terms: -2 left much better, -1 left better, 0 same, 1 right better, "
              "2 right much better.",
    "preference": "The choice toward system B: +2 B much better ... -2 A much better (what metrics use).",
    "marks": "Per-product relevance marks, catalogue product id -> grade 0..3 (JSON object in CSV).",
    "reasons": "Reason tags (JSON array in CSV): relevance, intent, diversity, missing, other.",
    "comment": "Free-text comment.",
    "time_on_item_ms": "Time from serving the item to the verdict, measured on the server.",
}

_FIELDS = (
    "pk", "created_at", "campaign_id", "campaign__name", "item_id", "item__kind", "item__query__query_id",
    "item__query_text", "item__segment", "item__query_type", "annotator__username", "campaign__system_a__name",
    "campaign__system_b__name", "b_on_left", "skipped", "choice", "preference", "marks", "reasons", "comment",
    "time_on_item_ms",
)


def export_queryset(judgments: QuerySet[Judgment]) -> QuerySet:
    """Only the columns the export needs (never the items' heavy product snapshots), in a stable order."""
    return judgments.order_by("item_id", "pk").values_list(*_FIELDS)


def export_rows(judgments: QuerySet[Judgment], *, chunk_rows: int = CHUNK_ROWS) -> Iterator[dict]:
    """One dict per judgment, keys exactly `COLUMNS`, read through a cursor `chunk_rows` at a time."""
    cursor = export_queryset(judgments).iterator(chunk_size=chunk_rows)
    while chunk := list(islice(cursor, chunk_rows)):
        lists = item_product_lists(item_ids={row[4] for row in chunk})
        for row in chunk:
            yield shape_row(row, lists[row[4]])


def item_product_lists(*, item_ids: set[int]) -> dict[int, tuple[list[str], list[str], dict[str, str]]]:
    """For each item: A's and B's catalogue ids in rank order, and product pk -> catalogue id (for marks)."""
    lists = {}
    for pk, results_a, results_b in Item.objects.filter(pk__in=item_ids).values_list("pk", "results_a",
                                                                                     "results_b"):
        ids_by_pk = {str(p["product"]): p["product_id"] for p in (*results_a, *results_b)}
        lists[pk] = ([p["product_id"] for p in results_a], [p["product_id"] for p in results_b], ids_by_pk)
    return lists


def shape_row(row: tuple, lists: tuple[list[str], list[str], dict[str, str]]) -> dict:
    (pk, created_at, campaign_id, campaign, item_id, kind, query_id, query, segment, query_type, annotator,
     system_a, system_b, b_on_left, skipped, choice, preference, marks, reasons, comment, time_ms) = row
    a_ids, b_ids, ids_by_pk = lists
    return {
        "judgment_id": pk,
        "created_at": created_at.isoformat(),
        "campaign_id": campaign_id,
        "campaign": campaign,
        "item_id": item_id,
        "item_kind": kind,
        "query_id": query_id,
        "query": query,
        "segment": segment,
        "query_type": query_type,
        "annotator": annotator,
        "system_a": system_a,
        "system_b": system_b,
        "left_system": system_b if b_on_left else system_a,
        "right_system": system_a if b_on_left else system_b,
        "b_on_left": b_on_left,
        "a_product_ids": a_ids,
        "b_product_ids": b_ids,
        "skipped": skipped,
        "choice": choice,
        "preference": preference,
        "marks": {ids_by_pk.get(product, product): grade for product, grade in (marks or {}).items()},
        "reasons": reasons or [],
        "comment": comment,
        "time_on_item_ms": time_ms,
    }


def csv_cell(value) -> str | int | float:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return value


def csv_chunks(rows: Iterable[dict], *, rows_per_chunk: int = 500) -> Iterator[str]:
    """The header, then the rows as CSV text, `rows_per_chunk` rows per yielded string."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    pending = 0
    for row in rows:
        writer.writerow([csv_cell(row[column]) for column in COLUMNS])
        pending += 1
        if pending == rows_per_chunk:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue()


def jsonl_chunks(rows: Iterable[dict], *, rows_per_chunk: int = 500) -> Iterator[str]:
    """One JSON object a line, `rows_per_chunk` lines per yielded string."""
    lines = []
    for row in rows:
        lines.append(json.dumps(row, ensure_ascii=False))
        if len(lines) == rows_per_chunk:
            yield "\n".join(lines) + "\n"
            lines = []
    if lines:
        yield "\n".join(lines) + "\n"


FORMATS = {
    "csv": (csv_chunks, "text/csv; charset=utf-8"),
    "jsonl": (jsonl_chunks, "application/x-ndjson; charset=utf-8"),
}


def columns_markdown() -> str:
    return "\n".join(f"- `{name}`: {meaning}" for name, meaning in COLUMNS.items())
