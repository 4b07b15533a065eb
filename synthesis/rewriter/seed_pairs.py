"""Seed pairs for supervised fine-tuning: (query -> rewrite) examples from a JSONL file, from kept rewrites of
earlier synthesis jobs, or from a teacher model behind the `openai` backend (distilling a big model into the small
local one), cleaned the way the pipeline cleans rewrites."""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .parsing import clean_rewrite, dedupe_rewrites, normalise_query

logger = logging.getLogger(__name__)

SEED_SOURCES = ("jsonl", "synthesis", "teacher")


@dataclass(frozen=True)
class SeedPair:
    """One supervised example: the rewriter should answer `query` with `rewrite`."""

    query: str
    rewrite: str
    source: str


class SeedDataError(ValueError):
    """A seed file has bad rows; the message lists them as `file:line: reason`."""


def seed_pairs_from_jsonl(path: str | Path) -> list[SeedPair]:
    """Pairs from a JSONL file: `{"query": str, "rewrites": [str, ...]}` (or `"rewrite": str`) per line.

    Every bad line is reported (`file:line: reason`) and nothing is returned if there is one.
    """
    path = Path(path)
    if not path.is_file():
        raise SeedDataError(f"{path}: no such seed file")
    pairs, problems = [], []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"{path.name}:{number}"
            try:
                row = json.loads(line)
            except ValueError as exc:
                problems.append(f"{where}: not JSON ({exc.msg})")
                continue
            if not isinstance(row, dict):
                problems.append(f"{where}: expected an object with `query` and `rewrites`")
                continue
            query = row.get("query")
            rewrites = row.get("rewrites", [row["rewrite"]] if "rewrite" in row else None)
            if not isinstance(query, str) or not query.strip():
                problems.append(f"{where}: `query` must be a non-empty string")
                continue
            if isinstance(rewrites, str):
                rewrites = [rewrites]
            if not isinstance(rewrites, list) or not rewrites or not all(isinstance(r, str) for r in rewrites):
                problems.append(f"{where}: `rewrites` must be a non-empty list of strings")
                continue
            pairs.extend(SeedPair(query.strip(), rewrite, "jsonl") for rewrite in rewrites)
    if problems:
        shown = "\n".join(problems[:20]) + (f"\n... and {len(problems) - 20} more" if len(problems) > 20 else "")
        raise SeedDataError(f"{len(problems)} bad seed row(s):\n{shown}")
    return clean_seed_pairs(pairs)


def seed_pairs_from_synthesis(*, job_ids: Sequence[int] | None = None, dataset=None,
                              min_kept: int = 1) -> list[SeedPair]:
    """Rewrites of earlier synthesis jobs that found at least `min_kept` kept products, best (most kept) first."""
    from synthesis.models import RewriteCandidate

    if min_kept < 1:
        raise ValueError("min_kept must be at least 1")
    rows = RewriteCandidate.objects.filter(kept__gte=min_kept)
    if job_ids:
        rows = rows.filter(job_id__in=list(job_ids))
    if dataset is not None:
        rows = rows.filter(query__dataset=dataset)
    rows = rows.order_by("query_id", "-kept", "rank", "pk").values_list("query__text", "text")
    return clean_seed_pairs(SeedPair(query, text, "synthesis") for query, text in rows.iterator(chunk_size=2000))


def seed_pairs_from_teacher(*, queries: Sequence[str], rewriter, n: int = 3) -> list[SeedPair]:
    """Rewrites a teacher (usually the `openai` backend on a big model) proposes for `queries`, `n` each."""
    if n < 1:
        raise ValueError("n must be at least 1")
    queries = list(queries)
    answers = rewriter.rewrite(queries, n) if queries else []
    return clean_seed_pairs(SeedPair(query, rewrite, "teacher")
                            for query, rewrites in zip(queries, answers) for rewrite in rewrites)


def clean_seed_pairs(pairs: Iterable[SeedPair]) -> list[SeedPair]:
    """Cleaned rewrites (list markers, quotes, length caps), without empties, copies of the query or repeats."""
    by_query: dict[str, list[SeedPair]] = {}
    for pair in pairs:
        by_query.setdefault(pair.query, []).append(pair)
    cleaned = []
    for query, group in by_query.items():
        sources = {}
        for pair in group:
            sources.setdefault(clean_rewrite(pair.rewrite), pair.source)
        for rewrite in dedupe_rewrites(list(sources), query=query):
            cleaned.append(SeedPair(query, rewrite, sources[rewrite]))
    return cleaned


def collect_seed_pairs(*, sources: dict, dataset, training_queries: Sequence[str],
                       held_out_queries: Collection[str] = (),
                       log: Callable[[str], None] = logger.info) -> tuple[list[SeedPair], dict]:
    """The seed pairs of every configured source, and a manifest of counts by source.

    `{"jsonl": path}`, `{"synthesis": {"job_ids": [...], "min_kept": 1}}` (job_ids empty = every job of the
    data set), `{"teacher": {"queries": 50, "n": 3, "base_url": ..., "model": ...}}` (the teacher rewrites that
    many training queries). Pairs for a held-out query are dropped (and counted), so that the evaluation on
    held-out queries never scores a rewriter on rewrites it was taught.
    """
    pairs: list[SeedPair] = []
    manifest: dict[str, Any] = {}
    if "jsonl" in sources:
        found = seed_pairs_from_jsonl(sources["jsonl"])
        manifest["jsonl"] = {"path": str(sources["jsonl"]), "pairs": len(found)}
        pairs += found
    if "synthesis" in sources:
        options = dict(sources["synthesis"] or {})
        found = seed_pairs_from_synthesis(job_ids=options.get("job_ids") or None, dataset=dataset,
                                          min_kept=int(options.get("min_kept", 1)))
        manifest["synthesis"] = {"job_ids": options.get("job_ids") or "all", "pairs": len(found)}
        pairs += found
    if "teacher" in sources:
        from .backends import load_rewriter

        options = dict(sources["teacher"] or {})
        count, n = int(options.pop("queries", 50)), int(options.pop("n", 3))
        teacher = load_rewriter(backend="openai", **options)
        found = seed_pairs_from_teacher(queries=list(training_queries)[:count], rewriter=teacher, n=n)
        manifest["teacher"] = {**teacher.describe(), "queries": min(count, len(training_queries)),
                               "pairs": len(found)}
        pairs += found
    held_out = {normalise_query(q) for q in held_out_queries}
    cleaned = clean_seed_pairs(pairs)
    pairs = [p for p in cleaned if normalise_query(p.query) not in held_out]
    manifest["dropped_held_out"] = len(cleaned) - len(pairs)
    manifest["pairs"] = len(pairs)
    manifest["queries"] = len({p.query for p in pairs})
    log(f"seed pairs: {manifest}")
    return pairs, manifest

