"""The rewriter training job's typed configuration: what to train (SFT, GRPO), from what, on what, and how hard.

One model for the staff form, the service and the job (`core.configs`); stored as the Job's config with the keys
existing jobs already have (`sft` and `grpo` hold each method's `TrainingSettings`, `rewards` the reward settings).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, field_serializer, field_validator, model_validator

from core.configs import JobConfig, Slug

from .rewards import RewardSettings
from .seed_pairs import SEED_SOURCES
from .training import TrainingSettings

METHODS = ("sft", "grpo")
# GRPO's own defaults where the job's `grpo` object leaves them out (SFT takes TrainingSettings' defaults).
GRPO_DEFAULTS = {"max_steps": 10, "learning_rate": 1e-5, "batch_size": 1}


class RewriterTrainingConfig(JobConfig):
    """A rewriter training job's config, validated: what to train, from what, on what."""

    model_config = {**JobConfig.model_config, "arbitrary_types_allowed": True}

    dataset_id: int = Field(ge=1)
    name: Slug = Field(min_length=1, max_length=90, description="Versions are named <name>-sft and <name>-grpo.")
    methods: list[Literal["sft", "grpo"]] = Field(default_factory=lambda: list(METHODS))
    base_model: str = Field("", max_length=500, description="Base model folder or id when no parent is chosen "
                                                             "(empty: the default).")
    parent_version_id: int | None = Field(None, ge=1)
    seed_sources: dict[str, Any] = Field(default_factory=dict)
    sft: TrainingSettings = Field(default_factory=TrainingSettings)
    grpo: TrainingSettings = Field(default_factory=lambda: TrainingSettings(**GRPO_DEFAULTS))
    rewards: RewardSettings = Field(default_factory=RewardSettings)
    max_grpo_queries: int = Field(500, ge=1, le=1_000_000, title="GRPO training queries",
                                  description="At most this many training tail queries.")
    held_out_share: float = Field(0.2, ge=0, lt=1)
    seed: int = 13
    evaluate: bool = Field(True, description="Evaluate the start model and each version on held-out tail queries.")
    eval_queries: int = Field(20, ge=1, le=5000)
    eval_candidates: int = Field(4, ge=1, le=16)
    retriever_version_id: int | None = Field(None, ge=1)
    baseline_version_id: int | None = Field(None, ge=1)
    judge: dict[str, Any] = Field(default_factory=dict)
    device: str = Field("auto", max_length=32)
    curation: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _method_defaults(cls, data: Any) -> Any:
        """Each method's settings take the job's device and seed (and GRPO its own defaults) unless it sets them."""
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        shared = {"device": data.get("device", "auto"), "seed": data.get("seed", 13)}
        for method, defaults in (("sft", {}), ("grpo", GRPO_DEFAULTS)):
            given = data.get(method)
            if given is None or isinstance(given, Mapping):
                data[method] = {**shared, **defaults, **dict(given or {})}
        return data


    @field_validator("methods")
    @classmethod
    def _distinct_methods(cls, value: list[str]) -> list[str]:
        if not value or len(set(value)) != len(value):
            raise ValueError(f"methods must be a non-empty subset of {list(METHODS)} without repeats.")
        return value

    @field_validator("seed_sources")
    @classmethod
    def _known_sources(cls, value: dict) -> dict:
        unknown = sorted(set(value) - set(SEED_SOURCES))
        if unknown:
            raise ValueError(f"Unknown seed source(s) {unknown}; choose from {', '.join(SEED_SOURCES)}.")
        teacher = value.get("teacher")
        if teacher is not None and int(dict(teacher).get("queries", 50)) < 1:
            raise ValueError("The teacher needs at least 1 query to rewrite.")
        return value

    @field_validator("rewards", mode="before")
    @classmethod
    def _reward_settings(cls, value: Any) -> Any:
        return RewardSettings.from_config(value) if value is None or isinstance(value, Mapping) else value

    @field_serializer("rewards")
    def _dump_rewards(self, rewards: RewardSettings) -> dict:
        return rewards.as_dict()

    @model_validator(mode="after")
    def _sft_needs_seed_pairs(self) -> RewriterTrainingConfig:
        if "sft" in self.methods and not self.seed_sources:
            raise ValueError("SFT needs at least one seed source: a seed file (jsonl), kept rewrites of synthesis "
                             "jobs (synthesis) or a teacher.")
        return self
