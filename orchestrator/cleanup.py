"""Deleting a run's scratch directories off the nodes' critical path.

On some filesystems removing a directory waits for the disk (``rmdir`` of an empty directory
took 1-3 ms on the ext4 ``discard`` mount the benchmarks run on, twice per node). A node's
scratch directory and its emptied staging directory are not read again once the node has
published, so a run hands them to one background thread and waits for it before it returns:
nothing is left behind, nothing keeps running after the run.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import os
import shutil
import threading


class DeferredCleanup:
    """Deletes directories on one background thread; :meth:`drain` waits for all of it."""

    def __init__(self):
        self._lock = threading.Lock()
        self._pool: cf.ThreadPoolExecutor | None = None
        self._pending: list[cf.Future] = []

    def remove_tree(self, path: str) -> None:
        """Delete ``path`` and everything under it (missing is fine)."""
        self._submit(shutil.rmtree, path, ignore_errors=True)

    def remove_if_empty(self, directory: str) -> None:
        """Delete ``directory`` if it is empty by the time the thread gets to it."""
        self._submit(remove_if_empty, directory)

    def drain(self) -> None:
        """Wait until every deletion asked for so far is done; stop the thread."""
        with self._lock:
            pool, self._pool, pending, self._pending = self._pool, None, self._pending, []
        if pool is not None:
            cf.wait(pending)
            pool.shutdown(wait=True)

    def _submit(self, fn, *args, **kwargs) -> None:
        with self._lock:
            if self._pool is None:
                self._pool = cf.ThreadPoolExecutor(1, thread_name_prefix="gristmill-cleanup")
            self._pending.append(self._pool.submit(fn, *args, **kwargs))


def remove_if_empty(directory: str) -> None:
    """Drop a directory once its last entry has moved out (no error when it has not)."""
    with contextlib.suppress(OSError):  # not empty yet (more outputs to come) or already gone
        os.rmdir(directory)
