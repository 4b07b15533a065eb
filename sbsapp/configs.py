"""The typed configuration of an SBS campaign: stated once, used by the campaign form, the API's create and
`campaigns.campaign_create`, so a limit (and its message) is the same everywhere."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, create_model, field_validator, model_validator

from core.configs import JobConfig
from retrieval.models import Query

from .models import Campaign

Segment = Literal[tuple(Query.Segment.values)]
QueryType = Literal[tuple(Query.QueryType.values)]
IdenticalLists = Literal[tuple(Campaign.IdenticalLists.values)]
Allocation = Literal[tuple(Campaign.Allocation.values)]
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
    allocation: Allocation = Field(Campaign.Allocation.PROPORTIONAL.value, title="How the sample is spread",
                                   description="proportional: each (segment, query type) stratum in its share of "
                                               "the data set; equal_segments: each segment an equal share (query "
                                               "types proportional within it), so the few tail queries are as well "
                                               "represented as the head.")
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
    plan_min_delta: float | None = Field(
        None, ge=0.01, le=1, title="Smallest ΔGSB worth detecting",
        description="Plan the campaign's size for this difference (for example 0.1); empty: no plan.")
    plan_alpha: float = Field(0.05, ge=0.001, le=0.2, title="Significance level (α)",
                              description="The plan's level, and the sequential verdict's false-stop rate.")
    plan_power: float = Field(0.8, ge=0.5, le=0.99, title="Power",
                              description="Chance that a campaign of the planned size detects that difference.")
    auto_close: bool = Field(False, title="Close when the verdict is in",
                             description="Close the campaign automatically once the sequential verdict says stop.")

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


class PlanInputs(JobConfig):
    """Base of `PlanRequest`: a plan needs the difference to detect."""

    @model_validator(mode="after")
    def needs_a_difference(self) -> PlanInputs:
        if self.plan_min_delta is None:
            raise ValueError("State the smallest ΔGSB worth detecting to get a plan.")
        return self


PLAN_INPUTS = ("system_a", "judgments_per_item", "control_share", "plan_min_delta", "plan_alpha", "plan_power")
# The inputs of a plan alone, with `CampaignConfig`'s very fields (and limits): the campaign form's live preview
# and the API's plan endpoint. System A names the data set whose earlier campaigns give the variance.
PlanRequest = create_model(
    "PlanRequest", __base__=PlanInputs, __module__=__name__,
    **{name: (CampaignConfig.model_fields[name].annotation, CampaignConfig.model_fields[name]) for name in PLAN_INPUTS},
)
