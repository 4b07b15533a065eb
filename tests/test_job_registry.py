"""The registry of job kinds: exactly the kinds this release knows, each with its queue, its Celery task `jobs.<kind>`
and the task names of earlier releases; and every kind started inline on small data ends `succeeded`.

Each kind is started the same way: `job_start(kind=..., config=<a stored-job config dict>, inline=True)`, so these
tests also pin the config field names that existing Job rows carry.
"""
from __future__ import annotations

import json

import pytest

from jobs.kinds import KINDS
from jobs.models import Job
from jobs.services import job_start

from .conftest import make_user
from .synthesis_support import (
    ChatServer,
    make_catalogue,
    tail_world,
    tiny_bert_folder,
    tiny_llama_folder,
    word_overlap_chat,
)

EXPECTED = {  # kind: (queue, task names of the previous release that must keep resolving)
    "ping": ("default", ("sbsapp.tasks.ping",)),
    "import": ("default", ("retrieval.tasks.import_bundle_task",)),
    "retriever_build": ("ml", ("retrieval.tasks.ml_build_version",)),
    "retriever_rebuild_index": ("ml", ("retrieval.tasks.ml_rebuild_index",)),
    "retriever_evaluate": ("ml", ("retrieval.tasks.ml_evaluate_version",)),
    "synthesis": ("ml", ("synthesis.tasks.ml_synthesize",)),
    "judge_training": ("ml", ("synthesis.tasks.ml_train_judge",)),
    "rewriter_training": ("ml", ("synthesis.tasks.ml_train_rewriter",)),
    "sbs_generate": ("ml", ("sbsapp.tasks.ml_generate_campaign",)),
    "auto_sbs": ("ml", ("sbsapp.tasks.ml_auto_sbs",)),
    "judge_from_sbs": ("ml", ("sbsapp.tasks.ml_retrain_judge_from_sbs",)),
}


def start(kind: str, config: dict, **extra) -> Job:
    job = job_start(kind=kind, config=config, inline=True, **extra)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, f"{kind} job ended {job.status}: {job.error}\n{job.log_tail[-2000:]}"
    assert job.kind == kind and job.task_name == f"jobs.{kind}" and job.queue == EXPECTED[kind][0]
    assert job.attempts == 1 and job.finished_at is not None
    return job


# --- the registry ------------------------------------------------------------------------------------------------

def test_the_registry_holds_exactly_the_known_kinds_with_their_queues():
    assert sorted(KINDS) == sorted(EXPECTED)
    assert {name: (kind.queue, kind.legacy_task_names) for name, kind in KINDS.items()} == EXPECTED
    assert {kind.task_name for kind in KINDS.values()} == {f"jobs.{name}" for name in EXPECTED}
    assert all(kind.title and callable(kind.work) for kind in KINDS.values())


def test_job_kind_choices_come_from_the_registry():
    assert {value for value, _ in Job._meta.get_field("kind").choices} == set(EXPECTED)


def test_every_kind_has_its_celery_task_and_its_legacy_task_names():
    from config.celery import app

    missing = [name for kind, (_, legacy) in EXPECTED.items() for name in (f"jobs.{kind}", *legacy)
               if name not in app.tasks]
    assert not missing, f"Celery tasks not registered: {missing}"


@pytest.mark.django_db
def test_a_row_queued_under_an_old_task_name_still_runs(admin_user):
    """A message sent by the previous release (`sbsapp.tasks.ping`, job id) runs the ping kind's work."""
    from config.celery import app

    job = Job.objects.create(kind="ping", task_name="sbsapp.tasks.ping", queue="default", config={"steps": 2})
    app.tasks["sbsapp.tasks.ping"](job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED and job.result == {"pong": True, "steps": 2}


# --- each kind, started inline on small data ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    from .synthesis_support import CORPUS

    return tiny_bert_folder(tmp_path_factory.mktemp("bert") / "bert",
                            CORPUS + ["sulfate curl clarifying trail boots mug warmer fishing pasta"])


@pytest.mark.django_db
def test_ping(admin_user):
    job = start("ping", {"steps": 3}, user=admin_user)
    assert job.result == {"pong": True, "steps": 3} and job.created_by == admin_user


@pytest.mark.django_db
def test_import(tmp_path):
    from retrieval.models import Dataset

    from .test_import_bundle import good_bundle

    job = start("import", {"path": str(good_bundle(tmp_path / "bundle", name="registry-shop"))})
    assert job.counts == {"products": 3, "queries": 4, "interactions": 2, "qrels": 3}
    assert Dataset.objects.get(name="registry-shop").products.count() == 3


@pytest.mark.django_db
def test_retriever_build_rebuild_index_and_evaluate():
    from retrieval.models import RetrieverVersion
    from retrieval.versions import version_create

    from .retrieval_factories import make_dataset

    version = version_create(dataset=make_dataset(), name="registry-bm25", kind="bm25")
    config = {"version_id": version.pk, "version": version.name}
    start("retriever_build", config)
    version.refresh_from_db()
    assert version.status == RetrieverVersion.Status.READY and version.manifest["index"]["count"] == 12
    assert start("retriever_rebuild_index", config).result == {"products": 12}
    start("retriever_evaluate", {**config, "depth": 10})
    version.refresh_from_db()
    assert version.metrics["all"]["queries"] == 8


@pytest.mark.django_db
def test_judge_training(tiny_bert):
    from synthesis.models import JudgeVersion

    dataset, _, _ = make_catalogue()
    version = JudgeVersion.objects.create(
        dataset=dataset, name="registry-judge", base_model=str(tiny_bert),
        hyperparams={"epochs": 1, "batch_size": 4, "learning_rate": 1e-3, "negatives_per_positive": 2,
                     "validation_share": 0.3, "max_examples": None, "seed": 5, "fields": None})
    start("judge_training", {"judge_version_id": version.pk})
    version.refresh_from_db()
    assert version.status == JudgeVersion.Status.READY and version.metrics["n"] > 0


@pytest.fixture
def chat_endpoint(settings):
    with ChatServer(word_overlap_chat).running() as server:
        settings.OPENAI_BASE_URL, settings.OPENAI_MODEL = server.base_url, "local-test"
        yield server


@pytest.mark.django_db
def test_synthesis(chat_endpoint):
    from synthesis.models import MinedQuery, SyntheticPair

    dataset, strong, baseline = tail_world(2)
    job = start("synthesis", {"dataset_id": dataset.pk, "retriever_version_id": strong.pk,
                              "baseline_version_id": baseline.pk, "judge_backend": "llm",
                              "rewriter_backend": "openai", "candidates": 2, "retrieve_k": 4, "baseline_k": 2,
                              "chunk_size": 2, "threshold": 0.5})
    assert MinedQuery.objects.filter(job=job).exists()
    assert not MinedQuery.objects.filter(job=job, done_at__isnull=True).exists()
    assert job.counts["kept_pairs"] == SyntheticPair.objects.filter(job=job).count()


@pytest.mark.django_db
def test_rewriter_training(tmp_path):
    from retrieval.models import Dataset, Query
    from synthesis.models import RewriterVersion
    from synthesis.rewriter.prompts import REWRITE_EXAMPLES

    dataset = Dataset.objects.create(name="registry-rewriter")
    for i, text in enumerate(["warm socks for hiking", "usb mug warmer", "gift for a runner", "wool hat"]):
        Query.objects.create(dataset=dataset, query_id=f"q{i}", text=text, segment="tail")
    seed = tmp_path / "seed.jsonl"
    seed.write_text("".join(json.dumps({"query": q, "rewrites": r}) + "\n" for q, r in REWRITE_EXAMPLES))
    model = tiny_llama_folder(tmp_path / "llama")
    job = start("rewriter_training", {
        "dataset_id": dataset.pk, "name": "registry-rw", "methods": ["sft"], "base_model": str(model),
        "seed_sources": {"jsonl": str(seed)}, "sft": {"max_steps": 1, "learning_rate": 1e-3, "batch_size": 4},
        "evaluate": False, "device": "cpu"})
    version = RewriterVersion.objects.get(name="registry-rw-sft")
    assert version.status == "ready" and job.result["versions"]["sft"]["name"] == "registry-rw-sft"


def generated_campaign():
    """A campaign over two real BM25 versions, its lists frozen by an inline `sbs_generate` job."""
    from sbsapp.models import Campaign, Item

    _, strong, baseline = tail_world(4)
    campaign = Campaign.objects.create(name="registry-campaign", system_a=baseline, system_b=strong,
                                       status=Campaign.Status.GENERATING, sample_size=6, k=1, seed=3,
                                       control_share=0, segments=["tail"])
    job = start("sbs_generate", {"campaign_id": campaign.pk})
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.ACTIVE
    assert Item.objects.filter(campaign=campaign).count() == job.result["items"] > 0
    assert Item.objects.filter(campaign=campaign, is_active=True).exists()  # k = 1: BM25 fills every list
    return campaign


@pytest.mark.django_db
def test_sbs_generate():
    generated_campaign()


@pytest.mark.django_db
def test_auto_sbs(settings):
    from sbsapp.models import AutoJudgment, Item

    campaign = generated_campaign()
    with ChatServer(lambda payload: "4").running() as server:
        settings.OPENAI_BASE_URL, settings.OPENAI_MODEL = server.base_url, "local-test"
        start("auto_sbs", {"campaign_id": campaign.pk, "judge_kind": "llm", "seed": 1, "llm_model": ""})
    served = Item.objects.filter(campaign=campaign, is_active=True).count()
    assert served and AutoJudgment.objects.filter(campaign=campaign).count() == served


@pytest.mark.django_db
def test_judge_from_sbs(tmp_path):
    from synthesis.models import JudgeVersion

    from .test_closed_loop import marked_campaign, tiny_base_judge

    dataset, products, queries = make_catalogue()
    annotators = [make_user(f"marker{i}", "annotator") for i in range(3)]
    campaign = marked_campaign(dataset, products, queries, annotators)
    base = tiny_base_judge(tmp_path, dataset)
    job = start("judge_from_sbs", {"campaign_ids": [campaign.pk], "base_judge_version_id": base.pk,
                                   "name": "registry-judge-sbs", "weighting": {}})
    new = JudgeVersion.objects.get(name="registry-judge-sbs")
    assert new.status == JudgeVersion.Status.READY and job.result["judge_version_id"] == new.pk


def test_every_kind_has_an_inline_test_here():
    """A kind added to the registry without a test above fails here."""
    tested = {name.removeprefix("test_") for name in globals() if name.startswith("test_")}
    tested |= {"retriever_build", "retriever_rebuild_index", "retriever_evaluate"}  # one test covers the three
    assert set(KINDS) <= tested, f"kinds without an inline test: {sorted(set(KINDS) - tested)}"
