"""Build Beam pipelines with an explicit runner.

Beam 2.77's DirectRunner first tries to download a Prism binary, which fails offline, so
when no ``--runner`` is given we run in-process on the FnApiRunner.
"""

from __future__ import annotations

from collections.abc import Sequence


def make_beam_pipeline(beam_pipeline_args: Sequence[str] = ()):
    """Return a ``beam.Pipeline`` for ``beam_pipeline_args``.

    Args:
        beam_pipeline_args: Standard Beam flags, e.g. ``["--runner=PortableRunner",
            "--job_endpoint=localhost:8099"]`` or ``["--direct_num_workers=2",
            "--direct_running_mode=multi_processing"]``. Without ``--runner`` the
            in-process FnApiRunner is used.
    """
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

    options = PipelineOptions(list(beam_pipeline_args))
    runner_name = options.view_as(StandardOptions).runner
    if runner_name:
        return beam.Pipeline(options=options)
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    return beam.Pipeline(runner=FnApiRunner(), options=options)
