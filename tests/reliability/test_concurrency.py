"""A fast subset of the concurrency harness: four simultaneous runs on one store."""

from __future__ import annotations

import pytest

from . import concurrency


@pytest.mark.integration
@pytest.mark.slow
def test_four_simultaneous_runs_lose_and_duplicate_nothing(tmp_path):
    result = concurrency.run(sizes=(4,), repeats=1, work=tmp_path)

    assert result["failures"] == 0, result["details"]
    backends = 2 if result["figures"]["postgresql"] else 1
    assert result["trials"] == 5 * backends  # 4 runs + the whole-store check, per backend
