"""Keep every path Gristmill deletes or reads on the store's word inside a root it owns.

A metadata row is data, and data can be stale, foreign or tampered with: an artifact URI
of ``/home/alice`` in a RUNNING execution whose process died must not make stale recovery
delete that folder, and an artifact URI of ``/etc`` must not be fingerprinted or handed to
an executor. Paths are compared after resolving symlinks (``os.path.realpath``) on both
sides, the way outputs are confined when they are written, so neither ``..`` nor a symlink
inside the root leads out of it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from gristmill.metadata.errors import StoreError


class ConfinementError(StoreError):
    """A store row names a path outside every root Gristmill owns for this run.

    Attributes:
        uri: The path the row names (as recorded).
        roots: The roots it was checked against.
    """

    def __init__(self, message: str, *, uri: str, roots: tuple[str, ...], fix: str):
        self.uri = uri
        self.roots = roots
        super().__init__(message, fix=fix)


def is_within(path: str | os.PathLike, root: str | os.PathLike) -> bool:
    """True when ``path`` (symlinks resolved) is ``root`` or lies below it."""
    real, base = os.path.realpath(path), os.path.realpath(root)
    try:
        return os.path.commonpath([real, base]) == base
    except ValueError:  # different drives, or one relative and one absolute
        return False


def confine(uri: str, roots: Iterable[str | os.PathLike], *, what: str) -> str:
    """The resolved ``uri`` when it lies inside one of ``roots``; otherwise refuse it.

    Args:
        uri: A path taken from the metadata store.
        roots: The artifact root of the run, and any path the pipeline itself names
            (an Importer's ``source_uri``).
        what: Names the row for the message, e.g. ``"artifact 12 (Model)"``.

    Raises:
        ConfinementError: Naming the row, the path, the roots and the fix.
    """
    allowed = tuple(str(r) for r in roots)
    if "://" not in uri and any(is_within(uri, root) for root in allowed):
        return os.path.realpath(uri)
    shown = ", ".join(allowed) or "(none)"
    raise ConfinementError(
        f"{what}: the metadata store records the path {uri!r}, which lies outside the "
        f"artifact root(s) of this run ({shown}) once symlinks are resolved; refused, "
        "nothing there was read or deleted.", uri=uri, roots=allowed,
        fix="the row is stale, foreign or tampered with: check who else writes this "
            "metadata database; re-run the producer with --no-cache to make a new artifact")
