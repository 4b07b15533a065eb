"""Soft labels (GPL-style): the pipeline keeps the judge's rejections as hard negatives with their scores, the
"synthetic-margins" source turns kept pairs and rejections into (query, positive, negative, margin) triples, and a
dense build trains them with MarginMSE beside its log examples (added, never substituted)."""
import pytest

from jobs.models import Job
from retrieval.margin_sources import margin_set_build, register_margin_source
from retrieval.pair_sources import InvalidPairs
from retrieval.versions import normalize_config, version_build
from synthesis.models import MinedQuery, SyntheticPair
from synthesis.pipeline import CurationSettings, curate_query
from synthesis.selectors import synthetic_margins
from synthesis.treatment import treatment_version_start
from tests.retrieval_factories import all_texts, make_dataset, tiny_encoder_folder

pytestmark = pytest.mark.django_db


def test_the_pipeline_keeps_the_judges_rejections_best_retrieved_first_with_their_scores():
    def retrieve(texts, k):
        return [{"q": [5, 1, 6, 7], "rw": [8, 2]}[text][:k] for text in texts]

    scores = {5: 0.2, 1: 0.9, 6: 0.49, 7: 0.1, 8: 0.3, 2: 0.8}
    result = curate_query(query_pk=1, query_text="q", rewrites=["rw"], retrieve_many=retrieve,
                          judge_products=lambda query, pks: [scores[pk] for pk in pks], baseline_top=[], logged=[6],
                          settings=CurationSettings(threshold=0.5, hard_negatives=3))
    assert [p.product_pk for p in result.pairs] == [1, 2]
    assert result.rejected == [(5, 0.2), (7, 0.1), (8, 0.3)]  # the logged product 6 is never a negative
    none_kept = curate_query(query_pk=1, query_text="q", rewrites=[], retrieve_many=retrieve,
                             judge_products=lambda query, pks: [scores[pk] for pk in pks], baseline_top=[], logged=[],
                             settings=CurationSettings(threshold=0.5))
    assert none_kept.rejected == []  # hard_negatives 0: none recorded


@pytest.fixture
def synthesis_job():
    """A finished synthesis job on the shop data set: two kept pairs for q5 and three rejections."""
    dataset = make_dataset()
    job = Job.objects.create(kind="synthesis", task_name="synthesis", status=Job.Status.SUCCEEDED,
                             config={"dataset_id": dataset.pk})
    query = dataset.queries.get(query_id="q5")
    product = {p.product_id: p.pk for p in dataset.products.all()}
    MinedQuery.objects.create(job=job, query=query, position=0, done_at=job.created_at,
                              hard_negatives=[[product["p1"], 0.1], [product["p2"], 0.3], [product["p3"], 0.2]])
    for pid, score in (("p10", 0.9), ("p11", 0.7)):
        SyntheticPair.objects.create(job=job, query=query, product_id=product[pid], judge_score=score,
                                     incremental=True)
    return dataset, job, query, product


def test_kept_pairs_take_the_rejections_in_turn_with_the_judges_margin(synthesis_job):
    dataset, job, query, product = synthesis_job
    triples = list(synthetic_margins(dataset, job_ids=[job.pk], negatives_per_pair=2))
    assert triples == [(query.pk, product["p10"], product["p1"], pytest.approx(0.8)),
                       (query.pk, product["p10"], product["p2"], pytest.approx(0.6)),
                       (query.pk, product["p11"], product["p3"], pytest.approx(0.5)),
                       (query.pk, product["p11"], product["p1"], pytest.approx(0.6))]
    MinedQuery.objects.filter(job=job).update(hard_negatives=[])
    with pytest.raises(ValueError, match="recorded no hard negatives"):
        list(synthetic_margins(dataset, job_ids=[job.pk]))


def test_margin_sets_sample_per_triple_repeat_per_epoch_and_refuse_stray_triples(synthesis_job):
    dataset, job, query, product = synthesis_job
    source = {"name": "synthetic-margins", "params": {"job_ids": [job.pk]}}
    once = margin_set_build(dataset=dataset, sources=[{**source, "per_triple": 1.0}], seed=1)
    assert len(once) == 2 and once.manifest == {"synthetic-margins": {"triples": 2, "examples": 2, "per_triple": 1.0}}
    more = margin_set_build(dataset=dataset, sources=[{**source, "per_triple": 2.5}], seed=1, epochs=2)
    assert more.manifest["synthetic-margins"]["examples"] == 5 and len(more) == 10
    other = make_dataset("elsewhere")
    register_margin_source("stray", lambda ds: [(query.pk, product["p10"], other.products.first().pk, 0.5)])
    with pytest.raises(InvalidPairs, match="outside data set"):
        margin_set_build(dataset=dataset, sources=[{"name": "stray"}], seed=1)
    with pytest.raises(ValueError, match="No margin source named 'nope'"):
        normalize_config(kind="dense", config={"margin_sources": [{"name": "nope"}]})


def test_a_soft_label_treatment_trains_marginmse_triples_on_top_of_every_log_example(synthesis_job, tmp_path):
    dataset, job, _, _ = synthesis_job
    base = tiny_encoder_folder(tmp_path / "enc", all_texts())
    baseline = version_build(dataset=dataset, name="base", kind="dense", base_model=str(base), seed=3,
                             config={"epochs": 2, "batch_size": 4, "learning_rate": 1e-3, "samples_per_epoch": 16})
    assert baseline.status == "ready", baseline.error
    soft = treatment_version_start(job=job, base_version=baseline, name="soft", labels="soft", per_pair=2.0)
    soft.refresh_from_db()
    assert soft.status == "ready", soft.error
    assert soft.hyperparams["margin_sources"] == [{"name": "synthetic-margins", "params": {"job_ids": [job.pk]},
                                                   "per_triple": 2.0}]
    assert not any(s["name"] == "synthetic" for s in soft.hyperparams["extra_sources"])  # soft replaces hard pairs
    data, training = soft.manifest["training_data"], soft.manifest["training"]
    assert data["examples"] == baseline.manifest["training_data"]["examples"]  # every log example is kept
    assert data["margin_sources"]["synthetic-margins"] == {"triples": 2, "examples": 4, "per_triple": 2.0}
    assert training["soft_label_examples"] == 8  # 4 per epoch, 2 epochs
    assert training["steps"] > baseline.manifest["training"]["steps"]
    both = treatment_version_start(job=job, base_version=baseline, name="both", labels="both")
    assert [s["name"] for s in both.hyperparams["extra_sources"]] == ["synthetic"]
    assert both.hyperparams["margin_sources"][0]["name"] == "synthetic-margins"
    with pytest.raises(ValueError, match="per_pair"):
        treatment_version_start(job=job, base_version=baseline, name="x", labels="soft", ratio=0.2)
    MinedQuery.objects.filter(job=job).update(hard_negatives=[])  # a job from before soft labels
    with pytest.raises(ValueError, match="recorded no hard negatives"):
        treatment_version_start(job=job, base_version=baseline, name="y", labels="soft")
