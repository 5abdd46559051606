"""Errors raised by the tensor engine.

The engine imports nothing else of Gristmill (it must run on a bare GPU host), so it has its
own roots. They mirror :mod:`gristmill.metadata.errors` by name; the orchestrator shows any
``gristmill.*`` error as a message with its fix, never as a traceback.
"""

from __future__ import annotations


class EngineError(ValueError):
    """Root of engine errors.

    Args:
        message: What went wrong, expected versus got.
        fix: Optional one-line remedy, appended to the message.
    """

    def __init__(self, message: str, *, fix: str | None = None, **context):
        self.fix = fix
        self.context = context
        super().__init__(f"{message} Fix: {fix}" if fix else message)


class ConfigError(EngineError):
    """A fitted plan, bundle config or argument is invalid."""


class DataError(EngineError):
    """Input records do not fit what the plan or model expects."""
