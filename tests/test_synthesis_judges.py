"""Relevance judges: training data from train qrels and logs (never test labels), metrics, a tiny cross-encoder."""
import pytest

from synthesis.judging.examples import judge_training_examples, split_by_query
from synthesis.judging.judges import CrossEncoderJudge, load_cross_encoder, load_judge
from synthesis.judging.training import judge_metrics, train_cross_encoder

from .synthesis_support import CORPUS, make_catalogue, tiny_bert_folder


@pytest.mark.django_db
def test_examples_come_from_train_qrels_and_clicks_never_from_test_qrels():
    dataset, products, queries = make_catalogue()
    examples = judge_training_examples(dataset=dataset, negatives_per_positive=2, seed=1)
    by_pair = {(e.query_pk, e.product_pk): e for e in examples}
    # the qrel overrides the click on the same pair
    assert by_pair[(queries["q1"].pk, products[0].pk)].source == "qrel"
    assert by_pair[(queries["q1"].pk, products[0].pk)].label == 1.0
    assert by_pair[(queries["q1"].pk, products[1].pk)].label == 0.0
    assert by_pair[(queries["q4"].pk, products[2].pk)].source == "click"
    # the unclicked logged product is the first negative picked
    assert by_pair[(queries["q4"].pk, products[3].pk)].source == "unclicked"
    # q2 only has test labels: none of them reaches training
    assert not any(e.query_pk == queries["q2"].pk for e in examples)
    negatives_q6 = [e for e in examples if e.query_pk == queries["q6"].pk and e.label < 0.5]
    assert len(negatives_q6) == 4 and all(e.source == "random" for e in negatives_q6)


@pytest.mark.django_db
def test_validation_split_keeps_whole_queries_on_one_side():
    dataset, _, _ = make_catalogue()
    examples = judge_training_examples(dataset=dataset)
    train, validation = split_by_query(examples, validation_share=0.3, seed=2)
    assert validation and train
    assert not {e.query_pk for e in train} & {e.query_pk for e in validation}
    assert len(train) + len(validation) == len(examples)


def test_metrics_on_a_hand_made_case():
    metrics = judge_metrics(scores=[0.9, 0.6, 0.4, 0.2], labels=[1, 0, 1, 0])
    assert metrics["accuracy"] == 0.5
    assert metrics["auc"] == 0.75
    assert judge_metrics(scores=[0.9], labels=[1])["auc"] is None


def test_subset_metrics_measure_the_tail_and_the_graded_products_on_their_own():
    from synthesis.judging.examples import JudgeExample
    from synthesis.judging.training import subset_metrics

    examples = [JudgeExample(1, 10, 1.0, "qrel"), JudgeExample(1, 11, 0.0, "qrel"), JudgeExample(1, 12, 0.0, "random"),
                JudgeExample(2, 10, 1.0, "click"), JudgeExample(2, 13, 0.0, "random")]
    scores = [0.6, 0.7, 0.1, 0.9, 0.2]  # the random negatives are easy, the graded near-miss is not
    labels = [e.label for e in examples]
    assert judge_metrics(scores=scores, labels=labels)["auc"] == pytest.approx(5 / 6)
    parts = subset_metrics(examples, scores, labels, tail_pks={2})
    assert parts["graded"]["n"] == 2 and parts["graded"]["auc"] == 0.0
    assert parts["tail"]["n"] == 2 and parts["tail"]["auc"] == 1.0
    assert subset_metrics(examples, scores, labels, tail_pks=set()).keys() == {"graded"}


def test_the_calibrated_threshold_separates_a_judge_that_scores_everything_low():
    metrics = judge_metrics(scores=[0.3, 0.25, 0.2, 0.1, 0.05], labels=[1, 1, 0, 0, 0])
    assert metrics["accuracy"] == 0.6  # at 0.5 every relevant product would be dropped
    assert metrics["threshold"] == 0.25 and metrics["accuracy_at_threshold"] == 1.0
    assert judge_metrics(scores=[0.9, 0.1], labels=[1, 1])["threshold"] is None  # one class: nothing to fit


def test_tiny_cross_encoder_learns_to_separate_relevant_from_irrelevant(tmp_path):
    base = tiny_bert_folder(tmp_path / "bert", CORPUS + ["garden hose reel nozzle tractor tire valve printer toner"])
    positives = [("sulfate free shampoo", "sulfate free curl shampoo"), ("fishing gift", "fishing rod and reel combo"),
                 ("coffee mug", "insulated coffee mug with lid"), ("climbing chalk", "chalk bag climbing")]
    negatives = [("sulfate free shampoo", "garden hose reel"), ("fishing gift", "tractor tire valve"),
                 ("coffee mug", "printer toner cartridge"), ("climbing chalk", "garden hose nozzle")]
    train = [(q, p, 1.0) for q, p in positives] + [(q, p, 0.0) for q, p in negatives]
    out = train_cross_encoder(train=train * 8, base_model=str(base), out_dir=tmp_path / "judge", epochs=6,
                              batch_size=8, learning_rate=3e-3, device="cpu")
    judge = load_judge(path=str(out), device="cpu")
    assert isinstance(judge, CrossEncoderJudge)
    pos = [judge.score(q, [p])[0] for q, p in positives]
    neg = [judge.score(q, [p])[0] for q, p in negatives]
    assert all(0.0 <= s <= 1.0 for s in pos + neg)
    assert judge_metrics(scores=pos + neg, labels=[1] * 4 + [0] * 4)["auc"] >= 0.9
    assert judge.score("anything", []) == []


def test_judge_thresholding_uses_scores_in_zero_one(tmp_path):
    base = tiny_bert_folder(tmp_path / "bert")
    judge = CrossEncoderJudge(model=load_cross_encoder(str(base), device="cpu", num_labels=1))
    scores = judge.score("mug", ["coffee mug", "boots", "pasta"])
    assert len(scores) == 3 and all(0.0 <= s <= 1.0 for s in scores)


def test_unknown_judge_backend_and_missing_artifact_are_explained(tmp_path):
    with pytest.raises(ValueError, match="Unknown judge backend"):
        load_judge(backend="astrology")
    with pytest.raises(FileNotFoundError):
        load_judge(path=str(tmp_path / "nope"))
    with pytest.raises(ValueError, match="trained judge version"):
        load_judge()
