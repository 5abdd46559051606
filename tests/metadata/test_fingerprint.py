"""Content fingerprints of artifact directories."""

from __future__ import annotations

import shutil

import pytest

from gristmill.metadata.errors import IntegrityError
from gristmill.metadata.fingerprint import CHUNK_BYTES, fingerprint_path, verify_fingerprint
from gristmill.metadata.standard_artifacts import Examples

pytestmark = pytest.mark.unit


@pytest.fixture
def artifact_dir(tmp_path):
    root = tmp_path / "examples"
    (root / "Split-train").mkdir(parents=True)
    (root / "Split-eval").mkdir()
    (root / "Split-train" / "part-00000.parquet").write_bytes(b"train rows")
    (root / "Split-eval" / "part-00000.parquet").write_bytes(b"eval rows")
    return root


def test_fingerprint_is_stable_and_independent_of_the_directory_location(artifact_dir, tmp_path):
    first = fingerprint_path(artifact_dir)
    moved = shutil.copytree(artifact_dir, tmp_path / "promoted" / "1")

    assert first.startswith("blake2b:") and len(first) == len("blake2b:") + 64
    assert fingerprint_path(artifact_dir) == first
    assert fingerprint_path(moved) == first


@pytest.mark.parametrize("change", ["edit", "delete", "add", "rename", "empty_file"])
def test_any_change_to_the_files_changes_the_fingerprint(artifact_dir, change):
    before = fingerprint_path(artifact_dir)
    train = artifact_dir / "Split-train" / "part-00000.parquet"
    if change == "edit":
        train.write_bytes(b"train rowz")
    elif change == "delete":
        train.unlink()
    elif change == "add":
        (artifact_dir / "Split-train" / "part-00001.parquet").write_bytes(b"more")
    elif change == "rename":
        train.rename(train.with_name("part-00009.parquet"))
    else:
        (artifact_dir / "_SUCCESS").write_bytes(b"")

    assert fingerprint_path(artifact_dir) != before


def test_file_boundaries_are_part_of_the_hash(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    (one / "a").write_bytes(b"xy")
    (one / "b").write_bytes(b"z")
    (two / "a").write_bytes(b"x")
    (two / "b").write_bytes(b"yz")

    assert fingerprint_path(one) != fingerprint_path(two)


def test_a_single_large_file_is_hashed_across_chunks(tmp_path):
    big = tmp_path / "weights.bin"
    big.write_bytes(b"\0" * (CHUNK_BYTES + 10))
    before = fingerprint_path(big)
    with open(big, "r+b") as handle:
        handle.seek(CHUNK_BYTES + 5)
        handle.write(b"\1")

    assert fingerprint_path(big) != before


def test_verify_fingerprint(artifact_dir, tmp_path):
    examples = Examples(str(artifact_dir), fingerprint=fingerprint_path(artifact_dir))
    assert verify_fingerprint(examples)

    (artifact_dir / "Split-eval" / "part-00000.parquet").write_bytes(b"tampered")
    assert not verify_fingerprint(examples)
    assert not verify_fingerprint(Examples(str(artifact_dir)))
    assert not verify_fingerprint(Examples(str(tmp_path / "gone"), fingerprint="blake2b:00"))


def test_fingerprint_of_a_missing_path_names_it(tmp_path):
    with pytest.raises(IntegrityError, match=r"cannot fingerprint .*missing: no such file"):
        fingerprint_path(tmp_path / "missing")


def _rewrite_in_place_keeping_size_and_mtime(path, new_bytes: bytes) -> None:
    import os

    before = os.stat(path)
    assert len(new_bytes) == before.st_size
    with open(path, "r+b") as handle:
        handle.write(new_bytes)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


def test_input_files_are_fingerprinted_by_content_not_by_size_and_mtime(tmp_path):
    from gristmill.metadata.fingerprint import fingerprint_files

    data = tmp_path / "data.csv"
    data.write_bytes(b"x,label\n1,0\n2,1\n")
    first = fingerprint_files([str(data)], str(tmp_path))

    _rewrite_in_place_keeping_size_and_mtime(data, b"x,label\n9,0\n2,1\n")

    assert fingerprint_files([str(data)], str(tmp_path)) != first


def test_a_remembered_digest_is_dropped_when_the_file_changes(tmp_path, monkeypatch):
    import os

    from gristmill.metadata import fingerprint

    data = tmp_path / "data.csv"
    data.write_bytes(b"x,label\n1,0\n")
    old = 1_000_000_000_000_000_000
    os.utime(data, ns=(old, old))
    monkeypatch.setattr(fingerprint, "_RACY_NS", -10**19)  # remember even fresh files
    first = fingerprint.fingerprint_files([str(data)])

    _rewrite_in_place_keeping_size_and_mtime(data, b"x,label\n7,0\n")

    assert fingerprint.fingerprint_files([str(data)]) != first  # ctime changed the key


def test_moving_the_input_folder_keeps_the_fingerprint(tmp_path):
    from gristmill.metadata.fingerprint import fingerprint_files

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "d.csv").write_bytes(b"x\n1\n")
    first = fingerprint_files([str(tmp_path / "a" / "d.csv")], str(tmp_path / "a"))
    shutil.copytree(tmp_path / "a", tmp_path / "b")

    assert fingerprint_files([str(tmp_path / "b" / "d.csv")], str(tmp_path / "b")) == first
