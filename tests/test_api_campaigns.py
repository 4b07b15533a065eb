"""Campaigns and items API: analysts read, admins create and close, annotators are refused, bad input is a 400."""
import pytest

from sbsapp.judging import Verdict, judgment_submit
from sbsapp.models import Campaign
from tests.api_builders import token_client
from tests.sbs_factories import install_fake_retrieval, make_campaign, make_dataset, make_item, make_version

pytestmark = pytest.mark.django_db


@pytest.fixture
def systems():
    dataset = make_dataset(products=12, queries=6)
    return make_version(dataset=dataset, name="base-v1"), make_version(dataset=dataset, name="treat-v2")


def create_body(**extra):
    return {"name": "tail-test", "system_a": "base-v1", "system_b": "treat-v2", "sample_size": 4, "k": 3,
            "control_share": 0.0, **extra}


def test_admin_creates_a_campaign_and_its_lists_are_frozen(admin_user, systems, monkeypatch):
    from retrieval.models import Product, Query

    products = list(Product.objects.filter(dataset=systems[0].dataset).values_list("pk", flat=True))
    lists = {}
    for text in Query.objects.filter(dataset=systems[0].dataset).values_list("text", flat=True):
        lists[("base-v1", text)] = products[:3]
        lists[("treat-v2", text)] = products[3:6]
    install_fake_retrieval(monkeypatch, lists)
    response = token_client(admin_user).post("/api/campaigns/", create_body(segments=["tail", "head"]),
                                              format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "active" and body["generation_job"] is not None and body["created_by"] == "boss"
    campaign = Campaign.objects.get(pk=body["id"])
    assert campaign.items.count() == 4
    assert all(len(item.results_a) == 3 for item in campaign.items.all())


def test_admin_creates_a_draft_without_generating(admin_user, systems):
    response = token_client(admin_user).post("/api/campaigns/", create_body(generate=False), format="json")
    assert response.status_code == 201
    assert response.json()["status"] == "draft" and response.json()["generation_job"] is None


def test_analyst_cannot_create_campaigns(analyst, systems):
    response = token_client(analyst).post("/api/campaigns/", create_body(), format="json")
    assert response.status_code == 403
    assert "admin" in response.json()["message"]
    assert not Campaign.objects.exists()


@pytest.mark.parametrize(("change", "expected"), [
    ({"system_b": "no-such-version"}, "system_b: No retriever version is named 'no-such-version'."),
    ({"k": 0}, "k: Input should be greater than or equal to 1"),
    ({"segments": ["long"]}, "segments: Input should be 'head', 'torso' or 'tail'"),
    ({"system_b": "base-v1"}, "System A and system B must be two different retriever versions."),
    ({"control_share": 0.9}, "control_share: Input should be less than or equal to 0.5"),
    ({"colour": "red"}, "colour: Unknown field."),
])
def test_bad_campaign_input_is_a_clear_400(admin_user, systems, change, expected):
    response = token_client(admin_user).post("/api/campaigns/", create_body(generate=False, **change),
                                              format="json")
    assert response.status_code == 400
    assert response.json()["message"] == expected
    assert not Campaign.objects.exists()


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("judgments_per_item", 51, "Input should be less than or equal to 50"),
    ("reservation_minutes", 1441, "Input should be less than or equal to 1440"),
    ("sample_size", 0, "Input should be greater than or equal to 1"),
])
def test_the_form_and_the_api_refuse_an_out_of_range_value_with_the_same_message(admin_user, systems, field, value,
                                                                                 expected):
    """A limit is stated once (`CampaignConfig`): the page and the API answer with its message."""
    from django.test import Client
    from django.urls import reverse

    api = token_client(admin_user).post("/api/campaigns/", create_body(generate=False, **{field: value}),
                                        format="json")
    assert api.status_code == 400 and api.json()["errors"][field] == [expected]
    page = Client()
    page.force_login(admin_user)
    form_post = {"name": "tail-test", "system_a": systems[0].pk, "system_b": systems[1].pk, "sample_size": 4,
                 "seed": 13, "k": 3, "judgments_per_item": 3, "control_share": 0.0, "identical_lists": "control",
                 "reservation_minutes": 10, field: value}
    response = page.post(reverse("sbs:campaign_new"), form_post)
    assert response.status_code == 200 and response.context["form"].errors[field] == [expected]
    assert not Campaign.objects.exists()


def test_the_form_creates_a_campaign_through_the_same_config(admin_user, systems):
    from django.test import Client
    from django.urls import reverse

    page = Client()
    page.force_login(admin_user)
    response = page.post(reverse("sbs:campaign_new"), {
        "name": " page-made ", "system_a": systems[0].pk, "system_b": systems[1].pk, "segments": ["tail", "head"],
        "sample_size": 4, "seed": 13, "k": 3, "judgments_per_item": 50, "control_share": 0.0,
        "identical_lists": "hide", "reservation_minutes": 1440})
    campaign = Campaign.objects.get()
    assert response.status_code == 302 and campaign.status == "draft"
    assert (campaign.name, campaign.segments, campaign.judgments_per_item, campaign.reservation_minutes) == (
        "page-made", ["head", "tail"], 50, 1440)
    assert campaign.system_a == systems[0] and campaign.identical_lists == "hide"


def test_generation_of_unready_versions_is_refused_and_leaves_nothing(admin_user, systems):
    systems[1].status = "training"
    systems[1].save()
    response = token_client(admin_user).post("/api/campaigns/", create_body(), format="json")
    assert response.status_code == 400
    assert "treat-v2 is training, not ready" in response.json()["message"]
    assert not Campaign.objects.exists()


def test_duplicate_name_is_a_400(admin_user, systems):
    client = token_client(admin_user)
    assert client.post("/api/campaigns/", create_body(generate=False), format="json").status_code == 201
    response = client.post("/api/campaigns/", create_body(generate=False), format="json")
    assert response.status_code == 400
    assert "name" in response.json()["message"].lower()


def test_analyst_lists_and_reads_campaigns_with_progress(analyst):
    campaign = make_campaign(name="c-open")
    make_campaign(name="c-closed", status="closed")
    client = token_client(analyst)
    assert client.get("/api/campaigns/").json()["count"] == 2
    assert [c["name"] for c in client.get("/api/campaigns/", {"status": "closed"}).json()["results"]] == ["c-closed"]
    make_item(campaign=campaign)
    detail = client.get(f"/api/campaigns/{campaign.pk}/").json()
    assert detail["progress"]["items"] == 1 and detail["progress"]["judgments_needed"] == 3


def test_annotator_cannot_read_campaigns(annotator):
    campaign = make_campaign()
    client = token_client(annotator)
    assert client.get("/api/campaigns/").status_code == 403
    assert client.get(f"/api/campaigns/{campaign.pk}/metrics/").status_code == 403


def test_bad_campaign_status_filter_is_a_400(analyst):
    response = token_client(analyst).get("/api/campaigns/", {"status": "paused"})
    assert response.status_code == 400 and "status" in response.json()["errors"]


def test_admin_closes_an_active_campaign_once(admin_user, analyst):
    campaign = make_campaign()
    assert token_client(analyst).post(f"/api/campaigns/{campaign.pk}/close/").status_code == 403
    client = token_client(admin_user)
    response = client.post(f"/api/campaigns/{campaign.pk}/close/")
    assert response.status_code == 200 and response.json()["status"] == "closed"
    again = client.post(f"/api/campaigns/{campaign.pk}/close/")
    assert again.status_code == 409 and "Only an active campaign" in again.json()["message"]


def test_campaign_metrics_reflect_the_judgments(analyst, annotator, annotator2):
    campaign = make_campaign()
    items = [make_item(campaign=campaign, b_on_left=bool(i % 2)) for i in range(3)]
    for n, item in enumerate(items):
        for user, pref in ((annotator, 2), (annotator2, 1 if n else 0)):
            choice = -pref if item.b_on_left else pref  # the screen click that means `pref` toward B
            judgment_submit(require_reservation=False,
                            item=item, annotator=user, verdict=Verdict(choice=choice), submit_key=f"{user.pk}-{n}")
    body = token_client(analyst).get(f"/api/campaigns/{campaign.pk}/metrics/").json()
    assert body["campaign"]["id"] == campaign.pk
    assert body["progress"]["judgments_done"] == 6
    overall = body["overall"]
    assert (overall["good"], overall["same"], overall["bad"]) == (5, 1, 0)


def test_items_are_listed_unblinded_for_analysts(analyst, annotator):
    campaign = make_campaign()
    left = make_item(campaign=campaign, b_on_left=True)
    make_item(campaign=campaign, kind="aa")
    other = make_campaign()
    make_item(campaign=other)
    client = token_client(analyst)
    body = client.get("/api/items/", {"campaign": campaign.pk}).json()
    assert body["count"] == 2
    assert client.get("/api/items/", {"campaign": campaign.pk, "kind": "aa"}).json()["count"] == 1
    detail = client.get(f"/api/items/{left.pk}/").json()
    assert detail["b_on_left"] is True and detail["results_b"][0]["product_id"] == "p3"
    assert token_client(annotator).get("/api/items/").status_code == 403


def test_items_filter_rejects_unknown_campaign(analyst):
    response = token_client(analyst).get("/api/items/", {"campaign": 999999})
    assert response.status_code == 400
    assert response.json()["message"] == 'campaign: Invalid pk "999999" - object does not exist.'

