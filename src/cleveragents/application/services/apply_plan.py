"""What applying a plan's live entries to a target must do, worked out before any write.

Each path's *final state* is the net effect of the plan's entries on it, in
recording order; its *original state* is what the first entry touching it
expected (``before_hash``, or nothing for a create). Against the target as it is:

- the final state is there already (content, kind, permission bits): nothing to
  do, the path counts as already applied;
- only the permission bits differ: a ``chmod`` (``ApplyResult.modes``);
- the original state is there: the final state is written (or the path deleted);
- anything else is a conflict, and every conflict is reported at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cleveragents.domain.models.core.change import ChangeEntry, ChangeOperation, EntryKind
from cleveragents.domain.workspace import PathState
from cleveragents.domain.workspace_ports import SafeFiles


class ApplyError(Exception):
    """Applying a plan failed; the target was left exactly as it was.

    ``conflicts`` lists every path whose target held neither the state the plan
    expected nor its final state, as ``(path, expected hash, found)``;
    ``cleaned_up`` is how many changeset records the cleanup then deleted.
    """

    def __init__(
        self,
        message: str,
        *,
        conflicts: Sequence[tuple[str, str | None, str | None]] = (),
        cleaned_up: int | None = None,
    ) -> None:
        super().__init__(message)
        self.conflicts = list(conflicts)
        self.cleaned_up = cleaned_up


@dataclass(frozen=True)
class Final:
    """A path's state after the plan: nothing (``sha256`` None), or content of a kind."""

    sha256: str | None
    kind: EntryKind = EntryKind.FILE
    mode: int | None = None  # None: the sandbox file's mode


@dataclass
class PathChange:
    """One path the plan changes: what it expects there, and what it leaves."""

    path: str
    original: str | None
    final: Final
    # The permission bits the first entry saw, when it recorded them.
    original_mode: int | None = None


@dataclass
class Simulation:
    """The net effect of a plan's entries, per path, in first-touch order."""

    changes: dict[str, PathChange] = field(default_factory=dict)
    renamed: list[tuple[str, str]] = field(default_factory=list)


def simulate(entries: Sequence[ChangeEntry]) -> Simulation:
    """Play ``entries`` in order; ``ApplyError`` when one contradicts the ones before it."""
    result = Simulation()
    changes = result.changes

    def expect(path: str, wanted: str | None, entry: ChangeEntry) -> None:
        known = changes.get(path)
        if known is None:
            changes[path] = PathChange(path, wanted, Final(wanted), entry.before_mode)
        elif known.final.sha256 != wanted:
            raise ApplyError(
                f"{entry.operation.value} of {path} (entry {entry.entry_id}) expects "
                f"{wanted or 'no file'}, but the plan's earlier entries leave "
                f"{known.final.sha256 or 'no file'}"
            )

    for entry in entries:
        final = Final(entry.after_hash, entry.kind, entry.after_mode)
        if entry.operation is ChangeOperation.CREATE:
            expect(entry.path, None, entry)
        elif entry.operation is ChangeOperation.RENAME:
            old_path = entry.old_path or ""
            expect(old_path, entry.before_hash, entry)
            changes[old_path].final = Final(None)
            expect(entry.path, None, entry)
            result.renamed.append((old_path, entry.path))
        else:
            expect(entry.path, entry.before_hash, entry)
        changes[entry.path].final = final if entry.after_hash is not None else Final(None)
    return result


@dataclass
class ApplyPlan:
    """What the apply will do, per path (every list sorted when read through the result)."""

    writes: dict[str, Final] = field(default_factory=dict)  # content to put in place
    deletes: list[str] = field(default_factory=list)
    modes: dict[str, tuple[int, int]] = field(default_factory=dict)  # path -> (old, new)
    already_applied: list[str] = field(default_factory=list)
    conflicts: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    # What is in the target now at each path the plan writes or deletes.
    there: dict[str, PathState] = field(default_factory=dict)


def compare(
    simulation: Simulation, target: Path, sandbox_modes: SandboxModes, files: SafeFiles
) -> ApplyPlan:
    """Compare each changed path's original and final state with the target."""
    plan = ApplyPlan()
    guard = files.guard(target)
    for path, change in simulation.changes.items():
        final = change.final
        net_change = change.original != final.sha256 or _mode_changed(change, sandbox_modes)
        found = files.read_state(guard, path)
        if change.original is None:
            original_there = found is None
        else:
            original_there = found is not None and found.sha256 == change.original
        if final.sha256 is None:
            if found is None:
                if net_change:
                    plan.already_applied.append(path)
            elif original_there and found is not None:
                plan.deletes.append(path)
                plan.there[path] = found
            else:
                plan.conflicts.append((path, change.original, _shown(found)))
            continue
        if found is not None and found.sha256 == final.sha256 and found.kind is final.kind:
            wanted_mode = _wanted_mode(path, final, sandbox_modes)
            if wanted_mode is not None and found.mode != wanted_mode:
                plan.modes[path] = (found.mode or 0, wanted_mode)
            elif net_change:
                plan.already_applied.append(path)
            continue
        if original_there:
            plan.writes[path] = final
            if found is not None:
                plan.there[path] = found
            continue
        plan.conflicts.append((path, change.original, _shown(found)))
    return plan


class SandboxModes:
    """The permission bits of the sandbox's files, read when an entry did not record them."""

    def __init__(self, sandbox: Path, files: SafeFiles) -> None:
        self._files = files
        self._guard = files.guard(sandbox)
        self._modes: dict[str, int | None] = {}

    def mode(self, path: str) -> int | None:
        if path not in self._modes:
            state = self._files.read_state(self._guard, path)
            self._modes[path] = None if state is None else state.mode
        return self._modes[path]


def _mode_changed(change: PathChange, sandbox_modes: SandboxModes) -> bool:
    """Whether the plan changes the path's permission bits, as far as its entries tell.

    A final mode that was not recorded is the sandbox file's (so a retry of a
    mode-only change counts the path as already applied, as the first apply
    counted it under ``modes``); with no original mode recorded, only a recorded
    final mode says so.
    """
    final = change.final
    if final.mode is not None:
        return final.mode != change.original_mode
    if final.sha256 is None or change.original_mode is None:
        return False
    wanted = _wanted_mode(change.path, final, sandbox_modes)
    return wanted is not None and wanted != change.original_mode


def _wanted_mode(path: str, final: Final, sandbox_modes: SandboxModes) -> int | None:
    if final.kind is EntryKind.SYMLINK:
        return None
    return final.mode if final.mode is not None else sandbox_modes.mode(path)


def _shown(found: PathState | None) -> str | None:
    return None if found is None else found.shown()
