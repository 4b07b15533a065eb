"""Typed configurations of the automatic SBS run and of the closed loop (judge retraining from SBS marks).

Each is stated once and used by its start form, its start service and its job (`validate_config(..., job.config)`),
so a limit and its message are the same everywhere. Field names are those of the job configs stored before, so
existing jobs still load.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from core.configs import JobConfig, Slug
from sbsapp.models import AutoJudgment

DEFAULT_TIE_BAND = 0.05
DEFAULT_STRONG_BAND = 0.25
JudgeKind = Literal[tuple(AutoJudgment.Kind.values)]


class AutoSBSConfig(JobConfig):
    """One automatic SBS run: which judge gives its verdict on every active item of a campaign."""

    campaign_id: int
    judge_kind: JudgeKind = Field(AutoJudgment.Kind.DCG.value, title="Judge")
    judge_version_id: int | None = Field(None, validate_default=True,
                                         description="The relevance judge scoring every product (DCG judge).")
    tie_band: float = Field(DEFAULT_TIE_BAND, ge=0, le=1,
                            description="|normalised DCG difference| below this: about the same.")
    strong_band: float = Field(DEFAULT_STRONG_BAND, ge=0, le=1, description="At or above this: much better.")
    llm_model: str = Field("", max_length=200, title="LLM model",
                           description="LLM judge: the endpoint's model name (empty: OPENAI_MODEL).")
    seed: int | None = Field(None, description="Seed of the sides shown to the judge (empty: random).")
    device: str = Field("auto", max_length=20, description="Where the DCG judge runs (cpu, cuda, mps, auto).")

    @field_validator("judge_version_id")
    @classmethod
    def dcg_needs_a_judge_version(cls, version_id: int | None, info: ValidationInfo) -> int | None:
        kind = info.data.get("judge_kind")
        if kind == AutoJudgment.Kind.LLM:
            return None  # the LLM judge uses no judge version
        if kind == AutoJudgment.Kind.DCG and version_id is None:
            raise ValueError("Choose a trained judge version (or use the LLM judge).")
        return version_id

    @field_validator("strong_band")
    @classmethod
    def strong_band_above_tie_band(cls, strong_band: float, info: ValidationInfo) -> float:
        tie_band = info.data.get("tie_band")
        if tie_band is not None and strong_band < tie_band:
            raise ValueError("The strong band must be at least the tie band.")
        return strong_band


class MarkWeighting(JobConfig):
    """How much each annotator's marks count (see `closed_loop`'s docstring)."""

    pass_accuracy: float = Field(0.7, ge=0, le=1, description="Control accuracy below this fails an annotator.")
    failed_weight: float = Field(0.1, ge=0, le=1,
                                 description="Multiplier on the marks of annotators who fail (0 drops them).")
    min_controls: int = Field(3, ge=1, description="Controls judged before an annotator can fail.")
    min_pair_weight: float = Field(0.3, ge=0,
                                   description="Pairs whose winning grade has less vote weight are dropped.")
    max_pair_weight: float = Field(1.0, gt=0, description="A pair's training weight is capped at this.")


class ClosedLoopConfig(JobConfig):
    """One retraining of a relevance judge with the per-product marks of SBS campaigns."""

    campaign_ids: list[int] = Field(min_length=1, description="Campaigns whose marks become labelled pairs.")
    base_judge_version_id: int = Field(description="The judge version to improve.")
    name: Slug = Field("", max_length=100,
                      description="Name of the new judge version, a slug (empty: <judge>-sbs-<time>).")
    weighting: MarkWeighting = Field(default_factory=MarkWeighting)
    judge_version_id: int | None = Field(None, description="The new version, once the job has created it.")
