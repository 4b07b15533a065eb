"""A synthesis job under a real Celery worker that is killed mid-run (kill -9 of the whole worker, beat included): a
new worker started at once resumes it through beat's stale-job sweep, with no duplicates.

Everything the worker runs is real: BM25 versions built by the retrieval app, the `openai` rewriter and the LLM
judge talking to a slow local chat server started here.
"""
import os
import re
import signal
import time

import pytest
from django.db.models import Count

from jobs.models import Job
from retrieval.models import Product
from synthesis.models import MinedQuery, RewriteCandidate, SyntheticPair
from synthesis.services import synthesis_job_start

from .synthesis_support import STOP_WORDS, ChatServer, llm_synthesis_config, tail_world, word_overlap_chat
from .worker import celery_worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# Short intervals so that the test is quick; production: 20 s, 120 s, 30 s (config/settings.py).
SWEEP_ENV = {"JOBS_HEARTBEAT_SECONDS": "1", "JOBS_STALE_AFTER_SECONDS": "4", "JOBS_SWEEP_SECONDS": "1"}


def test_killed_worker_is_resumed_by_a_new_worker_without_duplicate_pairs(real_broker, settings, admin_user, tmp_path):
    dataset, strong, baseline = tail_world(24)

    with ChatServer(word_overlap_chat, delay=0.15).running() as server:
        config, env = llm_synthesis_config(settings=settings, server=server, dataset=dataset, strong=strong,
                                           baseline=baseline)
        env = {**env, **SWEEP_ENV}
        log1 = tmp_path / "worker1.log"
        with celery_worker(log_path=log1, args=("-B", "--schedule", str(tmp_path / "beat1")), **env) as worker:
            wait_for(lambda: log1.exists() and "ready." in log1.read_text(), timeout=90)
            job = synthesis_job_start(config=config, user=admin_user)
            wait_for(lambda: MinedQuery.objects.filter(job=job, done_at__isnull=False).count() >= 4, timeout=120)
            os.killpg(worker.pid, signal.SIGKILL)  # no clean shutdown: the task dies mid-chunk
            worker.wait(timeout=30)
        killed_at = time.monotonic()
        job.refresh_from_db()
        done_at_kill = MinedQuery.objects.filter(job=job, done_at__isnull=False).count()
        total = MinedQuery.objects.filter(job=job).count()
        assert job.status == Job.Status.RUNNING and 4 <= done_at_kill < total == 27
        # a new worker at once: the dead worker's heartbeat goes stale and beat's sweep re-sends the job
        log2 = tmp_path / "worker2.log"
        with celery_worker(log_path=log2, args=("-B", "--schedule", str(tmp_path / "beat2")), **env):
            wait_for(lambda: Job.objects.get(pk=job.pk).attempts == 2, timeout=60)
            assert time.monotonic() - killed_at < 60  # start-up + stale threshold + one sweep, with slack
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
    assert job.counts["kept_pairs"] == pairs.count() and job.counts["queries_done"] == total, (job.counts, job.log_tail)
