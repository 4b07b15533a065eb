"""Start actions that must be single: simultaneous clicks make one job, the others get a clear refusal.

Real concurrency: each click runs in its own thread with its own database connection (PostgreSQL row locks, or
SQLite's write lock), all released at once by a barrier. The broker is replaced by a recorder, so what is counted
is what would have been sent."""
from __future__ import annotations

import threading

import pytest
from django.db import connection

from jobs import services as jobs
from jobs.models import Job
from retrieval.versions import VersionBusy, version_create, version_start_build
from sbsapp.campaigns import CampaignError
from sbsapp.generation import campaign_start_generation
from sbsapp.models import Campaign

from .retrieval_factories import make_dataset
from .sbs_factories import make_campaign
from .sbs_factories import make_dataset as make_sbs_dataset

pytestmark = pytest.mark.django_db(transaction=True)
CLICKS = 5


def click_at_once(start, clicks: int = CLICKS) -> tuple[list[Job], list[Exception]]:
    """Run `start()` in `clicks` threads released together; returns (jobs started, exceptions raised)."""
    barrier = threading.Barrier(clicks)
    started, refused = [], []

    def click():
        try:
            barrier.wait(timeout=30)
            started.append(start())
        except Exception as exc:  # noqa: BLE001 (the refusals are what is counted)
            refused.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=click) for _ in range(clicks)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return started, refused


@pytest.fixture
def sent(monkeypatch):
    pks = []
    monkeypatch.setattr(jobs, "send_job", lambda job: pks.append(job.pk))
    return pks


def test_simultaneous_generate_clicks_start_one_generation(sent):
    campaign = make_campaign(dataset=make_sbs_dataset(), status=Campaign.Status.DRAFT)
    started, refused = click_at_once(lambda: campaign_start_generation(campaign=Campaign.objects.get(pk=campaign.pk)))
    assert len(started) == 1 and len(refused) == CLICKS - 1, refused
    assert all(isinstance(exc, CampaignError) and "already running" in str(exc) for exc in refused), refused
    assert Job.objects.filter(kind="sbs_generate").count() == 1 and sent == [started[0].pk]
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.GENERATING and campaign.generation_job == started[0]


def test_simultaneous_build_clicks_start_one_build(sent):
    version = version_create(dataset=make_dataset(), name="clicked-bm25", kind="bm25")
    started, refused = click_at_once(lambda: version_start_build(version=version))
    assert len(started) == 1 and len(refused) == CLICKS - 1, refused
    assert all(isinstance(exc, VersionBusy) and "is being built" in str(exc) for exc in refused), refused
    assert Job.objects.filter(kind="retriever_build").count() == 1 and sent == [started[0].pk]
    version.refresh_from_db()
    assert version.build_job == started[0]
