"""Import services: open a source in any supported format, validate all of it, then write it in one transaction.

`import_dataset` is what the `import_bundle` management command and the `import` job call.
If validation finds any problem, nothing is written and `ImportRejected` lists the problems as
`file:line: reason`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.utils.text import slugify

from core.configs import ConfigInvalid, validate_config
from jobs.registry import job_kind

from .config import FORMATS, ImportConfig, ImportOptions
from .progress import JobProgress
from .readers.bundle import looks_like_bundle, open_bundle
from .readers.esci import looks_like_esci, open_esci
from .readers.wands import looks_like_wands, open_wands
from .rows import Problem, Source
from .validation import ProgressCallback, validate_source
from .writer import write_source

SHOWN_PROBLEMS = 50


class ImportSetupError(ValueError):
    """The import cannot start: no such folder, unknown format, unusable dataset name or options."""


class ImportRejected(Exception):
    """Validation found bad rows; nothing was written."""

    def __init__(self, *, problems: list[Problem], problem_count: int):
        self.problems = problems
        self.problem_count = problem_count
        super().__init__("\n".join(self.report_lines()))

    def report_lines(self, *, limit: int = SHOWN_PROBLEMS) -> list[str]:
        """The problems as `file:line: reason`, at most `limit` of them, then "... and N more"."""
        lines = [str(problem) for problem in self.problems[:limit]]
        hidden = self.problem_count - len(lines)
        if hidden > 0:
            lines.append(f"... and {hidden} more")
        noun = "problem" if self.problem_count == 1 else "problems"
        return [f"import rejected: {self.problem_count} {noun}; nothing was written", *lines]


@dataclass
class ImportSummary:
    dataset: str
    format: str
    counts: dict[str, dict[str, int]]
    validate_seconds: float
    write_seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "format": self.format,
            "counts": self.counts,
            "validate_seconds": round(self.validate_seconds, 2),
            "write_seconds": round(self.write_seconds, 2),
        }

    def lines(self) -> list[str]:
        lines = [f"imported {self.format} into dataset '{self.dataset}' "
                 f"(validated in {self.validate_seconds:.1f} s, written in {self.write_seconds:.1f} s)"]
        for kind, tally in self.counts.items():
            lines.append(f"  {kind}: {tally.get('created', 0)} new, {tally.get('updated', 0)} updated")
        return lines


def detect_format(path: Path) -> str:
    """The format of a data set folder, from the files it holds."""
    if looks_like_bundle(path):
        return "bundle"
    if looks_like_esci(path):
        return "esci"
    if looks_like_wands(path):
        return "wands"
    raise ImportSetupError(
        f"{path}: cannot tell the format: expected catalog.jsonl (bundle), "
        "shopping_queries_dataset_*.parquet (esci) or product.csv + query.csv (wands); use --format"
    )


def open_source(*, path: Path, fmt: str, options: ImportOptions) -> Source:
    if fmt == "bundle":
        return open_bundle(path)
    if fmt == "esci":
        return open_esci(path, locales=options.locales, small_version_only=options.esci_small_version_only)
    if fmt == "wands":
        return open_wands(path, test_share=options.wands_test_share)
    raise ImportSetupError(f"unknown format {fmt!r} (expected one of {', '.join(FORMATS)})")


def import_dataset(
    *,
    path: Path | str,
    fmt: str = "auto",
    name: str | None = None,
    options: ImportOptions | None = None,
    progress: ProgressCallback | None = None,
) -> ImportSummary:
    """Validate the data set at `path` completely, then write it (upsert by natural keys) in one transaction.

    Raises ImportSetupError before reading anything if the folder, format or name is unusable, and
    ImportRejected (nothing written) if any row is bad.
    """
    options = options or ImportOptions()
    path = Path(path)
    if not path.is_dir():
        raise ImportSetupError(f"{path}: no such folder")
    fmt = detect_format(path) if fmt in ("auto", None) else fmt
    try:
        source = open_source(path=path, fmt=fmt, options=options)
    except ValueError as exc:
        raise ImportSetupError(str(exc)) from exc
    dataset_name = slugify(name or source.default_name)[:100]
    if not dataset_name:
        raise ImportSetupError(f"dataset name {name or source.default_name!r} has no letters or digits; use --name")

    started = time.monotonic()
    report = validate_source(source=source, segment_rule=options.segment_rule, progress=progress)
    validated = time.monotonic()
    if not report.ok:
        raise ImportRejected(problems=report.problems, problem_count=report.problem_count)
    _, counts = write_source(
        source=source,
        report=report,
        dataset_name=dataset_name,
        source_path=str(path.resolve()),
        batch_size=options.batch_size,
        progress=progress,
    )
    return ImportSummary(dataset=dataset_name, format=fmt, counts=counts,
                         validate_seconds=validated - started, write_seconds=time.monotonic() - validated)


@job_kind("import", title="Import a data set", legacy_task_names=("retrieval.tasks.import_bundle_task",))
def import_bundle_work(ctx) -> dict[str, Any]:
    """Run an import as a Job; its config is an `ImportConfig` (`path` required, the rest as documented there).

    The import is one transaction, so a worker killed mid-import leaves nothing behind and the re-sent job
    starts over; since rows are upserted by natural keys, running it twice never duplicates anything.
    A rejected import fails the Job with the bad rows in its error.
    """
    try:
        config = validate_config(ImportConfig, ctx.config)
    except ConfigInvalid as exc:
        raise ImportSetupError(f"bad import options: {exc}") from None
    ctx.log(f"importing {config.path} (format {config.format})")
    summary = import_dataset(path=config.path, fmt=config.format, name=config.name, options=config.options(),
                             progress=JobProgress(ctx))
    total = sum(sum(tally.values()) for tally in summary.counts.values())
    ctx.progress(total, total, **{kind: sum(t.values()) for kind, t in summary.counts.items()})
    for line in summary.lines():
        ctx.log(line)
    return summary.as_dict()
