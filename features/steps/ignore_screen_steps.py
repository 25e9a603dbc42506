"""Steps for the screen that passes over layers of ignore rules (features/unit_logic.feature)."""

from __future__ import annotations

import random
import re
from dataclasses import replace

from behave import then
from behave.runner import Context

from cleveragents.infrastructure.workspace.ignore_rules import (
    IgnoreRules,
    _Layer,
    _screen,
    compile_rules,
)

_PIECES = ("a", "b", "node_modules", "x.pyc", "build", "*", "**", "*.log", "k[a-c]", "\\!n")


def _pattern(rng: random.Random) -> str:
    parts = [rng.choice(_PIECES) for _ in range(rng.randint(1, 3))]
    text = "/".join(parts)
    if rng.random() < 0.2:
        text = f"/{text}"
    if rng.random() < 0.3:
        text = f"{text}/"
    return f"!{text}" if rng.random() < 0.2 else text


def _path(rng: random.Random) -> str:
    names = ("a", "b", "node_modules", "x.pyc", "build", "y.log", "kb", "!n", "z")
    return "/".join(rng.choice(names) for _ in range(rng.randint(1, 4)))


@then(
    "for random patterns and paths, a layer's screen may match exactly when one of its rules does"
)
def step_screen_exact(context: Context) -> None:
    rng = random.Random(5)
    checked = matched = 0
    for _ in range(300):
        rules = compile_rules(_pattern(rng) for _ in range(rng.randint(1, 6)))
        screen = _screen(rules)
        assert screen is not None
        for _ in range(30):
            path, is_dir = _path(rng), rng.random() < 0.5
            expected = any(rule.matches(path, is_dir) for rule in rules)
            assert screen.may_match(path, is_dir) == expected, (rules, path, is_dir)
            checked += 1
            matched += expected
    assert 0.1 * checked < matched < 0.9 * checked, (matched, checked)


@then("a layer whose expressions cannot be joined has no screen, and its rules still decide")
def step_no_screen(context: Context) -> None:
    [rule] = compile_rules(["*.log"])
    flagged = replace(rule, regex=re.compile("(?i)^(?:.+/)?[^/]*\\.LOG$"))
    plain = compile_rules(["build"])[0]
    layer = _Layer("", (flagged, plain))
    assert layer.screen is None
    assert IgnoreRules.ignored("a/x.log", False, (layer,))
    assert IgnoreRules.ignored("build", True, (layer,))
    assert not IgnoreRules.ignored("a/x.txt", False, (layer,))
