"""Adjudication: which items go to review, recording a blinded final verdict, the adjudicated view beside the raw
ones (which never change), the export carrying both, the reviewer role, pages and API."""
import csv
import io
import json

import pytest

from core.roles import ADMIN, REVIEWER, is_reviewer, user_roles
from sbsapp.adjudication import (AdjudicationError, adjudicated_view, adjudication_record, campaign_adjudicated_metrics,
                                 disagreement, review_queue, strict_majority)
from sbsapp.campaigns import campaign_close
from sbsapp.judging import Verdict, judgment_submit
from sbsapp.metrics import Rating
from sbsapp.models import Adjudication
from sbsapp.selectors import campaign_metrics
from tests.api_builders import token_client
from tests.conftest import make_user
from tests.sbs_factories import make_campaign, make_dataset, make_item, make_version

# ------------------------------------------------------------------------------------------------ the rules


@pytest.mark.parametrize("preferences, reason", [
    ([1, 1, 0], None),  # a majority for B, nobody for A
    ([2, 1, 1], None),
    ([1, 1, -1], "split"),  # a majority, but both sides preferred by someone
    ([1, 0, -1], "split"),  # no majority
    ([1, 0], "split"),  # two annotators, no majority
    ([0, 0, 1, 1], "split"),  # a tie between verdicts is no majority
    ([-2, -1, -1], None),
    ([1], None),  # one judgment cannot disagree
    ([], None),
])
def test_a_regular_item_is_split_when_both_sides_win_or_no_verdict_has_a_majority(preferences, reason):
    assert disagreement(kind="regular", expected=None, preferences=preferences) == reason


def test_a_control_fails_when_any_judgment_is_wrong():
    assert disagreement(kind="aa", expected=0, preferences=[0, 0, 1]) == "failed_control"
    assert disagreement(kind="aa", expected=0, preferences=[0, 0, 0]) is None
    assert disagreement(kind="gold", expected=2, preferences=[1, 2, 0]) == "failed_control"
    assert disagreement(kind="gold", expected=-1, preferences=[-2, -1]) is None
    assert disagreement(kind="gold", expected=None, preferences=[-2, 1]) is None  # no expected answer set


def test_strict_majority_needs_more_than_half():
    assert strict_majority([1, 2, 0]) == 1 and strict_majority([0, 0, -1]) == 0
    assert strict_majority([1, 0, -1]) is None and strict_majority([1, -1]) is None and strict_majority([]) is None


def test_adjudicated_view_on_a_hand_computed_example():
    def ratings(item, prefs):
        return [Rating(item=item, annotator=n, preference=p, choice=p) for n, p in enumerate(prefs)]

    # i1 G G S -> G · i2 G S B -> none (unresolved) · i3 B B G -> B · i4 S S S -> S; plus a control, ignored
    data = (ratings("i1", [1, 2, 0]) + ratings("i2", [1, 0, -1]) + ratings("i3", [-1, -2, 1]) + ratings("i4", [0, 0, 0])
            + [Rating(item="c", annotator=0, preference=2, choice=2, kind="aa", expected=0)])
    view = adjudicated_view(data, {"i2": 2, "i3": 0}, bootstrap_samples=200)
    raw, final = view["raw"], view["adjudicated"]
    assert (raw["good"], raw["same"], raw["bad"], raw["unresolved"]) == (1, 1, 1, 1)
    assert raw["delta_gsb"] == pytest.approx(0)
    assert (final["good"], final["same"], final["bad"], final["unresolved"]) == (2, 2, 0, 0)
    assert final["delta_gsb"] == pytest.approx(2 / 4)
    assert (view["items"], view["adjudicated_items"], view["changed_verdicts"]) == (4, 2, 2)


# ------------------------------------------------------------------------------------------------ the database


def judge(item, annotators, preferences):
    for position, (annotator, preference) in enumerate(zip(annotators, preferences)):
        choice = -preference if item.b_on_left else preference
        judgment_submit(require_reservation=False, item=item, annotator=annotator, verdict=Verdict(
            choice=choice, comment=f"note number {position}", reasons=["relevance"]),
            submit_key=f"{item.pk}-{annotator.pk}")


@pytest.fixture
def people(db):
    return [make_user(f"judge{i}", "annotator") for i in range(3)]


@pytest.fixture
def reviewer(db):
    return make_user("rev", REVIEWER)


@pytest.fixture
def campaign(people):
    dataset = make_dataset(products=12, queries=10)
    campaign = make_campaign(dataset=dataset, name="review-me", judgments_per_item=3,
                             system_a=make_version(dataset=dataset, name="alpha-baseline-x"),
                             system_b=make_version(dataset=dataset, name="omega-treatment-x"))
    campaign.items_by_name = {}
    for name, b_on_left, kind, prefs in [
        ("agree", False, "regular", [1, 1, 0]),
        ("sides", True, "regular", [1, 1, -1]),
        ("nomajority", True, "regular", [1, 0, -1]),
        ("unfinished", False, "regular", [1, -1]),
        ("aa-failed", False, "aa", [0, 1, 0]),
        ("aa-ok", False, "aa", [0, 0, 0]),
    ]:
        item = make_item(campaign=campaign, b_on_left=b_on_left, kind=kind)
        judge(item, people, prefs)
        campaign.items_by_name[name] = item
    return campaign


def names_of(entries, campaign):
    by_pk = {item.pk: name for name, item in campaign.items_by_name.items()}
    return {by_pk[entry["item"].pk]: entry["reason"] for entry in entries}


def test_the_queue_holds_split_items_and_failed_controls_once_judging_is_over(campaign, people, reviewer):
    queue = review_queue(reviewer=reviewer, campaign=campaign)
    assert names_of(queue, campaign) == {"sides": "split", "nomajority": "split", "aa-failed": "failed_control"}
    campaign_close(campaign=campaign)  # no more judgments: the item with two disagreeing ones joins
    assert "unfinished" in names_of(review_queue(reviewer=reviewer, campaign=campaign), campaign)
    assert review_queue(reviewer=people[0], campaign=campaign) == []  # they judged every item


def test_recording_turns_the_screen_answer_toward_b_and_can_be_revised(campaign, reviewer):
    item = campaign.items_by_name["nomajority"]  # B was shown on the left
    adjudication = adjudication_record(item=item, reviewer=reviewer, choice=-2, comment="  left has it  ")
    assert (adjudication.choice, adjudication.preference, adjudication.reason) == (-2, 2, "split")
    assert adjudication.comment == "left has it" and adjudication.b_on_left is True
    adjudication_record(item=item, reviewer=reviewer, choice=1)
    assert Adjudication.objects.get(item=item).preference == -1 and Adjudication.objects.count() == 1
    assert "nomajority" not in names_of(review_queue(reviewer=reviewer, campaign=campaign), campaign)
    assert "nomajority" in names_of(review_queue(reviewer=reviewer, campaign=campaign, pending_only=False), campaign)


def test_recording_is_refused_outside_the_queue_or_for_ones_own_item(campaign, people, reviewer):
    with pytest.raises(AdjudicationError, match="not in the review queue"):
        adjudication_record(item=campaign.items_by_name["agree"], reviewer=reviewer, choice=1)
    with pytest.raises(AdjudicationError, match="not in the review queue"):
        adjudication_record(item=campaign.items_by_name["unfinished"], reviewer=reviewer, choice=1)
    people[0].groups.add(*reviewer.groups.all())
    with pytest.raises(AdjudicationError, match="judged this item yourself"):
        adjudication_record(item=campaign.items_by_name["sides"], reviewer=people[0], choice=1)
    with pytest.raises(AdjudicationError, match="five answers"):
        adjudication_record(item=campaign.items_by_name["sides"], reviewer=reviewer, choice=3)
    assert not Adjudication.objects.exists()


def test_adjudication_changes_the_adjudicated_metrics_and_never_the_raw_ones(campaign, reviewer):
    raw_before, view_before = campaign_metrics(campaign=campaign), campaign_adjudicated_metrics(campaign=campaign)
    # raw per-item verdicts: agree G, sides G, nomajority none, unfinished none
    assert (view_before["raw"]["good"], view_before["raw"]["unresolved"]) == (2, 2)
    assert view_before["adjudicated"] == view_before["raw"]
    assert view_before["queue"] == {"split": {"pending": 2, "settled": 0},
                                    "failed_control": {"pending": 1, "settled": 0}}
    adjudication_record(item=campaign.items_by_name["nomajority"], reviewer=reviewer, choice=2)  # B left: A better
    adjudication_record(item=campaign.items_by_name["sides"], reviewer=reviewer, choice=0)
    adjudication_record(item=campaign.items_by_name["aa-failed"], reviewer=reviewer, choice=0)
    raw_after, view_after = campaign_metrics(campaign=campaign), campaign_adjudicated_metrics(campaign=campaign)
    assert raw_after == raw_before
    assert view_after["raw"] == view_before["raw"]
    final = view_after["adjudicated"]
    assert (final["good"], final["same"], final["bad"], final["unresolved"]) == (1, 1, 1, 1)
    assert final["delta_gsb"] == pytest.approx(0) and view_before["raw"]["delta_gsb"] == pytest.approx(1)
    assert (view_after["adjudicated_items"], view_after["changed_verdicts"]) == (2, 2)
    assert view_after["queue"] == {"split": {"pending": 0, "settled": 2},
                                   "failed_control": {"pending": 0, "settled": 1}}


def test_the_export_carries_the_adjudicated_verdict_beside_the_raw_ones(campaign, reviewer, analyst):
    adjudication_record(item=campaign.items_by_name["nomajority"], reviewer=reviewer, choice=2, comment="=cmd")
    client = token_client(analyst)
    response = client.get("/api/judgments/export", {"format": "jsonl", "campaign": campaign.pk})
    rows = [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]
    target = campaign.items_by_name["nomajority"].pk
    mine = [row for row in rows if row["item_id"] == target]
    assert sorted(row["preference"] for row in mine) == [-1, 0, 1]  # the raw verdicts, unchanged
    assert {(row["adjudicated_preference"], row["adjudication_reason"], row["adjudicated_by"]) for row in mine} == {
        (-2, "split", "rev")}
    assert all(row["adjudicated_preference"] is None and row["adjudicated_by"] == "" for row in rows
               if row["item_id"] != target)
    response = client.get("/api/judgments/export", {"format": "csv", "campaign": campaign.pk})
    table = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert {row["adjudicated_preference"] for row in table if row["item_id"] == str(target)} == {"-2"}
    assert {row["adjudication_comment"] for row in table if row["item_id"] == str(target)} == {"'=cmd"}
    assert {row["adjudicated_preference"] for row in table if row["item_id"] != str(target)} == {""}


@pytest.mark.django_db
def test_reviewer_is_a_role_of_its_own_and_a_superuser_has_it():
    assert is_reviewer(make_user("r", REVIEWER)) and user_roles(make_user("r2", REVIEWER)) == {REVIEWER}
    assert not is_reviewer(make_user("a", ADMIN))
    assert REVIEWER in user_roles(make_user("root", None, is_superuser=True))


# ------------------------------------------------------------------------------------------------ API


def test_queue_api_is_blinded_and_for_reviewers(campaign, reviewer, analyst):
    response = token_client(reviewer).get("/api/adjudications/queue/", {"campaign": campaign.pk})
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    text = json.dumps(body)
    for secret in ("alpha-baseline-x", "omega-treatment-x", "judge0", "judge1", "b_on_left", "preference",
                   "product_id"):
        assert secret not in text
    entry = next(e for e in body["results"] if e["token"] == campaign.items_by_name["nomajority"].token)
    assert entry["reason"] == "split" and entry["campaign"] == "review-me"
    assert [v["annotator"] for v in entry["verdicts"]] == ["Annotator 1", "Annotator 2", "Annotator 3"]
    # B was on the left: preferences 1, 0, -1 were clicked as left better, same, right better
    assert [v["choice"] for v in entry["verdicts"]] == [-1, 0, 1]
    assert entry["verdicts"][0]["comment"] == "note number 0" and entry["verdicts"][0]["reasons"] == ["relevance"]
    assert entry["left"][0]["title"] == campaign.items_by_name["nomajority"].results_b[0]["title"]
    failed = next(e for e in body["results"] if e["reason"] == "failed_control")
    assert failed["expected_label"] == "About the same"
    assert token_client(analyst).get("/api/adjudications/queue/").status_code == 403
    assert token_client(reviewer).get("/api/adjudications/queue/", {"campaign": 999999}).status_code == 400


def test_reviewers_record_and_analysts_read_adjudications(campaign, reviewer, analyst):
    item = campaign.items_by_name["sides"]  # B on the left
    rev = token_client(reviewer)
    response = rev.post("/api/adjudications/", {"item": item.token, "choice": 1, "comment": "right"}, format="json")
    assert response.status_code == 201, response.content
    assert set(response.json()) == {"id", "item", "reason", "choice", "comment", "updated_at"}
    assert Adjudication.objects.get(item=item).preference == -1
    assert rev.post("/api/adjudications/", {"item": item.token, "choice": 2}, format="json").status_code == 201
    assert Adjudication.objects.get(item=item).preference == -2
    agree = rev.post("/api/adjudications/", {"item": campaign.items_by_name["agree"].token, "choice": 1},
                     format="json")
    assert agree.status_code == 409 and "not in the review queue" in agree.json()["message"]
    assert rev.post("/api/adjudications/", {"item": "nope", "choice": 1}, format="json").status_code == 404
    assert rev.post("/api/adjudications/", {"item": item.token, "choice": 7}, format="json").status_code == 400
    assert token_client(analyst).post("/api/adjudications/", {"item": item.token, "choice": 1},
                                      format="json").status_code == 403
    listed = token_client(analyst).get("/api/adjudications/", {"campaign": campaign.pk})
    assert listed.status_code == 200
    [record] = listed.json()["results"]
    assert (record["item"], record["preference"], record["choice"], record["reviewer"]) == (item.pk, -2, 2, "rev")
    assert rev.get("/api/adjudications/").status_code == 403


# ------------------------------------------------------------------------------------------------ pages


def test_review_pages_are_blinded_and_record_a_verdict(client, campaign, reviewer, annotator):
    client.force_login(reviewer)
    queue = client.get("/sbs/review/").content.decode()
    item = campaign.items_by_name["nomajority"]
    assert f"/sbs/review/{item.token}/" in queue and campaign.items_by_name["agree"].query_text not in queue
    page = client.get(f"/sbs/review/{item.token}/").content.decode()
    assert "Annotator 2" in page and "note number 1" in page
    for secret in ("alpha-baseline-x", "omega-treatment-x", "judge0", "judge1", "judge2"):
        assert secret not in page
    response = client.post(f"/sbs/review/{item.token}/", {"choice": "-1", "comment": "ok"})
    assert response.status_code == 302 and Adjudication.objects.get(item=item).preference == 1
    refused = client.post(f"/sbs/review/{campaign.items_by_name['agree'].token}/", {"choice": "1"})
    assert "not in the review queue" in refused.content.decode() and Adjudication.objects.count() == 1
    client.force_login(annotator)
    assert client.get("/sbs/review/").status_code == 403


def test_the_dashboard_loads_the_adjudicated_view_for_analysts(client, campaign, reviewer, analyst):
    client.force_login(analyst)
    dashboard = client.get(f"/sbs/campaigns/{campaign.pk}/").content.decode()
    assert f"/sbs/campaigns/{campaign.pk}/adjudicated/" in dashboard
    panel = client.get(f"/sbs/campaigns/{campaign.pk}/adjudicated/").content.decode()
    assert 'id="adjudicated-delta">+1.000<' in panel
    adjudication_record(item=campaign.items_by_name["nomajority"], reviewer=reviewer, choice=2)
    panel = client.get(f"/sbs/campaigns/{campaign.pk}/adjudicated/").content.decode()
    assert 'id="raw-delta">+1.000<' in panel and 'id="adjudicated-delta">+0.333<' in panel
    client.force_login(reviewer)
    assert client.get(f"/sbs/campaigns/{campaign.pk}/adjudicated/").status_code == 403
