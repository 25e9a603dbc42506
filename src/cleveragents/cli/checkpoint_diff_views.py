"""What ``checkpoint diff`` shows, per format.

``plain`` is the diff as ``git diff`` prints it (nothing when the snapshots are
the same); ``rich`` is the same text, highlighted. ``checkpoint diff FROM_ID TO_ID
--format json`` prints (yaml: the same keys)::

    {
      "from_checkpoint_id": "01J...",
      "to_checkpoint_id": "01J...",
      "paths": [                            # sorted by path; [] when nothing differs
        {
          "path": "app/util.py",            # an empty folder's ends with "/"
          "status": "modified",             # added | deleted | modified
          "old": {"kind": "file", "sha256": "...", "size": 120, "mode": 420},   # null if added
          "new": {"kind": "file", "sha256": "...", "size": 164, "mode": 493},   # null if deleted
          "binary": false,                  # true: not text, or content not stored
          "insertions": 4,
          "deletions": 0,
          "diff": "diff --git a/app/util.py b/app/util.py\\nold mode 100644\\n..."
        }
      ]
    }

``kind`` is ``file``, ``symlink``, ``large`` (above the size limit, content not
stored) or ``dir`` (an empty folder); ``mode`` holds the permission bits of a
file (null for a symlink or a folder). A path whose kind changed appears twice:
deleted, then added.
"""

from __future__ import annotations

from typing import Any

from rich.syntax import Syntax

from cleveragents.application.services.checkpoint_diff import CheckpointDiff, PathDiff
from cleveragents.cli.output import OutputFormat, stdout_console, write_document, write_text
from cleveragents.domain.models.core.checkpoint import MODE_KINDS, ManifestEntry


def _entry(entry: ManifestEntry | None) -> dict[str, Any] | None:
    if entry is None:
        return None
    return {
        "kind": entry.kind.value,
        "sha256": entry.sha256,
        "size": entry.size,
        "mode": entry.mode if entry.kind in MODE_KINDS else None,
    }


def _path_document(each: PathDiff) -> dict[str, Any]:
    return {
        "path": each.path,
        "status": each.status.value,
        "old": _entry(each.old),
        "new": _entry(each.new),
        "binary": each.binary,
        "insertions": each.insertions,
        "deletions": each.deletions,
        "diff": each.text,
    }


def checkpoint_diff_document(diff: CheckpointDiff) -> dict[str, Any]:
    """The JSON/YAML document described in this module's docstring."""
    return {
        "from_checkpoint_id": diff.from_checkpoint_id,
        "to_checkpoint_id": diff.to_checkpoint_id,
        "paths": [_path_document(each) for each in diff.paths],
    }


def render_checkpoint_diff(diff: CheckpointDiff, fmt: OutputFormat) -> None:
    """Write ``checkpoint diff`` output in ``fmt``."""
    if fmt.is_document:
        write_document(checkpoint_diff_document(diff), fmt)
    elif fmt is OutputFormat.RICH:
        console = stdout_console()
        for each in diff.paths:
            console.print(Syntax(each.text.rstrip("\n"), "diff", theme="ansi_dark", word_wrap=True))
    else:
        write_text(diff.text)
