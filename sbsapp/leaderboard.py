"""A leaderboard of retriever versions per data set: a Bradley–Terry score with a bootstrap CI for every version
that took part in any campaign of the data set, from every HUMAN pairwise verdict.

`rank_versions(verdicts, versions=...)` works on plain `PairVerdict` records (unit-tested against a hand-computed
case); `dataset_leaderboard(dataset=...)` loads a data set's campaigns and returns the same plain, JSON-ready dict.

Definitions:
- A verdict is one non-skipped human judgment on a regular, active item (the same judgments ΔGSB counts): controls
  (A-vs-A and gold items) are left out. Its outcome is the sign of the preference toward the campaign's B: B wins,
  a tie ("about the same"), or A wins; "much better" counts as "better".
- Ties count as half a win for each side (the chess convention), and every pair of versions that met gets one
  virtual tie more (`PRIOR_TIES`): a weak pull toward equal strength that keeps an unbeaten version's score finite.
- The fit is the maximum-likelihood Bradley–Terry model of those counts, by choix's `ilsr_pairwise_dense`
  (iterative Luce spectral ranking): P(i beats j) = 1 / (1 + exp(s_j − s_i)). Scores are natural-log strengths,
  centred at 0 within each group; the Elo-scale column is 1000 + 400·s / ln 10.
- Groups: versions are comparable only if verdicts link them (directly or through other versions); each connected
  group is fitted on its own and its scores centred on their own mean. A version with no verdict has no score.
- 95% CI: percentile bootstrap (`BOOTSTRAP_SAMPLES`, seeded) resampling items with replacement within each
  campaign (an item's judgments stay together, as for ΔGSB; every campaign keeps its size).
- Automatic-SBS verdicts (`AutoJudgment`) are fitted the same way, one judge at a time, and only ever shown in
  their own columns: they never enter the human scores.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Hashable, Iterable

import numpy as np

BOOTSTRAP_SAMPLES = 400
CONFIDENCE = 0.95
PRIOR_TIES = 1.0
ELO_BASE, ELO_SCALE = 1000.0, 400.0 / math.log(10)


@dataclass(frozen=True)
class PairVerdict:
    """One verdict of version `b` against version `a` in a campaign: `outcome` is +1 (b won), 0 (tie), -1 (a won)."""

    campaign: Hashable
    item: Hashable
    a: Hashable
    b: Hashable
    outcome: int


# ------------------------------------------------------------------------------------------------------ the fit


def win_matrix(verdicts: Iterable[PairVerdict], index: dict) -> np.ndarray:
    """wins[i, j]: how often version i beat version j, a tie counting half a win for each."""
    wins = np.zeros((len(index), len(index)))
    for verdict in verdicts:
        a, b = index[verdict.a], index[verdict.b]
        winner, loser = (b, a) if verdict.outcome > 0 else (a, b)
        if verdict.outcome == 0:
            wins[a, b] += 0.5
            wins[b, a] += 0.5
        else:
            wins[winner, loser] += 1
    return wins


def groups_of(wins: np.ndarray) -> list[list[int]]:
    """The connected groups of versions that verdicts link (versions without a verdict are left out)."""
    from scipy.sparse.csgraph import connected_components

    met = (wins + wins.T) > 0
    _, labels = connected_components(met, directed=False)
    groups: dict[int, list[int]] = defaultdict(list)
    for version, label in enumerate(labels):
        if met[version].any():
            groups[label].append(version)
    return sorted(groups.values(), key=lambda members: members[0])


def fit_scores(wins: np.ndarray, groups: list[list[int]], *, prior_ties: float = PRIOR_TIES) -> np.ndarray:
    """Bradley–Terry log-strengths (choix, maximum likelihood), each group fitted alone and centred at 0; NaN for
    versions in no group. `prior_ties` virtual ties are added to every pair that met."""
    import choix

    scores = np.full(len(wins), np.nan)
    for members in groups:
        block = wins[np.ix_(members, members)]
        met = (block + block.T) > 0
        block = block + met * (prior_ties / 2)
        strengths = choix.ilsr_pairwise_dense(block, alpha=0.0, max_iter=1000, tol=1e-10)
        scores[members] = strengths - strengths.mean()
    return scores


def item_outcomes(verdicts: list[PairVerdict]) -> dict:
    """Campaign -> (a, b, array of [b wins, ties, a wins] per item): the units the bootstrap resamples."""
    per_item: dict = defaultdict(lambda: [0, 0, 0])
    pairs: dict = {}
    for verdict in verdicts:
        pairs[verdict.campaign] = (verdict.a, verdict.b)
        per_item[(verdict.campaign, verdict.item)][1 - verdict.outcome] += 1
    by_campaign: dict = defaultdict(list)
    for (campaign, _item), counts in per_item.items():
        by_campaign[campaign].append(counts)
    return {campaign: (*pairs[campaign], np.array(rows, dtype=float)) for campaign, rows in by_campaign.items()}


def bootstrap_scores(verdicts: list[PairVerdict], index: dict, groups: list[list[int]], *, samples: int,
                     seed: int) -> np.ndarray:
    """(samples, versions) scores refitted on item resamples drawn within each campaign."""
    rng = np.random.default_rng(seed)
    campaigns = item_outcomes(verdicts)
    totals = []  # per campaign: (a, b, (samples, 3) resampled totals)
    for campaign in sorted(campaigns, key=str):
        a, b, counts = campaigns[campaign]
        draws = rng.integers(0, len(counts), size=(samples, len(counts)))
        totals.append((index[a], index[b], counts[draws].sum(axis=1)))
    fitted = np.empty((samples, len(index)))
    for sample in range(samples):
        wins = np.zeros((len(index), len(index)))
        for a, b, resampled in totals:
            b_wins, ties, a_wins = resampled[sample]
            wins[b, a] += b_wins + ties / 2
            wins[a, b] += a_wins + ties / 2
        fitted[sample] = fit_scores(wins, groups)
    return fitted


def rank_versions(verdicts: list[PairVerdict], *, versions: list, samples: int = BOOTSTRAP_SAMPLES,
                  seed: int = 0) -> dict:
    """Scores with CIs for `versions` (every version to list, with or without verdicts): one row each, best first
    within each group, and a score of None for a version without a verdict."""
    index = {version: position for position, version in enumerate(versions)}
    wins = win_matrix(verdicts, index)
    groups = groups_of(wins)
    scores = fit_scores(wins, groups)
    fitted = bootstrap_scores(verdicts, index, groups, samples=samples, seed=seed) if verdicts else None
    tail = (1 - CONFIDENCE) / 2 * 100
    group_of = {version: number for number, members in enumerate(groups, 1) for version in members}
    played = wins + wins.T
    rows = []
    for version, position in index.items():
        scored = not math.isnan(scores[position])
        low, high = (np.percentile(fitted[:, position], [tail, 100 - tail]) if scored else (None, None))
        rows.append({
            "version": version,
            "group": group_of.get(position),
            "score": float(scores[position]) if scored else None,
            "ci_low": float(low) if scored else None,
            "ci_high": float(high) if scored else None,
            "elo": ELO_BASE + ELO_SCALE * float(scores[position]) if scored else None,
            "verdicts": int(round(played[position].sum())),
            "wins": float(wins[position].sum()),
        })
    rows.sort(key=lambda row: (row["group"] is None, row["group"] or 0, -(row["score"] or 0.0), str(row["version"])))
    rank = {}
    for row in rows:
        if row["group"] is not None:
            rank[row["group"]] = rank.get(row["group"], 0) + 1
            row["rank"] = rank[row["group"]]
        else:
            row["rank"] = None
    return {"rows": rows, "groups": len(groups), "verdicts": len(verdicts), "bootstrap_samples": samples}


# -------------------------------------------------------------------------------------------- from the database


def dataset_verdicts(*, dataset) -> tuple[list, list[PairVerdict], dict[str, list[PairVerdict]]]:
    """The data set's campaigns (all statuses), their human verdicts, and each automatic judge's verdicts."""
    from .metrics import sign
    from .models import AutoJudgment, Campaign, Item, Judgment

    campaigns = list(Campaign.objects.filter(system_a__dataset=dataset).select_related("system_a", "system_b")
                     .order_by("created_at", "pk"))
    pairs = {campaign.pk: (campaign.system_a_id, campaign.system_b_id) for campaign in campaigns}
    counted = {"campaign__in": campaigns, "item__is_active": True, "item__kind": Item.Kind.REGULAR}
    human = [
        PairVerdict(campaign, item, *pairs[campaign], sign(preference))
        for campaign, item, preference in Judgment.objects.filter(skipped=False, **counted)
        .values_list("campaign_id", "item_id", "preference").order_by("pk")
    ]
    auto: dict[str, list[PairVerdict]] = defaultdict(list)
    for campaign, item, kind, name, preference in AutoJudgment.objects.filter(**counted).values_list(
            "campaign_id", "item_id", "judge_kind", "judge_name", "preference").order_by("pk"):
        auto[f"{kind}:{name}"].append(PairVerdict(campaign, item, *pairs[campaign], sign(preference)))
    return campaigns, human, dict(auto)


def dataset_leaderboard(*, dataset, samples: int = BOOTSTRAP_SAMPLES, seed: int = 0) -> dict:
    """Every version of any campaign on `dataset`, ranked from the human verdicts, with the campaigns each rests
    on and, apart, each automatic judge's own ranking. Plain and JSON-ready (the page and the API show it)."""
    from retrieval.models import RetrieverVersion

    campaigns, human, auto = dataset_verdicts(dataset=dataset)
    version_ids = sorted({pk for campaign in campaigns for pk in (campaign.system_a_id, campaign.system_b_id)})
    names = dict(RetrieverVersion.objects.filter(pk__in=version_ids).values_list("pk", "name"))
    counts: dict = defaultdict(int)
    for verdict in human:
        counts[verdict.campaign] += 1
    campaign_rows = [{"id": c.pk, "name": c.name, "status": c.status, "system_a": c.system_a.name,
                      "system_b": c.system_b.name, "human_verdicts": counts[c.pk]} for c in campaigns]
    rests_on: dict = defaultdict(list)  # version -> the campaigns with human verdicts it took part in
    for campaign, row in zip(campaigns, campaign_rows):
        if row["human_verdicts"]:
            for version in (campaign.system_a_id, campaign.system_b_id):
                rests_on[version].append({key: row[key] for key in ("id", "name", "human_verdicts")})
    ranked = rank_versions(human, versions=version_ids, samples=samples, seed=seed)
    judges = {judge: {row["version"]: row for row in rank_versions(verdicts, versions=version_ids, samples=samples,
                                                                      seed=seed)["rows"]}
              for judge, verdicts in sorted(auto.items())}
    rows = [{
        **row,
        "version": names[row["version"]],
        "campaigns": rests_on[row["version"]],
        "auto": {judge: {key: by_version[row["version"]][key] for key in ("score", "ci_low", "ci_high", "verdicts")}
                 for judge, by_version in judges.items()},
    } for row in ranked["rows"]]
    return {
        "dataset": dataset.name,
        "method": "Bradley–Terry (choix ilsr_pairwise_dense), ties as half a win each, "
                  f"{PRIOR_TIES:g} virtual tie per pair that met; {int(CONFIDENCE * 100)}% percentile bootstrap "
                  f"CI over items within campaigns ({samples} resamples); regular items only (controls excluded).",
        "human_verdicts": ranked["verdicts"],
        "groups": ranked["groups"],
        "bootstrap_samples": samples,
        "versions": rows,
        "campaigns": campaign_rows,
        "auto_judges": sorted(judges),
    }

