"""Automatic SBS: a judge model gives its verdict on every item of a campaign, blind like an annotator.

Two list judges answer on the annotators' 5-point scale, in screen terms (-2 left much better .. +2 right much
better):

- `RelevanceDCGJudge`: the relevance judge (a trained `synthesis.JudgeVersion`, or any function scoring products
  against a query in [0, 1]) scores every product of both frozen lists; each list's DCG@K uses those scores as
  gains (scikit-learn's `dcg_score`, discount 1/log2(rank + 1)). The difference right − left, divided by the DCG
  of K perfectly relevant products so that it lies in [−1, 1], is the verdict: |d| < `tie_band` → about the same,
  |d| < `strong_band` → better, otherwise much better.
- `LLMListJudge`: a chat model behind the OpenAI-compatible endpoint (`core.llm`) reads the query
  and both lists and answers 1-5 exactly as the annotators' scale reads.

Blinding: for every (judge, item) the side system B is shown on is drawn at random, independently of the side the
annotators see; the judge only ever receives "left" and "right", and its answer is turned into the preference
toward B with the same function as a human answer (`judging.preference_toward_b`). Verdicts are `AutoJudgment`
rows; no human metric reads them.

The job (`auto_sbs_work`) is resumable: items that already carry a verdict of the same judge are skipped and rows
are written under the (item, judge) unique constraint, so a re-run never duplicates them.
"""
from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from django.conf import settings

from core.configs import ConfigInvalid, validate_config
from jobs.registry import job_kind
from jobs.services import JobContext, job_start
from sbsapp.judging import preference_toward_b
from jobs.models import Job
from sbsapp.models import AutoJudgment, Campaign, Item

from .configs import DEFAULT_STRONG_BAND, DEFAULT_TIE_BAND, AutoSBSConfig

JOB_KIND = "auto_sbs"
CHUNK_SIZE = 16
LLM_MAX_PRODUCTS = 10
LLM_DESCRIPTION_CHARS = 160
SCALE_ANSWER = re.compile(r"(?<![\d.])([1-5])(?![\d.])")

ScoreProducts = Callable[[str, Sequence[int]], list[float]]


class AutoSBSError(ValueError):
    """An automatic SBS run that cannot be started; the message is shown to the user as is."""


@dataclass(frozen=True)
class Comparison:
    """What a list judge is shown: the query and two product lists, in screen terms only."""

    query: str
    left: list[dict]  # product snapshots in rank order (Item.results_a / results_b entries)
    right: list[dict]


@dataclass(frozen=True)
class ListVerdict:
    choice: int  # screen terms, -2 left much better .. +2 right much better
    left_scores: list[float] | None = None
    right_scores: list[float] | None = None
    detail: dict = field(default_factory=dict)


class ListJudge(Protocol):
    kind: str  # AutoJudgment.Kind
    name: str

    def compare_many(self, comparisons: Sequence[Comparison]) -> list[ListVerdict | None]:
        """A verdict per comparison, in order; None where the judge gave no usable answer."""

    def describe(self) -> dict:
        """Settings recorded with every verdict."""


# ----------------------------------------------------------------------------------------- DCG of judge scores


def dcg(gains: Sequence[float]) -> float:
    """DCG of gains in rank order (scikit-learn's `dcg_score`; a zero gain is appended, which changes nothing,
    because it refuses a single document)."""
    from sklearn.metrics import dcg_score

    if not gains:
        return 0.0
    padded = [float(g) for g in gains] + [0.0]
    return float(dcg_score([padded], [list(range(len(padded), 0, -1))]))


def choice_from_difference(difference: float, *, tie_band: float, strong_band: float) -> int:
    """A normalised DCG difference (right − left, in [−1, 1]) on the 5-point scale."""
    size = abs(difference)
    step = 0 if size < tie_band else 1 if size < strong_band else 2
    return step if difference > 0 else -step


class RelevanceDCGJudge:
    """List preference from per-product relevance scores: the normalised DCG difference with a tie band."""

    kind = AutoJudgment.Kind.DCG

    def __init__(self, *, score_products: ScoreProducts, name: str, k: int,
                 tie_band: float = DEFAULT_TIE_BAND, strong_band: float = DEFAULT_STRONG_BAND):
        if not 0 <= tie_band <= strong_band <= 1:
            raise AutoSBSError("Bands must satisfy 0 <= tie band <= strong band <= 1.")
        if k < 1:
            raise AutoSBSError("K must be at least 1.")
        self.score_products, self.name, self.k = score_products, name, k
        self.tie_band, self.strong_band = tie_band, strong_band
        self.ideal = dcg([1.0] * k)

    def describe(self) -> dict:
        return {"judge": self.name, "k": self.k, "tie_band": self.tie_band, "strong_band": self.strong_band}

    def compare_many(self, comparisons: Sequence[Comparison]) -> list[ListVerdict | None]:
        return [self.compare(comparison) for comparison in comparisons]

    def compare(self, comparison: Comparison) -> ListVerdict:
        left = [p["product"] for p in comparison.left[: self.k]]
        right = [p["product"] for p in comparison.right[: self.k]]
        unique = list(dict.fromkeys(left + right))  # the two lists overlap: score each product once
        scores = dict(zip(unique, self.score_products(comparison.query, unique))) if unique else {}
        left_scores, right_scores = [scores[p] for p in left], [scores[p] for p in right]
        dcg_left, dcg_right = dcg(left_scores), dcg(right_scores)
        difference = (dcg_right - dcg_left) / self.ideal
        choice = choice_from_difference(difference, tie_band=self.tie_band, strong_band=self.strong_band)
        return ListVerdict(choice=choice, left_scores=left_scores, right_scores=right_scores,
                           detail={"dcg_left": dcg_left, "dcg_right": dcg_right, "difference": difference})


# ------------------------------------------------------------------------------------------------- LLM judge

LLM_SYSTEM = (
    "You are a careful e-commerce search evaluator. A shopper typed a query; two search engines returned the "
    "product lists below. Judge which list serves the shopper better: relevance to what the shopper wants "
    "(including the knowledge or intent behind the query), the best products near the top, and no missing key "
    "product. The order in which the lists are shown means nothing."
)
LLM_SCALE = ("Answer with one digit only: 1 = left much better, 2 = left better, 3 = about the same, "
             "4 = right better, 5 = right much better.")


def list_as_text(products: Sequence[dict], *, limit: int = LLM_MAX_PRODUCTS) -> str:
    lines = []
    for rank, product in enumerate(products[:limit], start=1):
        parts = [str(product.get("title") or "")]  # catalogue text is decoded once, at import
        for key in ("brand", "category"):
            if product.get(key):
                parts.append(f"{key}: {product[key]}")
        if product.get("price"):
            parts.append(f"price: {product['price']}")
        if product.get("description"):
            parts.append(str(product["description"])[:LLM_DESCRIPTION_CHARS])
        lines.append(f"{rank}. " + " | ".join(parts))
    return "\n".join(lines) or "(no results)"


def comparison_messages(comparison: Comparison) -> list[dict]:
    user = (f"Query: {comparison.query}\n\nLeft list:\n{list_as_text(comparison.left)}\n\n"
            f"Right list:\n{list_as_text(comparison.right)}\n\n{LLM_SCALE}")
    return [{"role": "system", "content": LLM_SYSTEM}, {"role": "user", "content": user}]


def parse_scale_answer(answer: str) -> int | None:
    """The screen choice (-2..+2) from an answer like "4" or "Answer: 2 (left better)"; None without a digit 1-5."""
    match = SCALE_ANSWER.search(answer or "")
    return int(match.group(1)) - 3 if match else None


class LLMListJudge:
    """Both lists to a chat model on the annotators' scale; unparseable answers are counted, not guessed."""

    kind = AutoJudgment.Kind.LLM

    def __init__(self, *, client, max_tokens: int = 8):
        self.client, self.max_tokens = client, max_tokens
        self.name = client.model
        self.unparsed = 0

    def describe(self) -> dict:
        return {"judge": self.name, "url": self.client.url}

    def compare_many(self, comparisons: Sequence[Comparison]) -> list[ListVerdict | None]:
        answers = self.client.complete_many([comparison_messages(c) for c in comparisons], temperature=0.0,
                                            max_tokens=self.max_tokens)
        verdicts: list[ListVerdict | None] = []
        for answer in answers:
            text = answer[0] if answer else ""
            choice = parse_scale_answer(text)
            if choice is None:
                self.unparsed += 1
                verdicts.append(None)
            else:
                verdicts.append(ListVerdict(choice=choice, detail={"answer": text[:200]}))
        return verdicts


# --------------------------------------------------------------------------------------------- judging a campaign


def judge_campaign(*, campaign: Campaign, list_judge: ListJudge, rng: random.Random, judge_version=None,
                   job: Job | None = None, chunk_size: int = CHUNK_SIZE,
                   on_progress: Callable[..., None] | None = None) -> dict:
    """Give every active item of the campaign the judge's verdict (items it already judged are skipped)."""
    done = set(AutoJudgment.objects.filter(campaign=campaign, judge_kind=list_judge.kind,
                                           judge_name=list_judge.name).values_list("item_id", flat=True))
    items = [item for item in Item.objects.filter(campaign=campaign, is_active=True).order_by("pk")
             if item.pk not in done]
    total, written, unanswered = len(done) + len(items), 0, 0
    settings_used = list_judge.describe()
    for start in range(0, len(items), chunk_size):
        chunk = items[start:start + chunk_size]
        sides = [rng.random() < 0.5 for _ in chunk]  # True: B is shown on the left to the judge
        comparisons = [
            Comparison(query=item.query_text, left=item.results_b if b_left else item.results_a,
                       right=item.results_a if b_left else item.results_b)
            for item, b_left in zip(chunk, sides)
        ]
        rows = []
        for item, b_left, verdict in zip(chunk, sides, list_judge.compare_many(comparisons)):
            if verdict is None:
                unanswered += 1
                continue
            scores = {}
            if verdict.left_scores is not None:
                a_scores, b_scores = ((verdict.right_scores, verdict.left_scores) if b_left
                                      else (verdict.left_scores, verdict.right_scores))
                scores = {"a": a_scores, "b": b_scores}
            rows.append(AutoJudgment(
                item=item, campaign=campaign, judge_kind=list_judge.kind, judge_name=list_judge.name,
                judge_version=judge_version, b_on_left=b_left, choice=verdict.choice,
                preference=preference_toward_b(choice=verdict.choice, b_on_left=b_left),
                product_scores=scores, detail={**verdict.detail, **settings_used}, job=job,
            ))
        AutoJudgment.objects.bulk_create(rows, ignore_conflicts=True)
        written += len(rows)
        if on_progress:
            on_progress(len(done) + start + len(chunk), total, judged=len(done) + written, unanswered=unanswered)
    return {"judge": f"{list_judge.kind}:{list_judge.name}", "items": total, "already_judged": len(done),
            "judged_now": written, "unanswered": unanswered}


def dcg_judge_name(*, judge_version, tie_band: float, strong_band: float) -> str:
    """Verdicts of one judge version with other bands are another judge (they can disagree), so the bands are
    part of its name."""
    return f"{judge_version.name} (tie {tie_band:g}, strong {strong_band:g})"


def build_list_judge(*, campaign: Campaign, config: AutoSBSConfig):
    """The list judge a job config names, with the JudgeVersion it uses (None for the LLM)."""
    if config.judge_kind == AutoJudgment.Kind.DCG:
        from synthesis.judging.judges import load_judge, product_judge
        from synthesis.models import JudgeVersion

        version = JudgeVersion.objects.get(pk=config.judge_version_id)
        judge = load_judge(judge_version=version, device=config.device)
        tie, strong = config.tie_band, config.strong_band
        return RelevanceDCGJudge(
            score_products=product_judge(judge, fields=version.hyperparams.get("fields")),
            name=dcg_judge_name(judge_version=version, tie_band=tie, strong_band=strong),
            k=campaign.k, tie_band=tie, strong_band=strong,
        ), version
    from core.llm import chat_client_from_settings

    return LLMListJudge(client=chat_client_from_settings(model=config.llm_model)), None


def auto_sbs_start(*, campaign: Campaign, judge_version=None, user=None, config: AutoSBSConfig | None = None,
                   **fields) -> Job:
    """Validate and queue an automatic SBS run over a campaign's items.

    The run is an `AutoSBSConfig` (the start form's), or its fields as keywords (`judge_kind=`, `tie_band=`,
    ...; `judge_version=` a JudgeVersion).
    """
    from synthesis.models import JudgeVersion

    data = config.as_dict() if config is not None else {
        "judge_version_id": judge_version.pk if judge_version is not None else None, **fields}
    try:
        config = validate_config(AutoSBSConfig, {**data, "campaign_id": campaign.pk})
    except ConfigInvalid as exc:
        raise AutoSBSError(str(exc)) from None
    if campaign.status not in (Campaign.Status.ACTIVE, Campaign.Status.CLOSED):
        raise AutoSBSError("Generate the campaign's items first: only an active or closed campaign can be judged.")
    if not Item.objects.filter(campaign=campaign, is_active=True).exists():
        raise AutoSBSError("The campaign has no active item to judge.")
    if active_auto_job(campaign=campaign) is not None:
        raise AutoSBSError("An automatic SBS run is already going for this campaign.")
    if config.judge_kind == AutoJudgment.Kind.DCG:
        version = JudgeVersion.objects.filter(pk=config.judge_version_id).first()
        if version is None:
            raise AutoSBSError("Choose a trained relevance judge version.")
        if version.status != JudgeVersion.Status.READY:
            raise AutoSBSError(f"Judge version {version.name} is {version.status}, not ready.")
        if version.dataset_id != campaign.system_a.dataset_id:
            raise AutoSBSError(f"Judge version {version.name} was trained on another data set.")
    else:
        if not settings.OPENAI_BASE_URL:
            raise AutoSBSError("The LLM judge needs an OpenAI-compatible endpoint (OPENAI_BASE_URL in the settings).")
        if not (config.llm_model or settings.OPENAI_MODEL):
            raise AutoSBSError("The LLM judge needs a model name (OPENAI_MODEL in the settings, or enter one).")
    return job_start(kind=JOB_KIND, config=config.as_dict(), user=user)


@job_kind(JOB_KIND, queue="ml", title="Automatic SBS", legacy_task_names=("sbsapp.tasks.ml_auto_sbs",))
def auto_sbs_work(ctx: JobContext) -> dict:
    config = validate_config(AutoSBSConfig, ctx.config)
    campaign = Campaign.objects.select_related("system_a").get(pk=config.campaign_id)
    ctx.stage("loading the judge")
    list_judge, version = build_list_judge(campaign=campaign, config=config)
    rng = random.Random(config.seed) if config.seed is not None else random.SystemRandom()
    ctx.stage("judging items", total=Item.objects.filter(campaign=campaign, is_active=True).count())
    result = judge_campaign(campaign=campaign, list_judge=list_judge, rng=rng, judge_version=version, job=ctx.job,
                            on_progress=ctx.progress)
    ctx.log(f"automatic SBS: {result}")
    return result


def active_auto_job(*, campaign: Campaign) -> Job | None:
    return Job.objects.filter(kind=JOB_KIND, config__campaign_id=campaign.pk, status__in=Job.ACTIVE).first()


def latest_auto_job(*, campaign: Campaign) -> Job | None:
    return Job.objects.filter(kind=JOB_KIND, config__campaign_id=campaign.pk).order_by("-created_at").first()
