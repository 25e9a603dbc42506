"""Steps that hold docs/reference/cli.md to the real ``--help`` of every command.

Every command, argument and option that ``--help`` shows must be documented in
the reference (a ``### `command ...``` section per command, the global options in
their table), and every command and heading option the reference documents must
exist.
"""

from __future__ import annotations

import contextlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

from behave import then, when
from behave.runner import Context

from cleveragents.cli.app import main

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "reference" / "cli.md"
_OPTION = re.compile(r"--[a-z][a-z0-9-]*")


@dataclass(frozen=True)
class HelpPage:
    """What one command's ``--help`` lists."""

    arguments: list[str]
    options: set[str]
    commands: list[str]


def _help_page(path: list[str]) -> HelpPage:
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(io.StringIO()):
        code = main([*path, "--help"])
    assert code == 0, (path, code)
    sections: dict[str, list[str]] = {}
    current = ""
    for line in stdout.getvalue().splitlines():
        if re.fullmatch(r"[A-Z][a-z]+:", line):
            current = line[:-1]
            sections[current] = []
        elif current and line.startswith("  ") and not line.startswith("   "):
            sections[current].append(line.strip())
    return HelpPage(
        arguments=[line.split()[0] for line in sections.get("Arguments", [])],
        options={
            option
            for line in sections.get("Options", [])
            for option in _OPTION.findall(line.split("  ")[0])
        },
        commands=[line.split()[0] for line in sections.get("Commands", [])],
    )


def _walk(path: list[str], found: dict[str, HelpPage]) -> None:
    page = _help_page(path)
    found[" ".join(path)] = page
    for command in page.commands:
        _walk([*path, command], found)


@when("I read the --help of every command")
def step_read_help(context: Context) -> None:
    pages: dict[str, HelpPage] = {}
    _walk([], pages)
    context.help_pages = pages
    context.leaf_pages = {name: page for name, page in pages.items() if name and not page.commands}


@dataclass(frozen=True)
class Section:
    """One ``### `command ...``` section of the reference."""

    heading: str
    body: str

    @property
    def command(self) -> str:
        words: list[str] = []
        for word in self.heading.split():
            if not re.fullmatch(r"[a-z][a-z-]*", word):
                break
            words.append(word)
        return " ".join(words)


def _reference() -> tuple[dict[str, Section], str]:
    text = REFERENCE.read_text(encoding="utf-8")
    sections: dict[str, Section] = {}
    for found in re.finditer(r"^### `([^`]+)`\n(.*?)(?=^##)", text + "\n##", re.M | re.S):
        section = Section(found.group(1), found.group(2))
        assert section.command not in sections, f"two sections for {section.command}"
        sections[section.command] = section
    globals_found = re.search(r"^## Global options\n(.*?)(?=^## )", text, re.M | re.S)
    assert globals_found is not None, "cli.md has no '## Global options' section"
    return sections, globals_found.group(1)


@then(
    "docs/reference/cli.md has a section for each command and none for a command "
    "that does not exist"
)
def step_sections(context: Context) -> None:
    sections, _ = _reference()
    documented, real = set(sections), set(context.leaf_pages)
    assert not real - documented, (
        f"commands without a section in cli.md: {sorted(real - documented)}"
    )
    assert not documented - real, (
        f"cli.md documents commands that do not exist: {sorted(documented - real)}"
    )


@then("each section of docs/reference/cli.md names every argument and option of its command")
def step_section_options(context: Context) -> None:
    sections, _ = _reference()
    missing: list[str] = []
    for name, page in context.leaf_pages.items():
        section = sections[name]
        heading_words = set(re.findall(r"[A-Z][A-Z_]+", section.heading))
        missing += [f"{name}: argument {a}" for a in page.arguments if a not in heading_words]
        documented = set(_OPTION.findall(f"{section.heading}\n{section.body}"))
        missing += [f"{name}: {o}" for o in sorted(page.options - {"--help"} - documented)]
    assert not missing, f"not documented in cli.md: {missing}"


@then("every option a section heading of docs/reference/cli.md names exists")
def step_heading_options(context: Context) -> None:
    sections, _ = _reference()
    unknown = [
        f"{name}: {option}"
        for name, section in sections.items()
        if name in context.leaf_pages
        for option in _OPTION.findall(section.heading)
        if option not in context.leaf_pages[name].options
    ]
    assert not unknown, f"cli.md headings name options that do not exist: {unknown}"


@then("the global options of docs/reference/cli.md are those of cleveragents --help")
def step_global_options(context: Context) -> None:
    _, body = _reference()
    documented = {
        option
        for line in body.splitlines()
        if line.startswith("| `--")
        for option in _OPTION.findall(line.split("|")[1])
    }
    real = context.help_pages[""].options
    assert documented == real, f"cli.md: {sorted(documented)}, --help: {sorted(real)}"
