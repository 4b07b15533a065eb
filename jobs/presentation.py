"""How the job pages word a job: durations as people say them, a configuration (or counts, or a result) as labelled
rows instead of a Python dict, and what the job made.

What a job made is found through Django's relation registry: every row of another app that points at the job (a
retriever version's `build_job`, a campaign's `generation_job`, a synthesis job's pairs, ...), so the jobs app
imports none of the apps above it; `templates/jobs/_outputs.html` links each kind of row to its page.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

from django.apps import apps
from django.utils import timezone

from .models import Job, JobShard

# Words that a plain "replace _ by a space and capitalise" gets wrong.
WORDS = {"k": "K", "id": "ID", "ids": "IDs", "llm": "LLM", "sft": "SFT", "grpo": "GRPO", "bm25": "BM25", "auc": "AUC",
         "ndcg": "nDCG", "mrr": "MRR", "lr": "LR", "ivf": "IVF", "hnsw": "HNSW", "url": "URL", "gsb": "GSB",
         "aa": "A/A"}
MAX_ROWS = 60  # a configuration longer than this shows its first rows and says how many more it has
LIST_SHOWN = 12  # items of a list value shown before "… and N more"


def job_title(job: Job) -> str:
    """The kind's title from the registry and the job's number: "Build a retriever version #12"."""
    return f"{job.get_kind_display()} #{job.pk}"


def format_seconds(seconds: float | None) -> str:
    """A duration as people say it: "45 s", "3 min 5 s", "2 h 4 min", "3 d 2 h"."""
    if seconds is None:
        return "—"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return None if start is None or end is None else max(0.0, (end - start).total_seconds())


def job_duration(job: Job, now: datetime | None = None) -> str:
    """How long the job ran (or has been running, or waiting), as a short phrase."""
    now = now or timezone.now()
    if job.status == Job.Status.QUEUED:
        return f"queued for {format_seconds(_seconds(job.created_at, now))}"
    if job.status == Job.Status.RUNNING:
        return f"running for {format_seconds(_seconds(job.started_at or job.created_at, now))}"
    if job.started_at is None:  # cancelled before a worker took it
        waited = format_seconds(_seconds(job.created_at, job.finished_at))
        return f"{job.get_status_display().lower()} after {waited} in the queue"
    return f"took {format_seconds(_seconds(job.started_at, job.finished_at or job.heartbeat_at))}"


def duration_seconds(job: Job, now: datetime | None = None) -> float | None:
    """Seconds the job has run: from its start to its end (or to now while it runs); None before it started."""
    end = (now or timezone.now()) if job.is_active else job.finished_at
    return _seconds(job.started_at, end)


def label(key: str, *, reference: bool = False) -> str:
    """A config key as a label: "retrieve_k" -> "Retrieve K"; a reference named by its row loses its "_id"
    ("retriever_version_id" -> "Retriever version")."""
    words = str(key).split("_")
    if reference and len(words) > 1 and words[-1] in ("id", "ids"):
        words = words[:-1] if words[-1] == "id" else [*words[:-2], words[-2] + "s"]
    text = " ".join(WORDS.get(word.lower(), word) for word in words if word)
    return text[:1].upper() + text[1:] if text else str(key)


@dataclass(frozen=True)
class Row:
    label: str
    text: str = ""
    rows: list[Row] = field(default_factory=list)  # a nested mapping, shown as a nested list


def readable(value) -> str:
    """One value in words: Yes/No, "—" for nothing, lists joined, floats at four significant digits."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if isinstance(value, (list, tuple)):
        if not value:
            return "none"
        shown = ", ".join(readable(item) if not isinstance(item, dict) else _inline(item)
                          for item in value[:LIST_SHOWN])
        return shown + (f" … and {len(value) - LIST_SHOWN} more" if len(value) > LIST_SHOWN else "")
    if isinstance(value, dict):
        return _inline(value)
    return str(value)


def _inline(mapping: dict) -> str:
    return "; ".join(f"{label(key)}: {readable(value)}" for key, value in mapping.items()) or "—"


@cache
def _models_by_noun() -> dict[str, type]:
    return {str(model._meta.verbose_name).lower(): model for model in apps.get_models()}


def reference(key: str, value) -> str | None:
    """A `<noun>_id` (or `<noun>_ids`) value named by its row when a model is called <noun> ("dataset_id": 3 ->
    "icecat (#3)"); None when the key is no such reference."""
    noun, _, suffix = str(key).rpartition("_")
    ids = value if suffix == "ids" and isinstance(value, list) else [value] if suffix == "id" else None
    if not ids or not all(isinstance(pk, int) and not isinstance(pk, bool) for pk in ids):
        return None
    model = _models_by_noun().get(noun.replace("_", " "))
    if model is None:
        return None
    named = {row.pk: str(row) for row in model._default_manager.filter(pk__in=ids)}
    return ", ".join(f"{named[pk]} (#{pk})" if pk in named else f"#{pk} (deleted)" for pk in ids)


def rows(mapping: dict | None, depth: int = 0) -> list[Row]:
    """A mapping (a job's config, counts or result) as labelled rows; nested mappings become nested rows, ids of
    known models their names."""
    out: list[Row] = []
    items = list((mapping or {}).items())
    for key, value in items[:MAX_ROWS]:
        if isinstance(value, dict) and value and depth < 2:
            out.append(Row(label(key), rows=rows(value, depth + 1)))
        else:
            named = reference(key, value)
            out.append(Row(label(key, reference=bool(named)), named or readable(value)))
    if len(items) > MAX_ROWS:
        out.append(Row("…", f"and {len(items) - MAX_ROWS} more settings"))
    return out


@dataclass(frozen=True)
class Output:
    """Rows of one model that point at the job through one field (`rows` holds the first few, `count` all)."""

    model: str  # "retrieval.RetrieverVersion"
    field: str  # "build_job"
    noun: str  # "retriever version"
    rows: list
    count: int


def job_outputs(job: Job, *, shown: int = 5) -> list[Output]:
    """Everything that points at the job, grouped by model and field, the most specific first."""
    outputs = []
    for relation in Job._meta.get_fields(include_hidden=True):
        if not (relation.auto_created and not relation.concrete and relation.is_relation):
            continue
        model = relation.related_model
        if model is JobShard:  # the job's own chunks (their counts are on the page), not something it made
            continue
        matching = model._default_manager.filter(**{relation.field.name: job})
        count = matching.count()
        if count:
            meta = model._meta
            outputs.append(Output(model=meta.label, field=relation.field.name,
                                  noun=str(meta.verbose_name if count == 1 else meta.verbose_name_plural),
                                  rows=list(matching[:shown]), count=count))
    return sorted(outputs, key=lambda output: output.count)
