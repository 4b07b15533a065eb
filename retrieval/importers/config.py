"""The typed configuration of an import (`ImportConfig`, a `core.configs.JobConfig`): what `manage.py
import_bundle` and the `import` job accept, with each limit stated once; `ImportOptions` is what the readers
and the writer are given."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from core.configs import JobConfig

from .readers.wands import DEFAULT_TEST_SHARE
from .segments import SegmentRule
from .writer import DEFAULT_BATCH_SIZE

FORMATS = ("bundle", "esci", "wands")


@dataclass(frozen=True)
class ImportOptions:
    """Format options. `locales`/`esci_small_version_only` apply to ESCI, `wands_test_share` to WANDS."""

    locales: tuple[str, ...] = ()
    esci_small_version_only: bool = False
    wands_test_share: float = DEFAULT_TEST_SHARE
    segment_rule: SegmentRule = field(default_factory=SegmentRule)
    batch_size: int = DEFAULT_BATCH_SIZE


class ImportConfig(JobConfig):
    """An import: the folder, its format and name, the format options and the segment rule."""

    path: str = Field(min_length=1, description="folder holding the data set files")
    format: Literal[("auto", *FORMATS)] = "auto"  # type: ignore[valid-type]
    name: str | None = Field(None, max_length=100, description="dataset name (default: from the source)")
    locales: list[str] = Field(default_factory=list, description="ESCI: only these product locales")
    esci_small_version_only: bool = False
    wands_test_share: float = Field(DEFAULT_TEST_SHARE, ge=0, le=1,
                                    description="WANDS: share of queries whose labels go to test")
    batch_size: int = Field(DEFAULT_BATCH_SIZE, ge=1, le=100_000, description="rows per database write")
    head_share: float = Field(0.5, gt=0, le=1)
    torso_share: float = Field(0.8, gt=0, le=1)
    head_min_frequency: int | None = Field(None, ge=1)
    torso_min_frequency: int | None = Field(None, ge=1)

    @field_validator("format", mode="before")
    @classmethod
    def _auto(cls, value: Any) -> Any:
        return value or "auto"

    @field_validator("name", mode="before")
    @classmethod
    def _no_name(cls, value: Any) -> Any:
        return value or None

    @field_validator("locales", mode="before")
    @classmethod
    def _no_locales(cls, value: Any) -> Any:
        return list(value) if isinstance(value, tuple) else value or []

    @model_validator(mode="after")
    def _segments(self):
        self.segment_rule()  # raises ValueError with the rule's own message
        return self

    def segment_rule(self) -> SegmentRule:
        return SegmentRule(head_share=self.head_share, torso_share=self.torso_share,
                           head_min_frequency=self.head_min_frequency, torso_min_frequency=self.torso_min_frequency)

    def options(self) -> ImportOptions:
        return ImportOptions(locales=tuple(self.locales), esci_small_version_only=self.esci_small_version_only,
                             wands_test_share=self.wands_test_share, segment_rule=self.segment_rule(),
                             batch_size=self.batch_size)
