"""A small pipeline file for CLI and multi-process tests: ``gristmill run fake_pipeline.py``.

The diamond of :mod:`orchestrator_fakes`, plus a ``Blocker`` node when ``block_file`` is given
(it writes ``started_marker`` and waits while ``block_file`` exists).
"""

from __future__ import annotations

from orchestrator_fakes import Blocker, diamond

from gristmill.orchestrator import Pipeline


def create_pipeline(value: int = 1, left_inc: int = 1, fail_flag: str = "",
                    started_marker: str = "", block_file: str = "", name: str = "fake",
                    root: str = "", metadata_url: str = "", tracking_uri: str = "",
                    pipeline_id: str = "") -> Pipeline:
    """The diamond source -> (left, right) -> join [-> blocker]."""
    components = diamond(value=value, left_inc=left_inc, fail_flag=fail_flag)
    if block_file:
        join = components[-1]
        components.append(Blocker(x=join.outputs["out"], started_marker=started_marker,
                                  block_file=block_file))
    return Pipeline(name, components, root=root or None, metadata_url=metadata_url or None,
                    tracking_uri=tracking_uri, pipeline_id=pipeline_id or None)
