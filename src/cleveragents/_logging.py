"""Key/value structlog loggers on top of the standard ``logging`` module.

The library never configures logging globally: its events go to the ``logging``
logger of the module that emits them, so an application (or the CLI, which sends
them to stderr) decides where they go. Nothing is ever printed to stdout.
"""

from __future__ import annotations

import logging

import structlog
from structlog.typing import FilteringBoundLogger, Processor

_PROCESSORS: list[Processor] = [
    structlog.stdlib.filter_by_level,
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
