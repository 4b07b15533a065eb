"""Importing WANDS (tab-separated product.csv, query.csv, label.csv): grades, deterministic split, broken files."""
from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from retrieval.importers.readers.wands import wands_split
from retrieval.models import Dataset, Interaction, Product, Qrel, Query

pytestmark = pytest.mark.django_db

PRODUCT_HEADER = ("product_id\tproduct_name\tproduct_class\tcategory hierarchy\tproduct_description\t"
                  "product_features\trating_count\taverage_rating\treview_count")
PRODUCTS = [
    "0\tsolid wood platform bed\tBeds\tFurniture / Bedroom Furniture / Beds & Headboards / Beds\t"
    "good, deep sleep can be quite difficult\tcolor:white|material:wood|nofeature\t15\t4.5\t15",
    "1\tall-clad 7 qt . slow cooker\tSlow Cookers\tKitchen & Tabletop / Small Kitchen Appliances\t\t\t100\t2.0\t98",
    "2\tround accent mirror\tMirrors\tDécor & Pillows / Mirrors\tframeless\t\t\t\t",
]
QUERIES = ["query_id\tquery\tquery_class", "0\tsalon chair\tMassage Chairs", "1\tsmart coffee table\tCoffee Tables",
           "2\tdinosaur\tKids Wall Decor"]
LABELS = ["id\tquery_id\tproduct_id\tlabel", "0\t0\t0\tIrrelevant", "1\t0\t1\tPartial", "2\t1\t2\tExact",
          "3\t2\t0\tExact"]


def write_wands(folder: Path, *, products=None, queries=None, labels=None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, lines in (("product.csv", [PRODUCT_HEADER, *PRODUCTS] if products is None else products),
                        ("query.csv", QUERIES if queries is None else queries),
                        ("label.csv", LABELS if labels is None else labels)):
        data = lines if isinstance(lines, bytes) else ("\n".join(lines) + "\n").encode("utf-8")
        (folder / name).write_bytes(data)
    return folder


def row_counts() -> tuple[int, ...]:
    return tuple(m.objects.count() for m in (Dataset, Product, Query, Interaction, Qrel))


def run_import(path: Path, *args: str) -> str:
    out = StringIO()
    call_command("import_bundle", str(path), "--no-progress", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def rejected_lines(path: Path) -> list[str]:
    err = StringIO()
    with pytest.raises(CommandError, match="nothing was written"):
        call_command("import_bundle", str(path), "--no-progress", stdout=StringIO(), stderr=err)
    return err.getvalue().splitlines()


@pytest.fixture
def existing_data(tmp_path):
    run_import(write_wands(tmp_path / "existing"), "--name", "existing")
    return row_counts()


def test_wands_labels_become_grades_with_a_split_per_query(tmp_path):
    run_import(write_wands(tmp_path / "wands"))

    assert Dataset.objects.get().name == "wands"
    labels = {(q.query.query_id, q.product.product_id): (q.grade, q.split) for q in Qrel.objects.all()}
    assert labels == {
        ("0", "0"): (0, wands_split("0", test_share=0.5)),
        ("0", "1"): (1, wands_split("0", test_share=0.5)),
        ("1", "2"): (3, wands_split("1", test_share=0.5)),
        ("2", "0"): (3, wands_split("2", test_share=0.5)),
    }
    assert set(Query.objects.values_list("segment", flat=True)) == {"tail"}


def test_wands_products_get_category_path_and_attributes(tmp_path):
    run_import(write_wands(tmp_path / "wands"))

    bed = Product.objects.get(product_id="0")
    assert bed.title == "solid wood platform bed"
    assert bed.category == "Furniture > Bedroom Furniture > Beds & Headboards > Beds"
    assert bed.attributes == {"color": "white", "material": "wood", "product_class": "Beds",
                              "rating_count": 15, "average_rating": 4.5, "review_count": 15}
    assert Product.objects.get(product_id="2").category == "Décor & Pillows > Mirrors"


def test_wands_split_is_a_stable_hash_of_the_query_id():
    ids = [str(i) for i in range(2000)]
    splits = [wands_split(qid, test_share=0.5) for qid in ids]
    assert 900 < splits.count("test") < 1100
    assert splits == [wands_split(qid, test_share=0.5) for qid in ids]
    assert {wands_split(qid, test_share=0.0) for qid in ids} == {"train"}
    assert {wands_split(qid, test_share=1.0) for qid in ids} == {"test"}


def test_test_share_option_moves_every_label_to_test(tmp_path):
    run_import(write_wands(tmp_path / "wands"), "--wands-test-share", "1")
    assert set(Qrel.objects.values_list("split", flat=True)) == {"test"}


def test_wands_reimport_is_idempotent(tmp_path):
    folder = write_wands(tmp_path / "wands")
    run_import(folder)
    before = row_counts()
    write_wands(folder, labels=LABELS[:3] + ["2\t1\t2\tPartial"] + LABELS[4:])

    out = run_import(folder)
    assert row_counts() == before
    assert Qrel.objects.get(query__query_id="1").grade == 1
    assert "qrels: 0 new, 4 updated" in out


@pytest.mark.parametrize(
    "files, expected",
    [
        pytest.param(dict(labels=["id\tquery_id\tproduct_id", "0\t0\t0"]),
                     ["label.csv:1: missing required column 'label'"], id="missing-column"),
        pytest.param(dict(products=[PRODUCT_HEADER, *PRODUCTS, PRODUCTS[1]]),
                     ["product.csv:5: duplicate product_id '1' (first seen on line 3)"], id="duplicate-id"),
        pytest.param(dict(labels=LABELS + ["4\t2\t99\tExact"]),
                     ["label.csv:6: unknown product_id '99' (not in product.csv)"], id="dangling-product"),
        pytest.param(dict(labels=LABELS + ["4\t2\t2\tMaybe"]),
                     ["label.csv:6: unknown label 'Maybe' (expected Exact, Partial or Irrelevant)"], id="bad-grade"),
        pytest.param(dict(queries=b"query_id\tquery\tquery_class\n0\tsalon chair\tChairs\n"
                          b"1\tcaf\xe9 table\tTables\n2\tdino\tDecor\n"),
                     ["query.csv:3: not valid UTF-8 (byte 0xe9 at column 6)"], id="wrong-encoding"),
        pytest.param(dict(queries=b""), ["query.csv:1: empty file"], id="empty-file"),
        pytest.param(dict(products=[PRODUCT_HEADER, *PRODUCTS, "3\t\tBeds\t\t\t\t\t\t"]),
                     ["product.csv:5: missing required field 'product_name'"], id="missing-name"),
    ],
)
def test_broken_wands_names_the_bad_row_and_changes_nothing(tmp_path, existing_data, files, expected):
    folder = write_wands(tmp_path / "broken", **files)
    assert rejected_lines(folder) == expected
    assert row_counts() == existing_data


def test_entities_are_decoded_once_at_import(tmp_path):
    products = [PRODUCT_HEADER, "0\tKessler &amp; Vane platform bed\tBeds\tFurniture &amp; Decor / Beds\t"
                "<p>solid &amp; deep</p>\tmaker:Kessler &amp; Vane\t\t\t"]
    queries = ["query_id\tquery\tquery_class", "0\tkessler &amp; vane bed\tBeds"]
    labels = ["id\tquery_id\tproduct_id\tlabel", "0\t0\t0\tExact"]
    run_import(write_wands(tmp_path / "wands", products=products, queries=queries, labels=labels))
    bed = Product.objects.get()
    assert (bed.title, bed.category, bed.description) == ("Kessler & Vane platform bed", "Furniture & Decor > Beds",
                                                          "solid & deep")
    assert bed.attributes["maker"] == "Kessler & Vane"
    assert Query.objects.get().text == "kessler & vane bed"
