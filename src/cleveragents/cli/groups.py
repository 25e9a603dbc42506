"""Command groups that lead to their commands without loading pydantic.

Typer coerces the value of every option through a pydantic ``TypeAdapter``
unless it is a flag that already holds a bool. The options of the groups on the
way to a command are processed first: the text of ``--database-url`` and a
group's ``--help`` that was not given (``None``) made every command, help pages
included, import pydantic (a third of a second on a loaded machine, three times
what ``cleveragents plan --help`` needs otherwise). A group's own options are text
and flags, which need no coercion: they take their values as the parser gives
them.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperGroup, TyperOption


class _AsGiven(TyperOption):
    """An option whose value is taken as the parser gives it (then its callback)."""

    def process_value(self, ctx: Any, value: Any) -> Any:
        if self.callback is not None:
            value = self.callback(ctx, self, value)
        return value


def _take_as_given(option: object) -> None:
    if type(option) is TyperOption:
        option.__class__ = _AsGiven


class LightGroup(TyperGroup):
    """A typer group whose own options (text and flags) skip typer's coercion."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            _take_as_given(param)

    def get_help_option(self, ctx: Any) -> TyperOption | None:
        option = super().get_help_option(ctx)
        _take_as_given(option)
        return option
