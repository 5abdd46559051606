"""A pipeline file for the compile tests: a Cond block, retries and resources.

source -> gated (inside Cond(span > threshold)) -> after;  source -> sized (retries 2,
backoff 3 s, 2 CPUs, 1.5 GB, 1 GPU).
"""

from __future__ import annotations

from orchestrator_fakes import AddOne, Source

from gristmill.orchestrator import Cond, Pipeline


def create_pipeline(value: int = 1, threshold: int = 3, root: str = "", metadata_url: str = "",
                    tracking_uri: str = "") -> Pipeline:
    """``value > threshold`` runs ``gated`` and ``after``; otherwise both are SKIPPED."""
    source = Source(value=value)
    with Cond(source.outputs["out"].future()[0].property("span") > threshold):
        gated = AddOne(x=source.outputs["out"]).with_id("gated")
    after = AddOne(x=gated.outputs["out"]).with_id("after")
    sized = AddOne(x=source.outputs["out"], inc=5).with_id("sized").with_node_execution_options(
        max_execution_retries=2, retry_backoff_sec=3.0, num_cpus=2, memory_gb=1.5, num_gpus=1)
    return Pipeline("dagged", [source, gated, after, sized], root=root or None,
                    metadata_url=metadata_url or None, tracking_uri=tracking_uri)
