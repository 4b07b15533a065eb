"""Judgments API: analysts read all (unblinded), annotators only their own in screen terms; filters; cursors."""
from datetime import timedelta

import pytest
from django.utils import timezone

from sbsapp.judging import Verdict, judgment_skip, judgment_submit
from sbsapp.models import Judgment
from tests.api_builders import token_client
from tests.sbs_factories import make_campaign, make_dataset, make_item

pytestmark = pytest.mark.django_db


@pytest.fixture
def judged(annotator, annotator2):
    """Two campaigns; ann1 judged two items of the first (one B-on-left), ann2 one item and skipped one."""
    dataset = make_dataset(products=12, queries=6, segments=("head", "tail"), query_types=("plain", "negation"))
    campaign = make_campaign(dataset=dataset, name="first")
    other = make_campaign(dataset=dataset, name="second")
    left_b = make_item(campaign=campaign, b_on_left=True)  # query 0: head, plain
    right_b = make_item(campaign=campaign, b_on_left=False)  # query 1: tail, negation
    elsewhere = make_item(campaign=other)
    judgment_submit(require_reservation=False, item=left_b, annotator=annotator, submit_key="a1",
                    verdict=Verdict(choice=-2, left_marks={0: 3}, reasons=["relevance"], comment="B is spot on"))
    judgment_submit(require_reservation=False,
                    item=right_b, annotator=annotator, submit_key="a2", verdict=Verdict(choice=0))
    judgment_submit(require_reservation=False,
                    item=left_b, annotator=annotator2, submit_key="b1", verdict=Verdict(choice=1))
    judgment_skip(require_reservation=False, item=elsewhere, annotator=annotator2, submit_key="b2")
    return campaign, other


def test_analyst_sees_every_judgment_unblinded(analyst, judged):
    body = token_client(analyst).get("/api/judgments/").json()
    assert len(body["results"]) == 4 and body["next"] is None
    spot_on = next(r for r in body["results"] if r["comment"] == "B is spot on")
    assert spot_on["choice"] == -2 and spot_on["preference"] == 2  # left much better, B was on the left
    assert (spot_on["left_system"], spot_on["right_system"]) == (judged[0].system_b.name, judged[0].system_a.name)
    assert spot_on["annotator"] == "ann1" and spot_on["segment"] == "head" and spot_on["reasons"] == ["relevance"]


def test_analyst_filters_by_campaign_annotator_segment_and_type(analyst, judged):
    client = token_client(analyst)
    campaign = judged[0]

    def count(**params):
        return len(client.get("/api/judgments/", params).json()["results"])

    assert count(campaign=campaign.pk) == 3
    assert count(campaign=campaign.pk, annotator="ann2") == 1
    assert count(segment="tail") == 1
    assert count(query_type="plain") == 3  # two on the first campaign's item 0, one skip on the other's item 0
    assert count(created_after=(timezone.now() + timedelta(minutes=1)).isoformat()) == 0
    assert count(created_before=(timezone.now() + timedelta(minutes=1)).isoformat()) == 4
    # ISO 8601 allows offsets PostgreSQL cannot store (beyond ±15:59); the filter compares in UTC instead
    assert count(created_after="2000-01-01T00:00:00+16:00") == 4
    assert count(created_before="2000-01-01T00:00:00-16:00") == 0


def test_cursor_pagination_walks_every_judgment_once(analyst, judged):
    client = token_client(analyst)
    seen, url = [], "/api/judgments/?page_size=1"
    while url:
        body = client.get(url).json()
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
    assert sorted(seen) == sorted(Judgment.objects.values_list("pk", flat=True))
    assert len(seen) == 4


def test_annotator_sees_only_their_own_judgments_in_screen_terms(annotator, judged):
    client = token_client(annotator)
    rows = client.get("/api/judgments/").json()["results"]
    assert len(rows) == 2
    assert all(set(row) == {"id", "campaign", "query", "skipped", "choice", "reasons", "comment",
                            "time_on_item_ms", "created_at"} for row in rows)
    other = Judgment.objects.filter(annotator__username="ann2").first()
    assert client.get(f"/api/judgments/{other.pk}/").status_code == 404


def test_annotator_asking_for_someone_elses_judgments_is_refused(annotator, judged):
    response = token_client(annotator).get("/api/judgments/", {"annotator": "ann2"})
    assert response.status_code == 403
    assert response.json()["message"] == "Annotators can read only their own judgments."


def test_user_without_a_role_cannot_read_judgments(db, judged):
    from django.contrib.auth import get_user_model

    nobody = get_user_model().objects.create_user("nobody", password="x")
    assert token_client(nobody).get("/api/judgments/").status_code == 403


@pytest.mark.parametrize(("params", "field"), [
    ({"campaign": "abc"}, "campaign"),
    ({"annotator": "ghost"}, "annotator"),
    ({"segment": "neck"}, "segment"),
    ({"created_after": "yesterday"}, "created_after"),
    ({"created_after": "2026-11-02T00:00:00Z", "created_before": "2026-11-01T00:00:00Z"}, "created_before"),
])
def test_bad_judgment_filters_are_clear_400s(analyst, params, field):
    response = token_client(analyst).get("/api/judgments/", params)
    assert response.status_code == 400
    body = response.json()
    assert field in body["errors"] and body["message"].startswith(f"{field}: ")


def test_bad_cursor_is_a_json_404(analyst, judged):
    response = token_client(analyst).get("/api/judgments/", {"cursor": "garbage"})
    assert response.status_code == 404 and response.json()["message"] == "Invalid cursor"


def test_judgments_are_read_only(admin_user, judged):
    response = token_client(admin_user).post("/api/judgments/", {"choice": 1}, format="json")
    assert response.status_code == 405 and response.json()["code"] == "method_not_allowed"
