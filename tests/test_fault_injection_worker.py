"""Fault injection for every long job kind: kill -9 the whole real worker (main process, pool and embedded beat) in
the middle of a retriever build, a campaign generation and a judge training, start a new worker at once, and the
job is re-sent by beat's stale-job sweep, ends succeeded on its second attempt, and leaves exactly what a clean run
would (a ready version, one item per sampled query, a ready judge). Synthesis has the same test in
`test_synthesis_worker.py`, the ping job in `test_stale_jobs_worker.py`."""
import os
import signal
import time

import pytest
from django.db.models import Count

from jobs.models import Job
from retrieval.models import RetrieverVersion
from retrieval.versions import version_create, version_start_build
from sbsapp.campaigns import campaign_create
from sbsapp.generation import campaign_start_generation
from sbsapp.models import Campaign, Item
from synthesis.judging.training import judge_version_start
from synthesis.models import JudgeVersion
from tests.retrieval_factories import all_texts, make_dataset, tiny_encoder_folder

from .synthesis_support import tail_world, tiny_bert_folder
from .worker import celery_worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# Short intervals so that the tests are quick; production: 20 s, 120 s, 30 s (config/settings.py).
ENV = {"JOBS_HEARTBEAT_SECONDS": "1", "JOBS_STALE_AFTER_SECONDS": "4", "JOBS_SWEEP_SECONDS": "1"}


def kill_mid_job_then_resume(tmp_path, start, mid_job, *, timeout: float = 300) -> Job:
    """Start a worker with beat (both queues: the sweep goes to `default`, the long jobs to `ml`), `start()` a job,
    SIGKILL the worker's whole process group as soon as `mid_job(job)` holds, start a second worker at once and wait
    until the job is no longer active. Returns the job."""
    logs = [tmp_path / "worker1.log", tmp_path / "worker2.log"]
    with celery_worker(log_path=logs[0], args=("-B", "--schedule", str(tmp_path / "beat1")),
                       **ENV) as worker:
        wait_for(lambda: logs[0].exists() and "ready." in logs[0].read_text(), timeout=90)
        job = start()
        wait_for(lambda: mid_job(Job.objects.get(pk=job.pk)), timeout=180, interval=0.02)
        os.killpg(worker.pid, signal.SIGKILL)  # no clean shutdown: the task dies wherever it is
        worker.wait(timeout=30)
    killed_at = time.monotonic()
    job.refresh_from_db()
    assert job.status == Job.Status.RUNNING and job.attempts == 1, (job.status, job.attempts, job.error)

    with celery_worker(log_path=logs[1], args=("-B", "--schedule", str(tmp_path / "beat2")), **ENV):
        wait_for(lambda: Job.objects.get(pk=job.pk).attempts == 2, timeout=60)
        resumed_after = time.monotonic() - killed_at
        wait_for(lambda: not Job.objects.get(pk=job.pk).is_active, timeout=timeout)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, (job.error, logs[1].read_text()[-3000:])
    assert "resuming (attempt 2)" in job.log_tail
    # worker start-up plus one stale threshold and one sweep, with slack for a loaded 2-core machine
    assert resumed_after < 60, resumed_after
    return job


def test_a_killed_retriever_build_resumes_and_the_version_becomes_ready(real_broker, admin_user, tmp_path):
    dataset = make_dataset()
    encoder = tiny_encoder_folder(tmp_path / "enc", all_texts())
    version = version_create(dataset=dataset, name="killed-dense", kind="dense", base_model=str(encoder),
                             config={"samples_per_epoch": 600, "batch_size": 4})

    def training(job: Job) -> bool:
        return job.stage == "training encoder" and job.done >= 5

    job = kill_mid_job_then_resume(tmp_path, lambda: version_start_build(version=version, user=admin_user),
                                   training)
    version.refresh_from_db()
    assert version.status == RetrieverVersion.Status.READY and version.build_job_id == job.pk
    # the second attempt trained the encoder again (the first died before its marker) and indexed every product
    assert version.manifest["index"]["count"] == dataset.products.count() and version.manifest["training"]["steps"]
    assert job.result["products"] == dataset.products.count()


def test_a_killed_campaign_generation_resumes_without_duplicate_items(real_broker, admin_user, tmp_path):
    dataset, strong, baseline = tail_world(600)
    campaign = campaign_create(name="killed-generation", system_a=baseline, system_b=strong, segments=["tail"],
                               sample_size=600, k=4, judgments_per_item=1, control_share=0.0, user=admin_user)

    def some_items_frozen(job: Job) -> bool:
        return Item.objects.filter(campaign=campaign).exists()

    job = kill_mid_job_then_resume(tmp_path, lambda: campaign_start_generation(campaign=campaign, user=admin_user),
                                   some_items_frozen)
    campaign.refresh_from_db()
    items = Item.objects.filter(campaign=campaign)
    assert campaign.status == Campaign.Status.ACTIVE
    assert not items.values("query").annotate(n=Count("pk")).filter(n__gt=1).exists()
    assert items.count() == job.result["items"] == 600


def test_a_killed_judge_training_resumes_and_the_judge_becomes_ready(real_broker, admin_user, tmp_path):
    from .synthesis_support import make_catalogue

    dataset, _, _ = make_catalogue()
    base = tiny_bert_folder(tmp_path / "bert")

    def start() -> Job:
        return judge_version_start(dataset=dataset, name="killed-judge", user=admin_user, kind="cross-encoder",
                                   base_model=str(base), epochs=20, batch_size=2, validation_share=0.3).job

    def training(job: Job) -> bool:
        return job.stage == "training" and job.done >= 3

    job = kill_mid_job_then_resume(tmp_path, start, training)
    judge = JudgeVersion.objects.get(name="killed-judge")
    assert judge.status == JudgeVersion.Status.READY and judge.job_id == job.pk
    assert judge.artifact_path and os.path.isdir(judge.artifact_path)
    assert job.result["judge_version"] == "killed-judge"
