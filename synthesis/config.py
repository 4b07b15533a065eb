"""The synthesis job's typed configuration: what to mine, how to rewrite, retrieve, judge and curate.

One model for the staff form (`forms.SynthesisJobForm`), the API (`api.SynthesisJobViewSet.create`) and the job
(`services.synthesis_work`), so each limit is stated once here. Stored as the Job's config (`as_dict()`).
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from core.configs import JobConfig

from .mining import QUERY_TYPES, MiningCriteria
from .pipeline import CurationSettings

Segment = Literal["head", "torso", "tail"]
QueryType = Literal[QUERY_TYPES]  # type: ignore[valid-type]  (the tagger's types, one list)
MAX_ID = 2**63 - 1


class SynthesisConfig(JobConfig):
    """Everything a synthesis job needs. Omitted options take these defaults."""

    dataset_id: int = Field(ge=1, le=MAX_ID)
    retriever_version_id: int = Field(ge=1, le=MAX_ID, title="Retriever version",
                                      description="The strong offline retriever every rewrite goes through "
                                                  "(a hybrid BM25 + dense version, large K).")
    baseline_version_id: int = Field(ge=1, le=MAX_ID, title="Baseline version",
                                     description="The online baseline: a kept product it misses in its top-K is "
                                                 "flagged incremental.")
    judge_backend: Literal["cross-encoder", "llm"] = "cross-encoder"
    judge_version_id: int | None = Field(None, ge=1, le=MAX_ID,
                                         description="A ready judge version (cross-encoder or bi-encoder). Empty: "
                                                     "the data set's best-measured ready judge (highest AUC on "
                                                     "held-out tail labels).")
    threshold: float | None = Field(None, ge=0, le=1,
                                    description="Keep products judged at or above. Empty: the judge version's "
                                                "calibrated threshold (shown with the judge), 0.5 for the LLM judge.")
    rewriter_backend: Literal["hf-local", "openai"] = "hf-local"
    rewriter_model: str = Field("", max_length=500,
                                description="Empty: the shipped SmolLM2-135M-Instruct (or REWRITER_MODEL).")
    candidates: int = Field(4, ge=1, le=16, description="Rewrites per query.")
    retrieve_k: int = Field(100, ge=1, le=2000, description="Products per rewrite.")
    baseline_k: int = Field(100, ge=1, le=2000)
    max_pairs_per_query: int = Field(20, ge=1, le=1000)
    hard_negatives_per_query: int = Field(10, ge=0, le=1000,
                                          description="Judge rejections kept per query (best-retrieved first), "
                                                      "with their scores: the hard negatives of soft labels.")
    drop_logged: bool = Field(True, description="Drop pairs already clicked in the logs.")
    segments: list[Segment] = Field(default_factory=lambda: ["tail"])
    max_clicks: int | None = Field(None, ge=0, le=2**31 - 1,
                                   description="Also take queries with fewer logged clicks than this.")
    types: list[QueryType] = Field(default_factory=list,
                                   description="Only queries tagged with one of these (none: all).")
    max_queries: int | None = Field(None, ge=1, le=10**7)
    holdout_share: float = Field(0.0, ge=0, lt=1,
                                 description="Keep this seeded share of the long-tail queries out of synthesis, to "
                                             "measure the effect on tail queries the job never saw.")
    holdout_seed: int = Field(13, ge=-(2**31), le=2**31 - 1)
    llm_tagger: bool = Field(False, description="Also tag types with the LLM endpoint.")
    chunk_size: int = Field(16, ge=1, le=512, description="Queries written per transaction.")
    batch_size: int = Field(8, ge=1, le=4096)
    device: str = Field("auto", max_length=32)
    seed: int = Field(13, ge=-(2**31), le=2**31 - 1)

    @model_validator(mode="after")
    def _some_queries_are_long_tail(self) -> SynthesisConfig:
        if not self.segments and self.max_clicks is None:
            raise ValueError("Choose at least one segment or a click threshold, or no query is long-tail.")
        return self

    @property
    def criteria(self) -> MiningCriteria:
        return MiningCriteria(segments=tuple(self.segments), max_clicks=self.max_clicks, types=tuple(self.types),
                              limit=self.max_queries, seed=self.seed,
                              holdout_share=self.holdout_share, holdout_seed=self.holdout_seed)

    @property
    def curation(self) -> CurationSettings:
        if self.threshold is None:
            raise ValueError("The keep threshold is not decided yet (see services.with_keep_threshold).")
        return CurationSettings(retrieve_k=self.retrieve_k, threshold=self.threshold,
                                max_pairs_per_query=self.max_pairs_per_query, drop_logged=self.drop_logged,
                                hard_negatives=self.hard_negatives_per_query)
