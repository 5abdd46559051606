"""The error hierarchy shared by every layer.

Every error a user can see derives from :class:`GristmillError`. Subclasses carry the
fields that locate the problem (component id, artifact uri, execution id) so the CLI can
print them without parsing text. Messages follow one voice: name the thing, show expected
versus got, and say the fix.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class GristmillError(Exception):
    """Root of all Gristmill errors.

    Args:
        message: The full human-readable message (what, expected vs got, the fix).
        fix: Optional one-line remedy, appended to the message when given.
    """

    def __init__(self, message: str, *, fix: str | None = None):
        self.fix = fix
        super().__init__(f"{message} Fix: {fix}" if fix else message)


class ConfigError(GristmillError):
    """A pipeline definition or component parameter is invalid."""

    def __init__(self, message: str, *, component_id: str | None = None, fix: str | None = None):
        self.component_id = component_id
        super().__init__(message, fix=fix)


class CompileError(ConfigError):
    """The pipeline DAG is invalid (cycle, missing input, type mismatch)."""


class StoreError(GristmillError):
    """The metadata store failed or holds unexpected data."""


class SchemaVersionError(StoreError):
    """The metadata database is at a different schema revision than this code expects."""


class ExecutorError(GristmillError):
    """A component's executor failed.

    Raised by executors for bad input data; the launcher wraps any other exception from
    user code into this class with the component id attached.
    """

    def __init__(self, message: str, *, component_id: str | None = None,
                 uri: str | None = None, fix: str | None = None):
        self.component_id = component_id
        self.uri = uri
        super().__init__(message, fix=fix)


class DataError(ExecutorError):
    """Input data is malformed (bad CSV row, wrong type, truncated file)."""


class IntegrityError(GristmillError):
    """An artifact's files no longer match the fingerprint recorded when it was published."""

    def __init__(self, message: str, *, artifact_id: int | None = None,
                 uri: str | None = None, fix: str | None = None):
        self.artifact_id = artifact_id
        self.uri = uri
        super().__init__(message, fix=fix)


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """Return ' Did you mean X?' for the closest candidate, or '' when none is close."""
    matches = difflib.get_close_matches(name, list(candidates), n=1)
    return f" Did you mean {matches[0]!r}?" if matches else ""
