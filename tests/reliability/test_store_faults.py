"""Quick subsets of the confinement, first-start and redaction families of issue 14."""

from __future__ import annotations

import random

import pytest

from . import confinement, first_start, redaction
from .common import HarnessResult


@pytest.mark.integration
@pytest.mark.parametrize("kind", confinement.KINDS)
def test_stale_recovery_and_reads_stay_inside_the_root(tmp_path, kind):
    for check in (confinement.stale_trial, confinement.read_trial):
        base = tmp_path / check.__name__
        base.mkdir()
        assert check(base, kind, "Node", "out", "0123456789ab") == []


@pytest.mark.integration
def test_a_killed_first_start_of_the_metadata_store_is_not_fatal(tmp_path):
    rng = random.Random(3)
    for index in range(2):
        base = tmp_path / f"k{index}"
        base.mkdir()
        assert first_start.metadata_trial(base, rng.uniform(0.0, 0.2)) == []


@pytest.mark.integration
@pytest.mark.parametrize(("damage", "offset", "payload"), [
    ("empty", 0.0, b""), ("garbage", 0.0, b"\x89PNG\r\n" * 40),
    ("truncate", 0.5, b""), ("overwrite", 0.4, b"\xff" * 300)])
def test_a_damaged_metadata_file_is_refused_with_the_fix(tmp_path, damage, offset, payload):
    reference = first_start._reference_store(tmp_path / "ref")

    assert first_start.damaged_trial(tmp_path, damage, offset, payload, reference) == []


@pytest.mark.unit
@pytest.mark.parametrize("form", redaction.FORMS)
def test_every_url_form_is_redacted_everywhere(tmp_path, form):
    result = HarnessResult("redaction")

    redaction.url_trial(result, tmp_path, form, "postgresql", "Zq8a?b#c/d@e:f", True)

    assert result.failures == 0, result.details


@pytest.mark.integration
def test_run_json_errors_and_mirror_journals_hide_passwords(tmp_path, monkeypatch):
    monkeypatch.setenv("GRISTMILL_MLFLOW_MIRROR", "off")
    result = HarnessResult("redaction")

    redaction.check_run_json_and_journal(result, tmp_path)

    assert result.trials == 2 and result.failures == 0, result.details
