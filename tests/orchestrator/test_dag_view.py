"""The run DAG: the terminal graph (``runs show ID --graph``) and the parent run's dag.html."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from orchestrator_fakes import diamond, fan_out_fan_in, make_pipeline, two_branches

from gristmill.orchestrator import SequentialRunner
from gristmill.orchestrator.cli import main
from gristmill.orchestrator.dag_view import (
    STATE_COLOURS,
    DagEdge,
    DagNode,
    layout_dag,
    render_html,
    render_text,
)


def _graph(tmp_path, capsys, components, name="fake") -> tuple[str, str]:
    pipeline = make_pipeline(tmp_path, components, name=name)
    result = SequentialRunner(mirror_mlflow=False).run(pipeline)
    capsys.readouterr()
    code = main(["runs", "show", result.run_id[:-3], "--graph", "--db", pipeline.metadata_url])
    assert code == 0
    return result.run_id, capsys.readouterr().out


@pytest.mark.unit
def test_terminal_graph_of_a_diamond_run(tmp_path, home, capsys):
    run_id, text = _graph(tmp_path, capsys, diamond())
    lines = text.splitlines()
    assert lines[0] == f"run {run_id} (COMPLETE)"  # the prefix resolved to the run
    layers = [i for i, line in enumerate(lines) if line.startswith("layer ")]
    assert [lines[i] for i in layers] == ["layer 0", "layer 1", "layer 2"]
    block = {lines[i]: lines[i + 1:j] for i, j in zip(layers, [*layers[1:], len(lines) - 1],
                                                      strict=True)}
    assert re.match(r"  \[COMPLETE\] Source +\d+\.\d\ds  Source$", block["layer 0"][0])
    assert block["layer 0"][1:] == ["      ├─out→x──> left", "      └─out→x──> right"]
    assert [line.split()[1] for line in block["layer 1"] if "[" in line] == ["left", "right"]
    assert block["layer 1"].count("      └─out→a──> Join") + \
        block["layer 1"].count("      └─out→b──> Join") == 2
    assert block["layer 2"][0].startswith("  [COMPLETE] Join")
    assert lines[-1] == "4 COMPLETE"


@pytest.mark.unit
def test_terminal_graph_of_a_fan_out_fan_in_run(tmp_path, home, capsys):
    _, text = _graph(tmp_path, capsys, fan_out_fan_in())
    assert "layer 1" in text and "layer 3" not in text
    edges = re.findall(r"[├└]─(\S+?)──> (\S+)", text)
    assert sorted(edges) == [("out→a", "Join"), ("out→b", "Join"), ("out→c", "Join"),
                             ("out→x", "b1"), ("out→x", "b2"), ("out→x", "b3")]


@pytest.mark.unit
def test_terminal_graph_shows_failed_and_canceled_nodes(tmp_path, home, capsys):
    flag = tmp_path / "crash"
    flag.touch()
    _, text = _graph(tmp_path, capsys, two_branches(str(flag)))
    states = {node: state for state, node in re.findall(r"\[(\w+) *\] (\w+)", text)}
    assert states == {"Source": "COMPLETE", "bad": "FAILED", "after_bad": "CANCELED",
                      "good": "COMPLETE", "after_good": "COMPLETE"}
    assert text.splitlines()[-1] == "1 CANCELED, 3 COMPLETE, 1 FAILED"


@pytest.mark.unit
def test_ambiguous_and_unknown_run_prefixes_are_refused_by_name(tmp_path, home, capsys):
    pipeline = make_pipeline(tmp_path, diamond())
    first = SequentialRunner(mirror_mlflow=False).run(pipeline).run_id
    second = SequentialRunner(mirror_mlflow=False).run(pipeline).run_id
    capsys.readouterr()
    common = first[:8]  # both start with the date
    assert main(["runs", "show", common, "--db", pipeline.metadata_url]) == 2
    message = capsys.readouterr().err
    assert "ambiguous" in message and first in message and second in message
    assert main(["runs", "show", "nope", "--db", pipeline.metadata_url]) == 2
    assert "no run 'nope'" in capsys.readouterr().err


@pytest.mark.unit
def test_layout_orders_layers_and_html_holds_every_state_colour():
    states = ["COMPLETE", "CACHED", "FAILED", "SKIPPED", "HALTED", "CANCELED"]
    nodes = [DagNode(f"n{i}", "T", s, 1.0 + i, link=f"#/experiments/1/runs/r{i}")
             for i, s in enumerate(states)]
    edges = [DagEdge("n0", "n1", "examples"), DagEdge("n1", "n2", "model"),
             DagEdge("n0", "n3", "examples"), DagEdge("n3", "n4", "schema"),
             DagEdge("n4", "n5", "x<y&z")]
    layout = layout_dag(nodes, edges)
    assert layout.layers == [["n0"], ["n1", "n3"], ["n2", "n4"], ["n5"]]
    svg = ET.fromstring(render_html(layout, "p run 1", "/").split("<body", 1)[1]
                        .split(">", 1)[1].rsplit("</body>", 1)[0].join(["<div>", "</div>"]))
    ns = "{http://www.w3.org/2000/svg}"
    groups = {g.get("data-node"): g for g in svg.iter(f"{ns}g") if g.get("data-node")}
    assert {n: g.get("data-state") for n, g in groups.items()} == {
        f"n{i}": s for i, s in enumerate(states)}
    for i, state in enumerate(states):
        assert groups[f"n{i}"].find(f"{ns}rect").get("fill") == STATE_COLOURS[state]
    links = [a.get("href") for a in svg.iter(f"{ns}a")]
    assert sorted(links) == [f"/#/experiments/1/runs/r{i}" for i in range(6)]
    labels = [t.text for g in svg.iter(f"{ns}g") if g.get("class") == "edge"
              for t in g.iter(f"{ns}text")]
    assert labels == ["examples", "model", "examples", "schema", "x<y&z"]
    assert render_text(layout).splitlines()[-1] == (
        "1 CACHED, 1 CANCELED, 1 COMPLETE, 1 FAILED, 1 HALTED, 1 SKIPPED")


@pytest.mark.integration
def test_parent_run_carries_the_dag_and_a_markdown_description(tmp_path, home, monkeypatch):
    from mlflow import MlflowClient

    monkeypatch.setenv("GRISTMILL_MLFLOW_MIRROR", "sync")
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    flag = tmp_path / "crash"
    flag.touch()
    result = SequentialRunner().run(make_pipeline(tmp_path, two_branches(str(flag)),
                                                  tracking_uri=tracking))
    client = MlflowClient(tracking_uri=tracking)
    experiment = client.get_experiment_by_name("fake")
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = {r.data.tags["gristmill.node"]: r.info.run_id for r in runs if r is not parent}
    page = (tmp_path / "dag.html")
    client.download_artifacts(parent.info.run_id, "dag.html", str(tmp_path))
    text = page.read_text()
    assert "<script" not in text and "http://" not in text.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")  # self-contained
    nodes = dict(re.findall(r'data-node="(\w+)" data-state="(\w+)"', text))
    assert nodes == {"Source": "COMPLETE", "bad": "FAILED", "after_bad": "CANCELED",
                     "good": "COMPLETE", "after_good": "COMPLETE"}
    for node, state in nodes.items():
        assert re.search(f'data-node="{node}" data-state="{state}"><title>[^<]*</title>'
                         f'<rect [^>]*fill="{STATE_COLOURS[state]}"', text), node
        link = f'/#/experiments/{experiment.experiment_id}/runs/{children[node]}'
        assert f'<a href="{link}" target="_blank"><g class="node" data-node="{node}"' in text
    edges = re.findall(r'data-source="(\w+)" data-target="(\w+)">.*?<text[^>]*>([^<]+)</text>',
                       text)
    assert sorted(edges) == [("Source", "bad", "out→x"), ("Source", "good", "out→x"),
                             ("good", "after_good", "out→x")]  # after_bad never ran
    note = parent.data.tags["mlflow.note.content"]
    assert note.startswith(f"### fake run {result.run_id} (FAILED)")
    assert f"| [bad](#/experiments/{experiment.experiment_id}/runs/{children['bad']}) | " \
           "FAILED |" in note
    assert "**1** FAILED" in note and "**3** COMPLETE" in note
