"""Fake components and tiny graphs for the orchestrator tests.

Every fake writes one small ``value.txt`` per output, so a test can check what flowed where.
Behaviour that must change between two runs without changing the cache key (crash now,
succeed after the "fix"; block until released) is driven by files whose paths are
parameters: the path stays the same, the file comes and goes.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from gristmill.components import InputArtifact, OutputArtifact, Parameter, component
from gristmill.components.framework.base import BaseComponent, InputSpec, OutputSpec, Parameters
from gristmill.components.framework.executor import BaseExecutor, ExecutionContext
from gristmill.metadata.errors import DataError
from gristmill.metadata.standard_artifacts import Examples, Model, ModelBlessing
from gristmill.orchestrator import Pipeline

FAKE_PIPELINE = Path(__file__).resolve().parent / "fake_pipeline.py"


def write_value(artifact, value: int) -> None:
    """Write ``value`` into ``<artifact.uri>/value.txt``."""
    with open(os.path.join(artifact.uri, "value.txt"), "w") as f:
        f.write(str(value))


def read_value(artifact) -> int:
    """Read what :func:`write_value` wrote."""
    with open(os.path.join(artifact.uri, "value.txt")) as f:
        return int(f.read())


def fail_if_flagged(flag: str, who: str) -> None:
    """Raise a plain (non-Gristmill) error while the file ``flag`` exists."""
    if flag and os.path.exists(flag):
        raise ZeroDivisionError(f"{who} was told to crash by {flag}")


@component
def Source(out: OutputArtifact[Examples], value: Parameter[int] = 1,
           fail_flag: Parameter[str] = "") -> dict:
    """Write ``value``."""
    fail_if_flagged(fail_flag, "Source")
    write_value(out, value)
    out.set_property("span", value)
    return {"value": value}


@component
def AddOne(x: InputArtifact[Examples], out: OutputArtifact[Examples], inc: Parameter[int] = 1,
           fail_flag: Parameter[str] = "") -> dict:
    """Write the input's value plus ``inc``."""
    fail_if_flagged(fail_flag, "AddOne")
    result = read_value(x) + inc
    write_value(out, result)
    return {"result": result}


@component
def Join(a: InputArtifact[Examples], b: InputArtifact[Examples], out: OutputArtifact[Examples],
         c: InputArtifact[Examples] = None) -> dict:
    """Write the sum of two or three inputs."""
    total = read_value(a) + read_value(b) + (read_value(c) if c is not None else 0)
    write_value(out, total)
    return {"total": total}


@component
def Halter(x: InputArtifact[Examples], out: OutputArtifact[Examples],
           context: ExecutionContext) -> None:
    """Succeed, but ask the runner to stop every node downstream."""
    write_value(out, read_value(x))
    context.halt_downstream("the data looked wrong")


@component
def Blocker(x: InputArtifact[Examples], out: OutputArtifact[Examples],
            started_marker: Parameter[str] = "", block_file: Parameter[str] = "") -> None:
    """Write ``started_marker``, then wait (at most 60 s) while ``block_file`` exists."""
    write_value(out, read_value(x))
    if started_marker:
        with open(started_marker, "w") as f:
            f.write(str(os.getpid()))
    deadline = time.time() + 60
    while block_file and os.path.exists(block_file) and time.time() < deadline:
        time.sleep(0.05)


# -- hand-written BaseComponent subclasses: ok / crash / raise executors -------------------
class CountParameters(Parameters):
    """Parameters of the hand-written fakes."""

    n: int = 3


class OkExecutor(BaseExecutor):
    """Writes ``n`` into its output."""

    def Do(self, input_dict, output_dict, exec_properties):
        write_value(output_dict["examples"][0], exec_properties.n)


class CrashExecutor(BaseExecutor):
    """A user bug: a plain exception from inside the executor."""

    def Do(self, input_dict, output_dict, exec_properties):
        return 1 // 0


class RaiseExecutor(BaseExecutor):
    """A deliberate, well-described data error."""

    def Do(self, input_dict, output_dict, exec_properties):
        raise DataError("Raiser: input.csv line 3: expected a number, got 'abc'.",
                        fix="correct line 3")


class Counter(BaseComponent):
    """Produces Examples holding ``n``."""

    OUTPUTS = {"examples": OutputSpec(Examples)}
    PARAMETERS = CountParameters
    EXECUTOR = OkExecutor


class Trainer(BaseComponent):
    """Consumes Examples, produces a Model (for channel type checks)."""

    INPUTS = {"examples": InputSpec(Examples)}
    OUTPUTS = {"model": OutputSpec(Model)}
    PARAMETERS = CountParameters
    EXECUTOR = OkExecutor


class Blesser(BaseComponent):
    """Consumes a Model, produces a ModelBlessing."""

    INPUTS = {"model": InputSpec(Model)}
    OUTPUTS = {"blessing": OutputSpec(ModelBlessing)}
    EXECUTOR = OkExecutor


class Crasher(BaseComponent):
    """Consumes Examples and crashes with ZeroDivisionError."""

    INPUTS = {"examples": InputSpec(Examples)}
    OUTPUTS = {"examples": OutputSpec(Examples)}
    PARAMETERS = CountParameters
    EXECUTOR = CrashExecutor


class Raiser(BaseComponent):
    """Consumes Examples and raises a DataError."""

    INPUTS = {"examples": InputSpec(Examples)}
    OUTPUTS = {"examples": OutputSpec(Examples)}
    EXECUTOR = RaiseExecutor


# -- graphs --------------------------------------------------------------------------------
def linear(value: int = 1) -> list[BaseComponent]:
    """source -> step1 -> step2."""
    source = Source(value=value)
    step1 = AddOne(x=source.outputs["out"]).with_id("step1")
    step2 = AddOne(x=step1.outputs["out"], inc=10).with_id("step2")
    return [source, step1, step2]


def diamond(value: int = 1, left_inc: int = 1, right_inc: int = 2, fail_flag: str = ""
            ) -> list[BaseComponent]:
    """source -> (left, right) -> join."""
    source = Source(value=value)
    left = AddOne(x=source.outputs["out"], inc=left_inc, fail_flag=fail_flag).with_id("left")
    right = AddOne(x=source.outputs["out"], inc=right_inc).with_id("right")
    join = Join(a=left.outputs["out"], b=right.outputs["out"])
    return [source, left, right, join]


def fan_out_fan_in(value: int = 1) -> list[BaseComponent]:
    """source -> (b1, b2, b3) -> join(a, b, c)."""
    source = Source(value=value)
    branches = [AddOne(x=source.outputs["out"], inc=i).with_id(f"b{i}") for i in (1, 2, 3)]
    join = Join(a=branches[0].outputs["out"], b=branches[1].outputs["out"],
                c=branches[2].outputs["out"])
    return [source, *branches, join]


def two_branches(crash_flag: str) -> list[BaseComponent]:
    """source -> bad -> after_bad, and source -> good -> after_good (independent)."""
    source = Source()
    bad = AddOne(x=source.outputs["out"], inc=5, fail_flag=crash_flag).with_id("bad")
    after_bad = AddOne(x=bad.outputs["out"]).with_id("after_bad")
    good = AddOne(x=source.outputs["out"]).with_id("good")
    after_good = AddOne(x=good.outputs["out"]).with_id("after_good")
    return [source, bad, after_bad, good, after_good]


def make_pipeline(tmp_path, components, name: str = "fake", **options) -> Pipeline:
    """A pipeline on a real SQLite store under ``tmp_path``, MLflow mirror off."""
    options.setdefault("tracking_uri", "")
    return Pipeline(name, components, root=str(tmp_path / "root"),
                    metadata_url=f"sqlite:///{tmp_path / 'metadata.db'}", **options)


def gristmill_command(*args: str) -> list[str]:
    """``gristmill ARGS`` run by this interpreter (the console script may not be on PATH)."""
    return [sys.executable, "-c", "import sys; from gristmill.orchestrator.cli import main; "
            "sys.exit(main())", *args]


def subprocess_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a ``gristmill`` child process: our HOME, mirror off."""
    env = {**os.environ, "GRISTMILL_HOME": str(home), "GRISTMILL_MLFLOW_MIRROR": "off"}
    env.update(extra)
    return env
