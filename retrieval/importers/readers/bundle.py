"""Reader for the native dataset bundle (DESIGN.md § Data; file names and columns from `retrieval.bundles`).

`catalog.jsonl` and `queries.jsonl` are required; `interactions.tsv`, `qrels.tsv` and `bundle.json` are
optional (a catalogue with queries but no logs or labels is a valid bundle). A file that exists but is empty
is an error: the bundle writer always writes a header row.
"""
from __future__ import annotations

import json
from pathlib import Path

from ... import bundles
from ..rows import Kind, Location, Problem, Source, Table
from ..validation import nul_path
from .textfiles import count_lines, decoded_lines, delimited_rows, json_type_name, jsonl_rows


def looks_like_bundle(path: Path) -> bool:
    return (path / bundles.CATALOG).is_file() or (path / bundles.MANIFEST).is_file()


def open_bundle(path: Path) -> Source:
    problems: list[Problem] = []
    manifest = read_manifest(path / bundles.MANIFEST, problems)
    tables: list[Table] = []
    for kind, name, required in (
        (Kind.PRODUCTS, bundles.CATALOG, True),
        (Kind.QUERIES, bundles.QUERIES, True),
        (Kind.INTERACTIONS, bundles.INTERACTIONS, False),
        (Kind.QRELS, bundles.QRELS, False),
    ):
        file = path / name
        if not file.is_file():
            if required:
                problems.append(Problem(Location(name), "file not found"))
            continue
        tables.append(Table(kind=kind, file=name, read=_reader(kind, file, name), estimate=_estimate(kind, file)))
    default_name = str(manifest.get("name") or path.resolve().name)
    return Source(format="bundle", default_name=default_name, manifest=manifest, tables=tables, problems=problems)


def read_manifest(file: Path, problems: list[Problem]) -> dict:
    """Parse bundle.json into {name, description, license, grade_scale}; problems are appended."""
    if not file.is_file():
        return {}
    label = file.name
    chunks = []
    for number, text, error in decoded_lines(file):
        if error:
            problems.append(Problem(Location(label, number), error))
            return {}
        chunks.append(text)
    text = "".join(chunks)
    if not text.strip():
        problems.append(Problem(Location(label, 1), "empty file"))
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        problems.append(Problem(Location(label, exc.lineno), f"malformed JSON: {exc.msg} (column {exc.colno})"))
        return {}
    if not isinstance(value, dict):
        problems.append(Problem(Location(label, 1), f"expected a JSON object, got {json_type_name(value)}"))
        return {}
    manifest: dict = {}
    for key in ("name", "description", "license"):
        if value.get(key) is None:
            continue
        if not isinstance(value[key], str):
            problems.append(Problem(Location(label, 1), f"'{key}' must be a string"))
            continue
        manifest[key] = value[key]
    if value.get("grade_scale") is not None:
        if isinstance(value["grade_scale"], dict):
            manifest["grade_scale"] = value["grade_scale"]
        else:
            problems.append(Problem(Location(label, 1), "'grade_scale' must be a JSON object"))
    where = nul_path(manifest)
    if where is not None:
        # JSON spells a NUL "\u0000" (a raw one is already malformed JSON): report the line that does.
        line = next((number for number, chunk in enumerate(chunks, start=1) if "\\u0000" in chunk), 1)
        shown = where.replace("\x00", "\\x00")
        problems.append(Problem(Location(label, line), f"'{shown}' contains a NUL character (\\x00), "
                                                       "which the database cannot store"))
        return {}
    return manifest


def _reader(kind: Kind, file: Path, label: str):
    if kind in (Kind.PRODUCTS, Kind.QUERIES):
        return lambda: jsonl_rows(file, label=label)
    columns = bundles.INTERACTION_COLUMNS if kind == Kind.INTERACTIONS else bundles.QREL_COLUMNS
    return lambda: delimited_rows(file, label=label, delimiter="\t", required_columns=columns)


def _estimate(kind: Kind, file: Path):
    header_lines = 0 if kind in (Kind.PRODUCTS, Kind.QUERIES) else 1
    return lambda: max(0, count_lines(file) - header_lines)
