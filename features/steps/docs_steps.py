"""Steps that run the documentation's Python examples (features/docs_examples.feature)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from behave import then
from behave.runner import Context

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_examples(page: Path) -> str:
    """The page's Python blocks, in order, as one script."""
    return "\n".join(_BLOCK.findall(page.read_text(encoding="utf-8")))


@then("every page's Python examples run twice in a row in a new process")
def step_examples_run(context: Context) -> None:
    ran: list[str] = []
    for page in PAGES:
        script = python_examples(page)
        if not script.strip():
            continue
        name = page.relative_to(ROOT).as_posix()
        folder = context.tmp / name.replace("/", "_")
        folder.mkdir()
        env = {
            key: value for key, value in os.environ.items() if key != "CLEVERAGENTS_DATABASE_URL"
        }
        env["XDG_DATA_HOME"] = str(folder / "xdg")
        # The examples make their folders with tempfile, as a user would: here, they go
        # below the scenario's folder, which is removed after it.
        (folder / "tmp").mkdir()
        env["TMPDIR"] = str(folder / "tmp")
        for attempt in (1, 2):
            result = subprocess.run(
                [sys.executable, "-c", script],
                cwd=folder,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            assert result.returncode == 0, (
                f"{name}, run {attempt}: exit {result.returncode}\n{result.stderr[-3000:]}"
            )
        ran.append(name)
    assert "README.md" in ran and "docs/getting-started.md" in ran, ran
    print(f"examples run twice: {', '.join(ran)}")
