"""Plans as a whole: what the database holds of each, and what deleting one removed."""

from __future__ import annotations

from cleveragents.domain.models.core._types import (
    DomainModel,
    Identifier,
    NonNegativeInt,
    UtcDateTime,
)


class PlanInfo(DomainModel):
    """One plan as ``list_plans`` shows it: its records, checkpoints and last activity."""

    plan_id: Identifier
    changesets: NonNegativeInt
    entries: NonNegativeInt
    tool_invocations: NonNegativeInt
    checkpoints: NonNegativeInt
    cancelled: bool
    # The newest of its records' and checkpoints' times (and of its cancel); None: none.
    last_activity: UtcDateTime | None


class PlanDeletion(DomainModel):
    """What ``delete_plan`` removed."""

    plan_id: Identifier
    entries: NonNegativeInt
    tool_invocations: NonNegativeInt
    changesets: NonNegativeInt
    checkpoints: NonNegativeInt


__all__ = ["PlanDeletion", "PlanInfo"]
