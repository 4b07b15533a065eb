"""The typed configuration of an SBS campaign: stated once, used by the campaign form, the API's create and
`campaigns.campaign_create`, so a limit (and its message) is the same everywhere."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from core.configs import JobConfig
from retrieval.models import Query

from .models import Campaign

Segment = Literal[tuple(Query.Segment.values)]
QueryType = Literal[tuple(Query.QueryType.values)]
IdenticalLists = Literal[tuple(Campaign.IdenticalLists.values)]
INT32 = 2**31


class CampaignConfig(JobConfig):
    """A campaign's settings. The systems are retriever versions named by their (unique) names."""

    name: str = Field(min_length=1, max_length=200, description="A unique name for the campaign.")
    system_a: str = Field(max_length=100, title="System A (baseline)",
                          description="Name of the baseline retriever version.")
    system_b: str = Field(max_length=100, title="System B (treatment)",
                          description="Name of the treatment retriever version.")
    instructions: str = Field("", max_length=20000, description="Markdown. Shown to annotators above every item.")
    segments: list[Segment] = Field(default_factory=list, description="Segments to sample (empty: all).")
    query_types: list[QueryType] = Field(default_factory=list, description="Query types to sample (empty: all).")
    sample_size: int = Field(100, ge=1, le=100_000, description="How many queries to sample.")
    seed: int = Field(13, ge=-INT32, le=INT32 - 1, description="Seed of the query sample and the controls.")
    k: int = Field(10, ge=1, le=100, title="Results per side (K)", description="Results per side.")
    judgments_per_item: int = Field(3, ge=1, le=50, description="How many annotators judge each item.")
    control_share: float = Field(0.1, ge=0, le=0.5,
                                 description="Share of sampled queries shown as A-vs-A controls.")
    identical_lists: IdenticalLists = Field(Campaign.IdenticalLists.CONTROL.value,
                                            title="When both systems return the same list")
    reservation_minutes: int = Field(10, ge=1, le=1440,
                                     description="How long an item served to an annotator stays reserved for them.")

    @field_validator("name")
    @classmethod
    def name_is_not_blank(cls, name: str) -> str:
        name = name.strip()
        if not name:
            raise ValueError("The name cannot be blank.")
        return name

    @field_validator("segments", "query_types")
    @classmethod
    def distinct_sorted(cls, values: list[str]) -> list[str]:
        return sorted(set(values))

    @model_validator(mode="after")
    def two_systems(self) -> CampaignConfig:
        if self.system_a == self.system_b:
            raise ValueError("System A and system B must be two different retriever versions.")
        return self


class CampaignCreateRequest(CampaignConfig):
    """The API's create body: the campaign's settings and whether to start freezing its lists right away."""

    generate: bool = Field(True, description="Start freezing the result lists right away (a background job); "
                                             "false leaves a draft.")

    def campaign_config(self) -> CampaignConfig:
        return CampaignConfig.model_validate(self.model_dump(exclude={"generate"}))
