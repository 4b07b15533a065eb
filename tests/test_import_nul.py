"""NUL characters in imported text: a `file:line` problem in every format, on every database, and nothing written.

PostgreSQL refuses NUL in text and JSON columns (the import would die mid-write with no line named); SQLite would
store it. Either way the import must refuse the row up front, naming it.
"""
from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from retrieval.models import Dataset, Interaction, Product, Qrel, Query
from tests.test_import_bundle import good_bundle
from tests.test_import_esci import EXAMPLES, PRODUCTS, write_esci
from tests.test_import_wands import PRODUCT_HEADER, PRODUCTS as WANDS_PRODUCTS, write_wands

pytestmark = pytest.mark.django_db

MESSAGE = "contains a NUL character (\\x00), which the database cannot store"


def row_counts() -> tuple[int, ...]:
    return tuple(m.objects.count() for m in (Dataset, Product, Query, Interaction, Qrel))


def import_folder(path, *args: str) -> None:
    call_command("import_bundle", str(path), "--no-progress", *args, stdout=StringIO(), stderr=StringIO())


def rejected_lines(path, *args: str) -> list[str]:
    err = StringIO()
    with pytest.raises(CommandError, match="nothing was written"):
        call_command("import_bundle", str(path), "--no-progress", *args, stdout=StringIO(), stderr=err)
    return err.getvalue().splitlines()


def rewrite_line(file, number: int, old: str, new: str) -> None:
    lines = file.read_text(encoding="utf-8").split("\n")
    assert old in lines[number - 1], (old, lines[number - 1])
    lines[number - 1] = lines[number - 1].replace(old, new, 1)
    file.write_text("\n".join(lines), encoding="utf-8")


def test_nul_anywhere_in_a_bundle_is_a_numbered_problem_and_nothing_is_written(tmp_path):
    import_folder(good_bundle(tmp_path / "before"), "--name", "shop")
    before = row_counts()
    titles = set(Product.objects.values_list("title", flat=True))

    bundle = good_bundle(tmp_path / "broken")
    rewrite_line(bundle / "catalog.jsonl", 2, "Chef knife", "Chef\\u0000knife")  # JSON's escape for NUL
    rewrite_line(bundle / "catalog.jsonl", 1, '"material"', '"mat\\u0000erial"')  # in an attribute's name
    rewrite_line(bundle / "queries.jsonl", 3, "campfire", "camp\\u0000fire")
    (bundle / "qrels.tsv").write_bytes((bundle / "qrels.tsv").read_bytes().replace(b"q1\tP1", b"q1\x00\tP1"))

    lines = rejected_lines(bundle, "--name", "shop")

    assert f"catalog.jsonl:1: attributes.mat\\x00erial {MESSAGE}" in lines
    assert f"catalog.jsonl:2: title {MESSAGE}" in lines
    assert f"queries.jsonl:3: text {MESSAGE}" in lines
    assert f"qrels.tsv:4: query_id {MESSAGE}" in lines
    assert not any("\x00" in line for line in lines)  # the report itself is storable (a job's error text)
    assert row_counts() == before
    assert set(Product.objects.values_list("title", flat=True)) == titles


def test_nul_in_the_manifest_names_its_line(tmp_path):
    bundle = good_bundle(tmp_path / "shop")
    rewrite_line(bundle / "bundle.json", 3, "a small shop", "a small\\u0000shop")
    assert f"bundle.json:3: 'description' {MESSAGE}" in rejected_lines(bundle)
    assert row_counts() == (0, 0, 0, 0, 0)


def test_nul_in_a_wands_csv_names_the_source_column(tmp_path):
    products = [PRODUCT_HEADER, *WANDS_PRODUCTS]
    products[2] = products[2].replace("slow cooker", "slow\x00cooker")
    lines = rejected_lines(write_wands(tmp_path / "wands", products=products))
    assert f"product.csv:3: product_name {MESSAGE}" in lines
    assert row_counts() == (0, 0, 0, 0, 0)


def test_nul_in_an_esci_parquet_names_the_row(tmp_path):
    examples = [dict(row) for row in EXAMPLES]
    examples[3]["query"] = "running shoes\x00not for road"
    lines = rejected_lines(write_esci(tmp_path / "esci", products=PRODUCTS, examples=examples))
    assert any(line.endswith(MESSAGE) and ":4: " in line for line in lines), lines
    assert row_counts() == (0, 0, 0, 0, 0)


def test_nul_path_finds_nested_values_and_keys():
    from retrieval.importers.validation import nul_path

    assert nul_path({"title": "ok", "attributes": {"size": ["S", "M\x00"]}}) == "attributes.size[1]"
    assert nul_path({"attributes": {"a\x00": 1}}) == "attributes.a\x00"
    assert nul_path({"title": "fine", "price": 3, "attributes": {"x": None}}) is None
