"""Where a service gets the workspace it was not handed: the composition root's default.

Services take their sandbox ports as a :class:`~cleveragents.domain.workspace_ports.Workspace`.
When none is given they call :func:`default_workspace`, which asks the factory the
composition root registered. The application never imports the file-system side
itself: ``cleveragents/__init__.py`` registers ``cleveragents._wiring.local_workspace``
when the package is imported, which Python does before any module below it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cleveragents.domain.workspace_ports import Workspace

_factory: Callable[[], Workspace] | None = None


def provide_default_workspace(factory: Callable[[], Workspace]) -> None:
    """Make ``factory`` the source of the workspace of services built without one."""
    global _factory  # set once, by the composition root
    _factory = factory


def default_workspace() -> Workspace:
    """The registered default workspace; ``RuntimeError`` when nothing registered one."""
    if _factory is None:
        raise RuntimeError(
            "no default workspace is registered: pass workspace=... to the service, "
            "or import the cleveragents package, which registers the local file system's"
        )
    return _factory()
