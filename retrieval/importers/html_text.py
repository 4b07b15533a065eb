"""Plain text out of HTML-ish product descriptions (tags dropped, entities decoded, whitespace collapsed)."""
from __future__ import annotations

import html
import re

import nh3

WHITESPACE = re.compile(r"\s+")
BLOCK_TAG = re.compile(r"<\s*(br|/p|/div|/li|/tr|/td|/h[1-6])\b[^>]*>", re.IGNORECASE)


def html_to_text(value: str | None) -> str:
    """Return the visible text of `value`; script/style contents are dropped with their tags (nh3/ammonia)."""
    if not value:
        return ""
    if "<" not in value and "&" not in value:
        return WHITESPACE.sub(" ", value).strip()
    # Block ends become spaces so that "a</p><p>b" does not glue into "ab".
    spaced = BLOCK_TAG.sub(" ", value)
    text = html.unescape(nh3.clean(spaced, tags=set(), attributes={}))
    return WHITESPACE.sub(" ", text).strip()
