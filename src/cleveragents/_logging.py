"""Key/value structlog loggers on top of the standard ``logging`` module.

The library never configures logging globally: its events go to the ``logging``
logger of the module that emits them, so an application (or the CLI, which sends
them to stderr) decides where they go. Nothing is ever printed to stdout, and
secret-looking keys and values are redacted before an event is rendered.
"""

from __future__ import annotations

import logging

import structlog
from structlog.typing import EventDict, FilteringBoundLogger, Processor, WrappedLogger

from cleveragents.domain.redaction import DEFAULT_REDACTOR, REDACTED


def redact_secrets(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: no secret reaches a log line (same rules as stored data)."""
    return {
        key: REDACTED
        if key != "event" and DEFAULT_REDACTOR.is_secret_key(key)
        else DEFAULT_REDACTOR.value(value)
        for key, value in event_dict.items()
    }


_PROCESSORS: list[Processor] = [
    structlog.stdlib.filter_by_level,
    redact_secrets,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.processors.KeyValueRenderer(key_order=["event"], sort_keys=True),
]


def get_logger(name: str) -> FilteringBoundLogger:
    """A structlog logger emitting ``event=... key=value`` lines to ``logging.getLogger(name)``."""
    logger: FilteringBoundLogger = structlog.wrap_logger(
        logging.getLogger(name),
        processors=_PROCESSORS,
        wrapper_class=structlog.stdlib.BoundLogger,
    )
    return logger
