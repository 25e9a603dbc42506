"""Steps for opening a database that does not exist (``cleveragents.open(create=...)``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from behave import given, then, when
from behave.runner import Context
from support.placeholders import fill
from support.world import attempt, factory

import cleveragents
from cleveragents.infrastructure.database import migrations


def file_url(path: Path) -> str:
    """The URL of a SQLite file."""
    return f"sqlite:///{path}"


@given("the scenario database is migrated")
def step_migrated(context: Context) -> None:
    factory(context)


@given('a migrated SQLite file "{name}" in the scenario folder')
def step_migrated_file(context: Context, name: str) -> None:
    migrations.upgrade(file_url(context.tmp / name))


@given('a migrated SQLite file "{name}" in the scenario folder at revision "{revision}"')
def step_migrated_file_at(context: Context, name: str, revision: str) -> None:
    migrations.upgrade(file_url(context.tmp / name), revision)
    assert migrations.current_revision(file_url(context.tmp / name)) == revision


@then('"{name}" in the scenario folder is at the head revision')
def step_named_at_head(context: Context, name: str) -> None:
    url = file_url(context.tmp / name)
    assert migrations.current_revision(url) == migrations.head_revision()


def _open(context: Context, url: str, **options: Any) -> None:
    def opening() -> str:
        with cleveragents.open(url, watch=False, **options) as database:
            return database.url

    attempt(context, opening)


@when('I open "{url}" with create=False')
def step_open_existing_only(context: Context, url: str) -> None:
    _open(context, fill(context, url), create=False)


@when('I open "{url}"')
def step_open(context: Context, url: str) -> None:
    _open(context, fill(context, url))


@when("I open the scenario database with create=False")
def step_open_scenario(context: Context) -> None:
    _open(context, context.url, create=False)


@when('I open the relative SQLite file "{path}" with create=False from the scenario folder')
def step_open_relative(context: Context, path: str) -> None:
    here = Path.cwd()
    os.chdir(context.tmp)
    try:
        _open(context, f"sqlite:///{path}", create=False)
    finally:
        os.chdir(here)


@then('the error names "{path}"')
def step_error_names(context: Context, path: str) -> None:
    assert str(context.error) == f"database file {fill(context, path)} does not exist", (
        context.error
    )


@then('"{name}" does not exist in the scenario folder')
def step_not_in_folder(context: Context, name: str) -> None:
    assert not (context.tmp / name).exists(), sorted(context.tmp.iterdir())
