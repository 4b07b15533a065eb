"""Automatic SBS: blind judge verdicts stored beside (never inside) the human metrics, the DCG and LLM list judges,
agreement numbers against a hand-computed example, and the dashboard / campaign-list pages."""
from __future__ import annotations

import random
import re

import pytest
from django.test import Client

from sbsapp.auto.agreement import campaign_agreement, compare_with_humans, human_median, predicted_outcomes
from sbsapp.auto.sbs import (Comparison, LLMListJudge, ListVerdict, RelevanceDCGJudge, auto_sbs_start,
                             choice_from_difference, dcg, judge_campaign, parse_scale_answer)
from sbsapp.judging import Verdict, judgment_submit
from sbsapp.metrics import Rating
from sbsapp.selectors import campaign_metrics
from sbsapp.models import AutoJudgment, Item, Judgment
from core.llm import ChatClient

from .sbs_factories import make_campaign, make_dataset, make_item
from .synthesis_support import ChatServer, last_user_message, tiny_bert_folder

pytestmark = pytest.mark.django_db


class PrefersListWith:
    """A fake list judge that knows which products make a list good and answers in screen terms only."""

    kind = AutoJudgment.Kind.DCG

    def __init__(self, good_products: set[int], name: str = "fake"):
        self.good, self.name = good_products, name
        self.seen: list[Comparison] = []

    def describe(self) -> dict:
        return {"judge": self.name}

    def compare_many(self, comparisons):
        self.seen.extend(comparisons)
        verdicts = []
        for comparison in comparisons:
            left = sum(p["product"] in self.good for p in comparison.left)
            right = sum(p["product"] in self.good for p in comparison.right)
            verdicts.append(ListVerdict(choice=2 if right > left else -2 if left > right else 0))
        return verdicts


def campaign_with_items(*, items: int = 6, b_on_left: bool = False):
    dataset = make_dataset(products=12, queries=items + 2)
    campaign = make_campaign(dataset=dataset, judgments_per_item=3)
    created = [make_item(campaign=campaign, b_on_left=b_on_left) for _ in range(items)]
    return campaign, created


def judge_all(campaign, annotators, choice_for):
    for item in Item.objects.filter(campaign=campaign).order_by("pk"):
        for number, annotator in enumerate(annotators):
            judgment_submit(require_reservation=False,
                            item=item, annotator=annotator, verdict=Verdict(choice=choice_for(item, number)),
                            submit_key=f"{item.pk}-{annotator.pk}")


def test_auto_judgments_never_change_human_metrics(annotator, annotator2, analyst):
    from .conftest import make_user

    third = make_user("ann3", "annotator")
    campaign, items = campaign_with_items(items=5)
    # Humans prefer A everywhere (they see B on the right, so "left better" is a vote for A).
    judge_all(campaign, [annotator, annotator2, third], lambda item, n: -1 if n < 2 else 0)
    before = campaign_metrics(campaign=campaign)
    counts_before = list(Item.objects.filter(campaign=campaign).order_by("pk")
                         .values_list("judgments_count", flat=True))
    b_products = {p["product"] for item in items for p in item.results_b}
    result = judge_campaign(campaign=campaign, list_judge=PrefersListWith(b_products), rng=random.Random(1))
    assert result["judged_now"] == 5 and AutoJudgment.objects.filter(campaign=campaign).count() == 5
    assert all(aj.preference == 2 for aj in AutoJudgment.objects.filter(campaign=campaign))
    after = campaign_metrics(campaign=campaign)
    assert after == before
    assert after["overall"]["bad"] == 10 and after["overall"]["good"] == 0
    assert Judgment.objects.filter(campaign=campaign).count() == 15
    assert list(Item.objects.filter(campaign=campaign).order_by("pk").values_list("judgments_count", flat=True)) \
        == counts_before
    client = Client()
    client.force_login(analyst)
    page = client.get(f"/sbs/campaigns/{campaign.pk}/").content.decode()
    assert "G 0 · S 5 · B 10 (15 judgments)" in page
    assert "Agreement with the humans" in page


def test_the_judge_sees_random_sides_and_its_answer_is_unblinded_toward_b():
    campaign, items = campaign_with_items(items=24, b_on_left=False)  # annotators always see B on the right
    b_products = {p["product"] for item in items for p in item.results_b}
    judge = PrefersListWith(b_products)
    judge_campaign(campaign=campaign, list_judge=judge, rng=random.Random(7), chunk_size=5)
    rows = list(AutoJudgment.objects.filter(campaign=campaign))
    shown_left = {row.b_on_left for row in rows}
    assert shown_left == {True, False}, "the judge's sides are drawn at random, not copied from the annotators'"
    assert {row.choice for row in rows} == {-2, 2}, "the judge answered in screen terms"
    assert all(row.preference == 2 for row in rows), "every answer is turned toward B correctly"
    for comparison, row in zip(judge.seen, sorted(rows, key=lambda r: r.item_id)):
        left_is_b = {p["product"] for p in comparison.left} <= b_products
        assert left_is_b == row.b_on_left


def test_rerunning_the_judge_adds_nothing_twice():
    campaign, items = campaign_with_items(items=4)
    judge = PrefersListWith(set())
    judge_campaign(campaign=campaign, list_judge=judge, rng=random.Random(0))
    again = judge_campaign(campaign=campaign, list_judge=judge, rng=random.Random(0))
    assert again["already_judged"] == 4 and again["judged_now"] == 0
    assert AutoJudgment.objects.filter(campaign=campaign).count() == 4


def test_dcg_judge_on_a_hand_computed_example():
    assert dcg([]) == 0.0
    assert dcg([0.6]) == pytest.approx(0.6)
    assert dcg([1.0, 0.0, 0.5]) == pytest.approx(1.0 + 0.5 / 2.0)  # 1/log2(2) + 0.5/log2(4)
    scores = {1: 1.0, 2: 0.0, 3: 0.0, 4: 1.0}
    judge = RelevanceDCGJudge(score_products=lambda query, pks: [scores[pk] for pk in pks], name="j", k=2,
                              tie_band=0.05, strong_band=0.25)
    verdict = judge.compare(Comparison(query="q", left=[{"product": 2}, {"product": 1}],
                                       right=[{"product": 4}, {"product": 3}]))
    ideal = 1 + 1 / 1.5849625007211563  # two perfect products: 1/log2(2) + 1/log2(3)
    expected = (1.0 - 1 / 1.5849625007211563) / ideal  # right: 1 at rank 1; left: 1 at rank 2
    assert verdict.detail["difference"] == pytest.approx(expected)  # ≈ 0.226: better, not much better
    assert verdict.choice == 1
    assert verdict.left_scores == [0.0, 1.0] and verdict.right_scores == [1.0, 0.0]
    assert choice_from_difference(0.04, tie_band=0.05, strong_band=0.25) == 0
    assert choice_from_difference(-0.3, tie_band=0.05, strong_band=0.25) == -2


def tiny_judge_version(tmp_path, dataset):
    from sentence_transformers.cross_encoder import CrossEncoder

    from synthesis.models import JudgeVersion

    base = tiny_bert_folder(tmp_path / "bert", ["product query number kitchen pans brand description"] * 3)
    folder = tmp_path / "judge"
    CrossEncoder(str(base), num_labels=1, device="cpu").save_pretrained(str(folder))
    return JudgeVersion.objects.create(dataset=dataset, name="tiny-judge", base_model=str(base),
                                       artifact_path=str(folder), status="ready", metrics={"auc": 0.6})


def test_dcg_run_from_the_dashboard_scores_every_product_with_the_judge_version(tmp_path, admin_user):
    campaign, items = campaign_with_items(items=3)
    version = tiny_judge_version(tmp_path, campaign.system_a.dataset)
    client = Client()
    client.force_login(admin_user)
    response = client.post(f"/sbs/auto/campaigns/{campaign.pk}/run/",
                           {"judge_kind": "dcg", "judge_version": version.pk, "tie_band": 0.05, "strong_band": 0.25})
    assert response.status_code == 302
    rows = list(AutoJudgment.objects.filter(campaign=campaign).order_by("item_id"))
    assert len(rows) == 3
    for row, item in zip(rows, sorted(items, key=lambda i: i.pk)):
        assert row.judge_version == version and row.judge_name.startswith("tiny-judge")
        assert len(row.product_scores["a"]) == len(item.results_a) == 3
        assert all(0 <= s <= 1 for s in row.product_scores["a"] + row.product_scores["b"])
        assert row.preference == (-row.choice if row.b_on_left else row.choice)
    page = client.get(f"/sbs/campaigns/{campaign.pk}/").content.decode()
    assert "Run automatic SBS" in page and "succeeded" in page


def test_annotators_cannot_start_a_judge_run(annotator, analyst):
    campaign, _ = campaign_with_items(items=2)
    for user in (annotator, analyst):
        client = Client()
        client.force_login(user)
        assert client.post(f"/sbs/auto/campaigns/{campaign.pk}/run/", {"judge_kind": "llm"}).status_code == 403
    assert AutoJudgment.objects.count() == 0


def test_llm_judge_is_blinded_and_unparseable_answers_are_left_for_a_rerun(settings):
    campaign, items = campaign_with_items(items=8)
    b_titles = {p["title"] for item in items for p in item.results_b}
    answers = iter(["garbage"] + ["x"] * 100)

    def answer(payload):
        text = last_user_message(payload)
        left = text.split("Left list:")[1].split("Right list:")[0]
        if next(answers) == "garbage":
            return "I cannot tell"
        return "1" if any(title in left for title in b_titles) else "5"  # the list with B's products, much better

    server = ChatServer(answer)
    with server.running():
        judge = LLMListJudge(client=ChatClient(base_url=server.base_url, model="tiny-llm", concurrency=1))
        first = judge_campaign(campaign=campaign, list_judge=judge, rng=random.Random(3))
        second = judge_campaign(campaign=campaign, list_judge=judge, rng=random.Random(4))
    assert first["unanswered"] == 1 and first["judged_now"] == 7
    assert second["judged_now"] == 1 and second["already_judged"] == 7
    rows = list(AutoJudgment.objects.filter(campaign=campaign, judge_kind="llm"))
    assert len(rows) == 8 and {r.b_on_left for r in rows} == {True, False}
    assert all(r.preference == 2 for r in rows)
    prompts = " ".join(last_user_message(r["body"]) for r in server.requests)
    assert "system_b" not in prompts and campaign.system_b.name not in prompts and campaign.system_a.name not in prompts
    assert parse_scale_answer("Answer: 2 (left better)") == -1
    assert parse_scale_answer("4.5") is None and parse_scale_answer("") is None


def test_llm_run_needs_an_endpoint(settings):
    from sbsapp.auto.sbs import AutoSBSError

    campaign, _ = campaign_with_items(items=1)
    settings.OPENAI_BASE_URL = ""
    with pytest.raises(AutoSBSError, match="OPENAI_BASE_URL"):
        auto_sbs_start(campaign=campaign, judge_kind="llm")


def rating(item, annotator, preference, kind="regular"):
    return Rating(item=item, annotator=annotator, preference=preference, choice=preference, kind=kind)


def test_agreement_numbers_match_a_hand_computed_example():
    # Five regular items with three human judgments each, one control item the judge must not be scored on.
    human = [
        *[rating(1, a, p) for a, p in zip("xyz", (2, 1, 1))],     # majority G, median 1
        *[rating(2, a, p) for a, p in zip("xyz", (0, 0, 1))],     # majority S, median 0
        *[rating(3, a, p) for a, p in zip("xyz", (-1, -2, -1))],  # majority B, median -1
        *[rating(4, a, p) for a, p in zip("xyz", (1, 1, 0))],     # majority G, median 1
        *[rating(5, a, p) for a, p in zip("xyz", (-1, 0, 1))],    # no majority, median 0
        *[rating(6, a, 0, "aa") for a in "xyz"],
    ]
    auto = [rating(1, "j", 1), rating(2, "j", 1), rating(3, "j", -1), rating(4, "j", 2), rating(5, "j", 0),
            rating(6, "j", 2, "aa"), rating(7, "j", 1)]  # item 7: no human judgment yet
    result = compare_with_humans(human=human, auto=auto, bootstrap_samples=200)
    assert result["items_both"] == 5 and result["items_with_majority"] == 4
    assert result["exact_agreement"] == pytest.approx(3 / 5)  # items 1, 3, 5
    assert result["sign_agreement"] == pytest.approx(3 / 4)  # items 1, 3, 4 (item 2: S vs G)
    # Cohen's κ on (human, judge) = (G,G), (S,G), (B,B), (G,G): p_o = 3/4; human marginals G 2, S 1, B 1;
    # judge marginals G 3, B 1; p_e = (2*3 + 1*0 + 1*1) / 16 = 7/16; κ = (3/4 - 7/16) / (1 - 7/16) = 5/9.
    assert result["cohen_kappa"] == pytest.approx(5 / 9)
    assert [row["counts"] for row in result["confusion"]["rows"]] == [[2, 0, 0], [1, 0, 0], [0, 0, 1]]
    # Humans on the five items: G 7, S 4, B 4 -> ΔGSB 3/15; the judge: G 3, S 1, B 1 -> 2/5.
    assert result["human"]["delta_gsb"] == pytest.approx(3 / 15)
    assert result["auto"]["delta_gsb"] == pytest.approx(2 / 5)
    assert result["auto_all_items"]["queries"] == 6  # the judge alone also covers item 7
    assert result["auto"]["ci_low"] <= result["auto"]["delta_gsb"] <= result["auto"]["ci_high"]
    assert human_median([1, 2]) == 1 and human_median([-2, -1]) == -1 and human_median([0, 1, 2]) == 1


def test_campaign_list_shows_the_prediction_while_humans_have_not_finished(analyst, annotator):
    campaign, items = campaign_with_items(items=6)
    b_products = {p["product"] for item in items for p in item.results_b}
    judge_campaign(campaign=campaign, list_judge=PrefersListWith(b_products), rng=random.Random(2))
    prediction = predicted_outcomes(campaigns=[campaign])[campaign.pk]
    # Six query wins, no loss: sign test p = 2 / 2**6 = 0.031 < 0.05.
    assert prediction["verdict"] == "B better" and prediction["delta_gsb"] == 1.0
    assert prediction["sign_test_p"] == pytest.approx(2 / 2**6) and prediction["queries"] == 6
    client = Client()
    client.force_login(analyst)
    page = client.get("/sbs/").content.decode()
    assert re.search(r"Predicted: <strong>B better</strong>", page)
    assert campaign_agreement(campaign=campaign)["items_both"] == 0


def test_a_prediction_on_few_queries_is_no_clear_difference():
    campaign, items = campaign_with_items(items=4)
    b_products = {p["product"] for item in items for p in item.results_b}
    judge_campaign(campaign=campaign, list_judge=PrefersListWith(b_products), rng=random.Random(2))
    assert predicted_outcomes(campaigns=[campaign])[campaign.pk]["verdict"] == "no clear difference"  # p = 0.125
