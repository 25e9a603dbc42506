"""The tiny Python project the demo agent works on, before and after its changes."""

from __future__ import annotations

from pathlib import Path

README = """\
# textkit

A tiny command line tool that turns titles into URL slugs.

    python -m app.main "Hello,   World!"
"""

UTIL = '''\
"""Small text helpers."""


def normalize_whitespace(text: str) -> str:
    """Collapse runs of whitespace into single spaces."""
    return " ".join(text.split())
'''

UTIL_WITH_SLUGIFY = '''\
"""Small text helpers."""

import re


def normalize_whitespace(text: str) -> str:
    """Collapse runs of whitespace into single spaces."""
    return " ".join(text.split())


def slugify(text: str) -> str:
    """Lower-case ``text`` and join its words with hyphens."""
    return "-".join(re.findall(r"[a-z0-9]+", text.lower()))
'''

MAIN = '''\
"""Entry point: print the title given on the command line, tidied up."""

import sys

from app.util import normalize_whitespace


def main() -> None:
    print(normalize_whitespace(" ".join(sys.argv[1:])))


if __name__ == "__main__":
    main()
'''

MAIN_WITH_URL = '''\
"""Entry point: print the slug of a title, or of a web page's title with --url."""

import sys

from app.http import fetch_title
from app.util import slugify


def main() -> None:
    args = sys.argv[1:]
    title = fetch_title(args[1]) if args[:1] == ["--url"] else " ".join(args)
    print(slugify(title))


if __name__ == "__main__":
    main()
'''

HTTP_MODULE = '''\
"""Fetching pages over HTTP."""

import re

import requests


def fetch_title(url: str) -> str:
    """The text of the page's <title> element ("" when it has none)."""
    response = requests.get(url, timeout=10)
    response.raise_for_status()
    match = re.search(r"<title>(.*?)</title>", response.text, re.S | re.I)
    return match.group(1).strip() if match else ""
'''

LEGACY = '''\
"""Deprecated: use app.util.normalize_whitespace."""

from app.util import normalize_whitespace as clean  # noqa: F401
'''

TEST_UTIL = """\
from app.util import normalize_whitespace


def test_normalize_whitespace():
    assert normalize_whitespace("  a \\t b\\n") == "a b"
"""

TEST_APP = """\
from app.main import main
from app.util import normalize_whitespace, slugify


def test_normalize_whitespace():
    assert normalize_whitespace("  a \\t b\\n") == "a b"


def test_slugify():
    assert slugify("Hello,   World!") == "hello-world"


def test_main_prints_the_slug(monkeypatch, capsys):
    monkeypatch.setattr("sys.argv", ["app", "Hello", "World"])
    main()
    assert capsys.readouterr().out == "hello-world\\n"
"""

INITIAL_FILES = {
    "README.md": README,
    "app/main.py": MAIN,
    "app/util.py": UTIL,
    "app/legacy.py": LEGACY,
    "tests/test_util.py": TEST_UTIL,
}


def create(sandbox: Path) -> None:
    """Write the project's initial files into ``sandbox``."""
    for path, text in INITIAL_FILES.items():
        target = sandbox / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text.encode("utf-8"))


def _line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def missing_requests_traceback(sandbox: Path) -> str:
    """What pytest reports when collecting the tests while ``requests`` is not installed.

    File names and line numbers are those of the sandbox's files at that point.
    """
    frames = [
        ("tests/test_app.py", TEST_APP, "from app.main import main"),
        ("app/main.py", MAIN_WITH_URL, "from app.http import fetch_title"),
        ("app/http.py", HTTP_MODULE, "import requests"),
    ]
    lines = [
        f"ImportError while importing test module '{sandbox / 'tests/test_app.py'}'.",
        "Traceback (most recent call last):",
    ]
    for path, text, statement in frames:
        lines.append(f'  File "{sandbox / path}", line {_line_of(text, statement)}, in <module>')
        lines.append(f"    {statement}")
    lines.append("ModuleNotFoundError: No module named 'requests'")
    return "\n".join(lines)
