"""What a run tells the user when it does not simply succeed (issue 18, defects 7 and 8).

A failure before a node starts keeps its cause everywhere (terminal, ``runs show``, the
MLflow journal); a validation halt is HALTED, exits 4, and points at the published report.
"""

from __future__ import annotations

import json
import os
import re
import textwrap
from pathlib import Path

import pytest

from gristmill.orchestrator import SequentialRunner
from gristmill.orchestrator.cli import main
from gristmill.orchestrator.cli_commands import load_pipeline
from gristmill.orchestrator.mlflow_mirror import MlflowMirror

pytestmark = pytest.mark.integration

WRONG_DATA_PATH = '''
from orchestrator_fakes import AddOne
from gristmill.components import CsvExampleGen
from gristmill.orchestrator import Pipeline


def create_pipeline(root: str = "", metadata_url: str = "", data: str = "/no/such/folder"):
    example_gen = CsvExampleGen(input_base=data)
    after = AddOne(x=example_gen.outputs["examples"]).with_id("after")
    return Pipeline("wrongpath", [example_gen, after], root=root,
                    metadata_url=metadata_url, tracking_uri="")
'''

HALTING_LEAF = '''
import os
from orchestrator_fakes import Source, AddOne
from gristmill.components import InputArtifact, OutputArtifact, component
from gristmill.components.framework.executor import ExecutionContext
from gristmill.metadata.standard_artifacts import Examples, ExampleAnomalies
from gristmill.orchestrator import Pipeline


@component
def Check(x: InputArtifact[Examples], anomalies: OutputArtifact[ExampleAnomalies],
          context: ExecutionContext) -> None:
    """A validator with no descendants: writes its report, then halts."""
    report = os.path.join(anomalies.uri, "report.html")
    with open(report, "w") as f:
        f.write("<p>column x: 3 values out of range</p>")
    context.halt_downstream(f"Check found 1 ERROR anomalies: train: x OUT_OF_RANGE. "
                            f"See {report}.")


def create_pipeline(root: str = "", metadata_url: str = ""):
    source = Source()
    check = Check(x=source.outputs["out"])
    train = AddOne(x=source.outputs["out"]).with_id("train")
    return Pipeline("halting", [source, check, train], root=root,
                    metadata_url=metadata_url, tracking_uri="")
'''


@pytest.fixture
def run_file(tmp_path, capsys, monkeypatch):
    """``run_file(source, command="run", *args) -> (exit code, stdout, stderr)``."""
    monkeypatch.syspath_prepend(os.path.dirname(__file__))
    store = f"sqlite:///{tmp_path / 'metadata.db'}"

    def call(source: str, command: str = "run", *args: str, pipeline: bool = True):
        path = tmp_path / "pipeline.py"
        path.write_text(textwrap.dedent(source))
        extra = [str(path), f"--param=root={tmp_path / 'root'}",
                 f"--param=metadata_url={store}"] if pipeline else ["--db", store]
        code = main([command, *args, *extra])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return call


def test_failure_before_the_node_starts_shows_its_cause_everywhere(run_file):
    code, out, err = run_file(WRONG_DATA_PATH, "run", "--json")
    assert code == 1
    data = json.loads(out.strip().splitlines()[-1])
    failed = next(c for c in data["components"] if c["name"] == "CsvExampleGen")
    assert failed["state"] == "FAILED" and "/no/such/folder" in failed["error"]
    # The terminal: the progress line and the summary both carry the cause.
    assert re.search(r"FAILED\s+CsvExampleGen", err)
    assert re.search(r"failed:\s+CsvExampleGen: .*/no/such/folder", err)
    # runs show: the failed node is listed with its error.
    code, out, _ = run_file("", "runs", "show", data["run_id"], "--json", pipeline=False)
    shown = {c["name"]: c for c in json.loads(out)["components"]}
    assert shown["CsvExampleGen"]["state"] == "FAILED"
    assert "/no/such/folder" in shown["CsvExampleGen"]["error"]
    assert shown["after"]["state"] == "CANCELED"


class _JournalOnly(MlflowMirror):
    """The real mirror hook, minus the replay: keeps the journal for inspection."""

    def after_pipeline_run(self, run, status, results):
        self.mode = "journal-only"
        super().after_pipeline_run(run, status, results)


def test_failure_before_the_node_starts_reaches_the_mlflow_journal(tmp_path, home,
                                                                   monkeypatch):
    import gristmill.orchestrator.mlflow_mirror as mirror

    monkeypatch.setattr(mirror, "_spawn_replay", lambda path: None)
    monkeypatch.setattr(mirror, "_start_tracking_store_creation", lambda uri: None)
    monkeypatch.syspath_prepend(os.path.dirname(__file__))
    path = tmp_path / "pipeline.py"
    path.write_text(WRONG_DATA_PATH)
    pipeline, _ = load_pipeline(str(path), [f"root={tmp_path / 'root'}",
                                            f"metadata_url=sqlite:///{tmp_path}/m.db"])
    result = SequentialRunner(hooks=[_JournalOnly(mode="async")], mirror_mlflow=False).run(
        pipeline)
    assert result.status == "FAILED"
    (journal,) = (home / "mirror").glob("*.ready")
    events = [json.loads(line) for line in journal.read_text().splitlines()]
    ends = {e["node"]: e for e in events if e["op"] == "end_node"}
    assert ends["CsvExampleGen"]["state"] == "FAILED"
    assert "/no/such/folder" in ends["CsvExampleGen"]["error"]
    assert ends["CsvExampleGen"]["execution_id"] == result.node("CsvExampleGen").execution_id


def test_a_validation_halt_is_halted_exit_4_and_names_the_published_report(run_file):
    code, out, err = run_file(HALTING_LEAF, "run", "--json")
    assert code == 4, err
    data = json.loads(out.strip().splitlines()[-1])
    assert data["status"] == "HALTED"
    assert "COMPLETE in" not in err and "HALTED" in err
    report = re.search(r"See (\S+report\.html)\.", err).group(1)
    assert ".staging" not in report and os.path.isfile(report), report
    # Cached the second time: still HALTED, still the published path.
    code, _, err = run_file(HALTING_LEAF, "run")
    assert code == 4 and os.path.isfile(re.search(r"See (\S+report\.html)\.", err).group(1))


USER_BUG_IN_PYARROW = '''
import pyarrow as pa
from gristmill.components import OutputArtifact, component
from gristmill.metadata.standard_artifacts import Examples
from gristmill.orchestrator import Pipeline


def load_prices(table):
    return table.column("price")  # the user's bug: there is no such column


@component
def Prices(out: OutputArtifact[Examples]) -> None:
    """Reads a column that does not exist (pyarrow raises deep inside its own code)."""
    load_prices(pa.table({"cost": [1, 2]}))


def create_pipeline(root: str = "", metadata_url: str = ""):
    return Pipeline("userbug", [Prices()], root=root, metadata_url=metadata_url,
                    tracking_uri="")
'''

GRISTMILL_BUG = '''
import os
from gristmill.components import OutputArtifact, component
from gristmill.metadata.standard_artifacts import Examples
from gristmill.orchestrator import Pipeline


@component
def DanglingLink(out: OutputArtifact[Examples]) -> None:
    """A legal output (a dangling symlink) that Gristmill's fingerprinting trips over."""
    os.symlink("/no/such/target", os.path.join(out.uri, "link"))


def create_pipeline(root: str = "", metadata_url: str = ""):
    return Pipeline("ourbug", [DanglingLink()], root=root, metadata_url=metadata_url,
                    tracking_uri="")
'''


def test_a_user_code_error_shows_the_users_frames_before_library_frames(run_file):
    code, out, err = run_file(USER_BUG_IN_PYARROW, "run", "--json")
    assert code == 1, err
    (node,) = json.loads(out.strip().splitlines()[-1])["components"]
    error = node["error"]
    assert error.startswith("Prices (Prices) raised KeyError")
    assert not node["internal_error"]
    mine = error.index("Your code (most recent call last):")
    user_line = error.index('return table.column("price")')
    library = error.index("then inside libraries")
    assert mine < user_line < library  # the user's module line first, pyarrow below it
    assert "pipeline.py" in error[mine:library] and "pyarrow" not in error[mine:library]
    assert "Traceback (most recent call last)" not in err


def test_an_internal_exception_takes_the_gristmill_bug_path(run_file, home):
    code, out, err = run_file(GRISTMILL_BUG, "run", "--json")
    assert code == 3, err
    (node,) = json.loads(out.strip().splitlines()[-1])["components"]
    assert node["internal_error"] and node["state"] == "FAILED"
    assert "internal error FileNotFoundError" in node["error"]
    assert "This is a Gristmill bug, not an error in your code" in node["error"]
    log = node["bug_log"]
    assert log.startswith(str(home / "logs")) and log in err
    text = Path(log).read_text()
    assert "Traceback (most recent call last)" in text and "fingerprint" in text
    assert "Traceback (most recent call last)" not in err
