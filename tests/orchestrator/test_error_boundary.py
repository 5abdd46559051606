"""The CLI's error boundary never fails itself (issue 14 item 16)."""

from __future__ import annotations

import os
import subprocess
import tempfile

import pytest
from orchestrator_fakes import FAKE_PIPELINE, gristmill_command

from gristmill.orchestrator import cli
from gristmill.orchestrator.cli import main

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("command", [["run", str(FAKE_PIPELINE)], ["runs"],
                                     ["explain", str(FAKE_PIPELINE)]])
def test_a_home_that_is_a_file_is_one_error_with_the_fix(tmp_path, monkeypatch, capsys,
                                                          command):
    home = tmp_path / "home-file"
    home.write_text("not a directory")
    monkeypatch.setenv("GRISTMILL_HOME", str(home))
    assert main(command) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: GRISTMILL_HOME={home} is a file, not a directory")
    assert "Fix: set GRISTMILL_HOME to a writable directory" in err
    assert "Traceback" not in err


def test_a_home_that_is_a_file_in_a_real_subprocess(tmp_path):
    home = tmp_path / "home-file"
    home.write_text("")
    env = {**os.environ, "GRISTMILL_HOME": str(home), "GRISTMILL_MLFLOW_MIRROR": "off"}
    done = subprocess.run(gristmill_command("run", str(FAKE_PIPELINE)), env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "is a file, not a directory" in done.stderr


def test_an_unexpected_error_is_reported_even_when_the_home_cannot_hold_the_log(
        tmp_path, monkeypatch, capsys):
    home = tmp_path / "home-file"
    home.write_text("")
    monkeypatch.setenv("GRISTMILL_HOME", str(home))
    try:
        raise RuntimeError("a Gristmill bug")
    except RuntimeError as e:
        assert cli._report_error(e) == 3
    err = capsys.readouterr().err
    assert err.startswith("error: unexpected RuntimeError: a Gristmill bug\n")
    log = err.split("The full traceback is in ")[1].split(";")[0]
    assert log.startswith(os.path.join(tempfile.gettempdir(), "gristmill-logs"))
    with open(log) as f:
        assert "raise RuntimeError" in f.read()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only directories")
def test_a_read_only_home_is_refused_by_run(tmp_path, monkeypatch, capsys):
    home = tmp_path / "ro-home"
    home.mkdir()
    home.chmod(0o555)
    monkeypatch.setenv("GRISTMILL_HOME", str(home))
    assert main(["run", str(FAKE_PIPELINE)]) == 2
    assert "is not writable by this user" in capsys.readouterr().err


DISK_FILLS_UP = '''
import os
import resource
import signal

from gristmill.components import OutputArtifact, component
from gristmill.metadata.standard_artifacts import Examples
from gristmill.orchestrator import Pipeline


@component
def Fill(out: OutputArtifact[Examples]) -> None:
    """The disk "fills up" while this component writes: from now on no file of this
    process may grow (RLIMIT_FSIZE 0), the metadata store's included."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))
    with open(os.path.join(out.uri, "big.bin"), "wb") as f:
        f.write(b"x" * 1_000_000)


def create_pipeline(root: str = "", metadata_url: str = ""):
    return Pipeline("diskfull", [Fill()], root=root, metadata_url=metadata_url,
                    tracking_uri="")
'''


def test_a_full_disk_keeps_the_failing_components_line(tmp_path):
    path = tmp_path / "pipeline.py"
    path.write_text(DISK_FILLS_UP)
    env = {**os.environ, "GRISTMILL_HOME": str(tmp_path / "home"),
           "GRISTMILL_MLFLOW_MIRROR": "off"}
    done = subprocess.run(
        gristmill_command("run", str(path), "--sequential", f"--param=root={tmp_path / 'r'}",
                          f"--param=metadata_url=sqlite:///{tmp_path / 'metadata.db'}"),
        env=env, capture_output=True, text=True, timeout=120)
    err = done.stderr
    assert done.returncode in (1, 2), err
    assert "Fill (Fill) raised OSError: [Errno 27] File too large" in err
    assert 'f.write(b"x" * 1_000_000)' in err  # the component's own line
    assert "(the failure could not be recorded in the metadata store:" in err
    assert "Traceback" not in err
