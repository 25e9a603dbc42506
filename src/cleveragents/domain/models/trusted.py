"""Building domain models from rows without validating them a second time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


def from_trusted(model: type[M], values: dict[str, Any]) -> M:
    """A ``model`` holding ``values``, which must list every field in declaration order.

    Only for rows this library validated when it wrote them: reading 100 entries
    through full validation cost 15x the database read itself. This is what
    pydantic's ``model_construct`` does, minus its per-field default handling.
    """
    instance = model.__new__(model)
    object.__setattr__(instance, "__dict__", values)
    object.__setattr__(instance, "__pydantic_fields_set__", set(values))
    object.__setattr__(instance, "__pydantic_extra__", None)
    object.__setattr__(instance, "__pydantic_private__", None)
    return instance


def trusted_builder(model: type[M]) -> Callable[[dict[str, Any]], M]:
    r""":func:`from_trusted` for the many ``model``\ s of one read, its lookups done once.

    The models it builds share one set of field names (``model_fields_set``):
    every field is set, and pydantic only ever adds a field's name to that set, so
    sharing it changes nothing for them, and saves a set per model (an object the
    garbage collector tracks) on reads of thousands of rows. Take a new builder
    for each read, so that reads share nothing.
    """
    fields = set(model.model_fields)
    new = model.__new__
    assign = object.__setattr__

    def build(values: dict[str, Any]) -> M:
        instance = new(model)
        assign(instance, "__dict__", values)
        assign(instance, "__pydantic_fields_set__", fields)
        assign(instance, "__pydantic_extra__", None)
        assign(instance, "__pydantic_private__", None)
        return instance

    return build
