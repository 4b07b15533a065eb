"""What flows through an import: where a row came from, the row itself, the typed records and the problems."""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, Callable, Iterator


class Kind(StrEnum):
    """The four kinds of rows a data set holds, in the order they are validated and written."""

    PRODUCTS = "products"
    QUERIES = "queries"
    INTERACTIONS = "interactions"
    QRELS = "qrels"


@dataclass(frozen=True, slots=True)
class Location:
    """A place in a source file. `line` is the 1-based text line (for parquet: the 1-based row number)."""

    file: str
    line: int | None = None

    def __str__(self) -> str:
        return self.file if self.line is None else f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason an import is refused, shown to the user as `file:line: reason`."""

    location: Location
    reason: str

    def __str__(self) -> str:
        return f"{self.location}: {self.reason}"


@dataclass(slots=True)
class SourceRow:
    """A row as a reader found it, with bundle field names; `error` is set when the reader could not parse it.

    `fatal` marks an error that ends the file (empty file, missing column, unreadable file): nothing after it
    was read, so ids that other files refer to cannot be checked against it. A row with an error may still
    carry the fields the reader could make out (an id), so that one mistake gives one message.
    """

    location: Location
    fields: dict[str, Any]
    error: str | None = None
    fatal: bool = False


class RowError(ValueError):
    """A row's value is not acceptable; the message is the reason shown to the user."""


@dataclass(frozen=True)
class Table:
    """One stream of rows of one kind. `read` opens the source anew on every call (validation and writing
    each read once); `estimate` is the number of source rows, for progress bars; `field_names` maps bundle
    field names to the source's column names so that messages name what the user sees in the file."""

    kind: Kind
    file: str
    read: Callable[[], Iterator[SourceRow]]
    estimate: Callable[[], int]
    field_names: dict[str, str] = field(default_factory=dict)


@dataclass
class Source:
    """An opened data set: its manifest, its tables and any problems found while opening it."""

    format: str
    default_name: str
    manifest: dict[str, Any]
    tables: list[Table]
    problems: list[Problem] = field(default_factory=list)

    def table(self, kind: Kind) -> Table | None:
        return next((t for t in self.tables if t.kind == kind), None)


@dataclass(frozen=True, slots=True)
class ProductRecord:
    product_id: str
    title: str
    description: str
    brand: str
    category: str
    price: Decimal | None
    attributes: dict[str, Any]


@dataclass(frozen=True, slots=True)
class QueryRecord:
    query_id: str
    text: str
    frequency: int | None
    segment: str | None  # None: derive it from frequency
    query_type: str


@dataclass(frozen=True, slots=True)
class InteractionRecord:
    query_id: str
    product_id: str
    impressions: int
    clicks: int
    purchases: int


@dataclass(frozen=True, slots=True)
class QrelRecord:
    query_id: str
    product_id: str
    grade: int
    split: str
