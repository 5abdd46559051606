"""Beam logs no raw traceback for Gristmill's own errors, and still does for others (found 7)."""

from __future__ import annotations

import logging

import pytest

from gristmill.components.beam.pipeline import make_beam_pipeline
from gristmill.engine.errors import DataError as EngineDataError
from gristmill.metadata.errors import DataError

pytestmark = pytest.mark.integration


def _run_failing_dofn(exc: Exception, caplog) -> list[logging.LogRecord]:
    import apache_beam as beam

    def fail(_):
        raise exc

    caplog.clear()
    with (caplog.at_level(logging.WARNING), pytest.raises(Exception) as raised,
          make_beam_pipeline() as p):
        _ = p | beam.Create([1]) | "Fail" >> beam.Map(fail)
    assert type(exc).__name__ in f"{type(raised.value).__name__} {raised.value}"
    return [r for r in caplog.records if r.exc_info]


@pytest.mark.parametrize("exc", [
    DataError("column 'age' has no present values", fix="fill it"),
    EngineDataError("no feature columns", fix="add one"),
], ids=["metadata", "engine"])
def test_gristmill_errors_raised_in_a_dofn_are_not_logged_with_a_traceback(exc, caplog):
    assert _run_failing_dofn(exc, caplog) == []


def test_an_unexpected_error_is_still_logged(caplog):
    records = _run_failing_dofn(KeyError("surprise"), caplog)
    assert any(r.name == "apache_beam.runners.common" for r in records)
