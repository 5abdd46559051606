"""Integrity: tampered artifacts are never reused from cache nor consumed downstream."""

from __future__ import annotations

import pytest

from . import integrity


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    from gristmill.metadata.store import open_store

    home = tmp_path_factory.mktemp("reference")
    run = integrity._run(home)
    with open_store(f"sqlite:///{home / 'metadata.db'}") as store:
        return integrity._fingerprints(store, run)


@pytest.mark.integration
@pytest.mark.parametrize("tamper", ["flip a byte", "add a file", "delete the directory"])
def test_tampered_examples_are_not_reused_from_cache(tmp_path, reference, tamper):
    problems = integrity.cache_trial(tmp_path, "Source.examples", integrity.TAMPERS[tamper],
                                     reference)

    assert problems == []


@pytest.mark.integration
@pytest.mark.parametrize("tamper", ["truncate a file", "rename a file"])
def test_tampered_model_is_not_consumed_downstream(tmp_path, tamper):
    problems = integrity.consume_trial(tmp_path, "Fit.model", integrity.TAMPERS[tamper],
                                       "Report")

    assert problems == []
