"""The ``gristmill`` command line, called in-process (one real subprocess at the end)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import textwrap

import pytest
from orchestrator_fakes import FAKE_PIPELINE, gristmill_command, subprocess_env

from gristmill.orchestrator.cli import main

pytestmark = pytest.mark.integration


@pytest.fixture
def cli(tmp_path, capsys):
    """``cli("run", FILE, ...) -> (exit code, stdout, stderr)`` against the test's store."""
    store = f"sqlite:///{tmp_path / 'metadata.db'}"

    def call(command: str, *args: str, pipeline: bool = True):
        extra = [f"--param=root={tmp_path / 'root'}", f"--param=metadata_url={store}"] \
            if pipeline else ["--db", store]
        code = main([command, *args, *extra])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return call


def _last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def _states(data: dict) -> dict[str, str]:
    return {c["name"]: c["state"] for c in data["components"]}


def test_run_json_then_fully_cached(cli):
    code, out, err = cli("run", str(FAKE_PIPELINE), "--json")
    assert code == 0, err
    data = _last_json(out)
    assert data["status"] == "COMPLETE" and data["run_id"]
    assert _states(data) == {"Source": "COMPLETE", "left": "COMPLETE", "right": "COMPLETE",
                             "Join": "COMPLETE"}
    join = next(c for c in data["components"] if c["name"] == "Join")
    assert join["seconds"] >= 0 and join["outputs"]["out"][0]["id"] > 0
    assert "COMPLETE in" in err and data["run_id"] in err
    code, out, _ = cli("run", str(FAKE_PIPELINE), "--json")
    assert code == 0 and set(_states(_last_json(out)).values()) == {"CACHED"}


def test_explain_and_dry_run_name_the_changed_parameter(cli):
    cli("run", str(FAKE_PIPELINE))
    for command in (["explain"], ["run", "--dry-run"]):
        code, out, _ = cli(*command, str(FAKE_PIPELINE), "--param", "left_inc=5")
        assert code == 0
        lines = out.splitlines()
        assert lines[0].split() == ["HIT", "Source"]
        assert lines[1].strip().startswith("same cache key as execution")
        left = lines.index(next(line for line in lines if line.endswith(" left")))
        assert lines[left].split() == ["MISS", "left"]
        assert "parameter 'inc' changed: 1 -> 5" in lines[left + 1]
        assert any("upstream left will re-run" in line for line in lines)
    for command in (["explain"], ["run", "--dry-run"]):
        code, out, _ = cli(*command, str(FAKE_PIPELINE), "--param", "left_inc=5", "--json")
        verdicts = {c["name"]: c for c in _last_json(out)["components"]}
        assert code == 0
        assert {k: v["verdict"] for k, v in verdicts.items()} == {
            "Source": "hit", "left": "miss", "right": "hit", "Join": "miss"}
        assert any("parameter 'inc' changed: 1 -> 5" in r for r in verdicts["left"]["reasons"])
    code, out, _ = cli("runs", "--json", pipeline=False)
    assert len(json.loads(out)) == 1  # explain and --dry-run ran nothing


def test_failed_run_exits_1_without_traceback_and_prints_the_resume_command(cli, tmp_path):
    flag = tmp_path / "crash"
    flag.touch()
    code, out, err = cli("run", str(FAKE_PIPELINE), f"--param=fail_flag={flag}", "--json")
    assert code == 1
    assert "Traceback" not in err and "Traceback" not in out
    assert "left (AddOne) raised ZeroDivisionError" in err
    data = _last_json(out)
    assert data["status"] == "FAILED"
    assert _states(data) == {"Source": "COMPLETE", "left": "FAILED", "right": "COMPLETE",
                             "Join": "CANCELED"}
    resume = next(line for line in err.splitlines() if "resume:" in line)
    command = resume.split("resume:", 1)[1].split("(completed")[0].strip()
    assert command == data["resume_command"]
    flag.unlink()  # the fix
    argv = shlex.split(command)
    assert argv[:3] == ["gristmill", "run", str(FAKE_PIPELINE)]
    code = main([*argv[1:], "--json"])
    assert code == 0


def test_resumed_run_takes_completed_components_from_cache(cli, tmp_path, capsys):
    flag = tmp_path / "crash"
    flag.touch()
    cli("run", str(FAKE_PIPELINE), f"--param=fail_flag={flag}")
    flag.unlink()
    code, out, _ = cli("run", str(FAKE_PIPELINE), f"--param=fail_flag={flag}", "--json")
    assert code == 0
    assert _states(_last_json(out)) == {"Source": "CACHED", "left": "COMPLETE",
                                        "right": "CACHED", "Join": "COMPLETE"}


def test_partial_runs_from_and_to(cli):
    cli("run", str(FAKE_PIPELINE))
    code, out, _ = cli("run", str(FAKE_PIPELINE), "--from", "left", "--param", "left_inc=3",
                       "--json")
    assert code == 0 and _states(_last_json(out)) == {"left": "COMPLETE", "Join": "COMPLETE"}
    code, out, _ = cli("run", str(FAKE_PIPELINE), "--to", "right", "--json")
    assert code == 0 and _states(_last_json(out)) == {"Source": "CACHED", "right": "CACHED"}


def test_dry_run_honours_from_and_to(cli):
    code, out, _ = cli("run", str(FAKE_PIPELINE), "--dry-run", "--from", "left", "--json")
    verdicts = {c["name"]: c for c in _last_json(out)["components"]}
    assert code == 0 and verdicts["Source"]["verdict"] == "skip"
    assert "never succeeded" in verdicts["Source"]["reasons"][0]
    _, out, _ = cli("run", str(FAKE_PIPELINE), "--json")
    source_execution = next(c for c in _last_json(out)["components"]
                            if c["name"] == "Source")["execution_id"]
    code, out, _ = cli("run", str(FAKE_PIPELINE), "--dry-run", "--from", "left", "--param",
                       "left_inc=3", "--json")
    verdicts = {c["name"]: c for c in _last_json(out)["components"]}
    assert code == 0 and {k: v["verdict"] for k, v in verdicts.items()} == {
        "Source": "skip", "left": "miss", "right": "skip", "Join": "miss"}
    assert verdicts["Source"]["reasons"] == [
        f"not selected by --from/--to; reuses the outputs of execution {source_execution}"]
    code, out, _ = cli("run", str(FAKE_PIPELINE), "--dry-run", "--to", "right", "--json")
    assert {c["name"]: c["verdict"] for c in _last_json(out)["components"]} == {
        "Source": "hit", "left": "skip", "right": "hit", "Join": "skip"}
    code, out, _ = cli("runs", "--json", pipeline=False)
    assert len(json.loads(out)) == 1  # the dry runs ran nothing


def test_runs_artifacts_and_lineage(cli):
    _, out, _ = cli("run", str(FAKE_PIPELINE), "--json")
    run = _last_json(out)
    join_out = next(c for c in run["components"] if c["name"] == "Join")["outputs"]["out"][0]

    code, out, _ = cli("runs", "--json", pipeline=False)
    runs = json.loads(out)
    assert code == 0 and [(r["run_id"], r["status"]) for r in runs] == [
        (run["run_id"], "COMPLETE")]
    code, out, _ = cli("runs", "show", run["run_id"], "--json", pipeline=False)
    shown = json.loads(out)
    assert code == 0 and shown["status"] == "COMPLETE"
    assert sorted(c["name"] for c in shown["components"]) == ["Join", "Source", "left", "right"]
    assert all(c["state"] == "COMPLETE" and c["seconds"] is not None
               for c in shown["components"])

    code, out, _ = cli("artifacts", "--json", pipeline=False)
    artifacts = json.loads(out)
    assert code == 0 and len(artifacts) == 4
    assert {a["producer"] for a in artifacts} == {"Source", "left", "right", "Join"}
    assert {a["state"] for a in artifacts} == {"LIVE"}
    code, out, _ = cli("artifacts", "--producer", "Join", "--json", pipeline=False)
    assert [a["id"] for a in json.loads(out)] == [join_out["id"]]

    code, out, _ = cli("lineage", str(join_out["id"]), "--direction", "upstream", "--json",
                       pipeline=False)
    lineage = json.loads(out)
    assert code == 0
    assert {e["component"] for e in lineage["executions"]} == {"Source", "left", "right",
                                                                "Join"}
    assert len(lineage["artifacts"]) == 4

    for command in (["runs"], ["runs", "show", run["run_id"]], ["artifacts"],
                    ["lineage", str(join_out["id"])]):
        code, out, _ = cli(*command, pipeline=False)
        assert code == 0 and out.strip()  # the rich tables render


def _write(tmp_path, text: str) -> str:
    path = tmp_path / "bad_pipeline.py"
    path.write_text(textwrap.dedent(text))
    return str(path)


@pytest.mark.parametrize("source,message", [
    (None, r"pipeline file '.*missing\.py' does not exist"),
    ("def create_pipeline(:\n", r"bad_pipeline\.py:1: syntax error"),
    ("import not_a_real_module_xyz\n", r"import failed: No module named 'not_a_real_module_xyz'"),
    ("x = undefined_name\n", r"importing the pipeline file raised NameError: name "
                             r"'undefined_name' is not defined \(at bad_pipeline\.py:1\)"),
    ("X = 1\n", r"expected a function create_pipeline\(\*\*params\)"),
    ("def create_pipeline():\n    return 42\n", r"create_pipeline\(\) returned int, expected a "
                                                 r"Pipeline"),
    ("def create_pipeline():\n    raise ValueError('rows must be > 0')\n",
     r"create_pipeline\(\) raised ValueError: rows must be > 0 \(at bad_pipeline\.py:2\)"),
])
def test_bad_pipeline_files_give_one_error_line_and_exit_2(tmp_path, capsys, source, message):
    path = str(tmp_path / "missing.py") if source is None else _write(tmp_path, source)
    code = main(["run", path])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and re.search(message, err), err
    assert "Traceback" not in err


@pytest.mark.parametrize("args,message", [
    (["--param", "left_ink=3"], "has no parameter 'left_ink'. Did you mean 'left_inc'?"),
    (["--param", "left_inc"], "--param 'left_inc': expected KEY=VALUE."),
    (["--from", "lefft"], "has no node 'lefft'. Did you mean 'left'?"),
    (["--param", "value=abc"], "--param value=abc: expected int like its default 1, got 'abc'"),
])
def test_bad_arguments_give_one_error_line_and_exit_2(cli, args, message):
    code, _, err = cli("run", str(FAKE_PIPELINE), *args)
    assert code == 2 and err.startswith("error: ") and message in err, err
    assert "Traceback" not in err


def test_string_parameters_stay_strings(cli):
    code, out, err = cli("run", str(FAKE_PIPELINE), "--param", "name=123", "--json")
    assert code == 0, err
    assert _last_json(out)["pipeline"] == "123"


def test_unknown_run_id_or_artifact_id_is_an_error(cli):
    code, _, err = cli("runs", "show", "no-such-run", pipeline=False)
    assert code == 2 and "no run 'no-such-run'" in err
    code, _, err = cli("lineage", "99999", pipeline=False)
    assert code == 2 and err.startswith("error: ") and "99999" in err


def test_real_subprocess_uses_gristmill_home_defaults(tmp_path, home):
    command = gristmill_command("run", str(FAKE_PIPELINE), "--json")
    done = subprocess.run(command, capture_output=True, text=True, timeout=120,
                          env=subprocess_env(home))
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout.strip().splitlines()[-1])
    assert data["root"] == str(home / "pipelines" / "fake")
    assert (home / "metadata.db").exists()


def test_user_text_is_printed_verbatim_not_as_markup(cli, tmp_path):
    flag = tmp_path / "crash[bold]"  # rich would swallow "[bold]" as a style tag
    flag.touch()
    code, _, err = cli("run", str(FAKE_PIPELINE), f"--param=fail_flag={flag}")
    assert code == 1
    assert f"told to crash by {flag}" in err
    assert f"--param=fail_flag={flag}" in err  # in the one-line resume command
