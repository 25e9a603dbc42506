"""cleveragents: the persistence core of an AI agent runtime."""

__version__ = "0.1.0"
