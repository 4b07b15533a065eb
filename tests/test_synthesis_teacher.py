"""The synthesis recipe's parts: held-out tail queries, the best-measured judge by default, a bi-encoder teacher
that reads product embeddings from a zero-shot retriever's index, the kept pairs' check against `test` labels,
and the benchmark's paired statistics."""
import pytest

from jobs.models import Job
from retrieval.models import Qrel
from synthesis.config import SynthesisConfig
from synthesis.mining import held_out_queries
from synthesis.models import JudgeVersion, MinedQuery, SyntheticPair
from synthesis.services import best_judge, synthesis_job_start

from .synthesis_support import make_synthesis_world, tiny_bert_folder
from .test_synthesis_job import install_fakes

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return make_synthesis_world()


def judge(dataset, name, metrics, status="ready"):
    return JudgeVersion.objects.create(dataset=dataset, name=name, base_model="x", status=status,
                                       artifact_path="/nowhere", metrics=metrics)


def config_for(world, **extra):
    dataset, _, _, strong, baseline = world
    return SynthesisConfig(dataset_id=dataset.pk, retriever_version_id=strong.pk, baseline_version_id=baseline.pk,
                           candidates=2, chunk_size=1, **extra)


def test_the_held_out_share_is_seeded_and_depends_only_on_the_set_of_queries():
    pks = list(range(1, 31))
    held = held_out_queries(pks, share=1 / 3, seed=13)
    assert len(held) == 10 and held <= set(pks)
    assert held_out_queries(reversed(pks), share=1 / 3, seed=13) == held
    assert held_out_queries(pks, share=1 / 3, seed=14) != held
    assert held_out_queries(pks, share=0, seed=13) == set()


def test_a_job_never_synthesises_for_a_held_out_query(world, monkeypatch, admin_user):
    dataset, products, queries, *_ = world
    judge(dataset, "j", {"auc": 0.7})
    install_fakes(monkeypatch, products)
    tail = [q.pk for q in queries.values() if q.segment == "tail"]
    held = held_out_queries(tail, share=0.34, seed=5)
    job = synthesis_job_start(config=config_for(world, holdout_share=0.34, holdout_seed=5), user=admin_user)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    mined = set(MinedQuery.objects.filter(job=job).values_list("query_id", flat=True))
    assert len(held) == 1 and mined == set(tail) - held
    assert not SyntheticPair.objects.filter(job=job, query_id__in=held).exists()
    assert "held out" in job.log_tail


def test_without_a_judge_the_job_uses_the_best_measured_ready_one(world, monkeypatch, admin_user):
    dataset, products, *_ = world
    judge(dataset, "overall-best", {"auc": 0.95, "tail": {"auc": 0.60}})
    tail_best = judge(dataset, "tail-best", {"auc": 0.85, "tail": {"auc": 0.90}})
    judge(dataset, "failed", {"auc": 0.99, "tail": {"auc": 0.99}}, status="failed")
    assert best_judge(dataset) == tail_best
    install_fakes(monkeypatch, products)
    job = synthesis_job_start(config=config_for(world), user=admin_user)
    assert job.config["judge_version_id"] == tail_best.pk  # the stored config records the choice


def test_without_any_ready_judge_the_start_is_refused_with_a_reason(world):
    with pytest.raises(ValueError, match="no ready judge version"):
        synthesis_job_start(config=config_for(world))


def test_kept_pairs_are_checked_against_test_labels_for_measurement_only(world, monkeypatch, admin_user):
    from synthesis.selectors import synthesis_statistics

    dataset, products, queries, *_ = world
    judge(dataset, "j", {"auc": 0.7})
    install_fakes(monkeypatch, products)  # keeps products 0, 4 and 6 of each tail query
    job = synthesis_job_start(config=config_for(world), user=admin_user)
    kept = set(SyntheticPair.objects.filter(job=job).values_list("query_id", "product_id"))
    labelled = {(q, p): g for q, p, g in Qrel.objects.filter(split="test").values_list("query_id", "product_id",
                                                                                         "grade") if (q, p) in kept}
    check = synthesis_statistics(job=job)["test_label_check"]
    assert labelled and check["labelled_pairs"] == len(labelled)
    assert check["relevant"] == sum(1 for g in labelled.values() if g >= 2)
    assert check["precision"] == round(check["relevant"] / len(labelled), 3)


def test_the_index_backed_teacher_gives_the_bi_encoder_judges_own_scores(world, tmp_path, settings, admin_user):
    from retrieval.versions import version_build
    from synthesis.judging.judges import index_backed_judge, load_judge, product_judge
    from synthesis.judging.training import judge_version_start

    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    dataset, products, *_ = world
    base = str(tiny_bert_folder(tmp_path / "bert"))
    teacher_index = version_build(dataset=dataset, name="teacher-index", kind="dense", base_model=base,
                                  config={"train": False, "max_seq_length": 16}, inline=True)
    teacher_index.refresh_from_db()
    assert teacher_index.status == "ready", teacher_index.error
    teacher = judge_version_start(dataset=dataset, name="teacher", kind="bi-encoder", base_model=base,
                                  max_seq_length=16, validation_share=0.3, user=admin_user)
    teacher.refresh_from_db()
    loaded = load_judge(judge_version=teacher, device="cpu")
    from_index = index_backed_judge(loaded, judge_version=teacher, retriever_version=teacher_index)
    assert from_index is not None
    pks = [p.pk for p in products]
    encoded = product_judge(loaded, fields=None)("fishing gift for dad", pks)
    assert from_index("fishing gift for dad", pks) == pytest.approx(encoded, abs=1e-5)
    other_length = judge_version_start(dataset=dataset, name="teacher-64", kind="bi-encoder", base_model=base,
                                       max_seq_length=64, validation_share=0.3, user=admin_user)
    other_length.refresh_from_db()
    assert index_backed_judge(load_judge(judge_version=other_length), judge_version=other_length,
                              retriever_version=teacher_index) is None  # different product text: encode anew

    # A job whose retriever is another version still reads the judge's embeddings from the matching index.
    from synthesis.services import judge_from_an_index

    other = version_build(dataset=dataset, name="other-index", kind="dense", base_model=base,
                          config={"train": False, "max_seq_length": 32}, inline=True)
    found, version = judge_from_an_index(loaded, judge_version=teacher, retriever=other)
    assert version == teacher_index and found("fishing gift for dad", pks) == pytest.approx(encoded, abs=1e-5)
    assert judge_from_an_index(load_judge(judge_version=other_length), judge_version=other_length,
                               retriever=other) == (None, None)


@pytest.mark.parametrize("index_type", ["flat", "ivf", "hnsw"])
def test_an_index_gives_back_the_vectors_it_was_built_from(tmp_path, index_type):
    import numpy as np

    from retrieval.indexes import build_faiss_index, load_faiss_index

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(300, 8)).astype("float32")
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    pks = np.arange(1000, 1300)
    build_faiss_index(vectors=vectors, pks=pks, folder=tmp_path, config={"type": index_type, "ivf_lists": 4})
    index = load_faiss_index(tmp_path)
    assert np.allclose(index.vectors([1299, 1000, 1100]), vectors[[299, 0, 100]], atol=1e-6)
    with pytest.raises(KeyError):
        index.vectors([5])


def test_paired_statistics_over_seeds_and_queries():
    from bench.paired_stats import paired_summary

    queries = [str(i) for i in range(40)]
    baseline = [{q: {"nDCG@10": 0.2 + 0.01 * i, "Recall@100": 0.5} for i, q in enumerate(queries)} for _ in range(3)]
    treatment = [{q: {"nDCG@10": row["nDCG@10"] + (0.1 if int(q) % 2 else 0.0), "Recall@100": 0.5}
                  for q, row in seed.items()} for seed in baseline]
    summary = paired_summary(baseline=baseline, treatment=treatment,
                             segments={"all": queries, "odd": queries[1::2], "none": []})
    diff = summary["treatment-baseline"]
    assert diff["all"]["nDCG@10"]["mean"] == pytest.approx(0.05)
    low, high = diff["all"]["nDCG@10"]["ci95"]
    assert 0 < low < 0.05 < high < 0.1  # half the queries gain 0.1: the interval is around 0.05, above 0
    assert diff["odd"]["nDCG@10"]["ci95"] == [pytest.approx(0.1), pytest.approx(0.1)]
    assert diff["all"]["Recall@100"]["mean"] == 0 and diff["none"]["nDCG@10"]["mean"] is None
    assert summary["baseline"]["all"]["nDCG@10"]["sd"] == 0.0  # identical seeds
