"""The examples the README and docs/ show, read from the markdown so that a new example is checked automatically.

A document is cut into pieces: inline code spans (`...`, whitespace collapsed, `\\|` read as `|` as in a table
cell) and the logical lines of fenced code blocks (backslash continuations joined, shell comments dropped). From
them: the site's URL paths (`/jobs/`, `GET /api/campaigns/{id}/`, http://127.0.0.1:8000/... anywhere), the
`manage.py` commands, the `make` targets, the repository paths, the flags shown for each bench script (beside it,
or alone in a span later in the same section), `celery -A` command lines, the `TOKEN=$(... api_token issue USER)`
then `curl` examples, and the variables of the README's Configuration table. tests/test_docs.py checks them.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
SPAN = re.compile(r"(?<!`)`([^`]+?)`(?!`)")
HEADING = re.compile(r"^#{1,6} .*$", re.M)
LOCAL_SITE = re.compile(r"https?://(?:127\.0\.0\.1|localhost):8000(/[^\s`\"'<>]*)")
SITE_PATH = re.compile(r"(?:(GET|POST|PUT|PATCH|DELETE) )?(/[^\s]*)")
MANAGE = re.compile(r"manage\.py\s+([^|)#;`]+)")
MAKE = re.compile(r"(?:^|[\s;(])make\s+([A-Za-z][\w.-]*)")
CELERY = re.compile(r"(?:^|\s)(?:\S*/)?celery\s+(-A\s+.*)$")
BENCH = re.compile(r"(?:^|\s)(bench/[\w-]+\.py)((?:\s+.*)?)$")
TOKEN_ISSUE = re.compile(r"TOKEN=\$\(.*manage\.py api_token issue (\S+)\)")
# Absolute paths on disk the docs name (the Chromium binary, ...): not URLs of the site.
FILESYSTEM_ROOTS = ("/usr/", "/etc/", "/tmp/", "/opt/", "/home/", "/var/", "/bin/", "/dev/", "/proc/")
# Top-level folders whose files are made at run time, not shipped: a path under them need not exist.
RUNTIME_FOLDERS = {"var", ".venv"}


@dataclass(frozen=True)
class Piece:
    """One inline code span ("span") or logical line of a fenced block ("code"), where it is and under which
    heading."""

    where: str
    kind: str
    text: str
    section: str


@dataclass(frozen=True)
class UrlExample:
    where: str
    method: str
    url: str  # path and query string as shown


@dataclass(frozen=True)
class CommandExample:
    where: str
    kind: str  # "span" (a syntax summary, may hold NAME-like placeholders) or "code" (meant to be pasted)
    argv: tuple[str, ...]


@dataclass(frozen=True)
class BenchExample:
    where: str
    script: str
    flags: tuple[tuple[str, str | None], ...]  # (--flag, the value shown after it or None)


@dataclass(frozen=True)
class TokenCurlExample:
    where: str
    username: str
    url: str


@dataclass(frozen=True)
class ConfigRow:
    where: str
    names: tuple[str, ...]
    default: str  # the table's "default" cell as written


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _logical_lines(body: str, first_line: int):
    """(line number, text) of a shell block: continuations joined, `# comments` dropped."""
    pending, start = "", first_line
    for number, line in enumerate(body.splitlines(), first_line):
        if not pending:
            start = number
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        text = re.sub(r"(^|\s)#.*$", "", pending + line).strip()
        pending = ""
        if text:
            yield start, text


def pieces(path: Path) -> list[Piece]:
    """Every inline code span and fenced-block line of one document, in reading order."""
    text = path.read_text(encoding="utf-8")
    name = path.relative_to(ROOT).as_posix()
    found: list[tuple[int, str, str]] = []  # (offset, kind, text)
    masked = text
    for block in FENCE.finditer(text):
        first = _line(text, block.start(1))
        for number, line in _logical_lines(block.group(1), first):
            offset = block.start(1) + sum(len(row) + 1 for row in block.group(1).splitlines()[:number - first])
            found.append((offset, "code", line))
        masked = masked[:block.start()] + re.sub(r"[^\n]", " ", block.group()) + masked[block.end():]
    for span in SPAN.finditer(masked):
        if "\n\n" not in span.group(1):
            found.append((span.start(), "span", " ".join(span.group(1).replace("\\|", "|").split())))
    headings = [(m.start(), m.group()) for m in HEADING.finditer(masked)]
    result = []
    for offset, kind, piece_text in sorted(found):
        section = next((h for start, h in reversed(headings) if start < offset), "")
        result.append(Piece(f"{name}:{_line(text, offset)}", kind, piece_text, section))
    return result


def all_pieces() -> list[Piece]:
    return [piece for path in doc_files() for piece in pieces(path)]


def url_examples() -> list[UrlExample]:
    """The site's paths: spans that are a path (optionally after a method), and local-site URLs anywhere."""
    found: dict[tuple[str, str], UrlExample] = {}
    for path in doc_files():
        text, name = path.read_text(encoding="utf-8"), path.relative_to(ROOT).as_posix()
        for match in LOCAL_SITE.finditer(text):
            url = match.group(1).rstrip(".,;:")
            found.setdefault(("GET", url), UrlExample(f"{name}:{_line(text, match.start())}", "GET", url))
    for piece in all_pieces():
        match = SITE_PATH.fullmatch(piece.text) if piece.kind == "span" else None
        if match and not match.group(2).startswith(FILESYSTEM_ROOTS):
            method = match.group(1) or "GET"
            found.setdefault((method, match.group(2)), UrlExample(piece.where, method, match.group(2)))
    return list(found.values())


def command_examples() -> list[CommandExample]:
    """Every `manage.py <command> ...` (optional `[...]` parts shown as plain arguments)."""
    examples = []
    for piece in all_pieces():
        for match in MANAGE.finditer(piece.text):
            argv = shlex.split(re.sub(r"[\[\]]", " ", match.group(1)))
            if argv:
                examples.append(CommandExample(piece.where, piece.kind, tuple(argv)))
    return examples


def make_targets() -> list[tuple[str, str]]:
    """(where, target) of every `make <target>` in code."""
    return [(piece.where, match.group(1)) for piece in all_pieces() for match in MAKE.finditer(piece.text)]


def celery_lines() -> list[tuple[str, list[str]]]:
    """(where, argv after `celery`) of every `celery -A ...` command line in a code block."""
    return [(piece.where, shlex.split(match.group(1))) for piece in all_pieces() if piece.kind == "code"
            for match in [CELERY.search(piece.text)] if match]


def repo_paths() -> list[tuple[str, str]]:
    """(where, path) of every word in code that names a file or folder under one of the repository's top-level
    folders (not the run-time ones)."""
    tops = {entry.name for entry in ROOT.iterdir() if entry.is_dir()} - RUNTIME_FOLDERS
    found = []
    for piece in all_pieces():
        for word in piece.text.split():
            word = word.strip("\"'()[],:;")
            head = word.split("/", 1)[0]
            if "/" in word and "://" not in word and head in tops:
                found.append((piece.where, word))
    return found


def _flags(words: list[str]) -> list[tuple[str, str | None]]:
    flags = []
    for index, word in enumerate(words):
        if word.startswith("--"):
            following = words[index + 1] if index + 1 < len(words) else None
            flags.append((word, following if following and not following.startswith("-") else None))
    return flags


def bench_examples() -> list[BenchExample]:
    """Each bench script shown with the flags beside it; a span that is only flags (`--sizes 55000`) belongs to
    the bench script last named in the same section of the same document."""
    examples: list[BenchExample] = []
    current: dict[tuple[str, str], str] = {}  # (document, section) -> bench script last named there
    for piece in all_pieces():
        document = piece.where.rsplit(":", 1)[0]
        match = BENCH.search(piece.text)
        if match:
            current[(document, piece.section)] = match.group(1)
            examples.append(BenchExample(piece.where, match.group(1), tuple(_flags(match.group(2).split()))))
        elif piece.kind == "span" and piece.text.startswith("--") and (document, piece.section) in current:
            examples.append(BenchExample(piece.where, current[(document, piece.section)],
                                         tuple(_flags(piece.text.split()))))
    return examples


def token_curl_examples() -> list[TokenCurlExample]:
    """A code block that issues a token (`TOKEN=$(... api_token issue USER)`) and then curls a local-site URL."""
    examples = []
    for path in doc_files():
        blocks: dict[str, list[Piece]] = {}
        for piece in pieces(path):
            if piece.kind == "code":
                blocks.setdefault(piece.section, []).append(piece)
        for lines in blocks.values():
            user = None
            for piece in lines:
                issued = TOKEN_ISSUE.search(piece.text)
                user = issued.group(1) if issued else user
                site = LOCAL_SITE.search(piece.text)
                if user and piece.text.startswith("curl") and "$TOKEN" in piece.text and site:
                    examples.append(TokenCurlExample(piece.where, user, site.group(1)))
    return examples


def configuration_rows() -> list[ConfigRow]:
    """The rows of the README's Configuration table: the variables (first column) and the default as written."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^## Configuration\n(.*?)(?=^## )", text, re.S | re.M)
    assert section, "README.md has no '## Configuration' section"
    rows = []
    for match in re.finditer(r"^\|(.*)\|[ \t]*$", section.group(1), re.M):
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", match.group(1))]
        names = tuple(SPAN.findall(cells[0]))
        if names and len(cells) >= 2:
            rows.append(ConfigRow(f"README.md:{_line(text, section.start(1) + match.start())}", names, cells[1]))
    return rows
