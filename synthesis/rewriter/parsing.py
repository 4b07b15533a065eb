"""Turning a rewriter's raw output into clean rewrites.

Small models and big ones answer in many shapes (a JSON array, a numbered list, bullets, one line, a chatty
preamble); these functions accept all of them and never raise on model output, only on bad arguments.
"""
from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable

MAX_REWRITE_CHARS = 120
MAX_REWRITE_WORDS = 16

_ITEM_PREFIX = re.compile(r"^\s*(?:[-*•·+]|\(?\d{1,2}(?:[.):\]](?!\d)|\s*-\s)|\(?[a-zA-Z][.)]\s|#+|>)\s*")
_LABEL_PREFIX = re.compile(r"^\s*(?:rewrites?|query|search(?: query)?|keywords?|answer|output)\s*\d*\s*[:=-]\s*",
                           re.IGNORECASE)
_PREAMBLE = re.compile(
    r"^(?:here (?:are|is)|sure|certainly|of course|i (?:would|can|will|suggest)|the (?:rewrites?|queries) (?:are|is)"
    r"|below (?:are|is)|okay|ok\b)", re.IGNORECASE)
_QUOTES = "\"'`“”‘’«»"
_ROLE_NAMES = ("system", "user", "assistant")


def normalise_query(text: str) -> str:
    """Lower-case, accent-fold and collapse spaces and punctuation: the key under which rewrites are equal."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    return " ".join(re.sub(r"[^\w]+", " ", folded).split())


def model_answer(text: str, special_tokens: Iterable[str] = ()) -> str:
    """The model's own words in a decoded completion: a chat-turn header the model opened itself is dropped
    (`<|im_start|>assistant\n...`, which reads `assistant\n...` once special tokens are skipped), and the answer
    ends at the next special token (`<|im_end|>`, padding).

    Small chat models often start their answer by opening a new assistant turn; without this, "assistant" would
    be read as their rewrite.
    """
    tokens = sorted({token for token in special_tokens if token}, key=len, reverse=True)
    segments = re.split("|".join(map(re.escape, tokens)), text) if tokens else [text]
    for segment in segments:
        head, _, rest = segment.lstrip().partition("\n")
        if head.strip().lower() in _ROLE_NAMES:
            segment = rest
        if segment.strip():
            return segment
    return ""


def clean_rewrite(line: str, *, max_chars: int = MAX_REWRITE_CHARS, max_words: int = MAX_REWRITE_WORDS) -> str:
    """Strip list markers, labels and quotes from one candidate line and cap its length ("" when nothing is left)."""
    text = line.strip()
    for _ in range(3):  # "1. Rewrite: "foo"" has several layers
        stripped = _LABEL_PREFIX.sub("", _ITEM_PREFIX.sub("", text, count=1), count=1).strip().strip(_QUOTES).strip()
        if stripped == text:
            break
        text = stripped
    text = text.rstrip(" ,;.").strip(_QUOTES).strip()
    text = re.sub(r"\s+", " ", text)
    words = text.split(" ")
    if len(words) > max_words:
        text = " ".join(words[:max_words])
    if len(text) > max_chars:
        text = text[:max_chars].rsplit(" ", 1)[0] if " " in text[:max_chars] else text[:max_chars]
    return text


def _json_items(text: str) -> list[str] | None:
    """Items of the first JSON array (or an object holding one) in `text`, None when there is none."""
    start = min((i for i in (text.find("["), text.find("{")) if i >= 0), default=-1)
    if start < 0:
        return None
    for end in range(len(text), start, -1):
        if text[end - 1] not in "]}":
            continue
        try:
            value = json.loads(text[start:end])
        except ValueError:
            continue
        if isinstance(value, dict):
            value = next((v for v in value.values() if isinstance(v, list)), None)
        if isinstance(value, list):
            return [str(item) for item in value if isinstance(item, (str, int, float))]
        return None
    return None


def split_candidates(text: str) -> list[str]:
    """The raw candidate strings in one answer: JSON items, else list lines, else semicolon/comma-free lines."""
    items = _json_items(text)
    if items is not None:
        return items
    lines = [line for line in re.split(r"[\r\n]+", text) if line.strip()]
    if len(lines) == 1 and ";" in lines[0]:
        lines = lines[0].split(";")
    return [line for line in lines if not _PREAMBLE.match(line.strip()) and not line.rstrip().endswith(":")]


def dedupe_rewrites(rewrites: Iterable[str], *, query: str) -> list[str]:
    """Drop empty rewrites, rewrites equal to the query and repeats (compared normalised), keeping first order."""
    seen = {normalise_query(query)}
    kept = []
    for rewrite in rewrites:
        key = normalise_query(rewrite)
        if key and key not in seen:
            seen.add(key)
            kept.append(rewrite)
    return kept


def parse_rewrites(outputs: str | Iterable[str], *, query: str, limit: int | None = None,
                   max_chars: int = MAX_REWRITE_CHARS, max_words: int = MAX_REWRITE_WORDS) -> list[str]:
    """Clean, deduplicated rewrites of `query` from one answer or several sampled answers, at most `limit`."""
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    answers = [outputs] if isinstance(outputs, str) else list(outputs)
    candidates = [clean_rewrite(raw, max_chars=max_chars, max_words=max_words)
                  for answer in answers for raw in split_candidates(answer)]
    kept = dedupe_rewrites(candidates, query=query)
    return kept[:limit] if limit is not None else kept


def parse_sampled_rewrites(answers: Iterable[str], *, query: str, limit: int | None = None,
                           max_chars: int = MAX_REWRITE_CHARS, max_words: int = MAX_REWRITE_WORDS) -> list[str]:
    """Rewrites from independently sampled one-rewrite answers: the first candidate of each answer only.

    Small models often ramble on after their rewrite (a second line, an explanation); the first line is the
    answer to the prompt, the rest is not.
    """
    firsts = []
    for answer in answers:
        candidates = [clean_rewrite(raw, max_chars=max_chars, max_words=max_words) for raw in split_candidates(answer)]
        firsts.extend(c for c in candidates[:1] if c)
    kept = dedupe_rewrites(firsts, query=query)
    return kept[:limit] if limit is not None else kept
