"""How well an automatic SBS judge agrees with the humans of a campaign, and what it predicts where humans have not
finished.

`compare_with_humans(human=..., auto=...)` works on plain `metrics.Rating` records (a judge's verdicts are ratings
whose annotator is the judge) and reuses the human metrics' own functions, so both sides are computed the same way.
Only regular items count (controls have no G/S/B result). On the items both judged:

- ΔGSB of the judge next to the humans' ΔGSB, each with its 95% bootstrap CI over queries (`metrics.gsb_summary`).
- Human consensus per item: the majority G/S/B verdict (`metrics.majority_verdicts`: a strict plurality of at
  least 3 judgments) and, on the 5-point scale, the median preference (a .5 median of an even count is rounded
  toward "about the same").
- Exact agreement: the judge's 5-point preference equals the human median. Sign agreement: the judge's G/S/B
  verdict equals the human majority.
- Cohen's κ (scikit-learn `cohen_kappa_score`) between the judge's verdict and the human majority over G/S/B, and a
  quadratic-weighted κ between the judge's preference and the human median on the 5-point scale.
- A confusion table of the human majority (rows) against the judge (columns), in the order G, S, B.

`campaign_agreement(campaign=...)` and `predicted_outcomes(campaigns=...)` load campaigns' rows; the human side is
`selectors.campaign_ratings`, which reads human `Judgment` rows only.
"""
from __future__ import annotations

import math
import statistics
from collections import defaultdict

from sbsapp.metrics import (ALPHA, BOOTSTRAP_SAMPLES, Rating, delta_gsb, gsb_summary, majority_verdicts, sign,
                            sign_test_p)
from sbsapp.models import AutoJudgment, Campaign

VERDICTS = (1, 0, -1)  # G (B better), S, B (A better): the order of the confusion table
VERDICT_NAMES = {1: "G", 0: "S", -1: "B"}


def human_median(preferences: list[int]) -> int:
    """The humans' 5-point consensus: the median, a half-way median rounded toward 0."""
    return int(math.trunc(statistics.median(preferences)))


def kappa(first: list[int], second: list[int], *, labels: list[int], weights: str | None = None) -> float | None:
    from sklearn.metrics import cohen_kappa_score

    if len(first) < 2:
        return None
    with_nan = cohen_kappa_score(first, second, labels=labels, weights=weights)
    return None if math.isnan(with_nan) else float(with_nan)


def compare_with_humans(*, human: list[Rating], auto: list[Rating], seed: int = 0,
                        bootstrap_samples: int = BOOTSTRAP_SAMPLES) -> dict:
    """Agreement of one judge's ratings (`auto`, one per item) with the human ratings of the same campaign."""
    human = [r for r in human if r.kind == "regular"]
    auto = [r for r in auto if r.kind == "regular"]
    human_by_item: dict = defaultdict(list)
    for rating in human:
        human_by_item[rating.item].append(rating.preference)
    auto_by_item = {rating.item: rating.preference for rating in auto}
    both = sorted(set(human_by_item) & set(auto_by_item), key=str)
    both_set = set(both)
    majorities = majority_verdicts([r for r in human if r.item in both_set])

    rows = []
    for item in both:
        preferences = human_by_item[item]
        rows.append({
            "item": item,
            "human_judgments": len(preferences),
            "human_median": human_median(preferences),
            "human_majority": majorities.get(item),
            "auto": auto_by_item[item],
        })
    exact = [row["auto"] == row["human_median"] for row in rows]
    with_majority = [row for row in rows if row["human_majority"] is not None]
    sign_agree = [sign(row["auto"]) == row["human_majority"] for row in with_majority]
    human_verdicts = [row["human_majority"] for row in with_majority]
    auto_verdicts = [sign(row["auto"]) for row in with_majority]
    confusion = [[sum(1 for h, a in zip(human_verdicts, auto_verdicts) if h == row_verdict and a == col_verdict)
                  for col_verdict in VERDICTS] for row_verdict in VERDICTS]

    def summary(ratings: list[Rating]) -> dict:
        return gsb_summary(ratings, seed=seed, bootstrap_samples=bootstrap_samples)

    return {
        "items_both": len(both),
        "items_with_majority": len(with_majority),
        "human": summary([r for r in human if r.item in both_set]),
        "auto": summary([r for r in auto if r.item in both_set]),
        "auto_all_items": summary(auto),
        "exact_agreement": sum(exact) / len(exact) if exact else None,
        "sign_agreement": sum(sign_agree) / len(sign_agree) if sign_agree else None,
        "cohen_kappa": kappa(human_verdicts, auto_verdicts, labels=list(VERDICTS)),
        "weighted_kappa": kappa([row["human_median"] for row in rows], [row["auto"] for row in rows],
                                labels=[-2, -1, 0, 1, 2], weights="quadratic"),
        "confusion": {
            "labels": [VERDICT_NAMES[v] for v in VERDICTS],
            "rows": [{"human": VERDICT_NAMES[v], "counts": counts, "total": sum(counts)}
                     for v, counts in zip(VERDICTS, confusion)],
        },
        "items": rows,
    }


# ------------------------------------------------------------------------------------------------ from the database


def campaign_judges(*, campaign: Campaign) -> list[dict]:
    """The judges that gave verdicts on this campaign, most recent first: kind, name, verdict count."""
    from django.db.models import Count, Max

    return list(
        AutoJudgment.objects.filter(campaign=campaign).values("judge_kind", "judge_name")
        .annotate(verdicts=Count("pk"), last=Max("created_at")).order_by("-last", "judge_kind", "judge_name")
    )


def auto_ratings(*, campaign: Campaign, judge_kind: str, judge_name: str) -> list[Rating]:
    """One judge's verdicts on the campaign's active items as metric records (annotator = the judge)."""
    rows = (AutoJudgment.objects.filter(campaign=campaign, judge_kind=judge_kind, judge_name=judge_name,
                                        item__is_active=True)
            .values_list("item_id", "preference", "choice", "item__kind", "item__segment", "item__query_type",
                         "item__expected_preference").order_by("item_id"))
    annotator = f"{judge_kind}:{judge_name}"
    return [Rating(item=item, annotator=annotator, preference=preference, choice=choice, kind=kind, segment=segment,
                   query_type=query_type, expected=expected)
            for item, preference, choice, kind, segment, query_type, expected in rows]


def pick_judge(*, campaign: Campaign, judge: str | None = None) -> dict | None:
    """The judge `"kind:name"` asked for, else the most recent one; None when no judge has run."""
    judges = campaign_judges(campaign=campaign)
    for candidate in judges:
        if judge and f"{candidate['judge_kind']}:{candidate['judge_name']}" == judge:
            return candidate
    return judges[0] if judges else None


def campaign_agreement(*, campaign: Campaign, judge: str | None = None) -> dict | None:
    """Agreement of a judge (default: the most recent) with the campaign's humans; None when no judge has run."""
    from sbsapp.selectors import campaign_ratings

    chosen = pick_judge(campaign=campaign, judge=judge)
    if chosen is None:
        return None
    auto = auto_ratings(campaign=campaign, judge_kind=chosen["judge_kind"], judge_name=chosen["judge_name"])
    result = compare_with_humans(human=campaign_ratings(campaign=campaign), auto=auto, seed=campaign.seed)
    return {"judge_kind": chosen["judge_kind"], "judge_name": chosen["judge_name"],
            "judge": f"{chosen['judge_kind']}:{chosen['judge_name']}", **result}


def predicted_outcomes(*, campaigns: list[Campaign]) -> dict[int, dict]:
    """What the most recent judge of each campaign predicts, for the campaign list: its G/S/B, ΔGSB and the sign
    test over queries (one verdict per query) with a plain verdict. One query for all campaigns and no bootstrap:
    the CI is on the dashboard. Campaigns no judge has judged are left out."""
    from django.db.models import Count, Max, Q

    rows = (AutoJudgment.objects.filter(campaign__in=campaigns, item__is_active=True, item__kind="regular")
            .values("campaign_id", "judge_kind", "judge_name")
            .annotate(last=Max("created_at"), good=Count("pk", filter=Q(preference__gt=0)),
                      same=Count("pk", filter=Q(preference=0)), bad=Count("pk", filter=Q(preference__lt=0)))
            .order_by("campaign_id", "-last", "judge_kind", "judge_name"))
    latest: dict[int, dict] = {}
    for row in rows:
        latest.setdefault(row["campaign_id"], row)
    outcomes = {}
    for campaign_id, row in latest.items():
        good, same, bad = row["good"], row["same"], row["bad"]
        p_value = sign_test_p(good, bad)  # a judge gives one verdict per query: its G/S/B are query wins/ties/losses
        significant = p_value is not None and p_value < ALPHA
        outcomes[campaign_id] = {
            "judge": f"{row['judge_kind']}:{row['judge_name']}",
            "verdict": ("B better" if good > bad else "A better") if significant else "no clear difference",
            "good": good, "same": same, "bad": bad, "queries": good + same + bad,
            "delta_gsb": delta_gsb(good, same, bad), "sign_test_p": p_value,
        }
    return outcomes
