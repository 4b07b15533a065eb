"""Head/torso/tail from query frequency, for queries whose row gives no segment.

Two rules, both deterministic and independent of row order and of query ids:

- traffic share (default): sort the distinct frequencies from high to low; a query is `head` when the traffic
  of all strictly more frequent queries is below `head_share` (default 50 %) of the total, `torso` when it is
  below `torso_share` (default 80 %), `tail` otherwise. Queries with the same frequency always share a
  segment. The total counts every query with a frequency, including those whose segment the file gives.
- thresholds: when `head_min_frequency` and `torso_min_frequency` are set, frequency >= head_min -> head,
  >= torso_min -> torso, otherwise tail.

A query with no frequency, or frequency 0, is `tail` under both rules (no logs: the long tail).
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby
from typing import Iterable, Mapping

HEAD, TORSO, TAIL = "head", "torso", "tail"


@dataclass(frozen=True)
class SegmentRule:
    head_share: float = 0.5
    torso_share: float = 0.8
    head_min_frequency: int | None = None
    torso_min_frequency: int | None = None

    def __post_init__(self) -> None:
        if not 0.0 < self.head_share <= self.torso_share <= 1.0:
            raise ValueError(
                f"segment shares must satisfy 0 < head_share <= torso_share <= 1, got "
                f"{self.head_share} and {self.torso_share}"
            )
        thresholds = (self.head_min_frequency, self.torso_min_frequency)
        if (thresholds[0] is None) != (thresholds[1] is None):
            raise ValueError("give both head_min_frequency and torso_min_frequency, or neither")
        if thresholds[0] is not None and not thresholds[0] >= thresholds[1] >= 1:
            raise ValueError(
                f"segment thresholds must satisfy head_min_frequency >= torso_min_frequency >= 1, got "
                f"{thresholds[0]} and {thresholds[1]}"
            )

    @property
    def uses_thresholds(self) -> bool:
        return self.head_min_frequency is not None

    def describe(self) -> str:
        if self.uses_thresholds:
            return (f"head: frequency >= {self.head_min_frequency}, torso: >= {self.torso_min_frequency}, "
                    "tail: the rest")
        return (f"head: queries before {self.head_share:.0%} of traffic, torso: before {self.torso_share:.0%}, "
                "tail: the rest")


def assign_segments(
    *, frequencies: Mapping[str, int | None], needed: Iterable[str], rule: SegmentRule
) -> dict[str, str]:
    """Segment for each query id in `needed`, from the frequencies of all queries."""
    needed = set(needed)
    if not needed:
        return {}
    if rule.uses_thresholds:
        return {qid: _by_threshold(frequencies.get(qid), rule) for qid in needed}
    segment_of_frequency = _segment_by_traffic_share(frequencies.values(), rule)
    return {qid: segment_of_frequency.get(frequencies.get(qid) or 0, TAIL) for qid in needed}


def _by_threshold(frequency: int | None, rule: SegmentRule) -> str:
    if not frequency:
        return TAIL
    if frequency >= rule.head_min_frequency:
        return HEAD
    return TORSO if frequency >= rule.torso_min_frequency else TAIL


def _segment_by_traffic_share(frequencies: Iterable[int | None], rule: SegmentRule) -> dict[int, str]:
    positive = sorted((f for f in frequencies if f), reverse=True)
    total = sum(positive)
    segments: dict[int, str] = {}
    before = 0
    for frequency, group in groupby(positive):
        share_before = before / total
        if share_before < rule.head_share:
            segments[frequency] = HEAD
        else:
            segments[frequency] = TORSO if share_before < rule.torso_share else TAIL
        before += frequency * sum(1 for _ in group)
    return segments
