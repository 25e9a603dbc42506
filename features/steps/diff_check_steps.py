"""Steps that change what a checkpoint's stored diff or its ``diff_paths`` say, for verify."""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from typing import Any

from behave import when
from behave.runner import Context
from checkpoint_steps import checkpoints
from sqlalchemy import select, update
from support.world import factory

from cleveragents.infrastructure.database.models import CheckpointModel

_PATHS: dict[str, Callable[[list[Any]], Any]] = {
    "missing their last path": lambda paths: paths[:-1],
    "given one path more": lambda paths: [*paths, "zzz-not-in-the-diff.txt"],
    "in another order": lambda paths: list(reversed(paths)),
    "not a list": lambda paths: ",".join(paths),
}
_ROWS: dict[str, Callable[[list[Any]], bytes]] = {
    # Each of these reads as rows; only the hash of the bytes as stored tells.
    "rewritten without its last row": lambda rows: json.dumps(rows[:-1]).encode(),
    "rewritten with spaces between its rows": lambda rows: json.dumps(rows).encode(),
}


def _checkpoint_id(context: Context, number: str) -> str:
    return checkpoints(context)[int(number) - 1].checkpoint_id


@when("the diff_paths of checkpoint {number} are {damage}")
def step_damage_paths(context: Context, number: str, damage: str) -> None:
    key = _checkpoint_id(context, number)
    with factory(context)() as session, session.begin():
        metadata = session.execute(
            select(CheckpointModel.checkpoint_metadata).where(CheckpointModel.checkpoint_id == key)
        ).scalar_one()
        assert len(metadata["extra"]["diff_paths"]) > 1, "the diff must list several paths"
        metadata["extra"]["diff_paths"] = _PATHS[damage](metadata["extra"]["diff_paths"])
        session.execute(
            update(CheckpointModel)
            .where(CheckpointModel.checkpoint_id == key)
            .values(checkpoint_metadata=metadata)
        )


@when("checkpoint {number}'s stored diff is {damage}")
def step_rewrite_diff(context: Context, number: str, damage: str) -> None:
    key = _checkpoint_id(context, number)
    with factory(context)() as session, session.begin():
        stored = session.execute(
            select(CheckpointModel.diff_data).where(CheckpointModel.checkpoint_id == key)
        ).scalar_one()
        rows = json.loads(zlib.decompress(stored))
        session.execute(
            update(CheckpointModel)
            .where(CheckpointModel.checkpoint_id == key)
            .values(diff_data=zlib.compress(_ROWS[damage](rows)))
        )
