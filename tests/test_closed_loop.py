"""Closed loop: SBS per-product marks -> weighted labelled pairs -> a retrained relevance judge validated next to the
old one; annotators failing controls are down-weighted as configured; test-split marks never reach training."""
from __future__ import annotations

import json

import pytest
from pydantic import ValidationError
from django.test import Client

from sbsapp.auto.closed_loop import (ClosedLoopError, Mark, MarkWeighting, aggregate_marks, annotator_quality,
                                closed_loop_start, sbs_labelled_pairs)
from sbsapp.judging import Verdict, judgment_submit
from sbsapp.metrics import Rating
from jobs.models import Job
from sbsapp.models import Campaign, Item
from synthesis.judging.examples import JudgeExample, add_extra_examples

from .conftest import make_user
from .sbs_factories import make_version
from .synthesis_support import CORPUS, make_catalogue, tiny_bert_folder


def control(annotator, correct: bool, item: int) -> Rating:
    return Rating(item=item, annotator=annotator, preference=0 if correct else 2, choice=0 if correct else 2,
                  kind="aa", expected=0)


def test_annotators_failing_controls_are_down_weighted_as_configured():
    ratings = [control("good", True, i) for i in range(4)]
    ratings += [control(bad, i == 0, i) for bad in ("bad1", "bad2", "bad3") for i in range(4)]  # 1 of 4 right: fails
    ratings += [Rating(item=99, annotator="bad1", preference=2, choice=2)]  # regular items do not count
    marks = [Mark(1, 10, "good", 3), Mark(1, 10, "bad1", 0), Mark(1, 10, "bad2", 0), Mark(1, 10, "bad3", 0)]

    lenient = MarkWeighting(pass_accuracy=0.7, failed_weight=1.0, min_controls=3, min_pair_weight=0.0)
    strict = MarkWeighting(pass_accuracy=0.7, failed_weight=0.1, min_controls=3, min_pair_weight=0.0)
    dropping = MarkWeighting(pass_accuracy=0.7, failed_weight=0.0, min_controls=3, min_pair_weight=0.0)

    qualities = annotator_quality(ratings=ratings, weighting=strict)
    assert qualities["good"].quality == pytest.approx(5 / 6) and not qualities["good"].failed
    assert qualities["bad1"].failed and qualities["bad1"].controls == 4 and qualities["bad1"].correct == 1
    assert qualities["bad1"].weight == pytest.approx(2 / 6 * 0.1)

    [pair] = aggregate_marks(marks=marks, qualities=annotator_quality(ratings=ratings, weighting=lenient),
                             weighting=lenient)
    assert pair.grade == 0  # three failing annotators (3 x 2/6) outvote the good one (5/6) when failing is free
    [pair] = aggregate_marks(marks=marks, qualities=qualities, weighting=strict)
    assert pair.grade == 3 and pair.label == 1.0 and pair.votes == 4
    assert pair.weight == pytest.approx(5 / 6)
    assert pair.agreement == pytest.approx((5 / 6) / (5 / 6 + 3 * 2 / 6 * 0.1))
    only_bad = [Mark(2, 11, "bad1", 2), Mark(2, 11, "bad2", 2)]
    assert aggregate_marks(marks=only_bad, qualities=annotator_quality(ratings=ratings, weighting=dropping),
                           weighting=dropping) == []
    # Too few controls to fail: an annotator with one wrong control keeps a full (if low-quality) vote.
    unsure = annotator_quality(ratings=[control("new", False, 1)], weighting=strict)["new"]
    assert not unsure.failed and unsure.weight == pytest.approx(1 / 3)


def test_weighted_majority_ties_go_to_the_lower_grade_and_light_pairs_are_dropped():
    weighting = MarkWeighting(min_pair_weight=0.6, max_pair_weight=1.0)
    pairs = aggregate_marks(marks=[Mark(1, 1, "a", 2), Mark(1, 1, "b", 1), Mark(1, 2, "a", 3)],
                            qualities={}, weighting=weighting)
    assert pairs == []  # 0.5 each (no controls): below 0.6
    weighting = MarkWeighting(min_pair_weight=0.3, max_pair_weight=0.8)
    [tie, alone] = aggregate_marks(marks=[Mark(1, 1, "a", 2), Mark(1, 1, "b", 1), Mark(1, 2, "a", 3),
                                          Mark(1, 2, "b", 3)], qualities={}, weighting=weighting)
    assert tie.grade == 1 and tie.agreement == 0.5
    assert alone.grade == 3 and alone.weight == 0.8  # 1.0 of votes, capped


def test_extra_pairs_join_training_only_and_never_override_a_qrel():
    train = [JudgeExample(1, 10, 1.0, "qrel"), JudgeExample(1, 11, 0.0, "unclicked"), JudgeExample(2, 12, 1.0, "click")]
    validation = [JudgeExample(3, 13, 1.0, "qrel")]
    extra = [JudgeExample(1, 10, 0.0, "sbs", 0.9), JudgeExample(1, 11, 1.0, "sbs", 0.8),
             JudgeExample(2, 14, 0.0, "sbs", 0.5), JudgeExample(3, 13, 0.0, "sbs", 1.0)]
    merged, counts = add_extra_examples(train=train, validation=validation, extra=extra)
    by_pair = {(e.query_pk, e.product_pk): e for e in merged}
    assert by_pair[(1, 10)].source == "qrel" and by_pair[(1, 10)].label == 1.0
    assert by_pair[(1, 11)].source == "sbs" and by_pair[(1, 11)].weight == 0.8
    assert by_pair[(2, 14)].weight == 0.5 and (3, 13) not in by_pair
    assert counts == {"extra": 4, "added": 1, "replaced_log_label": 1, "kept_qrel": 1, "on_validation_queries": 1}


def test_weighted_loss_is_the_plain_loss_when_weights_are_equal_and_ignores_zero_weights(tmp_path):
    import torch
    from sentence_transformers.cross_encoder import CrossEncoder
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

    from synthesis.judging.losses import WeightedBinaryCrossEntropyLoss

    model = CrossEncoder(str(tiny_bert_folder(tmp_path / "bert")), num_labels=1, device="cpu")
    inputs = [["shampoo", "mug", "fishing"], ["curl shampoo", "coffee mug", "climbing shoes"]]
    plain = BinaryCrossEntropyLoss(model)(inputs, torch.tensor([1.0, 1.0, 0.0]))
    weighted = WeightedBinaryCrossEntropyLoss(model)(inputs, [torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0]),
                                                              torch.tensor([0.0, 2.0])])
    assert weighted.item() == pytest.approx(plain.item(), rel=1e-5)
    first_only = BinaryCrossEntropyLoss(model)([inputs[0][:1], inputs[1][:1]], torch.tensor([1.0]))
    zeroed = WeightedBinaryCrossEntropyLoss(model)(inputs, [torch.tensor([1.0, 1.0]), torch.tensor([0.0, 0.0]),
                                                            torch.tensor([1.0, 0.0])])
    assert zeroed.item() == pytest.approx(first_only.item(), rel=1e-5)


# ----------------------------------------------------------------------------------------------- with the database


def marked_campaign(dataset, products, queries, annotators):
    """A campaign on q1 (train labels only), q2 (has test labels) and q3 (no labels) plus three A-vs-A controls.

    Every annotator marks the first product of each list, `annotators[1]` also marks the second product of the left
    list (a pair only they mark); `annotators[-1]` answers the controls wrongly and marks everything 0.
    """
    campaign = Campaign.objects.create(name="loop", system_a=make_version(dataset=dataset),
                                       system_b=make_version(dataset=dataset), status="active", judgments_per_item=3)
    from sbsapp.campaigns import product_snapshot

    def item(query, a, b, kind="regular"):
        return Item.objects.create(campaign=campaign, query=query, query_text=query.text, kind=kind, b_on_left=False,
                                   expected_preference=0 if kind == "aa" else None,
                                   results_a=[product_snapshot(products[i], 1.0) for i in a],
                                   results_b=[product_snapshot(products[i], 1.0) for i in (a if kind == "aa" else b)])

    regular = [item(queries["q1"], [0, 1], [8, 9]), item(queries["q2"], [6, 7], [10, 11]),
               item(queries["q3"], [4, 5], [2, 3])]
    controls = [item(queries[q], [2, 3], [2, 3], "aa") for q in ("q4", "q5", "q6")]
    truth = {"q1": 3, "q2": 3, "q3": 3}
    for number, annotator in enumerate(annotators):
        failing = number == len(annotators) - 1
        for it in regular:
            grade = 0 if failing else truth[it.query.query_id]
            left_marks = {0: grade, 1: 2} if number == 1 else {0: grade}
            judgment_submit(require_reservation=False,
                            item=it, annotator=annotator, submit_key=f"{it.pk}-{annotator.pk}",
                            verdict=Verdict(choice=0, left_marks=left_marks, right_marks={0: grade}))
        for it in controls:
            judgment_submit(require_reservation=False,
                            item=it, annotator=annotator, submit_key=f"{it.pk}-{annotator.pk}",
                            verdict=Verdict(choice=2 if failing else 0, left_marks={0: 1}))
    return campaign


@pytest.mark.django_db
def test_marks_on_queries_with_test_labels_never_become_pairs(annotator, annotator2):
    dataset, products, queries = make_catalogue()
    bad = make_user("careless", "annotator")
    campaign = marked_campaign(dataset, products, queries, [annotator, annotator2, bad])
    pairs, report = sbs_labelled_pairs(campaigns=[campaign], weighting=MarkWeighting())
    assert {pair.query_pk for pair in pairs} >= {queries["q1"].pk, queries["q3"].pk}
    assert queries["q2"].pk not in {pair.query_pk for pair in pairs}
    assert report["marks_on_test_queries"] == 7 and report["test_queries_left_out"] == 1
    assert report["failed_annotators"] == 1
    q3 = [pair for pair in pairs if pair.query_pk == queries["q3"].pk]
    assert {pair.product_pk: pair.grade for pair in q3} == {products[4].pk: 3, products[2].pk: 3, products[5].pk: 2}
    # two good annotators beat the one failing the controls; a pair one good annotator marked weighs its quality
    assert {pair.product_pk: pair.weight for pair in q3}[products[5].pk] == pytest.approx(4 / 5)


def tiny_base_judge(tmp_path, dataset):
    from sentence_transformers.cross_encoder import CrossEncoder

    from synthesis.models import JudgeVersion

    base = tiny_bert_folder(tmp_path / "bert", CORPUS + ["sulfate curl clarifying trail boots mug warmer fishing"])
    folder = tmp_path / "old-judge"
    CrossEncoder(str(base), num_labels=1, device="cpu").save_pretrained(str(folder))
    return JudgeVersion.objects.create(
        dataset=dataset, name="old-judge", base_model=str(base), artifact_path=str(folder), status="ready",
        metrics={"auc": 0.5}, hyperparams={"epochs": 2, "batch_size": 4, "learning_rate": 1e-3,
                                           "negatives_per_positive": 2, "validation_share": 0.34,
                                           "max_examples": None, "seed": 5, "fields": None})


@pytest.mark.django_db
def test_retraining_from_marks_records_old_and_new_auc_and_the_new_judge_can_drive_synthesis(
        tmp_path, monkeypatch, annotator, annotator2, admin_user):
    import synthesis.judging.training
    from synthesis.forms import SynthesisJobForm
    from synthesis.models import JudgeVersion
    from synthesis.config import SynthesisConfig
    from synthesis.services import check_synthesis_references

    dataset, products, queries = make_catalogue()
    bad = make_user("careless", "annotator")
    campaign = marked_campaign(dataset, products, queries, [annotator, annotator2, bad])
    old = tiny_base_judge(tmp_path, dataset)
    seen_training: list = []
    real_train = synthesis.judging.training.train_cross_encoder

    def recording_train(**kwargs):
        seen_training.append(kwargs)
        return real_train(**kwargs)

    monkeypatch.setattr(synthesis.judging.training, "train_cross_encoder", recording_train)
    client = Client()
    client.force_login(admin_user)
    response = client.post("/sbs/auto/judge/retrain/", {
        "campaigns": [campaign.pk], "base_judge": old.pk, "name": "old-judge-sbs", "pass_accuracy": 0.7,
        "failed_weight": 0.1, "min_controls": 3, "min_pair_weight": 0.3})
    assert response.status_code == 302, response.content.decode()[:2000]
    job = Job.objects.get(kind="judge_from_sbs")
    assert job.status == "succeeded", job.error
    new = JudgeVersion.objects.get(name="old-judge-sbs")
    assert new.status == "ready" and new.hyperparams["compare_with_judge_version_id"] == old.pk
    assert new.metrics["auc"] is not None and new.metrics["baseline"]["judge_version"] == "old-judge"
    assert new.metrics["baseline"]["n"] == new.metrics["n"]  # the old judge on the very same validation set
    assert job.result["auc_new"] == new.metrics["auc"]
    assert job.result["auc_old_same_validation"] == new.metrics["baseline"]["auc"]
    assert new.manifest["sbs"]["marks_on_test_queries"] == 7
    assert new.manifest["by_source"].get("sbs", 0) + new.manifest["extra_examples"]["kept_qrel"] \
        + new.manifest["extra_examples"]["on_validation_queries"] >= 1

    [call] = seen_training
    trained_queries = {query for query, _, _ in call["train"]}
    assert queries["q2"].text not in trained_queries  # its marks (and its test labels) never reach training
    weights = dict(zip(((query, product) for query, product, _ in call["train"]), call["weights"]))
    assert 0.8 in {round(w, 6) for w in weights.values()}  # SBS pairs carry their annotator-quality weights
    with open(new.hyperparams["extra_examples_path"]) as handle:
        written = [json.loads(line) for line in handle]
    assert queries["q2"].pk not in {row["query_pk"] for row in written}

    retriever = make_version(dataset=dataset, kind="hybrid")
    config = SynthesisConfig(dataset_id=dataset.pk, retriever_version_id=retriever.pk,
                             baseline_version_id=retriever.pk, judge_version_id=new.pk)
    check_synthesis_references(config)
    assert new in SynthesisJobForm().fields["judge_version"].queryset
    page = client.get("/sbs/auto/judge/retrain/").content.decode()
    assert "old-judge-sbs" in page


@pytest.mark.django_db
def test_retraining_needs_marks_and_a_ready_judge(tmp_path, annotator):
    dataset, products, queries = make_catalogue()
    campaign = Campaign.objects.create(name="empty", system_a=make_version(dataset=dataset),
                                       system_b=make_version(dataset=dataset), status="active")
    old = tiny_base_judge(tmp_path, dataset)
    with pytest.raises(ClosedLoopError, match="no per-product relevance marks"):
        closed_loop_start(campaigns=[campaign], base_judge=old)
    old.status = "training"
    with pytest.raises(ClosedLoopError, match="ready judge"):
        closed_loop_start(campaigns=[campaign], base_judge=old)
    with pytest.raises(ValidationError, match="pass_accuracy"):
        MarkWeighting(pass_accuracy=2)
