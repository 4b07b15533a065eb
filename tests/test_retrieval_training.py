"""Training data for the two-tower model: weighted positives, mixing by source, negatives that are never a known
positive (random, hard and in-batch), seeded reproducibility, and one real (tiny) sentence-transformers run."""
import pytest

from retrieval.losses import FalseNegativeMask, masked_loss_classes
from retrieval.pair_sources import (
    InvalidPairs,
    collect_pairs,
    register_pair_source,
    unregister_pair_source,
)
from retrieval.training import training_set_build
from retrieval.versions import normalize_config, version_build
from tests.retrieval_factories import all_texts, make_dataset, tiny_encoder_folder

pytestmark = pytest.mark.django_db


def dense_config(**overrides) -> dict:
    return normalize_config(kind="dense", config=overrides)


@pytest.fixture
def dataset():
    return make_dataset(train_labels={("q1", "p12"): 2})


@pytest.fixture
def extra_source():
    """A registered extra source that pairs the tail query "something to make espresso" with the espresso machine."""
    def espresso_pairs(dataset, *, weight=1.0):
        query = dataset.queries.get(query_id="q5")
        yield query.pk, dataset.products.get(product_id="p10").pk, weight
        yield query.pk, dataset.products.get(product_id="p11").pk, weight

    register_pair_source("espresso", espresso_pairs)
    yield "espresso"
    unregister_pair_source("espresso")


def test_random_and_hard_negatives_are_never_known_positives(dataset, extra_source, tmp_path, settings):
    bm25 = version_build(dataset=dataset, name="bm25-hn", kind="bm25")
    config = dense_config(epochs=6, random_negatives=2, extra_sources=[{"name": extra_source}],
                          hard_negatives={"from_version": bm25.name, "top_k": 12, "skip_top": 0, "count": 2})
    training = training_set_build(dataset=dataset, config=config, seed=7)
    assert len(training) > 50
    for query, negatives in zip(training.query_pks, training.negative_pks):
        assert len(negatives) == 4
        assert not set(negatives) & training.known_positives[query]
    # the known positives include logged clicks, the extra source and train labels (never test labels)
    q1 = dataset.queries.get(query_id="q1").pk
    assert {p.product_id for p in dataset.products.filter(pk__in=training.known_positives[q1])} == {"p1", "p2", "p12"}
    assert training.manifest["negatives"]["hard_from"] == "bm25-hn"


def test_loss_mask_hides_every_known_positive_of_a_rows_query_but_its_own_positive(dataset):
    import torch

    training = training_set_build(dataset=dataset, config=dense_config(epochs=10), seed=3)
    products = training.example_products()
    mask = FalseNegativeMask(example_queries=training.query_pks, example_products=products,
                             known_positives=training.known_positives)
    batch = list(range(16))
    masked = mask(torch.tensor(batch))
    columns = [products[r][k] for k in range(len(products[0])) for r in batch]  # positives, then negatives
    assert masked.shape == (16, 32)
    for i, example in enumerate(batch):
        known = training.known_positives[training.query_pks[example]]
        for c, product in enumerate(columns):
            assert bool(masked[i, c]) == (c != i and product in known)
    assert masked.any()  # ten epochs of nine pairs: some rows share a query or a clicked product


def test_masked_loss_is_the_library_infonce_without_the_masked_columns(tmp_path):
    import torch

    from retrieval.encoders import load_encoder
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    plain, cached = masked_loss_classes()
    torch.manual_seed(0)
    queries, positives, negatives = (torch.randn(4, 8) for _ in range(3))
    # rows 0 and 1 belong to the same query (10), whose known positives are products 100 and 101
    no_conflict = FalseNegativeMask(example_queries=[1, 2, 3, 4], known_positives={},
                                    example_products=[(100, 200), (101, 201), (102, 202), (103, 203)])
    reference = MultipleNegativesRankingLoss(None, scale=20.0).compute_loss_from_embeddings(
        [queries, positives, negatives], None)
    ours = plain(None, scale=20.0, false_negatives=no_conflict)
    labels = torch.arange(4)
    assert torch.allclose(ours.compute_loss_from_embeddings([queries, positives, negatives], labels), reference)
    conflict = FalseNegativeMask(example_queries=[10, 10, 3, 4], known_positives={10: {100, 101}},
                                 example_products=[(100, 200), (101, 201), (102, 202), (103, 203)])
    masked = plain(None, scale=20.0, false_negatives=conflict)
    before = masked.compute_loss_from_embeddings([queries, positives, negatives], labels)
    candidates = torch.cat([positives, negatives])

    def row_loss(row: int, hidden: list[int]):  # one row's InfoNCE with some candidate columns left out
        scores = torch.nn.functional.normalize(queries[row:row + 1]) @ torch.nn.functional.normalize(candidates).T
        scores = scores * 20.0
        scores[0, hidden] = float("-inf")
        return torch.nn.functional.cross_entropy(scores, torch.tensor([row]))

    # row 0 must not be pushed away from product 101 (row 1's positive) and row 1 not from product 100
    expected = (row_loss(0, [1]) + row_loss(1, [0]) + row_loss(2, []) + row_loss(3, [])) / 4
    assert torch.isclose(before, expected)
    assert before < reference  # fewer negatives, lower loss
    model = load_encoder(str(tiny_encoder_folder(tmp_path / "enc", all_texts())), cache=False)
    cached_loss = cached(model, scale=20.0, mini_batch_size=2, false_negatives=conflict)
    reps = [list(t.split(2)) for t in (queries, positives, negatives)]
    assert torch.isclose(cached_loss.calculate_loss(reps, labels), before)


def test_clicked_and_bought_pairs_are_sampled_in_proportion_to_their_weight(dataset):
    config = dense_config(samples_per_epoch=4000, click_weight=1.0, purchase_weight=3.0)
    training = training_set_build(dataset=dataset, config=config, seed=1)
    q3 = dataset.queries.get(query_id="q3").pk  # headphones: 9 clicks + 3 purchases = weight 18
    q8 = dataset.queries.get(query_id="q8").pk  # mat: 1 click = weight 1
    counts = {q: training.query_pks.count(q) for q in (q3, q8)}
    assert 12 < counts[q3] / counts[q8] < 30


def test_extra_source_ratio_sets_its_share_and_the_manifest_counts_pairs_by_source(dataset, extra_source):
    config = dense_config(samples_per_epoch=1000, extra_sources=[{"name": extra_source, "ratio": 0.25}])
    training = training_set_build(dataset=dataset, config=config, seed=1)
    sources = training.manifest["sources"]
    assert sources["logs"]["pairs"] == 9 and sources[extra_source]["pairs"] == 2
    assert sources[extra_source]["examples"] == 250 and sources["logs"]["examples"] == 750
    assert training.manifest["mixing"] == {"logs": 0.75, extra_source: 0.25}
    assert training.sources.count(extra_source) == 250


def test_an_added_source_keeps_every_log_example_of_the_baseline_and_adds_its_own(dataset, extra_source):
    baseline = training_set_build(dataset=dataset, config=dense_config(samples_per_epoch=1000, epochs=2), seed=3)
    config = dense_config(samples_per_epoch=1000, epochs=2, extra_sources=[{"name": extra_source, "per_pair": 1.5}])
    treatment = training_set_build(dataset=dataset, config=config, seed=3)
    sources = treatment.manifest["sources"]
    assert sources["logs"]["examples"] == baseline.manifest["sources"]["logs"]["examples"] == 2000
    assert sources[extra_source]["examples"] == 2 * round(1.5 * 2) and sources[extra_source]["per_pair"] == 1.5
    assert treatment.manifest["examples"] == 2006

    def log_pairs(training):
        return sorted((q, p) for q, p, s in zip(training.query_pks, training.positive_pks, training.sources) if s == "logs")

    assert log_pairs(treatment) == log_pairs(baseline)  # the same log examples, not merely as many


def test_a_source_cannot_both_share_and_add_to_the_budget(extra_source):
    with pytest.raises(ValueError, match="not both"):
        normalize_config(kind="dense", config={"extra_sources": [{"name": extra_source, "ratio": 0.2, "per_pair": 1}]})


def test_same_seed_gives_the_same_examples_and_another_seed_does_not(dataset):
    config = dense_config(epochs=3)
    first = training_set_build(dataset=dataset, config=config, seed=5)
    again = training_set_build(dataset=dataset, config=config, seed=5)
    other = training_set_build(dataset=dataset, config=config, seed=6)
    assert (first.query_pks, first.positive_pks, first.negative_pks) == (again.query_pks, again.positive_pks, again.negative_pks)
    assert (first.query_pks, first.negative_pks) != (other.query_pks, other.negative_pks)


def test_unknown_source_and_stray_pairs_are_rejected_with_a_reason(dataset):
    with pytest.raises(ValueError, match="registered sources: .*logs"):
        normalize_config(kind="dense", config={"extra_sources": [{"name": "nope"}]})
    other = make_dataset("other-shop")
    register_pair_source("stray", lambda ds: [(other.queries.first().pk, other.products.first().pk, 1.0)])
    try:
        with pytest.raises(InvalidPairs, match="outside data set 'shop'"):
            collect_pairs(dataset=dataset, name="stray")
    finally:
        unregister_pair_source("stray")


def test_ratios_leaving_no_room_for_logs_are_refused(extra_source):
    with pytest.raises(ValueError, match="less than 1"):
        normalize_config(kind="dense", config={"extra_sources": [{"name": extra_source, "ratio": 0.6},
                                                                 {"name": "logs", "ratio": 0.5}]})


def test_training_with_sentence_transformers_is_seeded_and_moves_the_encoder(dataset, tmp_path):
    import numpy as np

    from retrieval.encoders import encode_texts, load_encoder
    from retrieval.search import version_folder

    base = tiny_encoder_folder(tmp_path / "enc", all_texts())
    config = {"epochs": 3, "batch_size": 4, "learning_rate": 1e-3}
    first = version_build(dataset=dataset, name="dense-a", kind="dense", config=config, base_model=str(base), seed=11)
    second = version_build(dataset=dataset, name="dense-b", kind="dense", config=config, base_model=str(base), seed=11)
    assert first.status == "ready", first.error
    training = first.manifest["training"]
    assert training["steps"] >= 6 and np.isfinite(training["train_loss"])
    assert first.manifest["training_data"]["sources"]["logs"]["pairs"] == 9
    texts = ["frying pan", "coffee grinder burr"]
    trained_a = encode_texts(load_encoder(str(version_folder(first) / "model"), cache=False), texts)
    trained_b = encode_texts(load_encoder(str(version_folder(second) / "model"), cache=False), texts)
    untrained = encode_texts(load_encoder(str(base), cache=False), texts)
    np.testing.assert_allclose(trained_a, trained_b, atol=1e-5)
    assert not np.allclose(trained_a, untrained, atol=1e-3)


def test_a_failed_build_resumes_from_the_trained_encoder(dataset, tmp_path, monkeypatch):
    import retrieval.indexes
    from retrieval.versions import version_start_build

    base = tiny_encoder_folder(tmp_path / "enc", all_texts())
    real_build = retrieval.indexes.build_faiss_index
    monkeypatch.setattr(retrieval.indexes, "build_faiss_index",
                        lambda **kwargs: (_ for _ in ()).throw(OSError("disk full")))
    version = version_build(dataset=dataset, name="dense-resume", kind="dense", base_model=str(base),
                            config={"batch_size": 4, "loss": "cached_mnrl", "mini_batch_size": 2})
    assert version.status == "failed" and "disk full" in version.error
    monkeypatch.setattr(retrieval.indexes, "build_faiss_index", real_build)
    job = version_start_build(version=version)
    version.refresh_from_db()
    assert job.status == "succeeded" and version.status == "ready"
    assert "skipping training" in job.log_tail and "skipping encoding" in job.log_tail
    assert version.manifest["training"]["steps"] >= 1  # recorded by the first attempt, kept by the resume


def test_early_stopping_measures_every_epoch_on_train_labels_and_keeps_the_best(tmp_path):
    """A high learning rate makes later epochs worse on the validation split: training stops after the first
    epoch that does not improve, and the best epoch's weights are what the version serves."""
    import numpy as np

    from retrieval.encoders import encode_texts, load_encoder
    from retrieval.search import version_folder
    from retrieval.validation import split_evaluator, validation_split

    dataset = make_dataset(test_labels=False, train_labels={("q1", "p1"): 3, ("q5", "p10"): 3, ("q6", "p5"): 3,
                                                            ("q6", "p12"): 1})
    base = tiny_encoder_folder(tmp_path / "enc", all_texts())
    config = {"epochs": 6, "batch_size": 4, "learning_rate": 5e-3, "early_stopping": True, "validation_queries": 3,
              "validation_distractors": 5}
    version = version_build(dataset=dataset, name="dense-early", kind="dense", config=config, base_model=str(base),
                            seed=11)
    assert version.status == "ready", version.error
    stopping = version.manifest["training"]["early_stopping"]
    curve = stopping["validation_ndcg@10_by_epoch"]
    assert stopping["epochs_run"] == len(curve) and 1 <= len(curve) <= 6
    assert stopping["best_epoch"] == int(np.argmax(curve)) + 1
    if len(curve) < 6:  # it stopped: the last epoch did not improve on the best
        assert curve[-1] <= max(curve[:-1])
    split = validation_split(dataset=dataset, size=3, distractors=5, seed=11)
    assert set(split.queries) == set(dataset.queries.filter(query_id__in=["q1", "q5", "q6"]).values_list("pk", flat=True))
    from retrieval.product_text import dataset_product_texts

    texts = dict(zip(*dataset_product_texts(dataset=dataset, fields=None)))
    served = load_encoder(str(version_folder(version) / "model"), cache=False)
    score = split_evaluator(split, product_texts={pk: texts[pk] for pk in split.corpus})(served)
    assert score["validation_cosine_ndcg@10"] == pytest.approx(max(curve), abs=1e-3)  # the best epoch is kept
    assert not (tmp_path / "artifacts").exists() or not list((tmp_path).rglob("checkpoint-*"))


def test_early_stopping_without_train_labels_is_refused_with_a_reason():
    from retrieval.validation import validation_split

    with pytest.raises(ValueError, match="no relevant `train` labels"):
        validation_split(dataset=make_dataset(), size=10, distractors=0, seed=1)
