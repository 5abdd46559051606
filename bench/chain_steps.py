"""The trivial ``@component`` the chain benchmark strings together (see chain_bench.py)."""

from __future__ import annotations

import os

from gristmill.components import InputArtifact, OutputArtifact, component
from gristmill.metadata.standard_artifacts import Examples


@component
def ChainStep(out: OutputArtifact[Examples], previous: InputArtifact[Examples] = None) -> dict:
    """Write ``value.txt``: the predecessor's value plus one."""
    value = 0
    if previous is not None:
        with open(os.path.join(previous.uri, "value.txt")) as f:
            value = int(f.read())
    with open(os.path.join(out.uri, "value.txt"), "w") as f:
        f.write(str(value + 1))
    return {"value": value + 1}


def chain_components(n: int) -> list:
    """``n`` steps, each reading its predecessor's output."""
    steps = [ChainStep().with_id("step000")]
    for i in range(1, n):
        steps.append(ChainStep(previous=steps[-1].outputs["out"]).with_id(f"step{i:03d}"))
    return steps
