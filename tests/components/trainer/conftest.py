"""The Trainer tests' shared labelled Examples (600 train, 200 eval rows)."""

from __future__ import annotations

import pytest
from trainer_helpers import make_examples

from gristmill.metadata.standard_artifacts import Examples


@pytest.fixture(scope="module")
def examples(tmp_path_factory) -> Examples:
    return make_examples(tmp_path_factory.mktemp("examples"), (0, 1), artifact_id=1)
