"""Output formats: ``plain`` text, ``rich`` terminal rendering, ``json`` and ``yaml`` documents.

Everything is written to stdout; logs and errors go to stderr, so json and yaml
output stays parseable. JSON and YAML documents are built from
``model_dump(mode="json")``, so they carry the model field names. The command
modules import this one, so yaml and rich are imported only when used.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console


class OutputFormat(StrEnum):
    """The values of ``--format``."""

    PLAIN = "plain"
    RICH = "rich"
    JSON = "json"
    YAML = "yaml"

    @property
    def is_document(self) -> bool:
        """True for the machine-readable formats (json, yaml)."""
        return self in (OutputFormat.JSON, OutputFormat.YAML)


FormatOption = Annotated[
    OutputFormat | None,
    typer.Option(
        "--format",
        case_sensitive=False,
        show_default=False,
        help="plain, rich, json or yaml (default: rich on a terminal, else plain).",
    ),
]


def resolve_format(value: OutputFormat | None) -> OutputFormat:
    """The format asked for, else ``rich`` when stdout is a terminal and ``plain`` otherwise."""
    if value is not None:
        return value
    return OutputFormat.RICH if sys.stdout.isatty() else OutputFormat.PLAIN


def write_document(document: Any, fmt: OutputFormat) -> None:
    """Write a JSON-compatible document as JSON or YAML."""
    if fmt is OutputFormat.JSON:
        import json

        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    elif fmt is OutputFormat.YAML:
        import yaml

        text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    else:
        raise ValueError(f"{fmt} is not a document format")
    sys.stdout.write(text)


def write_lines(lines: list[str]) -> None:
    """Write plain text lines."""
    sys.stdout.write("".join(f"{line}\n" for line in lines))


def write_text(text: str) -> None:
    """Write plain text, ending it with a newline when it has none."""
    if text:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def stdout_console() -> Console:
    """A rich console on stdout that never interprets markup or emoji in the data it prints."""
    from rich.console import Console

    return Console(file=sys.stdout, markup=False, emoji=False, highlight=False)


def indent(text: str, prefix: str = "    ") -> list[str]:
    """The lines of ``text``, each prefixed (blank lines stay blank)."""
    return [f"{prefix}{line}" if line.strip() else "" for line in text.splitlines()]
