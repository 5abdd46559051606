"""Build Beam pipelines with an explicit runner.

Beam 2.77's DirectRunner first tries to download a Prism binary, which fails offline, so
when no ``--runner`` is given we run in-process on the FnApiRunner.

Beam logs every exception a DoFn raises, with its traceback, on the
``apache_beam.runners.common`` logger before re-raising it. For Gristmill's own errors
(which already name the column, what was expected and the fix, and which the orchestrator
reports) that traceback is noise, so :func:`make_beam_pipeline` installs a filter that drops
those records; any other exception is still logged.

Building a pipeline costs Beam repeated signature inspection and options parsing per
transform; :mod:`gristmill.components.beam.construction` caches both.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

#: The Beam logger that logs a DoFn's exception with its traceback before re-raising it.
BEAM_DOFN_LOGGER = "apache_beam.runners.common"


class GristmillErrorLogFilter(logging.Filter):
    """Drops log records whose exception is one of Gristmill's own (reported by the caller)."""

    def filter(self, record: logging.LogRecord) -> bool:
        from gristmill.engine.errors import EngineError
        from gristmill.metadata.errors import GristmillError

        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, GristmillError | EngineError)


def quiet_beam_for_gristmill_errors() -> None:
    """Install :class:`GristmillErrorLogFilter` on Beam's DoFn logger (once per process)."""
    logger = logging.getLogger(BEAM_DOFN_LOGGER)
    if not any(isinstance(f, GristmillErrorLogFilter) for f in logger.filters):
        logger.addFilter(GristmillErrorLogFilter())


def make_beam_pipeline(beam_pipeline_args: Sequence[str] = ()):
    """Return a ``beam.Pipeline`` for ``beam_pipeline_args``.

    Args:
        beam_pipeline_args: Standard Beam flags, e.g. ``["--runner=PortableRunner",
            "--job_endpoint=localhost:8099"]`` or ``["--direct_num_workers=2",
            "--direct_running_mode=multi_processing"]``. Without ``--runner`` the
            in-process FnApiRunner is used.
    """
    import apache_beam as beam
    from apache_beam.options.pipeline_options import StandardOptions

    from gristmill.components.beam.construction import (
        ViewCachingOptions,
        install_signature_cache,
    )

    quiet_beam_for_gristmill_errors()
    install_signature_cache()
    options = ViewCachingOptions(list(beam_pipeline_args))
    runner_name = options.view_as(StandardOptions).runner
    if runner_name:
        return beam.Pipeline(options=options)
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    return beam.Pipeline(runner=FnApiRunner(), options=options)
