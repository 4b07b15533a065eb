"""Streaming export of judgments as CSV or JSON Lines, in constant memory whatever the row count.

Read → shape → write, each step small: `export_rows` reads judgments through a database cursor
(`QuerySet.iterator`) in chunks, joining each chunk to its items' frozen product ids with one extra query
(the database unnests the lists; they are held only for the current chunk); `csv_chunks` / `jsonl_chunks`
turn the rows into text, many rows per yielded string. Nothing but the current chunk is ever in memory.

CSV cells of text columns that a spreadsheet would read as a formula (starting with =, +, -, @, tab or carriage
return) get a leading single quote (OWASP's advice against CSV injection); numbers stay numbers and JSON Lines
stays verbatim.
"""
from __future__ import annotations

import csv
import io
import json
from itertools import islice
from typing import Iterable, Iterator

from django.db import connection
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
    "adjudicated_preference": "The item's final verdict from a reviewer, toward system B (-2..+2), beside the raw "
                              "ones above; empty when the item was not adjudicated. The same on every row of the item.",
    "adjudication_reason": "Why the item went to review: split (annotators disagreed) or failed_control.",
    "adjudicated_by": "Reviewer username.",
    "adjudication_comment": "The reviewer's comment.",
}

_FIELDS = (
    "pk", "created_at", "campaign_id", "campaign__name", "item_id", "item__kind", "item__query__query_id",
    "item__query_text", "item__segment", "item__query_type", "annotator__username", "campaign__system_a__name",
    "campaign__system_b__name", "b_on_left", "skipped", "choice", "preference", "marks", "reasons", "comment",
    "time_on_item_ms", "item__adjudication__preference", "item__adjudication__reason",
    "item__adjudication__reviewer__username", "item__adjudication__comment",
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


ItemLists = tuple[list[str], list[str], dict[str, str]]

# The product ids of both frozen lists, unnested by the database (one row per product, in rank order), so the
# export never loads the products' full snapshots (titles, descriptions) just to read their ids.
_UNNEST_SQL = {
    "sqlite": """
        SELECT i.id, '{side}', CAST(e.key AS INTEGER), json_extract(e.value, '$.product'),
               json_extract(e.value, '$.product_id')
        FROM {table} i, json_each(i.results_{side}) e WHERE i.id IN ({ids})""",
    "postgresql": """
        SELECT i.id, '{side}', e.n, e.v->>'product', e.v->>'product_id'
        FROM {table} i CROSS JOIN LATERAL jsonb_array_elements(i.results_{side}) WITH ORDINALITY AS e(v, n)
        WHERE i.id IN ({ids})""",
}


def item_product_lists(*, item_ids: set[int]) -> dict[int, ItemLists]:
    """For each item: A's and B's catalogue ids in rank order, and product pk -> catalogue id (for marks)."""
    if connection.vendor not in _UNNEST_SQL:
        return item_product_lists_in_python(item_ids=item_ids)
    lists: dict[int, ItemLists] = {pk: ([], [], {}) for pk in item_ids}
    if not item_ids:
        return lists
    template = _UNNEST_SQL[connection.vendor]
    ids = ", ".join(["%s"] * len(item_ids))
    sql = " UNION ALL ".join(template.format(side=side, table=Item._meta.db_table, ids=ids) for side in "ab")
    with connection.cursor() as cursor:
        cursor.execute(sql + " ORDER BY 1, 2, 3", [*item_ids, *item_ids])
        for item_pk, side, _rank, product_pk, product_id in cursor.fetchall():
            a_ids, b_ids, ids_by_pk = lists[item_pk]
            (a_ids if side == "a" else b_ids).append(product_id)
            ids_by_pk[str(product_pk)] = product_id
    return lists


def item_product_lists_in_python(*, item_ids: set[int]) -> dict[int, ItemLists]:
    """The same, decoding the snapshots in Python (databases without JSON table functions)."""
    lists = {}
    for pk, results_a, results_b in Item.objects.filter(pk__in=item_ids).values_list("pk", "results_a",
                                                                                     "results_b"):
        ids_by_pk = {str(p["product"]): p["product_id"] for p in (*results_a, *results_b)}
        lists[pk] = ([p["product_id"] for p in results_a], [p["product_id"] for p in results_b], ids_by_pk)
    return lists


def shape_row(row: tuple, lists: ItemLists) -> dict:
    (pk, created_at, campaign_id, campaign, item_id, kind, query_id, query, segment, query_type, annotator,
     system_a, system_b, b_on_left, skipped, choice, preference, marks, reasons, comment, time_ms,
     final_preference, final_reason, reviewer, final_comment) = row
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
        "adjudicated_preference": final_preference,
        "adjudication_reason": final_reason or "",
        "adjudicated_by": reviewer or "",
        "adjudication_comment": final_comment or "",
    }


# One encoder each, built once: `json.dumps(..., separators=...)` would build a new encoder for every value.
_compact_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_json_line = json.JSONEncoder(ensure_ascii=False).encode
_JSON_POSITIONS = [i for i, name in enumerate(COLUMNS) if name in ("a_product_ids", "b_product_ids", "marks",
                                                                  "reasons")]
_BOOL_POSITIONS = [i for i, name in enumerate(COLUMNS) if name in ("b_on_left", "skipped")]
# Free or user-chosen text: names, query text, ids, comment. JSON cells start with [ or { and numbers are numbers.
_TEXT_POSITIONS = [i for i, name in enumerate(COLUMNS) if name in (
    "campaign", "item_kind", "query_id", "query", "segment", "query_type", "annotator", "system_a", "system_b",
    "left_system", "right_system", "comment", "adjudication_reason", "adjudicated_by", "adjudication_comment")]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe_text(value):
    """A text cell a spreadsheet would evaluate as a formula, prefixed with a single quote; anything else as is."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_values(row: dict) -> list:
    """A row's cells in column order: lists and objects as compact JSON, booleans as true/false, None empty,
    text that would start a formula neutralised (`csv_safe_text`)."""
    values = list(row.values())  # `shape_row` builds its keys in COLUMNS order
    for i in _TEXT_POSITIONS:
        values[i] = csv_safe_text(values[i])
    for i in _JSON_POSITIONS:
        values[i] = _compact_json(values[i])
    for i in _BOOL_POSITIONS:
        values[i] = "true" if values[i] else "false"
    return values


def csv_chunks(rows: Iterable[dict], *, rows_per_chunk: int = 500) -> Iterator[str]:
    """The header, then the rows as CSV text, `rows_per_chunk` rows per yielded string."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    rows = iter(rows)
    while batch := list(islice(rows, rows_per_chunk)):
        writer.writerows(csv_values(row) for row in batch)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()  # only the header: no row matched


def jsonl_chunks(rows: Iterable[dict], *, rows_per_chunk: int = 500) -> Iterator[str]:
    """One JSON object a line, `rows_per_chunk` lines per yielded string."""
    rows = iter(rows)
    while batch := list(islice(rows, rows_per_chunk)):
        yield "\n".join(map(_json_line, batch)) + "\n"


FORMATS = {
    "csv": (csv_chunks, "text/csv; charset=utf-8"),
    "jsonl": (jsonl_chunks, "application/x-ndjson; charset=utf-8"),
}


def columns_markdown() -> str:
    return ("\n".join(f"- `{name}`: {meaning}" for name, meaning in COLUMNS.items())
            + "\n\nIn CSV, a text cell starting with =, +, -, @, tab or carriage return is prefixed with a single "
              "quote so that spreadsheets do not run it as a formula; JSON Lines is verbatim.")
