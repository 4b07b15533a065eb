"""Dashboard metrics are computed once per change and shared by every viewer: polls without a change, or within
the window, reuse them; a judgment, a gold answer or a closed campaign is seen after the window; a worker
recomputes while every poll serves the previous metrics; the web request computes them itself only on the first
view, with a dead broker, or when no worker took the recomputation in time."""
import time

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
    key = dashboard_cache.cache_key(campaign)
    caches["dashboards"].add(f"{key}:lock", time.time())  # sent to a worker a moment ago
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


@pytest.fixture
def sent(settings, monkeypatch):
    """A broker that accepts every recomputation (recorded) and runs none: the worker has not got to it yet."""
    from celery import current_app

    settings.CELERY_TASK_ALWAYS_EAGER = False
    messages = []

    class Connection:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def ensure_connection(self, **kwargs):
            return self

    monkeypatch.setattr(current_app, "connection_for_write", lambda: Connection())
    monkeypatch.setattr(current_app, "send_task", lambda name, args, **kw: messages.append((name, args, kw)))
    return messages


def test_a_stale_poll_sends_the_recomputation_to_a_worker_and_serves_the_previous_metrics(shared_cache, settings,
                                                                                          sent, annotator):
    campaign = make_campaign(dataset=make_dataset(queries=8))
    item = make_item(campaign=campaign)
    settings.DASHBOARD_METRICS_SECONDS = 0
    before = dashboard_cache.dashboard_metrics(campaign)  # the first view: nothing stored, computed here
    assert len(shared_cache) == 1 and sent == []
    answer(item, annotator, 2, "k1")
    for _ in range(3):  # every poll until the worker has run serves the previous metrics; one message is sent
        assert dashboard_cache.dashboard_metrics(campaign) == before
    assert len(shared_cache) == 1
    assert [(name, args, kw["queue"]) for name, args, kw in sent] == [
        (dashboard_cache.RECOMPUTE_TASK, [campaign.pk], "default")]
    dashboard_cache.recompute_dashboard_metrics(campaign.pk)  # what the worker runs
    assert len(shared_cache) == 2
    assert dashboard_cache.dashboard_metrics(campaign)["overall"]["judgments"] == 1 and len(sent) == 1


def test_a_recomputation_no_worker_took_in_time_is_done_by_the_next_stale_poll(shared_cache, settings, sent,
                                                                               annotator):
    from django.core.cache import caches

    campaign = make_campaign(dataset=make_dataset(queries=8))
    item = make_item(campaign=campaign)
    settings.DASHBOARD_METRICS_SECONDS = 0
    dashboard_cache.dashboard_metrics(campaign)
    answer(item, annotator, 2, "k1")
    dashboard_cache.dashboard_metrics(campaign)  # sent; the worker is busy with a long training job
    assert len(sent) == 1 and len(shared_cache) == 1
    key = dashboard_cache.cache_key(campaign)
    caches["dashboards"].set(f"{key}:lock", time.time() - dashboard_cache.QUEUED_SECONDS - 1)
    assert dashboard_cache.dashboard_metrics(campaign)["overall"]["judgments"] == 1  # computed in the request
    assert len(shared_cache) == 2 and len(sent) == 1


def test_with_the_broker_unreachable_the_poll_computes_the_metrics_itself(shared_cache, settings, monkeypatch,
                                                                          annotator, caplog):
    from celery import current_app

    campaign = make_campaign(dataset=make_dataset(queries=8))
    item = make_item(campaign=campaign)
    settings.DASHBOARD_METRICS_SECONDS = 0
    dashboard_cache.dashboard_metrics(campaign)
    settings.CELERY_TASK_ALWAYS_EAGER = False

    def refused():
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(current_app, "connection_for_write", refused)
    answer(item, annotator, 2, "k1")
    assert dashboard_cache.dashboard_metrics(campaign)["overall"]["judgments"] == 1
    assert len(shared_cache) == 2 and "broker is unreachable" in caplog.text


def test_first_views_at_once_compute_the_metrics_once_and_the_others_wait_for_them(shared_cache, monkeypatch):
    from django.core.cache import caches

    campaign = make_campaign(dataset=make_dataset(queries=8))
    make_item(campaign=campaign)
    key = dashboard_cache.cache_key(campaign)
    cache = caches["dashboards"]
    cache.add(f"{key}:lock", time.time())  # another first view is computing them
    theirs = {"overall": {"judgments": 0}, "computed_by": "the other view"}

    def other_view_finishes(seconds):  # while this view waits, the other one stores its result
        cache.set(key, {"stamp": dashboard_cache.change_stamp(campaign), "at": time.time(), "metrics": theirs})

    monkeypatch.setattr(dashboard_cache.time, "sleep", other_view_finishes)
    assert dashboard_cache.dashboard_metrics(campaign) == theirs and shared_cache == []


def test_a_first_view_whose_computing_peer_failed_computes_the_metrics_itself(shared_cache, monkeypatch):
    from django.core.cache import caches

    campaign = make_campaign(dataset=make_dataset(queries=8))
    make_item(campaign=campaign)
    key = dashboard_cache.cache_key(campaign)
    caches["dashboards"].add(f"{key}:lock", time.time())
    monkeypatch.setattr(dashboard_cache.time, "sleep", lambda seconds: caches["dashboards"].delete(f"{key}:lock"))
    assert dashboard_cache.dashboard_metrics(campaign)["overall"]["judgments"] == 0 and shared_cache == [campaign.pk]
