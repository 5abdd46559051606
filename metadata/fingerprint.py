"""Content fingerprints of artifact files.

A fingerprint is a BLAKE2b hash over every file under an artifact's URI: the sorted
relative paths, their sizes and their contents (read in 1 MiB chunks, so large files never
sit in memory). Renaming, editing, adding or deleting a file changes it; moving the whole
directory does not, so an artifact keeps its fingerprint when it is promoted from staging.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from gristmill.metadata.errors import IntegrityError
from gristmill.metadata.types import Artifact

CHUNK_BYTES = 1 << 20
_ALGORITHM = "blake2b"


def _files_under(root: Path) -> list[tuple[str, Path]]:
    """(relative posix path, absolute path) of every regular file under ``root``, sorted."""
    if root.is_file():
        return [(root.name, root)]
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in filenames:
            path = Path(dirpath) / name
            found.append((path.relative_to(root).as_posix(), path))
    return sorted(found)


def fingerprint_path(path: str | os.PathLike) -> str:
    """Hash a directory tree (or a single file) by relative paths, sizes and contents.

    Args:
        path: An artifact directory or one file.

    Returns:
        ``"blake2b:<hex digest>"``.

    Raises:
        IntegrityError: ``path`` does not exist.
    """
    root = Path(path)
    if not root.exists():
        raise IntegrityError(f"cannot fingerprint {root}: no such file or directory.",
                             uri=str(root), fix="check that the artifact's files were written")
    digest = hashlib.blake2b(digest_size=32)
    for relative, absolute in _files_under(root):
        size = absolute.stat().st_size
        # Length-prefix the name and size so that no two trees hash the same by concatenation.
        header = f"{len(relative)}:{relative}:{size}\n".encode()
        digest.update(header)
        with open(absolute, "rb") as handle:
            while chunk := handle.read(CHUNK_BYTES):
                digest.update(chunk)
    return f"{_ALGORITHM}:{digest.hexdigest()}"


def verify_fingerprint(artifact: Artifact) -> bool:
    """True when ``artifact``'s files still hash to its recorded fingerprint.

    An artifact without a recorded fingerprint, or whose URI is gone, does not verify.
    """
    if not artifact.fingerprint or not Path(artifact.uri).exists():
        return False
    return fingerprint_path(artifact.uri) == artifact.fingerprint
