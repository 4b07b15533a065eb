"""A retriever version's configuration, typed once (pydantic, `core.configs.JobConfig`) and used everywhere.

- `DenseParams`, `Bm25Params`, `HybridParams`: the hyper-parameters of each kind (stored in
  `RetrieverVersion.hyperparams` with every default filled in); their fields carry the limits.
- `VersionBuildConfig`: what a user gives to build a version (data set, name, kind, base model, seed and
  the hyper-parameters). The admin add form, `manage.py train_retriever` and the services validate through it,
  so a limit and its message are stated here only.
- `VersionJobConfig` / `EvaluateJobConfig`: the config stored on the build, rebuild and evaluation jobs.

The nested `index` (FAISS) and `bm25` options keep their own defaults and checks in `indexes.index_config`
and `bm25.bm25_config`, which the models call.
"""
from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, field_serializer, field_validator, model_validator

from core.configs import JobConfig, Slug, validate_config

from ..losses import LOSSES
from ..product_text import DEFAULT_FIELDS, validate_fields

KINDS = ("bm25", "dense", "hybrid")
DEFAULT_SEED = 13


class VersionParams(JobConfig):
    """Base of the per-kind hyper-parameters: an unknown option names the kind and the known options."""

    kind: ClassVar[str]

    @model_validator(mode="before")
    @classmethod
    def _known_options(cls, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = set(data) - set(cls.model_fields)
            if unknown:
                raise ValueError(f"Unknown option(s) for a {cls.kind} version: {sorted(unknown)}; "
                                 f"known: {sorted(cls.model_fields)}.")
        return data


class HardNegatives(JobConfig):
    """Mine hard negatives from another (ready) version's results: ranks skip_top+1 .. top_k, `count` per pair."""

    from_version: str = Field(min_length=1, description="name of a ready version of the same data set")
    top_k: int = Field(50, ge=1)
    skip_top: int = Field(3, ge=0)
    count: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _window(self):
        if self.top_k <= self.skip_top:
            raise ValueError("hard_negatives needs top_k > skip_top.")
        return self


class ExtraSource(JobConfig):
    """Training pairs from a registered pair source, either mixed into the epoch's budget with `ratio` (None:
    natural proportion), or added on top of it with `per_pair` examples per pair (the logs keep every example
    they would have without the source)."""

    name: str = Field(min_length=1)
    params: dict[str, Any] | None = None
    ratio: float | None = Field(None, ge=0, lt=1)
    per_pair: float | None = Field(None, gt=0, le=10)

    @model_validator(mode="after")
    def _one_mixing_rule(self) -> "ExtraSource":
        if self.ratio is not None and self.per_pair is not None:
            raise ValueError("An extra source takes a share of the budget (ratio) or adds to it (per_pair), not both.")
        return self

    @field_validator("name")
    @classmethod
    def _registered(cls, value: str) -> str:
        from ..pair_sources import UnknownPairSource, get_pair_source

        try:
            get_pair_source(value)
        except UnknownPairSource as exc:
            raise ValueError(str(exc)) from None
        return value


class MarginSource(JobConfig):
    """Soft-label triples from a registered margin source (`retrieval.margin_sources`), trained with MarginMSE and
    added on top of the log examples: `per_triple` examples per triple per epoch."""

    name: str = Field(min_length=1)
    params: dict[str, Any] | None = None
    per_triple: float = Field(1.0, gt=0, le=10)

    @field_validator("name")
    @classmethod
    def _registered(cls, value: str) -> str:
        from ..margin_sources import get_margin_source

        get_margin_source(value)  # its ValueError names the registered sources
        return value


class ProductTextParams(VersionParams):
    """The product fields the retriever reads (see `product_text`)."""

    fields: list[str] = Field(default_factory=lambda: list(DEFAULT_FIELDS))

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, value: list[str]) -> list[str]:
        return list(validate_fields(value))


class DenseParams(ProductTextParams):
    kind: ClassVar[str] = "dense"

    train: bool = Field(True, description="False: zero-shot (the base encoder as it is)")
    epochs: int = Field(1, ge=1, description="passes over the sampled examples (with early stopping: at most)")
    early_stopping: bool = Field(False, description="measure nDCG@10 on a validation split of `train` labels after "
                                                    "every epoch, stop when it stops improving, keep the best epoch")
    validation_queries: int = Field(200, ge=1, le=100_000, description="early stopping: validation queries")
    validation_distractors: int = Field(1000, ge=0, le=1_000_000,
                                        description="early stopping: unlabelled products ranked with the labelled")
    batch_size: int = Field(32, ge=2, description="in-batch negatives need company")
    learning_rate: float = Field(5e-5, gt=0)
    warmup_ratio: float = Field(0.1, ge=0)
    temperature: float = Field(0.05, gt=0, le=1)
    loss: Literal[LOSSES] = "mnrl"  # type: ignore[valid-type]
    mini_batch_size: int = Field(16, ge=1, description="cached_mnrl only")
    random_negatives: int = Field(1, ge=0)
    hard_negatives: HardNegatives | None = None
    click_weight: float = Field(1.0, ge=0)
    purchase_weight: float = Field(3.0, ge=0)
    samples_per_epoch: int | None = Field(None, ge=1)
    mask_train_qrels: bool = True
    extra_sources: list[ExtraSource] = Field(default_factory=list)
    margin_sources: list[MarginSource] = Field(default_factory=list, description="soft-label triples (MarginMSE)")
    max_seq_length: int = Field(128, ge=1)
    query_max_seq_length: int = Field(32, ge=1)
    encode_batch_size: int = Field(64, ge=1)
    index: dict[str, Any] = Field(default_factory=dict, validate_default=True, description="FAISS index options")

    @field_validator("index")
    @classmethod
    def _index(cls, value: dict) -> dict:
        from ..indexes import index_config

        return index_config(value)

    @field_validator("extra_sources")
    @classmethod
    def _ratios(cls, value: list[ExtraSource]) -> list[ExtraSource]:
        if sum(source.ratio or 0 for source in value) >= 1:
            raise ValueError("The extra sources' ratios must add up to less than 1.")
        return value

    @field_serializer("extra_sources", "margin_sources")
    def _sources_as_given(self, value: list[ExtraSource | MarginSource]) -> list[dict]:
        return [source.model_dump(mode="json", exclude_none=True) for source in value]


class Bm25Params(ProductTextParams):
    kind: ClassVar[str] = "bm25"

    bm25: dict[str, Any] = Field(default_factory=dict, validate_default=True, description="BM25 options")

    @field_validator("bm25")
    @classmethod
    def _bm25(cls, value: dict) -> dict:
        from ..bm25 import bm25_config

        return bm25_config(value)


class HybridParams(VersionParams):
    kind: ClassVar[str] = "hybrid"

    components: list[str] = Field(default_factory=list, validate_default=True, description="names of the bm25/dense versions to fuse")
    rrf_k: int = Field(60, ge=1)
    depth: int = Field(100, ge=1)

    @field_validator("components")
    @classmethod
    def _two_or_more(cls, value: list[str]) -> list[str]:
        if len(set(value)) < 2:
            raise ValueError("A hybrid version needs \"components\": a list of at least two version names.")
        return value


PARAMS: dict[str, type[VersionParams]] = {"dense": DenseParams, "bm25": Bm25Params, "hybrid": HybridParams}


def normalize_config(*, kind: str, config: dict | None, dataset=None) -> dict:
    """The full hyper-parameters of a version (defaults filled in), validated; raises ValueError (`ConfigInvalid`)
    with a plain message. `base_model` and `seed` may ride along in `config`; they are not hyper-parameters."""
    if kind not in PARAMS:
        raise ValueError(f"Unknown retriever kind {kind!r}; choose bm25, dense or hybrid.")
    config = {key: value for key, value in (config or {}).items() if key not in ("base_model", "seed")}
    return validate_config(PARAMS[kind], config).as_dict()


class VersionBuildConfig(JobConfig):
    """What a user gives to build a version; `config` comes back with its defaults filled in."""

    dataset: str = Field(min_length=1, description="data set name")
    name: Slug = Field(min_length=1, max_length=100, description="the new version's name (a slug)")
    kind: Literal["bm25", "dense", "hybrid"] = "dense"
    base_model: str = Field("", max_length=300, description="dense: encoder folder or Hugging Face id")
    seed: int = Field(DEFAULT_SEED, ge=0, le=2**31 - 1)
    config: dict[str, Any] = Field(default_factory=dict, description="the kind's hyper-parameters")

    @model_validator(mode="before")
    @classmethod
    def _definition_inside_config(cls, data: Any) -> Any:
        """`base_model` and `seed` may also ride inside `config` (a config copied from a version's definition);
        an explicit `base_model` wins, the config's `seed` wins."""
        if not isinstance(data, dict) or not isinstance(data.get("config"), dict):
            return data
        config = dict(data["config"])
        data = {**data, "config": config}
        base_model, seed = config.pop("base_model", None), config.pop("seed", None)
        if base_model and not data.get("base_model"):
            data["base_model"] = base_model
        if seed is not None:
            data["seed"] = seed
        return data


    @field_validator("config")
    @classmethod
    def _params(cls, value: dict, info) -> dict:
        kind = info.data.get("kind")
        return normalize_config(kind=kind, config=value) if kind else value


class VersionJobConfig(JobConfig):
    """The config of a build or index-rebuild job: which version."""

    version_id: int
    version: str = ""


class EvaluateJobConfig(VersionJobConfig):
    depth: int = Field(100, ge=1, le=10_000, description="results retrieved per query (Recall@depth)")
