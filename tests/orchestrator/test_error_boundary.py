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
