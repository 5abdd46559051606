"""CLI polish (issue 21 item 9): --version, help with defaults and an example per command,
case-insensitive --type with a did-you-mean."""

from __future__ import annotations

import json
from importlib.metadata import version

import pytest
from orchestrator_fakes import diamond, make_pipeline

from gristmill.orchestrator import SequentialRunner
from gristmill.orchestrator.cli import build_parser, main


@pytest.mark.unit
def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"gristmill {version('gristmill')}"


def _help(*command: str) -> str:
    parser = build_parser()
    for name in command:
        parser = next(a for a in parser._actions if a.dest == "command").choices[name]
    return parser.format_help().replace("\n" + " " * 24, " ")  # unwrap help lines


@pytest.mark.unit
def test_every_command_has_an_example_and_shows_its_defaults():
    commands = next(a for a in build_parser()._actions if a.dest == "command").choices
    assert {"run", "explain", "runs", "artifacts", "lineage", "ui", "db"} <= set(commands)
    for name in commands:
        text = _help(name)
        assert f"example:\n  gristmill {name}" in text, name
    assert "(default: 3)" in _help("lineage") and "(default: both)" in _help("lineage")
    assert "(default: 5000)" in _help("ui") and "(default: 127.0.0.1)" in _help("ui")
    assert "(default: None)" not in _help("runs") and "(default: False)" not in _help("run")


@pytest.mark.unit
def test_help_never_prints_the_database_password(monkeypatch):
    monkeypatch.setenv("GRISTMILL_METADATA_URL", "postgresql+psycopg://me:s3cret@db/g")
    assert "s3cret" not in _help("runs") and "s3cret" not in _help("artifacts")


@pytest.mark.unit
def test_artifact_type_is_case_insensitive_with_a_did_you_mean(tmp_path, home, capsys):
    pipeline = make_pipeline(tmp_path, diamond())
    SequentialRunner(mirror_mlflow=False).run(pipeline)
    capsys.readouterr()
    db = ["--db", pipeline.metadata_url]
    assert main(["artifacts", "--type", "examples", "--json", *db]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert len(listed) == 4 and {a["type"] for a in listed} == {"Examples"}
    assert main(["artifacts", "--type", "MODEL", "--json", *db]) == 0  # known, none stored
    assert json.loads(capsys.readouterr().out) == []
    assert main(["artifacts", "--type", "exampels", *db]) == 2
    message = capsys.readouterr().err
    assert "artifacts --type 'exampels': no such artifact type. Did you mean 'Examples'?" \
        in message and "(any case)" in message


@pytest.mark.integration
def test_a_reader_that_stops_early_is_not_reported_as_a_bug(tmp_path, home):
    import subprocess

    from orchestrator_fakes import gristmill_command, subprocess_env

    pipeline = make_pipeline(tmp_path, diamond())
    run_id = SequentialRunner(mirror_mlflow=False).run(pipeline).run_id
    command = gristmill_command("runs", "show", run_id, "--graph", "--db",
                                pipeline.metadata_url)
    reader = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=subprocess_env(home))
    reader.stdout.close()  # the reader is gone before the graph is written (`| head -0`)
    _, error = reader.communicate(timeout=60)
    assert reader.returncode in (0, 141) and b"BrokenPipe" not in error, error
