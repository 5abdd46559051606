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
