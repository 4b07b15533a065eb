"""A 100,000-row bundle: one bad row in the middle is named and nothing is imported; without it, all of it is."""
from __future__ import annotations

import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from retrieval.bundles import write_bundle
from retrieval.models import Dataset, Interaction, Product, Qrel, Query

pytestmark = pytest.mark.django_db

N_QUERIES, PRODUCTS_PER_QUERY = 1000, 100  # 100,000 interaction rows
BAD_ROW = 50_000  # 0-based data row; with the header it is on line BAD_ROW + 2


def large_bundle(folder: Path, *, bad_row: int | None) -> Path:
    def interactions():
        for i in range(N_QUERIES * PRODUCTS_PER_QUERY):
            query, offset = divmod(i, PRODUCTS_PER_QUERY)
            product = f"P{(query * 7 + offset) % 5000}" if i != bad_row else "P-missing"
            yield {"query_id": f"q{query}", "product_id": product, "impressions": 10 + offset, "clicks": offset % 7,
                   "purchases": offset % 2}

    return write_bundle(
        folder,
        manifest={"name": "large"},
        products=({"product_id": f"P{i}", "title": f"product {i}"} for i in range(5000)),
        queries=({"query_id": f"q{i}", "text": f"query {i}", "frequency": 1 + (i % 50)} for i in range(N_QUERIES)),
        interactions=interactions(),
    )


def row_counts() -> tuple[int, ...]:
    return tuple(m.objects.count() for m in (Dataset, Product, Query, Interaction, Qrel))


def test_one_bad_row_in_100k_is_named_and_nothing_is_imported(tmp_path):
    folder = large_bundle(tmp_path / "large", bad_row=BAD_ROW)
    started = time.monotonic()
    err = StringIO()
    with pytest.raises(CommandError, match="1 problem; nothing was written"):
        call_command("import_bundle", str(folder), "--no-progress", stdout=StringIO(), stderr=err)

    assert err.getvalue().splitlines() == [
        f"interactions.tsv:{BAD_ROW + 2}: unknown product_id 'P-missing' (not in catalog.jsonl)"]
    assert row_counts() == (0, 0, 0, 0, 0)
    assert time.monotonic() - started < 60


def test_100k_rows_import_in_batches(tmp_path):
    folder = large_bundle(tmp_path / "large", bad_row=None)
    started = time.monotonic()
    out = StringIO()
    call_command("import_bundle", str(folder), "--no-progress", stdout=out, stderr=StringIO())

    assert row_counts() == (1, 5000, N_QUERIES, N_QUERIES * PRODUCTS_PER_QUERY, 0)
    assert "interactions: 100000 new, 0 updated" in out.getvalue()
    assert time.monotonic() - started < 90
