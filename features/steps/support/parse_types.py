"""Custom parse types for step patterns; imported by every step module."""

from __future__ import annotations

import parse
from behave import register_type


@parse.with_pattern(r'[^"]*')
def _parse_text(text: str) -> str:
    return text


# "{names:Text}" also matches an empty string, which plain "{names}" does not.
register_type(Text=_parse_text)


@parse.with_pattern(r"\d+(?:st|nd|rd|th)")
def _parse_ordinal(text: str) -> int:
    return int(text[:-2])


# "{nth:Ordinal}" reads "1st", "2nd", "3rd", "40th" as 1, 2, 3, 40.
register_type(Ordinal=_parse_ordinal)
