"""Custom parse types for step patterns; imported by every step module."""

from __future__ import annotations

import parse
from behave import register_type


@parse.with_pattern(r'[^"]*')
def _parse_text(text: str) -> str:
    return text


# "{names:Text}" also matches an empty string, which plain "{names}" does not.
register_type(Text=_parse_text)
