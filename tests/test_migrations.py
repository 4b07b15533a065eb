"""An existing database migrates: rows written at the previous release's schema (Job still in sbsapp, no jobs app)
are all there after `migrate`, with every relation to a job kept, and `jobs.Job` reads the very same rows.

Runs on SQLite and PostgreSQL: the test migrates the test database back to the old state, writes rows with the
historical models, migrates forward to the latest migrations, and leaves the schema at the latest state.
"""
import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

# the leaf migrations of the release before the restructure (jobs/0001 is new: the jobs app did not exist)
PREVIOUS_RELEASE = [("sbsapp", "0003_auto_judgments"), ("retrieval", "0003_version_jobs"),
                    ("synthesis", "0002_rewriter_version")]


def migrate(targets) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()  # the graph's applied state changed
    return executor


def latest() -> list:
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


@pytest.mark.django_db(transaction=True)
def test_rows_written_at_the_previous_release_survive_the_new_migrations():
    try:
        executor = migrate([*PREVIOUS_RELEASE, ("jobs", None)])
        old = executor.loader.project_state(PREVIOUS_RELEASE).apps
        assert "jobs" not in {model._meta.app_label for model in old.get_models()}
        rows = write_previous_release_rows(old)

        migrate(latest())
        check_rows_after_migration(rows)
    finally:
        migrate(latest())


def write_previous_release_rows(old) -> dict:
    """A build job, a synthesis job and a campaign generation job, and what points at each, as the old code wrote."""
    from django.contrib.contenttypes.models import ContentType as ContentTypeNow

    OldJob = old.get_model("sbsapp", "Job")
    User = old.get_model("auth", "User")
    Dataset, Product, Query = (old.get_model("retrieval", name) for name in ("Dataset", "Product", "Query"))
    RetrieverVersion = old.get_model("retrieval", "RetrieverVersion")
    JudgeVersion = old.get_model("synthesis", "JudgeVersion")
    MinedQuery, SyntheticPair = old.get_model("synthesis", "MinedQuery"), old.get_model("synthesis", "SyntheticPair")
    RewriteCandidate = old.get_model("synthesis", "RewriteCandidate")
    Campaign = old.get_model("sbsapp", "Campaign")

    user = User.objects.create(username="migrated-admin")
    build = OldJob.objects.create(kind="retriever_build", task_name="retrieval.tasks.ml_build_version", queue="ml",
                                  config={"version_id": 1, "version": "old-bm25"}, status="succeeded",
                                  result={"products": 1}, created_by=user, attempts=1)
    synth = OldJob.objects.create(kind="synthesis", task_name="synthesis.tasks.ml_synthesize", queue="ml",
                                  config={"dataset_id": 1, "candidates": 4, "max_pairs_per_query": 20},
                                  status="succeeded", counts={"kept_pairs": 1})
    generation = OldJob.objects.create(kind="sbs_generate", task_name="sbsapp.tasks.ml_generate_campaign",
                                       queue="ml", config={"campaign_id": 1}, status="running", done=3, total=7)
    dataset = Dataset.objects.create(name="old-shop")
    product = Product.objects.create(dataset=dataset, product_id="p1", title="Cast iron pan &amp; lid",
                                     brand="Kessler &amp; Vane", description="<p><b>Heavy</b> &amp; even</p>")
    query = Query.objects.create(dataset=dataset, query_id="q1", text="pan for a campfire", segment="tail")
    version = RetrieverVersion.objects.create(dataset=dataset, name="old-bm25", kind="bm25", status="ready",
                                              build_job=build, eval_job=build)
    other = RetrieverVersion.objects.create(dataset=dataset, name="old-bm25-b", kind="bm25", status="ready")
    judge = JudgeVersion.objects.create(dataset=dataset, name="old-judge", base_model="x", status="ready", job=synth)
    mined = MinedQuery.objects.create(job=synth, query=query, position=0, candidates=3)
    pair = SyntheticPair.objects.create(job=synth, query=query, product=product, judge_score=0.9, incremental=True,
                                        rewrites=["campfire pan"])
    candidate = RewriteCandidate.objects.create(job=synth, query=query, text="campfire pan", kept=1)
    campaign = Campaign.objects.create(name="old-campaign", system_a=version, system_b=other, status="generating",
                                       generation_job=generation)
    card = {"product": product.pk, "product_id": "p1", "title": product.title, "brand": product.brand,
            "category": "", "price": None, "description": product.description, "score": 1.0}
    old.get_model("sbsapp", "Item").objects.create(campaign=campaign, token="t-old", query=query, b_on_left=False,
                                                   query_text="pan &amp; lid", results_a=[card], results_b=[])
    # contenttypes is not migrated back (its historical model here is older than its table): the current model
    job_type = ContentTypeNow.objects.get_or_create(app_label="sbsapp", model="job")[0]
    return {"jobs": {job.pk: (job.kind, job.task_name, job.status, job.config) for job in (build, synth, generation)},
            "build": build.pk, "synth": synth.pk, "generation": generation.pk, "user": user.pk,
            "version": version.pk, "judge": judge.pk, "mined": mined.pk, "pair": pair.pk, "candidate": candidate.pk,
            "campaign": campaign.pk, "job_content_type": job_type.pk}


def check_rows_after_migration(rows: dict) -> None:
    from django.contrib.contenttypes.models import ContentType

    from jobs.models import Job
    from retrieval.models import RetrieverVersion
    from sbsapp.models import Campaign
    from synthesis.models import (
        JudgeVersion,
        MinedQuery,
        RewriteCandidate,
        SynthesisJob,
        SyntheticPair,
    )

    assert Job._meta.db_table == "sbsapp_job"
    assert {job.pk: (job.kind, job.task_name, job.status, job.config) for job in Job.objects.all()} == rows["jobs"]
    build = Job.objects.get(pk=rows["build"])
    assert build.created_by_id == rows["user"] and build.result == {"products": 1} and build.attempts == 1
    assert Job.objects.get(pk=rows["generation"]).progress == 3 / 7

    version = RetrieverVersion.objects.get(pk=rows["version"])
    assert version.build_job == build and version.eval_job == build and isinstance(version.build_job, Job)
    assert JudgeVersion.objects.get(pk=rows["judge"]).job_id == rows["synth"]
    synth = SynthesisJob.objects.get(pk=rows["synth"])  # the proxy reads the same row
    assert synth.counts == {"kept_pairs": 1}
    assert MinedQuery.objects.get(pk=rows["mined"]).job_id == rows["synth"]
    assert list(SyntheticPair.objects.filter(job=synth).values_list("pk", flat=True)) == [rows["pair"]]
    assert RewriteCandidate.objects.get(pk=rows["candidate"]).job_id == rows["synth"]
    assert Campaign.objects.get(pk=rows["campaign"]).generation_job_id == rows["generation"]
    # text imported or frozen before import-time normalisation is normalised once (pages no longer decode it)
    from retrieval.models import Product
    from sbsapp.models import Item

    product = Product.objects.get(product_id="p1", dataset__name="old-shop")
    assert (product.title, product.brand, product.description) == ("Cast iron pan & lid", "Kessler & Vane",
                                                                   "Heavy & even")
    item = Item.objects.get(token="t-old")
    assert item.query_text == "pan & lid"
    assert (item.results_a[0]["title"], item.results_a[0]["description"]) == ("Cast iron pan & lid", "Heavy & even")

    # reverse relations through the new model
    assert list(Job.objects.get(pk=rows["synth"]).synthetic_pairs.values_list("pk", flat=True)) == [rows["pair"]]

    # the admin's content type (log entries, permissions) followed the model instead of being recreated
    ContentType.objects.clear_cache()
    assert ContentType.objects.get_for_model(Job).pk == rows["job_content_type"]
    assert not ContentType.objects.filter(app_label="sbsapp", model="job").exists()


@pytest.mark.django_db
def test_no_model_change_lacks_a_migration():
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit as exc:
        pytest.fail(f"makemigrations --check found model changes without a migration:\n{out.getvalue()}")
        raise AssertionError from exc
