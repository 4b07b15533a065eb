"""The synthesis job end to end on fake models: rows, counts, resume without duplicates, cancel, pair source,
judge training, and the treatment build wiring."""
import re

import pytest

from core.configs import validate_config
from jobs.models import Job
from jobs.services import job_cancel, job_retry
from retrieval.models import RetrieverVersion
from synthesis import services
from synthesis.config import SynthesisConfig
from synthesis.judging.training import judge_version_start
from synthesis.models import JudgeVersion, MinedQuery, RewriteCandidate, SyntheticPair
from synthesis.services import SynthesisComponents, synthesis_job_start, write_chunk
from synthesis.treatment import treatment_version_start

from .synthesis_support import make_synthesis_world, tiny_bert_folder

pytestmark = pytest.mark.django_db


class FakeRewriter:
    def __init__(self):
        self.calls = []

    def rewrite(self, queries, n):
        self.calls.append(list(queries))
        return [[f"{q} product", f"{q} kit"][:n] for q in queries]

    def describe(self):
        return {"backend": "fake"}


@pytest.fixture
def world():
    dataset, products, queries, strong, baseline = make_synthesis_world()
    judge = JudgeVersion.objects.create(dataset=dataset, name="judge", base_model="x", status="ready",
                                        artifact_path="/nowhere")
    return dataset, products, queries, strong, baseline, judge


def install_fakes(monkeypatch, products, *, judge_hook=None, rewriter=None):
    rewriter = rewriter or FakeRewriter()
    pks = [p.pk for p in products]

    def retrieve_many(texts, k):
        # the original finds products 0-2; a rewrite finds different ones depending on its words
        return [pks[:3] if not text.endswith(("product", "kit")) else
                (pks[3:6] if text.endswith("product") else pks[5:8]) for text in texts]

    def baseline_retrieve_many(texts, k):
        return [pks[:4] for _ in texts]

    def judge_products(query, product_pks):
        if judge_hook:
            judge_hook(query)
        return [0.9 if pk in (pks[0], pks[4], pks[6]) else 0.2 for pk in product_pks]

    components = SynthesisComponents(rewriter=rewriter, retrieve_many=retrieve_many,
                                     baseline_retrieve_many=baseline_retrieve_many, judge_products=judge_products)
    monkeypatch.setattr(services, "load_synthesis_components", lambda config: components)
    return rewriter


def config_for(world, **extra):
    dataset, _, _, strong, baseline, judge = world
    return SynthesisConfig(dataset_id=dataset.pk, retriever_version_id=strong.pk, baseline_version_id=baseline.pk,
                           judge_version_id=judge.pk, candidates=2, **{"chunk_size": 1, **extra})


def test_job_writes_pairs_with_provenance_and_counts(world, monkeypatch, admin_user):
    dataset, products, queries, *_ = world
    install_fakes(monkeypatch, products)
    job = synthesis_job_start(config=config_for(world), user=admin_user)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert MinedQuery.objects.filter(job=job, done_at__isnull=False).count() == 3  # the three tail queries
    pairs = SyntheticPair.objects.filter(job=job)
    # per query: product 0 (found by the original, in the baseline; q1 has it in the logs), 4 and 6 (rewrites)
    assert pairs.count() == 3 * 3 - 1
    p4 = pairs.get(query=queries["q2"], product=products[4])
    assert p4.incremental and not p4.found_by_original and p4.rewrites == [f"{queries['q2'].text} product"]
    assert not pairs.get(query=queries["q2"], product=products[0]).incremental
    assert not pairs.filter(query=queries["q1"], product=products[0]).exists()  # already clicked in the logs
    assert RewriteCandidate.objects.filter(job=job).count() == 6
    assert job.counts["kept_pairs"] == 8 and job.counts["queries_done"] == 3
    assert job.counts["incremental_share"] == round(6 / 8, 3)
    assert job.result["query_coverage"] == 1.0 and job.result["found_only_by_rewrites"] == 6
    timings = job.result["timings"]  # where the time went, per stage, in the result and per chunk in the log
    assert timings["queries"] == 3 and set(timings["stages"]) == {"rewrite", "retrieve", "judge", "write"}
    assert timings["seconds"] >= sum(timings["stages"].values()) - 0.2 and timings["queries_per_min"] > 0
    assert re.search(r"shard \d/3 done by \S+ in [\d.]+ s: 1 query, rewrite [\d.]+ s, retrieve [\d.]+ s, judge [\d.]+ s, "
                     r"write [\d.]+ s", job.log_tail)


def test_a_chunk_that_fails_once_is_run_again_alone(world, monkeypatch, admin_user):
    _, products, queries, *_ = world
    calls = {"n": 0}

    def crash_on_second_query(query):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("worker lost")

    rewriter = install_fakes(monkeypatch, products, judge_hook=crash_on_second_query)
    job = synthesis_job_start(config=config_for(world), user=admin_user)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert len(rewriter.calls) == 4  # three chunks, and the failed one again
    assert sorted(job.shards.values_list("index", "attempts")) == [(0, 1), (1, 2), (2, 1)]
    assert SyntheticPair.objects.filter(job=job).count() == 8
    assert MinedQuery.objects.filter(job=job, done_at__isnull=False).count() == 3


def test_a_job_whose_chunk_keeps_failing_fails_and_its_retry_runs_only_that_chunk(world, monkeypatch, admin_user):
    _, products, queries, *_ = world
    broken = {"on": True}

    def crash_on_q2(query):
        if broken["on"] and query == queries["q2"].text:
            raise RuntimeError("judge endpoint down")

    rewriter = install_fakes(monkeypatch, products, judge_hook=crash_on_q2)
    job = synthesis_job_start(config=config_for(world), user=admin_user)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert "failed 3 times" in job.error and "judge endpoint down" in job.error
    assert MinedQuery.objects.filter(job=job, done_at__isnull=False).count() == 2
    assert len(rewriter.calls) == 2 + 3
    broken["on"] = False
    job_retry(job=job)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert len(rewriter.calls) == 2 + 3 + 1  # only the chunk that had failed
    assert SyntheticPair.objects.filter(job=job).count() == 8
    assert MinedQuery.objects.filter(job=job).count() == 3


def test_writing_a_chunk_twice_adds_nothing(world, monkeypatch, admin_user):
    _, products, *_ = world
    install_fakes(monkeypatch, products)
    job = synthesis_job_start(config=config_for(world), user=admin_user)
    config = validate_config(SynthesisConfig, job.config)
    chunk = list(MinedQuery.objects.filter(job=job).select_related("query"))
    curations = services.synthesize_chunk(chunk=chunk, components=services.load_synthesis_components(config),
                                          config=config)
    before = (SyntheticPair.objects.count(), RewriteCandidate.objects.count())
    write_chunk(job=job, curations=curations)
    assert (SyntheticPair.objects.count(), RewriteCandidate.objects.count()) == before


def test_cancel_stops_after_the_current_chunk(world, monkeypatch, admin_user):
    _, products, *_ = world

    class CancellingRewriter(FakeRewriter):
        def rewrite(self, queries, n):
            job_cancel(job=Job.objects.get(kind="synthesis"))
            return super().rewrite(queries, n)

    install_fakes(monkeypatch, products, rewriter=CancellingRewriter())
    job = synthesis_job_start(config=config_for(world), user=admin_user)
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED
    assert MinedQuery.objects.filter(job=job, done_at__isnull=False).count() == 1


def test_synthetic_pair_source_gives_the_jobs_pairs(world, monkeypatch, admin_user):
    from retrieval.pair_sources import collect_pairs

    dataset, products, *_ = world
    install_fakes(monkeypatch, products)
    job = synthesis_job_start(config=config_for(world), user=admin_user)
    everything = collect_pairs(dataset=dataset, name="synthetic", params={"job_ids": [job.pk]})
    assert everything.count == 8
    incremental = collect_pairs(dataset=dataset, name="synthetic", params={"job_ids": [job.pk], "only_incremental": True})
    assert incremental.count == 6
    expected = set(SyntheticPair.objects.filter(job=job, incremental=True).values_list("query_id", "product_id"))
    assert set(incremental.pairs) == expected
    with pytest.raises(ValueError, match="job_ids"):
        collect_pairs(dataset=dataset, name="synthetic", params={"job_ids": []})


def test_config_errors_are_reported_before_anything_starts(world):
    # no judge named: the data set's best-measured ready judge, decided (or refused) when the job starts
    assert SynthesisConfig(dataset_id=1, retriever_version_id=1, baseline_version_id=1).judge_version_id is None
    with pytest.raises(ValueError, match="retriever_version_id"):
        SynthesisConfig(dataset_id=1, baseline_version_id=1)
    with pytest.raises(ValueError, match="colour: Unknown field"):
        validate_config(SynthesisConfig, {"dataset_id": 1, "colour": "red"})
    _, _, _, strong, _, _ = world
    RetrieverVersion.objects.filter(pk=strong.pk).update(status="training")
    with pytest.raises(ValueError, match="not ready"):
        synthesis_job_start(config=config_for(world))
    assert not Job.objects.filter(kind="synthesis").exists()


def test_treatment_build_mixes_the_jobs_pairs_into_the_baseline_config(world, monkeypatch, admin_user):
    import retrieval.versions

    _, products, _, _, baseline, _ = world
    install_fakes(monkeypatch, products)
    job = synthesis_job_start(config=config_for(world), user=admin_user)
    job.refresh_from_db()
    captured = {}

    def fake_build(**kwargs):
        captured.update(kwargs)
        return RetrieverVersion(name=kwargs["name"])

    monkeypatch.setattr(retrieval.versions, "version_build", fake_build)
    treatment_version_start(job=job, base_version=baseline, ratio=0.3, user=admin_user)
    assert captured["config"]["epochs"] == 1
    assert captured["config"]["extra_sources"] == [
        {"name": "synthetic", "params": {"job_ids": [job.pk], "only_incremental": False}, "ratio": 0.3}]
    assert captured["name"] == f"base-synth-{job.pk}"
    treatment_version_start(job=job, base_version=baseline, per_pair=0.5, name="added", user=admin_user)
    assert captured["config"]["extra_sources"] == [
        {"name": "synthetic", "params": {"job_ids": [job.pk], "only_incremental": False}, "per_pair": 0.5}]


def test_judge_training_job_records_a_ready_version_with_validation_metrics(world, tmp_path, admin_user):
    dataset, *_ = world
    base = tiny_bert_folder(tmp_path / "bert")
    version = judge_version_start(dataset=dataset, name="tiny-judge", base_model=str(base), epochs=1,
                                           batch_size=4, validation_share=0.3, user=admin_user)
    version.refresh_from_db()
    job = Job.objects.get(pk=version.job_id)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert version.status == "ready"
    assert version.manifest["by_source"]["qrel"] == 2 and "test" not in version.manifest["by_source"]
    assert version.metrics["n"] > 0 and 0 <= version.metrics["accuracy"] <= 1
    from synthesis.judging.judges import load_judge

    scores = load_judge(judge_version=version, device="cpu").score("shampoo", ["Sulfate free curl shampoo"])
    assert len(scores) == 1 and 0 <= scores[0] <= 1


def test_a_bi_encoder_judge_version_is_measured_and_calibrated_without_training(world, tmp_path, settings,
                                                                               admin_user):
    from synthesis.judging.judges import BiEncoderJudge, load_judge

    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    dataset, *_ = world
    base = tiny_bert_folder(tmp_path / "bert")
    version = judge_version_start(dataset=dataset, name="tiny-teacher", kind="bi-encoder", base_model=str(base),
                                  validation_share=0.3, user=admin_user)
    version.refresh_from_db()
    job = Job.objects.get(pk=version.job_id)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert "stage: training" not in job.log_tail  # zero-shot: nothing is trained or written
    assert version.hyperparams["kind"] == "bi-encoder" and version.artifact_path == str(base)
    assert not (tmp_path / "artifacts" / "judges").exists()
    assert version.status == "ready" and version.metrics["n"] > 0
    judge = load_judge(judge_version=version, device="cpu")
    assert isinstance(judge, BiEncoderJudge)
    scores = judge.score("sulfate free curl shampoo", ["Sulfate free curl shampoo", "USB mug warmer plate"])
    assert all(0 <= score <= 1 for score in scores) and scores[0] > scores[1]


def test_the_bi_encoder_judge_encodes_each_product_text_once(monkeypatch):
    import numpy as np

    import retrieval.encoders
    from synthesis.judging.judges import BiEncoderJudge

    encoded = []

    def fake_encode(model, texts, **kwargs):
        encoded.extend(texts)
        return np.array([[1.0, 0.0] if "shampoo" in text else [0.0, 1.0] for text in texts], dtype="float32")

    monkeypatch.setattr(retrieval.encoders, "encode_texts", fake_encode)
    judge = BiEncoderJudge(model=object(), name="fake")
    assert judge.score("shampoo", ["curl shampoo", "mug"]) == [1.0, 0.5]
    assert judge.score("mug", ["mug", "curl shampoo"]) == [1.0, 0.5]
    assert encoded == ["curl shampoo", "mug", "shampoo", "mug"]  # products once, each query once


def test_without_a_threshold_the_job_keeps_at_the_judges_calibrated_threshold(world, monkeypatch, admin_user):
    _, products, _, _, _, judge = world
    install_fakes(monkeypatch, products)  # the fake judge scores 0.9 or 0.2
    calibrated = synthesis_job_start(config=config_for(world), user=admin_user)  # no calibration yet: 0.5
    JudgeVersion.objects.filter(pk=judge.pk).update(metrics={"auc": 0.8, "threshold": 0.15})
    recalibrated = synthesis_job_start(config=config_for(world), user=admin_user)
    explicit = synthesis_job_start(config=config_for(world, threshold=0.95), user=admin_user)
    for job in (calibrated, recalibrated, explicit):
        job.refresh_from_db()
        assert job.status == Job.Status.SUCCEEDED
    assert [j.config["threshold"] for j in (calibrated, recalibrated, explicit)] == [0.5, 0.15, 0.95]
    kept = [SyntheticPair.objects.filter(job=j).count() for j in (calibrated, recalibrated, explicit)]
    assert 0 == kept[2] < kept[0] < kept[1]  # 0.2-scored products pass only the calibrated 0.15


def test_a_chunk_retrieves_for_all_its_queries_and_rewrites_in_one_call(world, monkeypatch, admin_user):
    _, products, *_ = world
    install_fakes(monkeypatch, products)
    fake_load = services.load_synthesis_components
    calls = []

    def recording_load(config):
        components = fake_load(config)
        inner = components.retrieve_many

        def retrieve_many(texts, k):
            calls.append(list(texts))
            return inner(texts, k)

        components.retrieve_many = retrieve_many
        return components

    monkeypatch.setattr(services, "load_synthesis_components", recording_load)
    job = synthesis_job_start(config=config_for(world, chunk_size=3), user=admin_user)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert len(calls) == 1 and len(calls[0]) == 3 * (1 + 2)  # three queries, each with its two rewrites
    assert SyntheticPair.objects.filter(job=job).count() == 8  # what chunks of one query keep
