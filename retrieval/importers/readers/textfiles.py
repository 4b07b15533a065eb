"""Streaming readers for UTF-8 text files (JSON Lines and delimited tables) that keep line numbers.

Files are read as bytes and decoded line by line, so a byte sequence that is not UTF-8 is reported on its own
line (and the rest of the file is still checked) instead of failing the whole file at the first bad byte.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Iterator, Sequence

from ..rows import Location, SourceRow

UTF8_BOM = "\ufeff"


def count_lines(path: Path) -> int:
    """Number of lines in a file, counted in binary chunks (for progress totals)."""
    lines = 0
    last = b""
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            lines += chunk.count(b"\n")
            last = chunk
    return lines + (1 if last and not last.endswith(b"\n") else 0)


def decoded_lines(path: Path) -> Iterator[tuple[int, str, str | None]]:
    """Yield (line number, text including its line end, decoding error or None) for each line.

    A line that is not valid UTF-8 comes back decoded with replacement characters, plus the reason.
    """
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                text = raw.decode("utf-8")
                error = None
            except UnicodeDecodeError as exc:
                text = raw.decode("utf-8", errors="replace")
                error = f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"
            if number == 1 and text.startswith(UTF8_BOM):
                text = text[1:]
            yield number, text, error


def jsonl_rows(path: Path, *, label: str) -> Iterator[SourceRow]:
    """One SourceRow per non-blank line of a JSON Lines file; each line must hold a JSON object."""
    seen_any = False
    for number, text, error in decoded_lines(path):
        location = Location(label, number)
        if not text.strip():
            continue
        seen_any = True
        try:
            value = json.loads(text.rstrip("\r\n"))
        except json.JSONDecodeError as exc:
            yield SourceRow(location, {}, error or f"malformed JSON: {exc.msg} (column {exc.colno})")
            continue
        if not isinstance(value, dict):
            yield SourceRow(location, {}, error or f"expected a JSON object, got {json_type_name(value)}")
            continue
        yield SourceRow(location, value, error)
    if not seen_any:
        yield SourceRow(Location(label, 1), {}, "empty file", fatal=True)


def delimited_rows(
    path: Path,
    *,
    label: str,
    delimiter: str,
    required_columns: Sequence[str],
) -> Iterator[SourceRow]:
    """One SourceRow per record of a delimited file with a header row; fields are keyed by header names.

    The location of a record is the line it starts on (a quoted field may span lines). A missing required
    column is reported on line 1 and stops the file, since no row can be read without it.
    """
    bad_lines: dict[int, str] = {}

    def lines() -> Iterator[str]:
        for number, text, error in decoded_lines(path):
            if error:
                bad_lines[number] = error
            yield text

    reader = csv.reader(lines(), delimiter=delimiter)
    header: list[str] | None = None
    end_line = 0
    try:
        for values in reader:
            start_line, end_line = end_line + 1, reader.line_num
            decode_error = next((bad_lines[n] for n in range(start_line, end_line + 1) if n in bad_lines), None)
            if header is None:
                if decode_error:
                    yield SourceRow(Location(label, start_line), {}, decode_error, fatal=True)
                    return
                if not values or not any(v.strip() for v in values):
                    continue  # leading blank lines before the header
                header = [name.strip() for name in values]
                missing = [c for c in required_columns if c not in header]
                if missing:
                    names = ", ".join(f"'{c}'" for c in missing)
                    plural = "s" if len(missing) > 1 else ""
                    yield SourceRow(Location(label, start_line), {}, f"missing required column{plural} {names}",
                                    fatal=True)
                    return
                continue
            location = Location(label, start_line)
            if not values:
                continue  # blank line
            if len(values) != len(header):
                yield SourceRow(location, {}, decode_error or f"expected {len(header)} fields, found {len(values)}")
                continue
            yield SourceRow(location, dict(zip(header, values)), decode_error)
    except csv.Error as exc:
        yield SourceRow(Location(label, reader.line_num or 1), {}, f"malformed {delimiter_name(delimiter)}: {exc}",
                        fatal=True)
        return
    if header is None:
        yield SourceRow(Location(label, 1), {}, "empty file", fatal=True)


def delimiter_name(delimiter: str) -> str:
    return "TSV" if delimiter == "\t" else "CSV"


def json_type_name(value: object) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"
