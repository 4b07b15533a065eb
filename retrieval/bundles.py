"""The dataset bundle on disk (DESIGN.md § Data): file names, columns, and a writer used by generators/converters."""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Iterable

CATALOG = "catalog.jsonl"
QUERIES = "queries.jsonl"
INTERACTIONS = "interactions.tsv"
QRELS = "qrels.tsv"
MANIFEST = "bundle.json"
INTERACTION_COLUMNS = ["query_id", "product_id", "impressions", "clicks", "purchases"]
QREL_COLUMNS = ["query_id", "product_id", "grade", "split"]


def write_bundle(
    out_dir: Path | str,
    *,
    manifest: dict,
    products: Iterable[dict],
    queries: Iterable[dict],
    interactions: Iterable[dict] = (),
    qrels: Iterable[dict] = (),
) -> Path:
    """Write one bundle folder; rows are dicts with the DESIGN.md fields. Returns the folder."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    _write_jsonl(out / CATALOG, products)
    _write_jsonl(out / QUERIES, queries)
    _write_tsv(out / INTERACTIONS, INTERACTION_COLUMNS, interactions)
    _write_tsv(out / QRELS, QREL_COLUMNS, qrels)
    return out


def _write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def _write_tsv(path: Path, columns: list[str], rows: Iterable[dict]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, delimiter="\t", lineterminator="\n", extrasaction="raise")
        writer.writeheader()
        writer.writerows(rows)
