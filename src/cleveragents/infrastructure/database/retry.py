"""``database_retry``: bounded, jittered retries of transient database failures."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar, overload

from sqlalchemy import exc as sa_exc
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from cleveragents._logging import get_logger
from cleveragents.infrastructure.database.errors import is_transient, translate

P = ParamSpec("P")
R = TypeVar("R")

DEFAULT_ATTEMPTS = 5
DEFAULT_DEADLINE_SECONDS = 5.0

_log = get_logger(__name__)


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    _log.warning(
        "database.retry",
        attempt=state.attempt_number,
        function=getattr(state.fn, "__qualname__", "?"),
        error=type(error).__name__ if error else None,
    )


def _should_retry(exc: BaseException) -> bool:
    return isinstance(exc, sa_exc.SQLAlchemyError) and is_transient(exc)


@overload
def database_retry(function: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def database_retry(
    *,
    attempts: int = DEFAULT_ATTEMPTS,
    deadline: float = DEFAULT_DEADLINE_SECONDS,
    action: str | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def database_retry(
    function: Callable[P, R] | None = None,
    /,
    *,
    attempts: int = DEFAULT_ATTEMPTS,
    deadline: float = DEFAULT_DEADLINE_SECONDS,
    action: str | None = None,
) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
    """Retry transient failures (busy, locked, lost connection, serialization, deadlock).

    Usable bare (``@database_retry``) or configured (``@database_retry(attempts=3)``).
    Integrity and programming errors are never retried. Whatever still fails is
    raised as :class:`DatabaseError` (or a subclass) with the original as ``__cause__``.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    if deadline <= 0:
        raise ValueError("deadline must be positive")

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        what = action or fn.__qualname__

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            retrying = Retrying(
                retry=retry_if_exception(_should_retry),
                stop=stop_after_attempt(attempts) | stop_after_delay(deadline),
                wait=wait_random_exponential(multiplier=0.02, max=1.0),
                before_sleep=_log_retry,
                reraise=True,
            )
            try:
                return retrying(fn, *args, **kwargs)
            except sa_exc.SQLAlchemyError as exc:
                raise translate(exc, what) from exc

        return wrapper

    if function is not None:
        return decorate(function)
    return decorate
