"""The defaults the composition root supplies to the application's services.

Registered by ``cleveragents/__init__.py`` at import time; each factory imports
its infrastructure only when first called, so ``import cleveragents`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cleveragents.application.ports import provide_default_workspace

if TYPE_CHECKING:
    from cleveragents.domain.workspace_ports import Workspace


def local_workspace() -> Workspace:
    """The workspace ports on the local file system."""
    from cleveragents.infrastructure.workspace.local import LOCAL_WORKSPACE

    return LOCAL_WORKSPACE


def wire_defaults() -> None:
    """Register every default the application asks the composition root for."""
    provide_default_workspace(local_workspace)
