"""Rows processed so far by the running components, for ``gristmill run``'s live line.

An executor's Beam reader counts the rows it has read or written with a :class:`RowCounter`
made while the pipeline is built. The counter takes its key from the thread that builds it:
:class:`~gristmill.components.framework.executor.BaseExecutor` names its component there
(:func:`begin`), so no executor passes anything. Counts live in this process: with Beam's
in-process runners (the default) the live line sees them; on multi-process or remote runners
the workers count in their own processes and the live line shows elapsed time only.
"""

from __future__ import annotations

import threading

_lock = threading.Lock()
_rows: dict[str, int] = {}
_local = threading.local()


def begin(key: str) -> None:
    """Name the component whose pipelines this thread builds next, and zero its count."""
    _local.key = key
    with _lock:
        _rows.pop(key, None)


def rows(key: str) -> int | None:
    """Rows counted for ``key`` so far; ``None`` when nothing has been counted."""
    with _lock:
        return _rows.get(key)


class RowCounter:
    """Adds rows to the count of the component being built when it was made (picklable)."""

    def __init__(self):
        self.key: str | None = getattr(_local, "key", None)

    def add(self, count: int) -> None:
        """Count ``count`` more rows (a no-op outside a named component)."""
        if self.key is None or not count:
            return
        with _lock:
            _rows[self.key] = _rows.get(self.key, 0) + count
