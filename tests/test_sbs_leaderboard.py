"""The leaderboard of versions: the Bradley–Terry fit against hand-computed values, ties as half a win, controls and
automatic judges kept out of the human scores, the page and the API."""
import math

import numpy as np
import pytest

from sbsapp.judging import Verdict, judgment_submit
from sbsapp.leaderboard import PRIOR_TIES, PairVerdict, dataset_leaderboard, rank_versions
from sbsapp.models import AutoJudgment
from tests.api_builders import token_client
from tests.conftest import make_user
from tests.sbs_factories import make_campaign, make_dataset, make_item, make_version


def verdicts(campaign, a, b, *, b_wins=0, ties=0, a_wins=0, start=0):
    outcomes = [1] * b_wins + [0] * ties + [-1] * a_wins
    return [PairVerdict(campaign, (campaign, start + n), a, b, outcome) for n, outcome in enumerate(outcomes)]


def by_version(board: dict) -> dict:
    return {row["version"]: row for row in board["rows"]}


def test_fit_matches_a_hand_computed_chain_with_ties():
    # A-B in one campaign, B-C in another: a tree, so the maximum-likelihood differences decouple per pair:
    #   s_B - s_A = ln((B wins + ties/2 + 1/2) / (A wins + ties/2 + 1/2)) = ln((5 + 1 + .5) / (1 + 1 + .5)) = ln 2.6
    #   s_C - s_B = ln((1 + 0 + .5) / (3 + 0 + .5)) = ln(3/7)        (the .5 each: the one virtual tie per pair)
    # and the scores sum to 0.
    assert PRIOR_TIES == 1.0
    data = verdicts("c1", "A", "B", b_wins=5, ties=2, a_wins=1) + verdicts("c2", "B", "C", b_wins=1, a_wins=3)
    d1, d2 = math.log(2.6), math.log(3 / 7)
    s_a = -(2 * d1 + d2) / 3
    expected = {"A": s_a, "B": s_a + d1, "C": s_a + d1 + d2}
    board = rank_versions(data, versions=["A", "B", "C"], samples=50)
    rows = by_version(board)
    for version, score in expected.items():
        assert rows[version]["score"] == pytest.approx(score, abs=1e-6)
        assert rows[version]["elo"] == pytest.approx(1000 + 400 * score / math.log(10), abs=1e-4)
    assert [row["version"] for row in board["rows"]] == ["B", "C", "A"]  # 0.60, -0.25, -0.36
    assert [row["rank"] for row in board["rows"]] == [1, 2, 3]
    assert rows["B"]["verdicts"] == 12 and rows["B"]["wins"] == 5 + 1 + 3  # two ties: half a win each


def test_fit_solves_the_likelihood_equations_on_a_cycle():
    # Wherever the fit is the maximum of the Bradley-Terry likelihood, each version's expected wins under the fitted
    # scores equal its observed wins (ties half, plus the virtual ties): checked on a triangle with a cycle.
    data = (verdicts("c1", "A", "B", b_wins=4, ties=3, a_wins=2)
            + verdicts("c2", "B", "C", b_wins=1, ties=1, a_wins=5)
            + verdicts("c3", "C", "A", b_wins=3, ties=0, a_wins=2))
    rows = by_version(rank_versions(data, versions=["A", "B", "C"], samples=20))
    score = {v: rows[v]["score"] for v in "ABC"}
    games = {("A", "B"): 9 + PRIOR_TIES, ("B", "C"): 7 + PRIOR_TIES, ("C", "A"): 5 + PRIOR_TIES}
    # wins + half the ties + half the virtual tie, per pair: A (c1: 2 + 1.5 + .5, c3: 3 + .5), B (c1: 4 + 1.5 + .5,
    # c2: 5 + .5 + .5), C (c2: 1 + .5 + .5, c3: 2 + .5)
    observed = {"A": 4 + 3.5, "B": 6 + 6, "C": 2 + 2.5}
    expected = dict.fromkeys("ABC", 0.0)
    for (i, j), n in games.items():
        p = 1 / (1 + math.exp(score[j] - score[i]))
        expected[i] += n * p
        expected[j] += n * (1 - p)
    assert expected == pytest.approx(observed, abs=1e-6)
    assert sum(score.values()) == pytest.approx(0, abs=1e-9)


def test_only_ties_give_equal_scores_and_an_unbeaten_version_stays_finite():
    tied = by_version(rank_versions(verdicts("c", "A", "B", ties=6), versions=["A", "B"], samples=20))
    assert tied["A"]["score"] == pytest.approx(0, abs=1e-9) == tied["B"]["score"]
    unbeaten = by_version(rank_versions(verdicts("c", "A", "B", b_wins=10), versions=["A", "B"], samples=20))
    # (10 + .5) / (0 + .5) = 21: a finite score however lopsided the record
    assert unbeaten["B"]["score"] - unbeaten["A"]["score"] == pytest.approx(math.log(21), abs=1e-6)


def test_cis_come_from_a_seeded_bootstrap_over_items_and_contain_the_estimate():
    rng = np.random.default_rng(3)
    data = [PairVerdict("c1", item, "A", "B", int(rng.choice([1, 1, 0, -1]))) for item in range(40) for _ in range(3)]
    first = rank_versions(data, versions=["A", "B"], samples=300, seed=5)
    again = rank_versions(data, versions=["A", "B"], samples=300, seed=5)
    assert first == again
    for row in first["rows"]:
        assert row["ci_low"] < row["score"] < row["ci_high"]
    # more data on the same effect: a narrower interval
    more = [PairVerdict("c1", (copy, v.item), "A", "B", v.outcome) for copy in range(4) for v in data]
    wide = by_version(first)["B"]
    narrow = by_version(rank_versions(more, versions=["A", "B"], samples=300, seed=5))["B"]
    assert narrow["ci_high"] - narrow["ci_low"] < wide["ci_high"] - wide["ci_low"]


def test_versions_no_verdict_links_are_separate_groups_and_unjudged_ones_have_no_score():
    data = verdicts("c1", "A", "B", b_wins=3, a_wins=1) + verdicts("c2", "C", "D", b_wins=1, a_wins=2)
    board = rank_versions(data, versions=["A", "B", "C", "D", "E"], samples=20)
    rows = by_version(board)
    assert board["groups"] == 2
    assert rows["A"]["group"] == rows["B"]["group"] != rows["C"]["group"] == rows["D"]["group"]
    assert rows["A"]["score"] + rows["B"]["score"] == pytest.approx(0, abs=1e-9)  # centred within the group
    assert rows["E"]["score"] is None and rows["E"]["rank"] is None and rows["E"]["group"] is None
    assert board["rows"][-1]["version"] == "E"


# ---------------------------------------------------------------------------------------------- from the database


def judge(item, annotators, choices):
    for annotator, choice in zip(annotators, choices):
        judgment_submit(require_reservation=False, item=item, annotator=annotator, verdict=Verdict(choice=choice),
                        submit_key=f"{item.pk}-{annotator.pk}")


@pytest.fixture
def board_data(db):
    dataset = make_dataset(products=12, queries=10)
    v = {name: make_version(dataset=dataset, name=name) for name in ("base", "mid", "top", "idle")}
    people = [make_user(f"u{i}", "annotator") for i in range(3)]
    first = make_campaign(dataset=dataset, name="base-vs-mid", system_a=v["base"], system_b=v["mid"])
    for choices in ([1, 1, 0], [2, 1, -1], [1, 0, 0]):
        judge(make_item(campaign=first), people, choices)
    aa = make_item(campaign=first, kind="aa")
    judge(aa, people, [-2, -2, -2])  # a control: never a verdict for the leaderboard
    second = make_campaign(dataset=dataset, name="mid-vs-top", system_a=v["mid"], system_b=v["top"])
    for choices in ([1, 1, 1], [1, -1, 0]):
        judge(make_item(campaign=second), people, choices)
    make_campaign(dataset=dataset, name="not-started", system_a=v["base"], system_b=v["idle"],
                  status="draft")
    return dataset, v, first, second


def test_dataset_leaderboard_lists_every_version_with_the_campaigns_it_rests_on(board_data):
    dataset, v, first, second = board_data
    board = dataset_leaderboard(dataset=dataset, samples=50)
    rows = {row["version"]: row for row in board["versions"]}
    assert set(rows) == {"base", "mid", "top", "idle"}
    assert board["human_verdicts"] == 15  # 9 + 6 on regular items; the A-vs-A control's 3 are left out
    assert [c["name"] for c in rows["mid"]["campaigns"]] == ["base-vs-mid", "mid-vs-top"]
    assert [c["human_verdicts"] for c in rows["mid"]["campaigns"]] == [9, 6]
    assert [c["name"] for c in rows["base"]["campaigns"]] == ["base-vs-mid"]
    assert rows["idle"]["score"] is None and rows["idle"]["campaigns"] == []
    assert [row["version"] for row in board["versions"]][:3] == ["top", "mid", "base"]
    assert {c["name"] for c in board["campaigns"]} == {"base-vs-mid", "mid-vs-top", "not-started"}
    # the same numbers as the plain fit of the same verdicts: base-mid (mid: 5 wins, 3 ties, 1 loss), mid-top
    expected = rank_versions(verdicts(1, "base", "mid", b_wins=5, ties=3, a_wins=1)
                             + verdicts(2, "mid", "top", b_wins=4, ties=1, a_wins=1),
                             versions=["base", "mid", "top", "idle"], samples=50)
    assert {row["version"]: row["score"] for row in expected["rows"]} == pytest.approx(
        {name: row["score"] for name, row in rows.items() if name != "idle"} | {"idle": None}, abs=1e-9)


def test_automatic_judges_are_ranked_apart_and_never_change_the_human_scores(board_data):
    dataset, v, first, second = board_data
    before = dataset_leaderboard(dataset=dataset, samples=50)
    for item in first.items.filter(kind="regular"):
        AutoJudgment.objects.create(item=item, campaign=first, judge_kind="llm", judge_name="m", choice=-2,
                                    preference=-2, b_on_left=False)
    after = dataset_leaderboard(dataset=dataset, samples=50)
    human = lambda board: [(r["version"], r["score"], r["ci_low"], r["ci_high"]) for r in board["versions"]]  # noqa
    assert human(after) == human(before)
    assert after["auto_judges"] == ["llm:m"] and before["auto_judges"] == []
    auto = {row["version"]: row["auto"]["llm:m"] for row in after["versions"]}
    assert auto["base"]["score"] > auto["mid"]["score"]  # the judge preferred A every time
    assert auto["top"]["score"] is None and auto["base"]["verdicts"] == 3


def test_leaderboard_api_for_analysts(board_data, analyst, annotator):
    dataset, *_ = board_data
    response = token_client(analyst).get(f"/api/leaderboard/{dataset.name}")
    assert response.status_code == 200
    body = response.json()
    assert body["dataset"] == dataset.name and len(body["versions"]) == 4
    assert {"score", "ci_low", "ci_high", "rank", "campaigns", "auto"} <= set(body["versions"][0])
    assert "ties as half a win" in body["method"]
    assert token_client(annotator).get(f"/api/leaderboard/{dataset.name}").status_code == 403
    missing = token_client(analyst).get("/api/leaderboard/no-such-data-set")
    assert missing.status_code == 404 and missing.json()["message"]


def test_leaderboard_pages_for_analysts_only(board_data, client, analyst, annotator):
    dataset, *_ = board_data
    client.force_login(analyst)
    index = client.get("/sbs/leaderboard/")
    assert index.status_code == 200 and f"/sbs/leaderboard/{dataset.name}/" in index.content.decode()
    page = client.get(f"/sbs/leaderboard/{dataset.name}/").content.decode()
    assert 'data-version="top"' in page and "no human verdicts yet" in page and "base-vs-mid" in page
    client.force_login(annotator)
    assert client.get(f"/sbs/leaderboard/{dataset.name}/").status_code == 403
