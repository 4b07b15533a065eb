"""A stale dashboard poll sends the metrics recomputation through the real broker; a real worker computes them into
the shared cache and the next poll serves them, while the web process never computed them after the first view."""
import pytest

from sbsapp import dashboard_cache
from sbsapp.judging import Verdict, judgment_submit
from tests.sbs_factories import make_campaign, make_dataset, make_item

from .worker import celery_worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_real_worker_recomputes_the_dashboard_metrics_into_the_shared_cache(real_broker, settings, monkeypatch,
                                                                              annotator, tmp_path):
    folder = tmp_path / "dashboards"
    settings.CACHES = {**settings.CACHES, "dashboards": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(folder)}}
    settings.DASHBOARD_METRICS_SECONDS = 0
    campaign = make_campaign(dataset=make_dataset(queries=8))
    item = make_item(campaign=campaign)
    assert dashboard_cache.dashboard_metrics(campaign)["overall"]["judgments"] == 0  # the first view, computed here

    computed_here = []
    monkeypatch.setattr(dashboard_cache, "campaign_metrics", lambda **kw: computed_here.append(kw))
    judgment_submit(require_reservation=False, item=item, annotator=annotator, verdict=Verdict(choice=2),
                    submit_key="k1")
    log = tmp_path / "worker.log"
    with celery_worker(queues="default", log_path=log, DASHBOARD_CACHE_URL=f"filecache://{folder}"):
        assert dashboard_cache.dashboard_metrics(campaign)["overall"]["judgments"] == 0  # sent; the previous ones
        fresh = wait_for(lambda: dashboard_cache.dashboard_metrics(campaign)["overall"]["judgments"] == 1,
                         timeout=90)
    assert fresh and computed_here == []
    assert f"Task {dashboard_cache.RECOMPUTE_TASK}[" in log.read_text()
