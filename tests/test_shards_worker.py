"""Heavy jobs sharded over two real Celery workers (`jobs.shards`): both workers take shards of a catalogue encoding
and of a synthesis job, and what they write is what one worker writes for the same job."""
from contextlib import ExitStack, contextmanager

import numpy as np
import pytest

from jobs.models import Job, JobShard
from retrieval.indexes import load_faiss_index
from retrieval.models import Dataset, Product
from retrieval.versions import version_create, version_path, version_start_build
from synthesis.models import RewriteCandidate, SyntheticPair
from synthesis.services import synthesis_job_start

from .synthesis_support import ChatServer, llm_synthesis_config, tail_world, word_overlap_chat
from .worker import celery_worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

COLOURS = ["red", "blue", "green", "black", "white", "grey", "pink", "brown"]
THINGS = ["kettle", "tent", "jacket", "lamp", "backpack", "mug", "drill", "blender", "sofa", "bike helmet"]


@contextmanager
def workers(tmp_path, count: int, **env: str):
    """`count` real workers (solo pool: one task at a time each), all ready before the block starts."""
    with ExitStack() as stack:
        logs = [tmp_path / f"worker-{count}-{i}.log" for i in range(count)]
        for log in logs:
            stack.enter_context(celery_worker(log_path=log, **env))
        wait_for(lambda: all(log.exists() and "ready." in log.read_text() for log in logs), timeout=120)
        yield logs


def finished(job: Job, timeout: float) -> Job:
    wait_for(lambda: not Job.objects.get(pk=job.pk).is_active, timeout=timeout)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    return job


def shard_workers(job: Job) -> set[str]:
    return set(JobShard.objects.filter(job=job).values_list("worker", flat=True))


@pytest.mark.real_models
def test_two_workers_encode_one_catalogue_into_the_vectors_one_worker_gives(real_broker, admin_user, tmp_path):
    dataset = Dataset.objects.create(name="catalogue")
    Product.objects.bulk_create([
        Product(dataset=dataset, product_id=f"p{i}", title=f"{COLOURS[i % 8]} {THINGS[i % 10]} model {i}",
                brand=f"brand {i % 13}", category=f"Home > {THINGS[i % 10]}") for i in range(480)])
    env = {"ENCODE_SHARD_PRODUCTS": "40"}  # 12 shards

    def build(name: str, worker_count: int):
        version = version_create(dataset=dataset, name=name, kind="dense", config={"train": False})
        with workers(tmp_path, worker_count, **env):
            job = finished(version_start_build(version=version, user=admin_user), timeout=300)
        return job, version

    two_job, two = build("two-workers", 2)
    one_job, one = build("one-worker", 1)
    assert len(shard_workers(two_job)) == 2 and len(shard_workers(one_job)) == 1
    assert JobShard.objects.filter(job=two_job, status="done").count() == 12
    assert "helper task(s) sent" in two_job.log_tail
    pks = list(dataset.products.order_by("pk").values_list("pk", flat=True))
    assert np.allclose(load_faiss_index(version_path(two)).vectors(pks),
                       load_faiss_index(version_path(one)).vectors(pks), atol=1e-5)


def test_two_workers_share_a_synthesis_job_and_write_what_one_worker_writes(real_broker, settings, admin_user,
                                                                            tmp_path):
    dataset, strong, baseline = tail_world(24)
    with ChatServer(word_overlap_chat, delay=0.15).running() as server:
        config, env = llm_synthesis_config(settings=settings, server=server, dataset=dataset, strong=strong,
                                           baseline=baseline)
        with workers(tmp_path, 2, **env):
            two = finished(synthesis_job_start(config=config, user=admin_user), timeout=300)
        with workers(tmp_path, 1, **env):
            one = finished(synthesis_job_start(config=config, user=admin_user), timeout=300)

    assert len(shard_workers(two)) == 2 and len(shard_workers(one)) == 1
    assert two.result["timings"]["workers"] == 2

    def written(job: Job) -> tuple[set, set]:
        pairs = set(SyntheticPair.objects.filter(job=job).values_list("query_id", "product_id", "judge_score"))
        rewrites = set(RewriteCandidate.objects.filter(job=job).values_list("query_id", "text", "kept"))
        return pairs, rewrites

    assert written(two) == written(one) and written(two)[0]
    assert two.counts["kept_pairs"] == one.counts["kept_pairs"] == len(written(two)[0])
