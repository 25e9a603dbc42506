"""Steps for several writer processes on one database (``tools/mixed_workload.py``)."""

from __future__ import annotations

import mixed_workload  # tools/, put on sys.path by features/environment.py
from behave import then, when
from behave.runner import Context
from changeset_steps import step_record_table
from support.world import factory, watching_sql


@when('I record into "{name}" for plan "{plan}" while watching the SQL')
def step_record_watching(context: Context, name: str, plan: str) -> None:
    with watching_sql(factory(context).kw["bind"]) as statements:
        step_record_table(context, name, plan)
    context.statements = statements


@then('on SQLite the write transaction began with "{begin}"')
def step_began_with(context: Context, begin: str) -> None:
    if context.backend.startswith("sqlite"):
        assert context.statements and context.statements[0] == begin, context.statements[:3]
    else:
        # PostgreSQL has no lock upgrade: row locks are taken by the writing statements.
        assert context.statements and context.statements[0].startswith("SELECT pg_advisory")


@when("the concurrent writers of this backend run their operations at once")
def step_concurrent_mix(context: Context) -> None:
    rows = {row["backend"]: row for row in context.table}
    row = rows[context.backend]
    mix = mixed_workload.Mix(
        records=int(row["records"]),
        invocations=int(row["invocations"]),
        occurrences=int(row["occurrences"]),
        snapshots=int(row["snapshots"]),
        reads=int(row["reads"]),
    )
    factory(context)  # migrated once before the writers start
    reports, start, wall = mixed_workload.run(
        context.url, int(row["processes"]), mix, workdir=context.tmp
    )
    context.reports, context.start = reports, start
    context.workload = mixed_workload.summary(context.url, reports, wall, [])
    assert len(reports) == int(row["processes"])
    operations = sum(sum(report.counts.values()) for report in reports)
    expected = int(row["processes"]) * sum(
        int(row[key]) for key in ("records", "invocations", "occurrences", "snapshots", "reads")
    )
    assert operations == expected, (operations, expected)
    print(
        f"{row['processes']} writers: {context.workload['operations']} operations, wall {wall:.1f} s"
    )


@then("no error reached a caller")
def step_no_errors(context: Context) -> None:
    errors = [error for report in context.reports for error in report.errors]
    assert errors == [], errors[:5]


@then("every record, invocation, occurrence and snapshot is in the database exactly once")
def step_consistent(context: Context) -> None:
    problems = mixed_workload.check(context.url, context.reports, context.start)
    assert problems == [], problems[:10]
