"""The job kinds known to this project: filled by `jobs.registry.job_kind`, read by `Job.kind`'s choices, the
job starter, the admin and the API. Plain data, so that the model can read it without importing the runner."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class JobKind:
    name: str
    work: Callable
    queue: str
    title: str
    legacy_task_names: tuple[str, ...] = field(default=())

    @property
    def task_name(self) -> str:
        return f"jobs.{self.name}"


KINDS: dict[str, JobKind] = {}
# kind -> functions that free what a job of that kind held (a version `indexing`, a campaign `generating`) when it
# is ended without its work reaching its own end: registered with `jobs.registry.job_release`.
RELEASES: dict[str, list[Callable]] = {}


def kind_choices() -> list[tuple[str, str]]:
    return sorted((kind.name, kind.title) for kind in KINDS.values())


def get_kind(name: str) -> JobKind:
    try:
        return KINDS[name]
    except KeyError:
        raise LookupError(f"Unknown job kind {name!r}; known: {', '.join(sorted(KINDS)) or 'none'}.") from None
