"""Validation: every row converted to a typed record, plus the checks that span rows, in one streaming pass.

Per row (`convert_*`): required fields present, ids short enough, integers that are integers, grade 0-3,
split train/test, segment and query type from their choices, clicks <= impressions (unless impressions is 0,
meaning "not recorded", as the database constraint allows), and no NUL character in any field or attribute
(PostgreSQL cannot store one in text; refused on every database alike, like one in the bundle's manifest). Free
text longer than its column (title 500, brand 200, category 500, query text 500 characters) is cut to the column
length rather than refused. Text is stored as a shopper reads it, for every format (`html_text`): entities decoded,
NFC, whitespace collapsed, and descriptions stripped of markup, so no page decodes at display time.

Across rows (`validate_source`): duplicate product ids, query ids and (query, product) pairs, and references
from interactions and qrels to products and queries that the data set does not contain. Memory holds only the
ids (with the line each was first seen on) and query frequencies, never the rows.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from types import MappingProxyType
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Callable, Mapping

from .html_text import html_to_text, plain_text
from .rows import (
    InteractionRecord,
    Kind,
    Problem,
    ProductRecord,
    QrelRecord,
    QueryRecord,
    RowError,
    Source,
)
from .segments import SegmentRule, assign_segments

ID_MAX = 100
TITLE_MAX = 500
BRAND_MAX = 200
CATEGORY_MAX = 500
QUERY_TEXT_MAX = 500
INT_MAX = 2**31 - 1  # PositiveIntegerField on PostgreSQL
PRICE_LIMIT = Decimal(10) ** 10  # DecimalField(max_digits=12, decimal_places=2)
SEGMENTS = ("head", "torso", "tail")
QUERY_TYPES = ("plain", "knowledge", "qa", "negation", "alternative", "multi_intent", "typo")
SPLITS = ("train", "test")
MAX_KEPT_PROBLEMS = 10_000
NO_NAMES: Mapping[str, str] = MappingProxyType({})  # source columns are called as in the bundle
ProgressCallback = Callable[[str, int, int], None]


def convert_product(fields: Mapping[str, Any], names: Mapping[str, str] = NO_NAMES) -> ProductRecord:
    return ProductRecord(
        product_id=_identifier(fields, "product_id", names),
        title=_text(fields, "title", names, required=True, max_length=TITLE_MAX, clean=plain_text),
        description=_text(fields, "description", names, clean=html_to_text),
        brand=_text(fields, "brand", names, max_length=BRAND_MAX, clean=plain_text),
        category=_category(fields, names),
        price=_price(fields, names),
        attributes=_attributes(fields, names),
    )


def convert_query(fields: Mapping[str, Any], names: Mapping[str, str] = NO_NAMES) -> QueryRecord:
    segment = _text(fields, "segment", names) or None
    if segment is not None and segment not in SEGMENTS:
        raise RowError(f"bad segment {segment!r} (expected head, torso or tail)")
    query_type = _text(fields, "query_type", names) or "plain"
    if query_type not in QUERY_TYPES:
        raise RowError(f"bad query_type {query_type!r} (expected one of {', '.join(QUERY_TYPES)})")
    return QueryRecord(
        query_id=_identifier(fields, "query_id", names),
        text=_text(fields, "text", names, required=True, max_length=QUERY_TEXT_MAX, clean=plain_text),
        frequency=_count(fields, "frequency", names, required=False),
        segment=segment,
        query_type=query_type,
    )


def convert_interaction(fields: Mapping[str, Any], names: Mapping[str, str] = NO_NAMES) -> InteractionRecord:
    record = InteractionRecord(
        query_id=_identifier(fields, "query_id", names),
        product_id=_identifier(fields, "product_id", names),
        impressions=_count(fields, "impressions", names),
        clicks=_count(fields, "clicks", names),
        purchases=_count(fields, "purchases", names),
    )
    if record.impressions and record.clicks > record.impressions:
        raise RowError(f"clicks ({record.clicks}) > impressions ({record.impressions})")
    return record


def convert_qrel(fields: Mapping[str, Any], names: Mapping[str, str] = NO_NAMES) -> QrelRecord:
    raw_grade = fields.get("grade")
    grade = _as_int(raw_grade)
    if grade is None or not 0 <= grade <= 3:
        raise RowError(f"bad grade {_show(raw_grade)} (expected an integer 0-3)")
    split = _text(fields, "split", names, required=True)
    if split not in SPLITS:
        raise RowError(f"bad split {split!r} (expected train or test)")
    return QrelRecord(
        query_id=_identifier(fields, "query_id", names),
        product_id=_identifier(fields, "product_id", names),
        grade=grade,
        split=split,
    )


CONVERTERS: dict[Kind, Callable[..., Any]] = {
    Kind.PRODUCTS: convert_product,
    Kind.QUERIES: convert_query,
    Kind.INTERACTIONS: convert_interaction,
    Kind.QRELS: convert_qrel,
}


@dataclass
class ValidationReport:
    """What validation found: problems (the first MAX_KEPT_PROBLEMS, and how many in all), valid row counts
    per kind, and the segment derived for each query that had none."""

    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0
    rows: Counter = field(default_factory=Counter)
    derived_segments: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    def add(self, problem: Problem) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_KEPT_PROBLEMS:
            self.problems.append(problem)


def validate_source(
    *, source: Source, segment_rule: SegmentRule, progress: ProgressCallback | None = None
) -> ValidationReport:
    """Read every table of `source` once and report every problem; nothing is written."""
    report = ValidationReport()
    seen_problems: set[str] = set()  # a row read by two tables (ESCI examples) is reported once

    def add(problem: Problem) -> None:
        key = str(problem)
        if key not in seen_problems:
            seen_problems.add(key)
            report.add(problem)

    for problem in source.problems:
        add(problem)
    first_line: dict[Kind, dict[str, int | None]] = {kind: {} for kind in Kind}
    # Products/queries that could not be read at all: references to them cannot be checked (and would all
    # be reported as dangling, burying the one real problem).
    unreadable: set[Kind] = {kind for kind in (Kind.PRODUCTS, Kind.QUERIES) if source.table(kind) is None}
    frequencies: dict[str, int | None] = {}
    needs_segment: list[str] = []
    estimates = [table.estimate() for table in source.tables]
    total = sum(estimates)
    done = 0
    done_before_table = 0
    for table, estimate in zip(source.tables, estimates):
        convert = CONVERTERS[table.kind]
        seen = first_line[table.kind]
        for row in table.read():
            done += 1
            if progress is not None and done % 5000 == 0:
                progress("validate", min(done, total), total)
            if row.error:
                add(Problem(row.location, row.error))
                if row.fatal:
                    unreadable.add(table.kind)
                else:
                    _remember_id_of_bad_row(table.kind, row.fields, seen, row.location.line)
                continue
            try:
                refuse_nul(row.fields, table.field_names)
                record = convert(row.fields, table.field_names)
            except RowError as exc:
                add(Problem(row.location, str(exc)))
                _remember_id_of_bad_row(table.kind, row.fields, seen, row.location.line)
                continue
            reason = _cross_row_problem(table, record, first_line, source, unreadable)
            if reason:
                add(Problem(row.location, reason))
                continue
            key = natural_key(table.kind, record)
            seen[key] = row.location.line
            report.rows[table.kind] += 1
            if table.kind == Kind.QUERIES:
                frequencies[record.query_id] = record.frequency
                if record.segment is None:
                    needs_segment.append(record.query_id)
        done_before_table += estimate
        done = max(done, done_before_table)
        if progress is not None:
            progress("validate", min(done, total), total)
    if report.ok:
        report.derived_segments = assign_segments(frequencies=frequencies, needed=needs_segment, rule=segment_rule)
    return report


def refuse_nul(fields: Mapping[str, Any], names: Mapping[str, str] = NO_NAMES) -> None:
    """Raise RowError naming the first field (or attribute, by its path) whose key or text holds a NUL."""
    path = nul_path(fields)
    if path is not None:
        head, _, rest = path.partition(".")
        shown = (_name(names, head) + (f".{rest}" if rest else "")).replace("\x00", "\\x00")
        raise RowError(f"{shown} contains a NUL character (\\x00), which the database cannot store")


def nul_path(value: Any, path: str = "") -> str | None:
    """Where in `value` (nested dicts and lists from JSON) a string holds a NUL: a dotted path, or None."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                return where
            found = nul_path(item, where)
            if found is not None:
                return found
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = nul_path(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def natural_key(kind: Kind, record: Any) -> str:
    if kind == Kind.PRODUCTS:
        return record.product_id
    if kind == Kind.QUERIES:
        return record.query_id
    return f"{record.query_id}\x1f{record.product_id}"


def _cross_row_problem(
    table, record, first_line: dict[Kind, dict], source: Source, unreadable: set[Kind]
) -> str | None:
    seen = first_line[table.kind]
    key = natural_key(table.kind, record)
    if key in seen:
        where = _line_text(seen[key])
        if table.kind == Kind.PRODUCTS:
            return f"duplicate product_id {record.product_id!r} (first seen {where})"
        if table.kind == Kind.QUERIES:
            return f"duplicate query_id {record.query_id!r} (first seen {where})"
        return f"duplicate (query_id, product_id) ({record.query_id!r}, {record.product_id!r}) (first seen {where})"
    if table.kind in (Kind.INTERACTIONS, Kind.QRELS):
        if Kind.QUERIES not in unreadable and record.query_id not in first_line[Kind.QUERIES]:
            return f"unknown query_id {record.query_id!r} (not in {_file_of(source, Kind.QUERIES)})"
        if Kind.PRODUCTS not in unreadable and record.product_id not in first_line[Kind.PRODUCTS]:
            return f"unknown product_id {record.product_id!r} (not in {_file_of(source, Kind.PRODUCTS)})"
    return None


def _remember_id_of_bad_row(kind: Kind, fields: Mapping[str, Any], seen: dict, line: int | None) -> None:
    """A product or query row with a bad value still names its id: remember it, so that the logs and labels
    that refer to it are not also reported as dangling (one mistake, one message)."""
    key = {Kind.PRODUCTS: "product_id", Kind.QUERIES: "query_id"}.get(kind)
    value = fields.get(key) if key else None
    if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
        seen.setdefault(str(value).strip(), line)


def _line_text(line: int | None) -> str:
    return "earlier" if line is None else f"on line {line}"


def _file_of(source: Source, kind: Kind) -> str:
    table = source.table(kind)
    return table.file if table else f"the {kind.value}"


def _name(names: Mapping[str, str], key: str) -> str:
    return names.get(key, key)


def _show(value: Any) -> str:
    return "''" if value is None else repr(value) if isinstance(value, str) else repr(str(value))


def _identifier(fields: Mapping[str, Any], key: str, names: Mapping[str, str]) -> str:
    value = fields.get(key)
    if isinstance(value, bool) or not isinstance(value, (str, int)) and value is not None:
        raise RowError(f"{_name(names, key)} must be a string, got {type(value).__name__}")
    text = "" if value is None else str(value).strip()
    if not text:
        raise RowError(f"missing required field '{_name(names, key)}'")
    if len(text) > ID_MAX:
        raise RowError(f"{_name(names, key)} is longer than {ID_MAX} characters")
    return text


def _text(
    fields: Mapping[str, Any], key: str, names: Mapping[str, str], *, required: bool = False,
    max_length: int | None = None, clean: Callable[[str], str] = str.strip,
) -> str:
    value = fields.get(key)
    if value is None:
        value = ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise RowError(f"{_name(names, key)} must be a string, got {type(value).__name__}")
    text = clean(str(value))
    if required and not text:
        raise RowError(f"missing required field '{_name(names, key)}'")
    return text[:max_length] if max_length else text


def _category(fields: Mapping[str, Any], names: Mapping[str, str]) -> str:
    value = fields.get("category")
    if isinstance(value, list) and all(isinstance(part, str) for part in value):
        value = " > ".join(text for text in map(plain_text, value) if text)
        return value[:CATEGORY_MAX]
    return _text(fields, "category", names, max_length=CATEGORY_MAX, clean=plain_text)


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and (text.isdigit() or (text[:1] == "-" and text[1:].isdigit())):
            return int(text)
    return None


def _count(fields: Mapping[str, Any], key: str, names: Mapping[str, str], *, required: bool = True) -> int | None:
    value = fields.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise RowError(f"missing required field '{_name(names, key)}'")
        return None
    number = _as_int(value)
    if number is None or number < 0:
        raise RowError(f"{_name(names, key)} must be a non-negative integer, got {_show(value)}")
    if number > INT_MAX:
        raise RowError(f"{_name(names, key)} is too large ({number})")
    return number


def _price(fields: Mapping[str, Any], names: Mapping[str, str]) -> Decimal | None:
    value = fields.get("price")
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    problem = RowError(f"{_name(names, 'price')} must be a non-negative number, got {_show(value)}")
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise problem
    try:
        price = Decimal(str(value).strip())
    except InvalidOperation:
        raise problem from None
    if not price.is_finite() or price < 0:
        raise problem
    if price >= PRICE_LIMIT:
        raise RowError(f"{_name(names, 'price')} is too large ({value})")
    return price.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _attributes(fields: Mapping[str, Any], names: Mapping[str, str]) -> dict:
    value = fields.get("attributes")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RowError(f"{_name(names, 'attributes')} must be a JSON object")
    return {key: plain_text(item) if isinstance(item, str) else item for key, item in value.items()}
