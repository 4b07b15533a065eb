"""Dashboard metrics are computed once per change and shared by every viewer: polls without a change, or within
the window, reuse them; a judgment, a gold answer or a closed campaign is seen after the window; one process
recomputes while the others serve the previous metrics."""
import pytest
from django.urls import reverse

from sbsapp import dashboard_cache
from sbsapp.campaigns import campaign_close, item_set_gold
from sbsapp.judging import Verdict, judgment_submit
from tests.sbs_factories import make_campaign, make_dataset, make_item

pytestmark = pytest.mark.django_db


@pytest.fixture
def shared_cache(settings, monkeypatch):
    """A real (per-process) cache for the `dashboards` alias, and a count of every metrics computation."""
    settings.CACHES = {**settings.CACHES, "dashboards": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "dashboards-test"}}
    from django.core.cache import caches

    caches["dashboards"].clear()
    computed = []
    real = dashboard_cache.campaign_metrics

    def counting(*, campaign):
        computed.append(campaign.pk)
        return real(campaign=campaign)

    monkeypatch.setattr(dashboard_cache, "campaign_metrics", counting)
    return computed


def answer(item, annotator, choice: int, key: str) -> None:
    judgment_submit(require_reservation=False, item=item, annotator=annotator, verdict=Verdict(choice=choice),
                    submit_key=key)


def test_polls_reuse_the_metrics_until_something_changes_and_the_window_has_passed(shared_cache, settings,
                                                                                   annotator, annotator2):
    campaign = make_campaign(dataset=make_dataset(queries=8))
    items = [make_item(campaign=campaign) for _ in range(3)]
    answer(items[0], annotator, 2, "k1")

    settings.DASHBOARD_METRICS_SECONDS = 3600
    first = dashboard_cache.dashboard_metrics(campaign)
    assert dashboard_cache.dashboard_metrics(campaign) == first and shared_cache == [campaign.pk]  # no change
    answer(items[1], annotator, -2, "k2")
    assert dashboard_cache.dashboard_metrics(campaign)["overall"]["judgments"] == 1  # within the window: as it was
    assert len(shared_cache) == 1

    settings.DASHBOARD_METRICS_SECONDS = 0  # the window has passed
    assert dashboard_cache.dashboard_metrics(campaign)["overall"]["judgments"] == 2 and len(shared_cache) == 2
    assert dashboard_cache.dashboard_metrics(campaign)["overall"]["judgments"] == 2 and len(shared_cache) == 2

    for change in (lambda: item_set_gold(item=items[2], expected_preference=1),  # a gold answer
                   lambda: answer(items[2], annotator2, 0, "k3"),
                   lambda: campaign_close(campaign=campaign)):
        before = len(shared_cache)
        change()
        campaign.refresh_from_db()
        dashboard_cache.dashboard_metrics(campaign)
        assert len(shared_cache) == before + 1
    assert dashboard_cache.dashboard_metrics(campaign)["campaign"]["status"] == "closed"


def test_while_one_process_recomputes_the_others_serve_the_previous_metrics(shared_cache, settings, annotator):
    from django.core.cache import caches

    campaign = make_campaign(dataset=make_dataset(queries=8))
    item = make_item(campaign=campaign)
    settings.DASHBOARD_METRICS_SECONDS = 0
    before = dashboard_cache.dashboard_metrics(campaign)
    answer(item, annotator, 2, "k1")
    key = f"sbs-metrics:{campaign.pk}:{campaign.created_at.timestamp():.6f}"
    caches["dashboards"].add(f"{key}:lock", 1)  # another process holds the recomputation
    assert dashboard_cache.dashboard_metrics(campaign) == before and len(shared_cache) == 1
    caches["dashboards"].delete(f"{key}:lock")
    assert dashboard_cache.dashboard_metrics(campaign)["overall"]["judgments"] == 1


def test_the_live_dashboard_and_the_api_read_the_shared_metrics(shared_cache, settings, analyst, client):
    campaign = make_campaign(dataset=make_dataset(queries=8))
    make_item(campaign=campaign)
    settings.DASHBOARD_METRICS_SECONDS = 3600
    client.force_login(analyst)
    for _ in range(3):
        assert client.get(reverse("sbs:dashboard_live", args=[campaign.pk]), HTTP_HX_REQUEST="true").status_code == 200
    assert client.get(reverse("sbs:dashboard", args=[campaign.pk])).status_code == 200
    assert client.get(f"/api/campaigns/{campaign.pk}/metrics/").status_code == 200
    assert shared_cache == [campaign.pk]  # five reads, one computation
