"""A synthesis job under a real Celery worker that is killed mid-run: a new worker resumes it, no duplicates.

Everything the worker runs is real: BM25 versions built by the retrieval app, the `openai` rewriter and the LLM
judge talking to a slow local chat server started here.
"""
import os
import re
import signal
from datetime import timedelta

import pytest
from django.db.models import Count
from django.utils import timezone

from jobs.models import Job
from retrieval.models import Product
from synthesis.config import SynthesisConfig
from synthesis.models import MinedQuery, RewriteCandidate, SyntheticPair
from synthesis.services import synthesis_job_start

from .synthesis_support import STOP_WORDS, ChatServer, tail_world, word_overlap_chat
from .worker import celery_worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_killed_worker_is_resumed_by_a_new_worker_without_duplicate_pairs(real_broker, settings, admin_user, tmp_path):
    dataset, strong, baseline = tail_world(24)

    with ChatServer(word_overlap_chat, delay=0.15).running() as server:
        settings.OPENAI_BASE_URL, settings.OPENAI_MODEL = server.base_url, "local-test"
        config = SynthesisConfig(dataset_id=dataset.pk, retriever_version_id=strong.pk,
                                 baseline_version_id=baseline.pk, judge_backend="llm", rewriter_backend="openai",
                                 candidates=2, retrieve_k=4, baseline_k=2, chunk_size=2)
        env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_MODEL": "local-test"}
        log1 = tmp_path / "worker1.log"
        with celery_worker(log_path=log1, **env) as worker:
            wait_for(lambda: log1.exists() and "ready." in log1.read_text(), timeout=90)
            job = synthesis_job_start(config=config, user=admin_user)
            wait_for(lambda: MinedQuery.objects.filter(job=job, done_at__isnull=False).count() >= 4, timeout=120)
            os.killpg(worker.pid, signal.SIGKILL)  # no clean shutdown: the task dies mid-chunk
            worker.wait(timeout=30)
        job.refresh_from_db()
        done_at_kill = MinedQuery.objects.filter(job=job, done_at__isnull=False).count()
        total = MinedQuery.objects.filter(job=job).count()
        assert job.status == Job.Status.RUNNING and 4 <= done_at_kill < total == 27
        # the dead worker's heartbeat goes stale; a new worker re-sends the job at start-up
        Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=10))
        log2 = tmp_path / "worker2.log"
        with celery_worker(log_path=log2, **env):
            wait_for(lambda: Job.objects.get(pk=job.pk).status == Job.Status.SUCCEEDED, timeout=240)

    job.refresh_from_db()
    assert job.attempts >= 2 and "resuming" in job.log_tail
    assert MinedQuery.objects.filter(job=job, done_at__isnull=True).count() == 0
    pairs = SyntheticPair.objects.filter(job=job)
    assert pairs.exists()
    assert not pairs.values("query", "product").annotate(n=Count("pk")).filter(n__gt=1).exists()
    assert not RewriteCandidate.objects.filter(job=job).values("query", "text").annotate(
        n=Count("pk")).filter(n__gt=1).exists()
    assert RewriteCandidate.objects.filter(job=job).count() == 2 * total
    # every kept product shares a word with its ORIGINAL query (that is what the judge rewards)
    for pair in pairs.select_related("query", "product")[:50]:
        query_words = set(re.findall(r"\w+", pair.query.text.lower())) - STOP_WORDS
        assert query_words & set(re.findall(r"\w+", Product.objects.get(pk=pair.product_id).title.lower()))
    assert job.counts["kept_pairs"] == pairs.count() and job.counts["queries_done"] == total
