"""Sharded job steps (`jobs.shards`) in one process: order, progress, a failing shard run again alone, a dead
worker's shard taken over, helpers, cancellation; and the catalogue encoding split into shards gives the vectors of
an unsharded encoding."""
from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from jobs.models import Job, JobShard
from jobs.runner import JobCancelled, JobContext
from jobs.shards import ShardFailed, claim_next, run_shards, shard_helper, shard_step
from retrieval.indexes import load_faiss_index
from retrieval.versions import version_build, version_path
from tests.retrieval_factories import all_texts, make_dataset, tiny_encoder_folder

pytestmark = pytest.mark.django_db

STEP = "test_square"
CALLS: list[int] = []
FAIL_ONCE: set[int] = set()
ALWAYS_FAIL: set[int] = set()


@shard_step(STEP)
def square_shard(shard: JobShard, report) -> dict:
    value = shard.spec["value"]
    CALLS.append(value)
    report(1)
    if value in ALWAYS_FAIL:
        raise RuntimeError(f"cannot square {value}")
    if value in FAIL_ONCE:
        FAIL_ONCE.discard(value)
        raise RuntimeError(f"transient error on {value}")
    return {"square": value * value}


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    return tiny_encoder_folder(tmp_path_factory.mktemp("enc") / "tiny", all_texts())


@pytest.fixture(autouse=True)
def clean_state():
    CALLS.clear(), FAIL_ONCE.clear(), ALWAYS_FAIL.clear()


def running_job() -> JobContext:
    job = Job.objects.create(kind="ping", task_name="jobs.ping", status=Job.Status.RUNNING, attempts=1,
                             heartbeat_at=timezone.now())
    return JobContext(job)


def specs(n: int) -> list[dict]:
    return [{"value": value} for value in range(n)]


def test_results_come_back_in_order_and_the_progress_sums_the_shards():
    ctx = running_job()
    results = run_shards(ctx, step=STEP, specs=specs(5), totals=[2, 2, 2, 2, 1], stage="squaring")
    assert [r["square"] for r in results] == [0, 1, 4, 9, 16]
    job = Job.objects.get(pk=ctx.job.pk)
    assert (job.stage, job.total, job.done) == ("squaring", 9, 9)
    assert job.counts["shards"] == job.counts["shards_done"] == 5 and job.counts["shard_workers"] == 1
    assert job.log_tail.count(" done by ") == 5


def test_a_shard_that_fails_is_run_again_alone_after_the_others():
    FAIL_ONCE.add(1)
    ctx = running_job()
    assert [r["square"] for r in run_shards(ctx, step=STEP, specs=specs(4))] == [0, 1, 4, 9]
    assert CALLS == [0, 1, 2, 3, 1]  # the failed shard waits until the ones never tried are done
    attempts = dict(JobShard.objects.filter(job=ctx.job).values_list("index", "attempts"))
    assert attempts == {0: 1, 1: 2, 2: 1, 3: 1}


def test_a_shard_that_keeps_failing_fails_the_job_and_a_retry_gives_it_fresh_attempts(settings):
    settings.JOBS_SHARD_ATTEMPTS = 2
    ALWAYS_FAIL.add(2)
    ctx = running_job()
    with pytest.raises(ShardFailed, match=r"shard 2 of job #\d+ \(failed\) failed 2 times; .*cannot square 2"):
        run_shards(ctx, step=STEP, specs=specs(4))
    assert CALLS.count(2) == 2 and CALLS.count(3) == 1
    ALWAYS_FAIL.clear()
    CALLS.clear()
    assert [r["square"] for r in run_shards(ctx, step=STEP, specs=specs(4))] == [0, 1, 4, 9]
    assert CALLS == [2]  # the resumed job ran only the shard that had failed


def test_a_shard_whose_worker_died_is_taken_over_and_a_live_one_is_not(settings):
    ctx = running_job()
    old = timezone.now() - timedelta(seconds=settings.JOBS_STALE_AFTER_SECONDS + 5)
    JobShard.objects.bulk_create([
        JobShard(job=ctx.job, step=STEP, index=0, spec={"value": 0}, status="done", result={"square": 0}),
        JobShard(job=ctx.job, step=STEP, index=1, spec={"value": 1}, status="running", attempts=1,
                 worker="dead:1", heartbeat_at=old),
        JobShard(job=ctx.job, step=STEP, index=2, spec={"value": 2}, status="running", attempts=1,
                 worker="alive:2", heartbeat_at=timezone.now()),
    ])
    taken = claim_next(ctx.job.pk, STEP)
    assert taken.index == 1 and taken.attempts == 2 and taken.worker != "dead:1"
    assert claim_next(ctx.job.pk, STEP) is None  # shard 2's worker is alive: nobody else runs it


def test_a_helper_runs_the_shards_left_and_stops_for_a_cancelled_job():
    ctx = running_job()
    JobShard.objects.bulk_create([JobShard(job=ctx.job, step=STEP, index=i, spec={"value": i}) for i in range(3)])
    assert shard_helper(ctx.job.pk, STEP) == 3
    assert set(JobShard.objects.filter(job=ctx.job).values_list("status", flat=True)) == {"done"}

    other = running_job()
    JobShard.objects.create(job=other.job, step=STEP, index=0, spec={"value": 7})
    Job.objects.filter(pk=other.job.pk).update(cancel_requested=True)
    assert shard_helper(other.job.pk, STEP) == 0
    with pytest.raises(JobCancelled):
        run_shards(other, step=STEP, specs=[{"value": 7}])
    assert CALLS == [0, 1, 2]


def test_an_inline_job_sends_no_helpers(monkeypatch):
    sent = []
    monkeypatch.setattr("jobs.shards.send_helpers", lambda *args: sent.append(args) or 0)
    run_shards(running_job(), step=STEP, specs=specs(3))
    assert sent == []


def test_a_sharded_catalogue_encoding_gives_the_vectors_of_one_piece(settings, tiny_encoder):
    dataset = make_dataset()
    pks = list(dataset.products.order_by("pk").values_list("pk", flat=True))
    settings.ENCODE_SHARD_PRODUCTS = 10 ** 6
    whole = version_build(dataset=dataset, name="one-piece", kind="dense", config={"train": False},
                          base_model=str(tiny_encoder), inline=True)
    settings.ENCODE_SHARD_PRODUCTS = 3
    sharded = version_build(dataset=dataset, name="in-shards", kind="dense", config={"train": False},
                            base_model=str(tiny_encoder), inline=True)
    assert whole.status == sharded.status == "ready"
    assert JobShard.objects.filter(job=whole.build_job).count() == 1
    assert JobShard.objects.filter(job=sharded.build_job, status="done").count() == -(-len(pks) // 3)
    a = load_faiss_index(version_path(whole)).vectors(pks)
    b = load_faiss_index(version_path(sharded)).vectors(pks)
    assert np.allclose(a, b, atol=1e-5)
    assert not (version_path(sharded) / "encoding-shards").exists()  # joined, then removed
