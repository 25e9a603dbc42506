"""Steps for secret redaction in tool invocations and in logs."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from typing import Any

from behave import given, then, when
from behave.runner import Context
from changeset_steps import store
from support.world import attempt, factory, real_id

from cleveragents._logging import get_logger
from cleveragents.cli.app import main
from cleveragents.domain.models.core.change import ToolInvocation
from cleveragents.domain.redaction import SecretRedactor
from cleveragents.infrastructure.database.changeset_repository import (
    SqliteChangeSetStore,
    ToolInvocationRepository,
)

PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "QyNTUxOQAAACBd8ayEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
    "-----END OPENSSH PRIVATE KEY-----"
)


def _record(context: Context, plan: str, **fields: Any) -> None:
    invocation = ToolInvocation(
        plan_id=plan, changeset_id=real_id(context, "A"), tool_name="http_request", **fields
    )
    context.returned = store(context).record_invocation(invocation)
    context.invocation_id = invocation.invocation_id


def _stored(context: Context) -> ToolInvocation:
    repository = ToolInvocationRepository(factory(context))
    for invocation in repository.get_invocations_for_plan("plan-1"):
        if invocation.invocation_id == context.invocation_id:
            return invocation
    raise AssertionError(f"invocation {context.invocation_id} is not stored")


@given(
    'a changeset store that also treats "{key1}" and "{key2}" as secret keys '
    'and "{pattern}" as a secret value'
)
def step_configured_store(context: Context, key1: str, key2: str, pattern: str) -> None:
    redactor = SecretRedactor(extra_keys=[key1, key2], extra_patterns=[pattern])
    context.store = SqliteChangeSetStore(factory(context), redactor=redactor)


@given("a changeset store whose redactor is disabled")
def step_disabled_store(context: Context) -> None:
    context.store = SqliteChangeSetStore(factory(context), redactor=SecretRedactor(enabled=False))


@when('I try to build a changeset store with the redactor "{value}"')
def step_bad_redactor(context: Context, value: str) -> None:
    redactor: Any = value  # deliberately not a SecretRedactor
    attempt(context, lambda: SqliteChangeSetStore(factory(context), redactor=redactor))


@when('I record a tool invocation into "{name}" for plan "{plan}" with arguments')
def step_record_arguments(context: Context, name: str, plan: str) -> None:
    _record(context, plan, arguments=json.loads(context.text))


@when(
    'I record a failing tool invocation into "{name}" for plan "{plan}" '
    'whose error, result and arguments say "{text}"'
)
def step_record_text(context: Context, name: str, plan: str, text: str) -> None:
    _record(context, plan, arguments={"command": text}, result={"output": [text]}, error=text)


@when(
    'I record a tool invocation into "{name}" for plan "{plan}" '
    "whose result is a private key between two lines"
)
def step_record_private_key(context: Context, name: str, plan: str) -> None:
    _record(context, plan, result=f"cat id_rsa\n{PRIVATE_KEY}\ndone")


@when('the invocation repository saves an invocation for plan "{plan}" with arguments')
def step_repository_saves(context: Context, plan: str) -> None:
    invocation = ToolInvocation(plan_id=plan, tool_name="sql", arguments=json.loads(context.text))
    context.returned = ToolInvocationRepository(factory(context)).save_invocation(invocation)
    context.invocation_id = invocation.invocation_id


@then("the stored arguments are")
def step_stored_arguments(context: Context) -> None:
    stored = _stored(context).arguments
    assert stored == json.loads(context.text), json.dumps(stored)


@then("the invocation returned by record_invocation is the one stored")
def step_returned_is_stored(context: Context) -> None:
    assert context.returned == _stored(context)


@then('no stored text contains "{a}", "{b}", "{c}", "{d}" or "{e}"')
def step_no_secret_stored(context: Context, a: str, b: str, c: str, d: str, e: str) -> None:
    dumped = _stored(context).model_dump_json()
    for secret in (a, b, c, d, e):
        assert secret not in dumped, (secret, dumped)


@then('the stored error, result and argument say "{expected}"')
def step_stored_text(context: Context, expected: str) -> None:
    stored = _stored(context)
    assert stored.error == expected, stored.error
    assert stored.result == {"output": [expected]}, stored.result
    assert stored.arguments == {"command": expected}, stored.arguments


@then('the stored result is "{expected}"')
def step_stored_result(context: Context, expected: str) -> None:
    assert _stored(context).result == expected.replace("\\n", "\n"), _stored(context).result


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@contextlib.contextmanager
def _captured_logs() -> Any:
    capture = _Capture()
    root = logging.getLogger("cleveragents")
    previous = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    try:
        yield capture
    finally:
        root.removeHandler(capture)
        root.setLevel(previous)


@when(
    'the library logs an event with password "{password}", headers {headers} '
    'and a message holding "{token}"'
)
def step_log_secret(context: Context, password: str, headers: str, token: str) -> None:
    with _captured_logs() as capture:
        get_logger("cleveragents.test").warning(
            "tool.failed",
            password=password,
            headers=json.loads(headers),
            message=f"request failed with key {token}",
        )
    context.log_lines = capture.lines


@then('the log line holds "{marker}" and none of "{a}", "{b}" or "{c}"')
def step_log_clean(context: Context, marker: str, a: str, b: str, c: str) -> None:
    assert len(context.log_lines) == 1, context.log_lines
    line = context.log_lines[0]
    assert marker in line, line
    for secret in (a, b, c):
        assert secret not in line, line


@when(
    'I record with debug logging a tool invocation into "{name}" for plan "{plan}" with arguments'
)
def step_record_debug(context: Context, name: str, plan: str) -> None:
    with _captured_logs() as capture:
        _record(context, plan, arguments=json.loads(context.text))
        store(context).get_for_plan(plan)
    context.log_lines = capture.lines


@then('no log record contains "{a}" or "{b}"')
def step_no_secret_logged(context: Context, a: str, b: str) -> None:
    for line in context.log_lines:
        assert a not in line and b not in line, line
    stored = _stored(context).model_dump_json()
    assert a not in stored and b not in stored, stored


@then('plan status of "{plan}" as json on the command line contains neither of them')
def step_cli_clean(context: Context, plan: str) -> None:
    changesets = json.dumps(
        [cs.model_dump(mode="json") for cs in store(context).get_for_plan(plan)]
    )
    assert "live-4f9a8b7c6d5e" not in changesets and "Zm9vYmFyMTIz" not in changesets
    if context.backend == "sqlite-memory":
        return  # the command line opens its own connection: a memory database is not shared
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(["--database-url", context.url, "plan", "status", plan, "--format", "json"])
    assert code == 0, stderr.getvalue()
    output = stdout.getvalue()
    assert json.loads(output)["tool_invocations"]["total"] == 1, output
    assert "live-4f9a8b7c6d5e" not in output and "Zm9vYmFyMTIz" not in output, output
