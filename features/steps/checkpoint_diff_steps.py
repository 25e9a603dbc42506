"""Steps for the content diff between two checkpoints (``CheckpointService.diff_checkpoints``)."""

from __future__ import annotations

import shutil
from typing import Any

from behave import step, then, when
from behave.runner import Context
from checkpoint_steps import checkpoints, service
from restore_steps import _blob_of
from sqlalchemy import delete
from support import parse_types  # noqa: F401  (registers {name:Text})
from support.world import attempt, factory

from cleveragents.application.services.checkpoint_diff import CheckpointDiff, PathDiff
from cleveragents.infrastructure.database.models import CheckpointObjectModel


def _checkpoint_id(context: Context, name: str) -> str:
    """``checkpoint N`` is the Nth checkpoint taken in the scenario; a quoted id is itself."""
    if name.startswith('"'):
        return name.strip('"')
    return checkpoints(context)[int(name.removeprefix("checkpoint ")) - 1].checkpoint_id


def _write(context: Context, rel: str, data: bytes) -> None:
    path = context.sandbox / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink():
        path.unlink()
    path.write_bytes(data)


@step('I write "{rel}" with the lines "{lines}"')
def step_write_lines(context: Context, rel: str, lines: str) -> None:
    _write(context, rel, "".join(f"{line}\n" for line in lines.split("|")).encode())


@step('I write the lines "{lines}" repeated {count:d} times to "{rel}"')
def step_write_repeated(context: Context, lines: str, count: int, rel: str) -> None:
    _write(context, rel, "".join(f"{line}\n" for line in lines.split("|") * count).encode())


@step('I write the bytes "{escaped}" to "{rel}"')
def step_write_bytes(context: Context, escaped: str, rel: str) -> None:
    # Python escapes (\n, \x00, \xe9) name each byte.
    _write(context, rel, escaped.encode("ascii").decode("unicode_escape").encode("latin-1"))


@step('I point the symlink "{name}" to "{target}"')
def step_repoint(context: Context, name: str, target: str) -> None:
    link = context.sandbox / name
    link.unlink()
    link.symlink_to(target)


@step('I replace "{rel}" with a symlink to "{target}"')
def step_replace_by_link(context: Context, rel: str, target: str) -> None:
    (context.sandbox / rel).unlink()
    (context.sandbox / rel).symlink_to(target)


@step('I make the empty folder "{rel}"')
def step_empty_folder(context: Context, rel: str) -> None:
    (context.sandbox / rel).mkdir(parents=True)


@step('I remove the empty folder "{rel}"')
def step_remove_folder(context: Context, rel: str) -> None:
    shutil.rmtree(context.sandbox / rel)


def _diff(context: Context, first: str, second: str, glob: str | None = None) -> CheckpointDiff:
    return service(context).diff_checkpoints(
        _checkpoint_id(context, first), _checkpoint_id(context, second), path_glob=glob
    )


@when('I diff {first} to {second} keeping the paths "{glob}"')
def step_diff_glob(context: Context, first: str, second: str, glob: str) -> None:
    context.diff = _diff(context, first, second, glob)


@when("I diff {first} to {second}")
def step_diff(context: Context, first: str, second: str) -> None:
    context.diff = _diff(context, first, second)


@when("I try to diff {first} to {second} keeping the paths {glob:d}")
def step_try_diff_number(context: Context, first: str, second: str, glob: int) -> None:
    not_text: Any = glob  # what a caller without type checks might pass
    pair = _checkpoint_id(context, first), _checkpoint_id(context, second)
    attempt(context, lambda: service(context).diff_checkpoints(*pair, path_glob=not_text))


@when("I try to diff {first} to {second}")
def step_try_diff(context: Context, first: str, second: str) -> None:
    attempt(context, lambda: _diff(context, first, second))


@when('the stored content of "{rel}" is removed from the store')
def step_remove_blob(context: Context, rel: str) -> None:
    digest = _blob_of(context, rel)
    with factory(context)() as session, session.begin():
        session.execute(
            delete(CheckpointObjectModel).where(CheckpointObjectModel.object_hash == digest)
        )


@then("the diff is exactly")
def step_diff_exactly(context: Context) -> None:
    expected = f"{context.text}\n"
    assert context.diff.text == expected, f"got:\n{context.diff.text}\nexpected:\n{expected}"


@then('the diff shows the paths "{paths:Text}"')
def step_diff_paths(context: Context, paths: str) -> None:
    shown = [each.path for each in context.diff.paths]
    assert shown == [p.strip() for p in paths.split(",") if p.strip()], shown
    assert context.diff.text == "".join(each.text for each in context.diff.paths)


def _path(context: Context, rel: str) -> PathDiff:
    found = [each for each in context.diff.paths if each.path == rel]
    assert len(found) == 1, [each.path for each in context.diff.paths]
    return found[0]


@then(
    'the diff lists "{rel}" as {status} with {insertions:d} insertion{plural:Text} and '
    "{deletions:d} deletion{plurals:Text}"
)
def step_diff_counts(
    context: Context,
    rel: str,
    status: str,
    insertions: int,
    plural: str,
    deletions: int,
    plurals: str,
) -> None:
    each = _path(context, rel)
    assert each.status.value == status, each.status
    assert (each.insertions, each.deletions) == (insertions, deletions), each
    assert (each.old is None) == (status == "added") and (each.new is None) == (status == "deleted")


@then('the diff marks "{rel}" as binary')
def step_diff_binary(context: Context, rel: str) -> None:
    each = _path(context, rel)
    assert each.binary and (each.insertions, each.deletions) == (0, 0), each


@then('the error says "{text}"')
def step_error_says(context: Context, text: str) -> None:
    assert text in str(context.error), context.error
