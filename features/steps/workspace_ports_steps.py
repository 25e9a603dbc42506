"""Steps of the fast tier: the application reaches the sandbox only through its ports."""

from __future__ import annotations

import ast
import dataclasses
import tempfile
from importlib.util import find_spec
from pathlib import Path
from typing import cast

from behave import then
from behave.runner import Context

from cleveragents.application.ports import default_workspace
from cleveragents.application.services.plan_apply_service import PlanApplyService
from cleveragents.domain.models.core.change import ChangeSetStore
from cleveragents.infrastructure.workspace.local import LOCAL_WORKSPACE, LocalSwap

_FORBIDDEN = "cleveragents.infrastructure.workspace"


def _imported(module: str, tree: ast.Module) -> set[str]:
    """Every module ``tree`` imports, anywhere in it (relative imports resolved)."""
    package = module.rpartition(".")[0].split(".")
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                above = package[: len(package) - node.level + 1]
                base = ".".join([*above, base] if base else above)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


@then("no module of the application imports the file-system workspace")
def step_no_workspace_import(context: Context) -> None:
    spec = find_spec("cleveragents.application")
    assert spec is not None and spec.submodule_search_locations is not None
    root = Path(next(iter(spec.submodule_search_locations)))
    offenders: list[str] = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        module = ".".join(parts)
        for name in sorted(_imported(module, ast.parse(path.read_text()))):
            if name == _FORBIDDEN or name.startswith(f"{_FORBIDDEN}."):
                offenders.append(f"{module} imports {name}")
    assert not offenders, "\n".join(offenders)


class _RecordingSwap(LocalSwap):
    """The local swap, except that recovering only records the folder."""

    def __init__(self) -> None:
        self.recovered: list[Path] = []

    def recover_interrupted(self, target: Path) -> list[str]:
        self.recovered.append(target)
        return ["recorded"]


@then("a plan apply service handed a workspace recovers a folder through it")
def step_custom_workspace(context: Context) -> None:
    swap = _RecordingSwap()
    workspace = dataclasses.replace(LOCAL_WORKSPACE, swap=swap)
    # recover() never reaches the store: a stand-in keeps this scenario off any database.
    service = PlanApplyService(cast(ChangeSetStore, object()), workspace=workspace)
    with tempfile.TemporaryDirectory() as folder:
        assert service.recover(folder) == ["recorded"]
        assert swap.recovered == [Path(folder).resolve()], swap.recovered


@then("a service handed no workspace gets the local one from the composition root")
def step_default_workspace(context: Context) -> None:
    assert default_workspace() is LOCAL_WORKSPACE
