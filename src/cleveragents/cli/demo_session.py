"""The recording side of the demo: an agent's tool calls on a sandbox, stored as they happen.

File operations are real (the sandbox is a real folder): hashes are the sha256 of
the bytes before and after, diffs are ``git diff``'s (the one text diff of
:mod:`cleveragents.application.services.checkpoint_diff`). Every
call is recorded through the public ``ChangeSetStore`` API.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import JsonValue
from ulid import ULID

from cleveragents.application.services.checkpoint_diff import DEV_NULL, text_diff
from cleveragents.domain.models.core.change import (
    ChangeEntry,
    ChangeOperation,
    ChangeSetStore,
    ToolInvocation,
)

Narrate = Callable[[str], None]


def sha256_hex(data: bytes) -> str:
    """Lowercase sha256 hex digest of ``data``."""
    return hashlib.sha256(data).hexdigest()


def unified_diff(
    before: str | None, after: str | None, old_path: str, new_path: str
) -> tuple[str, int, int]:
    """A git-style unified diff of two texts (None: no file), with its +/- line counts."""
    fromfile = DEV_NULL if before is None else f"a/{old_path}"
    tofile = DEV_NULL if after is None else f"b/{new_path}"
    return text_diff(before or "", after or "", fromfile, tofile)


@dataclass
class AgentSession:
    """One plan's sandbox, its changeset, and the store every tool call is recorded in."""

    sandbox: Path
    store: ChangeSetStore
    plan_id: str
    changeset_id: str
    narrate: Narrate
    step: int = 0
    invocations: list[ToolInvocation] = field(default_factory=list)
    # Called with the error text of every failing tool call, after it is recorded.
    on_failure: Callable[[str], object] | None = None

    def tool(
        self,
        tool_name: str,
        arguments: dict[str, JsonValue],
        result: JsonValue = None,
        *,
        error: str | None = None,
        duration_ms: float = 0.0,
        change_ids: Sequence[str] = (),
        resource_refs: Sequence[str] = (),
        in_changeset: bool = True,
        invocation_id: str | None = None,
    ) -> ToolInvocation:
        """Record one tool call (``in_changeset=False``: a plan-level call outside it)."""
        invocation = ToolInvocation(
            invocation_id=invocation_id or str(ULID()),
            plan_id=self.plan_id,
            changeset_id=self.changeset_id if in_changeset else None,
            tool_name=tool_name,
            arguments=arguments,
            result=result,
            error=error,
            duration_ms=round(duration_ms, 3),
            change_ids=list(change_ids),
            resource_refs=list(resource_refs),
            provider_metadata={"agent": "cleveragents-demo", "step": self.step},
        )
        self.store.record_invocation(invocation)
        self.invocations.append(invocation)
        outcome = "ok" if error is None else f"FAILED: {error.strip().splitlines()[-1]}"
        self.narrate("  " + " ".join([tool_name, *resource_refs, "->", outcome]))
        if error is not None and self.on_failure is not None:
            self.on_failure(error)
        return invocation

    def read(self, path: str) -> str:
        """The ``read_file`` tool: returns the file's text."""
        started = time.perf_counter()
        text = (self.sandbox / path).read_bytes().decode("utf-8")
        self.tool(
            "read_file",
            {"path": path},
            {"content": text, "lines": len(text.splitlines())},
            duration_ms=_elapsed_ms(started),
            resource_refs=[path],
        )
        return text

    def write(self, path: str, text: str) -> ChangeEntry:
        """The ``write_file`` tool: creates or overwrites ``path``."""
        target = self.sandbox / path
        before = target.read_bytes() if target.exists() else None
        operation = ChangeOperation.CREATE if before is None else ChangeOperation.MODIFY

        def perform() -> None:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(text.encode("utf-8"))

        arguments: dict[str, JsonValue] = {"path": path, "content": text}
        return self._change("write_file", arguments, operation, path, None, before, perform)

    def delete(self, path: str) -> ChangeEntry:
        """The ``delete_file`` tool."""
        target = self.sandbox / path
        before = target.read_bytes()
        return self._change(
            "delete_file", {"path": path}, ChangeOperation.DELETE, path, None, before, target.unlink
        )

    def rename(self, old_path: str, new_path: str, text: str | None = None) -> ChangeEntry:
        """The ``move_file`` tool, optionally rewriting the content on the way."""
        source, target = self.sandbox / old_path, self.sandbox / new_path
        before = source.read_bytes()

        def perform() -> None:
            target.parent.mkdir(parents=True, exist_ok=True)
            source.rename(target)
            if text is not None:
                target.write_bytes(text.encode("utf-8"))

        arguments: dict[str, JsonValue] = {"source": old_path, "destination": new_path}
        if text is not None:
            arguments["content"] = text
        return self._change(
            "move_file", arguments, ChangeOperation.RENAME, new_path, old_path, before, perform
        )

    def _change(
        self,
        tool_name: str,
        arguments: dict[str, JsonValue],
        operation: ChangeOperation,
        path: str,
        old_path: str | None,
        before: bytes | None,
        perform: Callable[[], None],
    ) -> ChangeEntry:
        started = time.perf_counter()
        perform()
        duration = _elapsed_ms(started)
        after = None if operation is ChangeOperation.DELETE else (self.sandbox / path).read_bytes()
        diff, insertions, deletions = unified_diff(
            _text(before), _text(after), old_path or path, path
        )
        invocation_id = str(ULID())
        entry = ChangeEntry(
            changeset_id=self.changeset_id,
            plan_id=self.plan_id,
            path=path,
            operation=operation,
            old_path=old_path,
            before_hash=None if before is None else sha256_hex(before),
            after_hash=None if after is None else sha256_hex(after),
            diff=diff,
            insertions=insertions,
            deletions=deletions,
            tool_invocation_id=invocation_id,
            metadata={"step": self.step},
        )
        refs = [old_path, path] if old_path else [path]
        result: dict[str, JsonValue] = {"operation": operation.value, "path": path}
        self.tool(
            tool_name,
            arguments,
            result,
            duration_ms=duration,
            change_ids=[entry.entry_id],
            resource_refs=refs,
            invocation_id=invocation_id,
        )
        return self.store.record(entry)


def _text(data: bytes | None) -> str | None:
    return None if data is None else data.decode("utf-8", errors="replace")


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
