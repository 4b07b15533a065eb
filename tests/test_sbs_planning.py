"""Campaign planning: the planned size detects the stated ΔGSB at about the stated power (checked by simulating
campaigns of that size), the variance comes from earlier campaigns on the data set or a stated assumption, and the
plan is stored on the campaign, previewed on the form and served by the API."""
import math
from dataclasses import replace

import numpy as np
import pytest
from scipy.stats import ttest_1samp
from statsmodels.stats.power import TTestPower

from sbsapp import planning
from sbsapp.campaigns import campaign_create
from sbsapp.judging import Verdict, judgment_submit
from tests.api_builders import token_client
from tests.conftest import make_user
from tests.sbs_factories import make_campaign, make_dataset, make_item, make_version

SIMULATED_CAMPAIGNS = 2000


@pytest.mark.parametrize(("delta", "power", "judgments_per_item"), [(0.15, 0.8, 3), (0.2, 0.9, 1)])
def test_campaigns_of_the_planned_size_detect_the_effect_at_the_stated_power(delta, power, judgments_per_item):
    truth = planning.model_components(delta=delta)
    plan = planning.plan_campaign(min_delta=delta, alpha=0.05, power=power, judgments_per_item=judgments_per_item,
                                  control_share=0.0, earlier=replace(truth, items=500), earlier_campaigns=2)
    assert plan["source"] == "earlier_campaigns"
    verdicts = planning.simulate_verdicts(np.random.default_rng(7), campaigns=SIMULATED_CAMPAIGNS,
                                          items=plan["items"], judgments_per_item=judgments_per_item, delta=delta)
    scores = verdicts.mean(axis=-1)
    detected = ttest_1samp(scores, 0.0, axis=-1).pvalue < 0.05
    # Simulation error: the standard error of a rate near 0.8-0.9 over 2000 campaigns is at most 0.009.
    assert detected.mean() == pytest.approx(power, abs=0.03)
    smaller = ttest_1samp(scores[:, : plan["items"] // 2], 0.0, axis=-1).pvalue < 0.05
    assert smaller.mean() < power - 0.15  # half the plan is clearly short of it


def test_items_needed_is_statsmodels_one_sample_t_test():
    n = planning.items_needed(min_delta=0.1, sd=0.6, alpha=0.05, power=0.8)
    exact = TTestPower().solve_power(effect_size=0.1 / 0.6, alpha=0.05, power=0.8)
    assert n == math.ceil(exact) and 280 < n < 290
    assert TTestPower().power(effect_size=0.1 / 0.6, nobs=n, alpha=0.05) >= 0.8
    assert planning.items_needed(min_delta=0.05, sd=0.6, alpha=0.05, power=0.8) > 3 * n
    assert planning.items_needed(min_delta=1.0, sd=0.1, alpha=0.05, power=0.8) == 2


def test_variance_components_by_hand_and_on_simulated_items():
    # Items (signs): [1, 1] mean 1, [1, -1] mean 0, [0, 0] mean 0, [-1, -1, 1] mean -1/3.
    # within = (0 + 2 + 0 + 8/3) / (1 + 1 + 1 + 2) = 14/15; item means' variance (ddof 1) = 0.3426;
    # between = 0.3426 - mean(within / n_i) = 0.3426 - (14/15)(1/2 + 1/2 + 1/2 + 1/3)/4 = 0.3426 - 0.4278 < 0 -> 0.
    found = planning.variance_components([[2, 1], [1, -2], [0, 0], [-1, -2, 1]])
    assert found.within == pytest.approx(14 / 15) and found.between == 0.0
    assert (found.items, found.judgments) == (4, 9)
    verdicts = planning.simulate_verdicts(np.random.default_rng(3), campaigns=1, items=20000, judgments_per_item=3,
                                          delta=0.1)[0]
    estimate, truth = planning.variance_components(verdicts.tolist()), planning.model_components(delta=0.1)
    assert estimate.between == pytest.approx(truth.between, rel=0.1)
    assert estimate.within == pytest.approx(truth.within, rel=0.05)
    single = planning.variance_components([[1], [-1], [0], [1]])  # no repeats: split by the assumed ICC
    assert single.between == pytest.approx(0.6875 * planning.ASSUMED_ICC)
    assert planning.variance_components([]) is None


def test_without_earlier_campaigns_the_plan_says_it_assumed_the_variance():
    plan = planning.plan_campaign(min_delta=0.1, alpha=0.05, power=0.8, judgments_per_item=3, control_share=0.1)
    assert plan["source"] == "assumption" and plan["basis"].startswith("Assumed, not measured")
    assert plan["items"] == 281 and plan["judgments"] == 3 * 281
    assert plan["sample_size"] == 312 and 312 - round(312 * 0.1) == 281 > 311 - round(311 * 0.1)
    by_k = {option["judgments_per_item"]: option["items"] for option in plan["options"]}
    assert by_k[1] > by_k[2] > by_k[3] > by_k[5]  # more judgments per item: fewer items, more judgments
    too_few = planning.VarianceComponents(between=0.1, within=0.1, items=5, judgments=15)
    assert planning.plan_campaign(min_delta=0.1, alpha=0.05, power=0.8, judgments_per_item=3, control_share=0,
                                  earlier=too_few, earlier_campaigns=1)["source"] == "assumption"


def test_sample_size_leaves_the_planned_items_after_the_controls():
    for items in range(1, 400, 7):
        for share in (0.0, 0.1, 0.25, 0.5):
            size = planning.sample_size_for(items, share)
            assert size - round(size * share) >= items > (size - 1) - round((size - 1) * share)


# ---------------------------------------------------------------------------------------- in the app


@pytest.fixture
def systems(db):
    dataset = make_dataset(products=12, queries=40)
    return make_version(dataset=dataset, name="base-v1"), make_version(dataset=dataset, name="treat-v2")


def judged_earlier_campaign(systems, items: int = 24) -> None:
    """An earlier campaign on the same data set: items whose two annotators agree on every other item."""
    earlier = make_campaign(dataset=systems[0].dataset, system_a=systems[0], system_b=systems[1],
                            judgments_per_item=2)
    first, second = make_user("e1", "annotator"), make_user("e2", "annotator")
    for index in range(items):
        item = make_item(campaign=earlier)
        for user, choice in ((first, 1), (second, 1 if index % 2 else -1)):
            judgment_submit(require_reservation=False, item=item, annotator=user, verdict=Verdict(choice=choice),
                            submit_key=f"{user.pk}-{item.pk}")


def test_a_campaign_stores_its_plan_from_earlier_campaigns_on_the_data_set(systems):
    assumed = campaign_create(name="first", system_a="base-v1", system_b="treat-v2", plan_min_delta=0.1)
    assert assumed.plan["source"] == "assumption" and assumed.plan["items"] == 281
    assert campaign_create(name="no-plan", system_a="base-v1", system_b="treat-v2").plan == {}
    judged_earlier_campaign(systems)
    measured = campaign_create(name="second", system_a="base-v1", system_b="treat-v2", plan_min_delta=0.1,
                               plan_power=0.9, judgments_per_item=2)
    plan = measured.plan
    assert plan["source"] == "earlier_campaigns" and plan["earlier_campaigns"] == 1
    assert plan["basis"].startswith("Measured: the variance of per-item verdicts in 1 earlier campaign on this "
                                    "data set (24 items, 48 judgments)")
    # Signs per item alternate [1, 1] and [1, -1]: within = (12 × 0 + 12 × 2) / 24 degrees of freedom = 1; the
    # item means (1 and 0) vary less than within / 2 alone explains, so between = 0 and Var(score) = 1 / 2.
    assert plan["within_variance"] == pytest.approx(1.0) and plan["between_variance"] == 0
    expected = planning.items_needed(min_delta=0.1, sd=math.sqrt(0.5), alpha=0.05, power=0.9)
    assert plan["items"] == expected and plan["power"] == 0.9


def test_the_campaign_form_previews_the_plan(client, admin_user, analyst, systems):
    client.force_login(admin_user)
    form = {"system_a": systems[0].pk, "plan_min_delta": "0.1", "plan_alpha": "0.05", "plan_power": "0.8",
            "judgments_per_item": "3", "control_share": "0.1", "name": "", "sample_size": "100"}
    html = client.post("/sbs/campaigns/plan/", form).content.decode()
    assert '<strong id="planned-items">281</strong> complete items' in html
    assert '<strong id="planned-sample">312</strong>' in html and "Assumed, not measured" in html
    html = client.post("/sbs/campaigns/plan/", {**form, "plan_min_delta": ""}).content.decode()
    assert "State the smallest ΔGSB worth detecting" in html
    html = client.post("/sbs/campaigns/plan/", {**form, "plan_power": "1.5"}).content.decode()
    assert "Power: Input should be less than or equal to 0.99" in html
    page = client.get("/sbs/campaigns/new/").content.decode()
    assert 'id="campaign-plan"' in page and 'name="plan_min_delta"' in page and 'name="auto_close"' in page
    client.force_login(analyst)
    assert client.post("/sbs/campaigns/plan/", form).status_code == 403


def test_the_api_plans_stores_and_serves_the_plan_and_the_verdict(admin_user, analyst, systems):
    api = token_client(analyst)
    response = api.post("/api/campaigns/plan/", {"system_a": "base-v1", "plan_min_delta": 0.1}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["items"] == 281 and response.json()["source"] == "assumption"
    missing = api.post("/api/campaigns/plan/", {"system_a": "base-v1"}, format="json")
    assert missing.status_code == 400 and "State the smallest ΔGSB" in str(missing.json())
    unknown = api.post("/api/campaigns/plan/", {"system_a": "nope", "plan_min_delta": 0.1}, format="json")
    assert unknown.status_code == 400 and "No retriever version is named 'nope'" in str(unknown.json())

    created = token_client(admin_user).post("/api/campaigns/", {
        "name": "planned", "system_a": "base-v1", "system_b": "treat-v2", "plan_min_delta": 0.1,
        "auto_close": True, "generate": False}, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["plan"]["items"] == 281 and body["auto_close"] is True and body["plan_alpha"] == 0.05
    detail = api.get(f"/api/campaigns/{body['id']}/").json()
    assert detail["sequential"]["verdict"] == "continue" and detail["sequential"]["more_items"] == 281
    metrics = api.get(f"/api/campaigns/{body['id']}/metrics/").json()
    assert metrics["plan"]["sample_size"] == 312 and metrics["sequential"]["items"] == 0
