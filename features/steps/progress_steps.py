"""Steps for progress reports (features/progress.feature): a recording callback and its checks.

The sandbox and its checkpoints "A" and "B" come from ``sandbox_repair_steps``;
the command line's bar is checked in ``cli_progress_steps``.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from behave import given, then, when
from behave.runner import Context
from changeset_steps import store
from checkpoint_steps import repository, service
from sandbox_repair_steps import assert_state
from support.sandbox_states import exact_tree, own_folders, tree_difference
from support.world import sha

from cleveragents.application.services.plan_rollback_service import PlanRollbackService
from cleveragents.domain.models.core.change import ChangeEntry, ChangeOperation
from cleveragents.domain.progress import REPORT_INTERVAL_NS, STAGES

# A report's timestamp is taken in the callback, a moment after the stage read its
# clock: the spacing checked allows for that moment.
_MIN_GAP = REPORT_INTERVAL_NS / 1e9 * 0.9


class ProgressStop(Exception):
    """What the raising callback raises."""


@dataclass(frozen=True)
class Report:
    """One call of the callback, with when and in which thread it came."""

    stage: str
    done: int
    total: int | None
    at: float
    thread: int


@dataclass
class Recorder:
    """A progress callback that records every report; raises at ``stop_at`` if given.

    ``stop_at`` is (stage, "first" or "last"): the first report of that stage, or its
    last one (done == total).
    """

    stop_at: tuple[str, str] | None = None
    reports: list[Report] = field(default_factory=list)

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        self.reports.append(Report(stage, done, total, time.monotonic(), threading.get_ident()))
        if self.stop_at is None or self.stop_at[0] != stage:
            return
        last = total is not None and done == total
        if (self.stop_at[1] == "first" and done == 0) or (self.stop_at[1] == "last" and last):
            raise ProgressStop(f"the callback stops at the {self.stop_at[1]} report of {stage}")

    def runs(self) -> list[list[Report]]:
        """The reports split into stages: a new one at each new name or after a last report."""
        runs: list[list[Report]] = []
        for report in self.reports:
            previous = runs[-1][-1] if runs else None
            if (
                previous is None
                or previous.stage != report.stage
                or (previous.total is not None and previous.done == previous.total)
            ):
                runs.append([])
            runs[-1].append(report)
        return runs


def _recorded(context: Context, stop_at: tuple[str, str] | None = None) -> Recorder:
    context.recorder = Recorder(stop_at)
    context.caller_thread = threading.get_ident()
    return context.recorder


def _checkpoint(context: Context, name: str) -> str:
    checkpoint_id: str = context.state_checkpoints[name]
    return checkpoint_id


def _rollback_service(context: Context) -> PlanRollbackService:
    return PlanRollbackService(store(context), service(context))


def _fresh(context: Context) -> Path:
    context.fresh = context.tmp / "fresh"
    return context.fresh


# --- operations --------------------------------------------------------------------------


@given("{count:d} files of the sandbox get new content")
def step_new_content(context: Context, count: int) -> None:
    for index in range(count):
        (context.sandbox / f"d{index % 12}/f{index}.txt").write_text(f"new content {index}\n")


@when('I snapshot the sandbox for plan "{plan}" reporting progress')
def step_snapshot(context: Context, plan: str) -> None:
    progress = _recorded(context)
    service(context).create_workspace_snapshot(
        plan, str(context.sandbox), "progress", progress=progress
    )


@when('I restore checkpoint "{name}" into the sandbox reporting progress')
def step_restore(context: Context, name: str) -> None:
    progress = _recorded(context)
    service(context).restore_workspace(
        _checkpoint(context, name), context.sandbox, progress=progress
    )


@when('I restore checkpoint "{name}" into a fresh folder reporting progress')
def step_restore_fresh(context: Context, name: str) -> None:
    progress = _recorded(context)
    service(context).restore_workspace(
        _checkpoint(context, name), _fresh(context), progress=progress
    )


@when('I verify checkpoint "{name}" reporting progress')
def step_verify(context: Context, name: str) -> None:
    progress = _recorded(context)
    assert service(context).verify_checkpoint(_checkpoint(context, name), progress=progress)


@when('I roll plan "{plan}" back to checkpoint "{name}" reporting progress')
def step_roll_back(context: Context, plan: str, name: str) -> None:
    progress = _recorded(context)
    _rollback_service(context).rollback(
        plan, _checkpoint(context, name), context.sandbox, progress=progress
    )


def _try(context: Context, call: Callable[[], object]) -> None:
    context.error = None
    context.result = None
    try:
        context.result = call()
    except Exception as exc:  # the Then steps say which one was expected
        context.error = exc


@when(
    'I restore checkpoint "{name}" into the sandbox with a callback that raises '
    'at the {which} report of "{stage}"'
)
def step_restore_raising(context: Context, name: str, which: str, stage: str) -> None:
    progress = _recorded(context, (stage, which))
    _try(
        context,
        lambda: service(context).restore_workspace(
            _checkpoint(context, name), context.sandbox, progress=progress
        ),
    )


@when(
    'I restore checkpoint "{name}" into a fresh folder with a callback that raises '
    'at the {which} report of "{stage}"'
)
def step_restore_fresh_raising(context: Context, name: str, which: str, stage: str) -> None:
    progress = _recorded(context, (stage, which))
    _try(
        context,
        lambda: service(context).restore_workspace(
            _checkpoint(context, name), _fresh(context), progress=progress
        ),
    )


@when(
    'I roll plan "{plan}" back to checkpoint "{name}" with a callback that raises '
    'at the {which} report of "{stage}"'
)
def step_roll_back_raising(context: Context, plan: str, name: str, which: str, stage: str) -> None:
    progress = _recorded(context, (stage, which))
    _try(
        context,
        lambda: _rollback_service(context).rollback(
            plan, _checkpoint(context, name), context.sandbox, progress=progress
        ),
    )


@given('plan "{plan}" records an entry after checkpoint "{name}"')
def step_late_entry(context: Context, plan: str, name: str) -> None:
    changeset = store(context).start(plan)
    store(context).record(
        ChangeEntry(
            changeset_id=changeset.changeset_id,
            plan_id=plan,
            path="late.txt",
            operation=ChangeOperation.CREATE,
            after_hash=sha("late\n"),
        )
    )
    context.late_changeset = changeset.changeset_id


@then('the entry recorded after checkpoint "{name}" is {status}')
def step_late_status(context: Context, name: str, status: str) -> None:
    found = store(context).get(context.late_changeset)
    assert found is not None
    (entry,) = found.entries
    assert (entry.rolled_back_by is not None) == (status == "rolled back"), entry


@when('I ask to {operation} with progress "{value}"')
def step_try_with(context: Context, operation: str, value: str) -> None:
    checkpoints = service(context)
    sandbox = context.sandbox
    a = _checkpoint(context, "A")
    calls: dict[str, Callable[[], object]] = {
        'snapshot the sandbox for plan "plan-1"': lambda: checkpoints.create_workspace_snapshot(
            "plan-1", str(sandbox), "refused", progress=value
        ),
        'restore checkpoint "A" into the sandbox': lambda: checkpoints.restore_workspace(
            a, sandbox, progress=value
        ),
        'reset the sandbox to checkpoint "A"': lambda: checkpoints.reset_workspace(
            a, sandbox, progress=value
        ),
        'verify checkpoint "A"': lambda: checkpoints.verify_checkpoint(a, progress=value),
        'roll plan "plan-1" back to checkpoint "A"': lambda: _rollback_service(context).rollback(
            "plan-1", a, sandbox, progress=value
        ),
    }
    _try(context, calls[operation])


# --- checks ------------------------------------------------------------------------------


def _pattern(text: str) -> re.Pattern[str]:
    """``"scan, read?, stage"`` as a regular expression over stage names joined by spaces."""
    parts = []
    for item in (part.strip() for part in text.split(",")):
        name, optional = item.removesuffix("?"), item.endswith("?")
        assert name in STAGES, f"{name!r} is not a documented stage"
        parts.append(f"(?:{name} )?" if optional else f"{name} ")
    return re.compile("".join(parts))


@then('the stages reported were "{stages}"')
def step_stages(context: Context, stages: str) -> None:
    names = "".join(f"{run[0].stage} " for run in context.recorder.runs())
    assert _pattern(stages).fullmatch(names), (stages, names)


@then("every stage was reported in order, throttled, in the calling thread")
def step_well_formed(context: Context) -> None:
    runs = context.recorder.runs()
    assert runs, "nothing was reported"
    for run in runs:
        first, last = run[0], run[-1]
        shown = [(r.done, r.total) for r in run]
        assert first.done == 0, shown
        assert last.total is not None and last.done == last.total, shown
        dones = [r.done for r in run]
        assert dones == sorted(dones), shown
        assert all(r.total is None or r.done <= r.total for r in run), shown
        # One total throughout, or (a walk) None until the last report.
        assert len({r.total for r in run[:-1]}) <= 1 and run[0].total in (None, last.total), shown
        # Between the first and the last report, at most one per interval.
        gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(run[:-1])]
        assert all(gap >= _MIN_GAP for gap in gaps), (first.stage, gaps)
        span = last.at - first.at
        assert len(run) <= 2 + span / _MIN_GAP + 1, (first.stage, len(run), span)
        if last.total >= 500:  # far fewer reports than items
            assert len(run) < last.total / 10, (first.stage, len(run), last.total)
        assert {r.thread for r in run} == {context.caller_thread}


@then("the scan's total was unknown until its last report")
def step_scan_unknown(context: Context) -> None:
    (run,) = [run for run in context.recorder.runs() if run[0].stage == "scan"]
    assert all(r.total is None for r in run[:-1]) and run[-1].total is not None, run


@then("the scan's total was known from its first report")
def step_scan_known(context: Context) -> None:
    (run,) = [run for run in context.recorder.runs() if run[0].stage == "scan"]
    assert run[0].total is not None and run[0].total == run[-1].total, run


@then('the "{stage}" stage counted {count:d} items')
def step_counted(context: Context, stage: str, count: int) -> None:
    (run,) = [run for run in context.recorder.runs() if run[0].stage == stage]
    assert run[-1].total == count, (stage, run[-1])


@then('the sandbox is in state "{name}"')
def step_sandbox_state(context: Context, name: str) -> None:
    assert_state(context, name)


@then('the sandbox is in state "{name}" with no staging folder')
def step_sandbox_state_clean(context: Context, name: str) -> None:
    assert own_folders(context.sandbox) == []
    assert_state(context, name)


@then('the fresh folder is in state "{name}"')
def step_fresh_state(context: Context, name: str) -> None:
    found = exact_tree(context.fresh)
    expected = context.state_trees[name]
    assert found == expected, tree_difference(found, expected)[:20]


@then("the fresh folder does not exist")
def step_fresh_gone(context: Context) -> None:
    assert not context.fresh.exists()


@then("the callback's error reached the caller")
def step_callback_error(context: Context) -> None:
    assert isinstance(context.error, ProgressStop), context.error


@then('plan "{plan}" still has {count:d} checkpoints')
def step_checkpoint_count(context: Context, plan: str, count: int) -> None:
    assert len(repository(context).list_for_plan(plan)) == count
