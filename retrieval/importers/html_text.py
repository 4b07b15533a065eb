"""Catalogue text as a shopper reads it, made once at import (every format), so no page decodes at display time.

- `plain_text`: one-line fields (title, brand, category, query text, attribute values): HTML entities decoded
  (`&amp;` -> `&`), Unicode NFC, whitespace collapsed. Markup is kept as text: pages escape it when shown.
- `html_to_text`: HTML-ish descriptions: tags dropped (script/style with their contents), entities decoded,
  NFC, whitespace collapsed.
"""
from __future__ import annotations

import html
import re
import unicodedata

import nh3

WHITESPACE = re.compile(r"\s+")
BLOCK_TAG = re.compile(r"<\s*(br|/p|/div|/li|/tr|/td|/h[1-6])\b[^>]*>", re.IGNORECASE)


def _normal(text: str) -> str:
    return WHITESPACE.sub(" ", unicodedata.normalize("NFC", text)).strip()


def plain_text(value: str | None) -> str:
    """`value` with its entities decoded, in NFC, on one line; tags are left as text."""
    if not value:
        return ""
    return _normal(html.unescape(value) if "&" in value else value)


def html_to_text(value: str | None) -> str:
    """Return the visible text of `value`; script/style contents are dropped with their tags (nh3/ammonia)."""
    if not value:
        return ""
    if "<" not in value and "&" not in value:
        return _normal(value)
    # Block ends become spaces so that "a</p><p>b" does not glue into "ab".
    spaced = BLOCK_TAG.sub(" ", value)
    return _normal(html.unescape(nh3.clean(spaced, tags=set(), attributes={})))
