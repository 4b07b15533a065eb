"""Importing Amazon Shopping Queries (ESCI) parquet files: label mapping, locales, broken files."""
from __future__ import annotations

from io import StringIO
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from retrieval.importers.readers.esci import EXAMPLES_FILE, PRODUCTS_FILE, SOURCES_FILE
from retrieval.models import Dataset, Interaction, Product, Qrel, Query

pytestmark = pytest.mark.django_db

PRODUCTS = [
    {"product_id": "B001", "product_title": "Trail running shoes", "product_description": "<p>Grippy &amp; light</p>",
     "product_bullet_point": "Rock plate\nWide toe box", "product_brand": "Altra", "product_color": "Blue",
     "product_locale": "us"},
    {"product_id": "B002", "product_title": "Road running shoes", "product_description": None,
     "product_bullet_point": None, "product_brand": "Asics", "product_color": None, "product_locale": "us"},
    {"product_id": "B003", "product_title": "Shoe laces", "product_description": "", "product_bullet_point": "",
     "product_brand": "", "product_color": "", "product_locale": "us"},
    {"product_id": "B001", "product_title": "Zapatillas de trail", "product_description": None,
     "product_bullet_point": None, "product_brand": "Altra", "product_color": None, "product_locale": "es"},
]
EXAMPLES = [
    {"example_id": 0, "query": "trail shoes", "query_id": 0, "product_id": "B001", "product_locale": "us",
     "esci_label": "E", "small_version": 1, "large_version": 1, "split": "train"},
    {"example_id": 1, "query": "trail shoes", "query_id": 0, "product_id": "B002", "product_locale": "us",
     "esci_label": "S", "small_version": 1, "large_version": 1, "split": "train"},
    {"example_id": 2, "query": "trail shoes", "query_id": 0, "product_id": "B003", "product_locale": "us",
     "esci_label": "C", "small_version": 0, "large_version": 1, "split": "train"},
    {"example_id": 3, "query": "running shoes not for road", "query_id": 1, "product_id": "B002",
     "product_locale": "us", "esci_label": "I", "small_version": 1, "large_version": 1, "split": "test"},
    {"example_id": 4, "query": "zapatillas trail", "query_id": 2, "product_id": "B001", "product_locale": "es",
     "esci_label": "E", "small_version": 1, "large_version": 1, "split": "test"},
]
SOURCES = "query_id,source\n0,other\n1,negations\n2,behavioral\n"


def write_esci(folder: Path, *, products=None, examples=None, sources: bytes | str | None = SOURCES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(PRODUCTS if products is None else products), folder / PRODUCTS_FILE)
    pq.write_table(pa.Table.from_pylist(EXAMPLES if examples is None else examples), folder / EXAMPLES_FILE)
    if sources is not None:
        data = sources.encode("utf-8") if isinstance(sources, str) else sources
        (folder / SOURCES_FILE).write_bytes(data)
    return folder


def row_counts() -> tuple[int, ...]:
    return tuple(m.objects.count() for m in (Dataset, Product, Query, Interaction, Qrel))


def run_import(path: Path, *args: str) -> str:
    out = StringIO()
    call_command("import_bundle", str(path), "--no-progress", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def rejected_lines(path: Path, *args: str) -> list[str]:
    err = StringIO()
    with pytest.raises(CommandError, match="nothing was written"):
        call_command("import_bundle", str(path), "--no-progress", *args, stdout=StringIO(), stderr=err)
    return err.getvalue().splitlines()


def with_changes(rows: list[dict], index: int, **changes) -> list[dict]:
    return [({**row, **changes} if i == index else row) for i, row in enumerate(rows)]


@pytest.fixture
def existing_data(tmp_path):
    run_import(write_esci(tmp_path / "existing"), "--name", "existing")
    return row_counts()


def test_esci_labels_become_grades_and_splits_are_kept(tmp_path):
    run_import(write_esci(tmp_path / "esci"))

    dataset = Dataset.objects.get(name="esci")
    assert dataset.source_format == "esci"
    grades = {(q.query.query_id, q.product.product_id): (q.grade, q.split) for q in Qrel.objects.all()}
    assert grades == {
        ("0", "us:B001"): (3, "train"), ("0", "us:B002"): (2, "train"), ("0", "us:B003"): (1, "train"),
        ("1", "us:B002"): (0, "test"), ("2", "es:B001"): (3, "test"),
    }
    assert Interaction.objects.count() == 0  # ESCI has no logs


def test_esci_products_and_queries_keep_their_text(tmp_path):
    run_import(write_esci(tmp_path / "esci"))

    shoe = Product.objects.get(product_id="us:B001")
    assert (shoe.title, shoe.brand, shoe.description) == ("Trail running shoes", "Altra", "Grippy & light")
    assert shoe.attributes == {"locale": "us", "bullet_points": "Rock plate Wide toe box", "color": "Blue"}
    assert Product.objects.get(product_id="es:B001").title == "Zapatillas de trail"
    queries = {q.query_id: (q.text, q.query_type, q.segment, q.frequency) for q in Query.objects.all()}
    assert queries == {
        "0": ("trail shoes", "plain", "tail", None),
        "1": ("running shoes not for road", "negation", "tail", None),
        "2": ("zapatillas trail", "plain", "tail", None),
    }


def test_one_locale_imports_plain_asins_into_its_own_dataset(tmp_path):
    run_import(write_esci(tmp_path / "esci"), "--locale", "us")

    assert list(Dataset.objects.values_list("name", flat=True)) == ["esci-us"]
    assert sorted(Product.objects.values_list("product_id", flat=True)) == ["B001", "B002", "B003"]
    assert sorted(Query.objects.values_list("query_id", flat=True)) == ["0", "1"]
    assert Qrel.objects.count() == 4


def test_small_version_keeps_only_its_examples(tmp_path):
    run_import(write_esci(tmp_path / "esci"), "--esci-small-version")
    assert Qrel.objects.count() == 4
    assert not Qrel.objects.filter(product__product_id="us:B003").exists()


def test_esci_reimport_is_idempotent(tmp_path):
    folder = write_esci(tmp_path / "esci")
    run_import(folder)
    before = row_counts()
    write_esci(folder, examples=with_changes(EXAMPLES, 3, esci_label="C"))

    out = run_import(folder)
    assert row_counts() == before
    assert Qrel.objects.get(query__query_id="1").grade == 1
    assert "qrels: 0 new, 5 updated" in out


@pytest.mark.parametrize(
    "files, expected",
    [
        pytest.param(dict(examples=[{k: v for k, v in row.items() if k != "esci_label"} for row in EXAMPLES]),
                     [f"{EXAMPLES_FILE}: missing required column 'esci_label'"], id="missing-column"),
        pytest.param(dict(products=PRODUCTS + [PRODUCTS[1]]),
                     [f"{PRODUCTS_FILE}:5: duplicate product_id 'us:B002' (first seen on line 2)"], id="duplicate-id"),
        pytest.param(dict(examples=with_changes(EXAMPLES, 1, product_id="B404")),
                     [f"{EXAMPLES_FILE}:2: unknown product_id 'us:B404' (not in {PRODUCTS_FILE})"],
                     id="dangling-product"),
        pytest.param(dict(examples=with_changes(EXAMPLES, 2, esci_label="X")),
                     [f"{EXAMPLES_FILE}:3: unknown esci_label 'X' (expected E, S, C or I)"], id="bad-grade"),
        pytest.param(dict(examples=with_changes(EXAMPLES, 0, split="dev")),
                     [f"{EXAMPLES_FILE}:1: bad split 'dev' (expected train or test)"], id="bad-split"),
        pytest.param(dict(examples=with_changes(EXAMPLES, 1, query="trail shoe")),
                     [f"{EXAMPLES_FILE}:2: query_id 0 has query 'trail shoe' here but 'trail shoes' on row 1"],
                     id="query-text-conflict"),
        pytest.param(dict(products=with_changes(PRODUCTS, 2, product_title=None)),
                     [f"{PRODUCTS_FILE}:3: missing required field 'product_title'"], id="missing-title"),
        pytest.param(dict(sources=b"query_id,source\n0,other\n1,negaci\xf3n\n"),
                     [f"{SOURCES_FILE}:3: not valid UTF-8 (byte 0xf3 at column 9)"], id="wrong-encoding"),
        pytest.param(dict(sources=b""), [f"{SOURCES_FILE}:1: empty file"], id="empty-csv"),
    ],
)
def test_broken_esci_names_the_bad_row_and_changes_nothing(tmp_path, existing_data, files, expected):
    folder = write_esci(tmp_path / "broken", **files)
    assert rejected_lines(folder) == expected
    assert row_counts() == existing_data


def test_empty_or_missing_parquet_is_reported_per_file(tmp_path, existing_data):
    folder = write_esci(tmp_path / "broken", products=[])
    (folder / PRODUCTS_FILE).write_bytes(b"")
    pq.write_table(pa.Table.from_pylist(EXAMPLES).slice(0, 0), folder / EXAMPLES_FILE)
    assert rejected_lines(folder, "--format", "esci") == [
        f"{PRODUCTS_FILE}: empty file",
        f"{EXAMPLES_FILE}: empty file",
    ]
    (folder / PRODUCTS_FILE).unlink()
    assert rejected_lines(folder, "--format", "esci")[0] == f"{PRODUCTS_FILE}: file not found"
    (folder / PRODUCTS_FILE).write_bytes(b"not parquet at all")
    assert rejected_lines(folder, "--format", "esci")[0].startswith(f"{PRODUCTS_FILE}: not a readable parquet file")
    assert row_counts() == existing_data


def test_entities_are_decoded_once_at_import(tmp_path):
    products = with_changes(PRODUCTS, 0, product_title="Kessler &amp; Vane trail shoes",
                            product_brand="Kessler &amp; Vane")
    examples = [{**row, "query": "kessler &amp; vane"} if row["query_id"] == 0 else row for row in EXAMPLES]
    run_import(write_esci(tmp_path / "esci", products=products, examples=examples))
    shoe = Product.objects.get(product_id="us:B001")
    assert (shoe.title, shoe.brand, shoe.description) == ("Kessler & Vane trail shoes", "Kessler & Vane",
                                                          "Grippy & light")
    assert Query.objects.get(query_id="0").text == "kessler & vane"
