"""``gristmill bless``: a human overrules the Evaluator, on the record, end to end through the
CLI on a real store: a real Evaluator refuses, a manual blessing makes the Pusher push, a
revoke blocks a push the Evaluator allows; the lineage, ``runs show`` and ``artifacts`` show it.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
import textwrap
from pathlib import Path

import pytest

from gristmill.orchestrator.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "components"))
from bundles import penguin_like_table, train_bundle, write_examples  # noqa: E402

pytestmark = pytest.mark.e2e

PIPELINE = textwrap.dedent('''
    from gristmill.components import (EvalConfig, Evaluator, GenericValueThreshold,
        MetricConfig, MetricsSpec, MetricThreshold, ModelSpec, Pusher)
    from gristmill.components.pusher.config import Filesystem, PushDestination
    from gristmill.metadata.standard_artifacts import Examples, Model
    from gristmill.orchestrator import Importer, Pipeline


    def create_pipeline(examples="", model="", serving="", lower=0.5, root="",
                        metadata_url=""):
        data = Importer(source_uri=examples, artifact_type=Examples,
                        properties={"split_names": ["eval"]}).with_id("data")
        trained = Importer(source_uri=model, artifact_type=Model).with_id("model")
        evaluator = Evaluator(
            examples=data.outputs["result"], model=trained.outputs["result"],
            eval_config=EvalConfig(model_specs=[ModelSpec(label_key="species")],
                metrics_specs=[MetricsSpec(metrics=[MetricConfig(class_name="Accuracy",
                    threshold=MetricThreshold(value_threshold=GenericValueThreshold(
                        lower_bound=lower)))])]))
        pusher = Pusher(model=trained.outputs["result"],
                        model_blessing=evaluator.outputs["blessing"],
                        push_destination=PushDestination(filesystem=Filesystem(
                            base_directory=serving)))
        return Pipeline("blessed", [data, trained, evaluator, pusher], root=root,
                        metadata_url=metadata_url, tracking_uri="")
''')


@pytest.fixture
def world(tmp_path, capsys):
    examples = write_examples(str(tmp_path / "examples"),
                              {"eval": penguin_like_table(150, seed=1)})
    model = train_bundle(str(tmp_path / "bundle"), penguin_like_table(200, seed=0))
    pipeline = tmp_path / "pipeline.py"
    pipeline.write_text(PIPELINE)
    store = f"sqlite:///{tmp_path / 'metadata.db'}"
    serving = tmp_path / "serving"

    def run(lower: float) -> dict:
        code = main(["run", str(pipeline), "--json", f"--param=examples={examples.uri}",
                     f"--param=model={model.uri}", f"--param=serving={serving}",
                     f"--param=lower={lower}", f"--param=root={tmp_path / 'root'}",
                     f"--param=metadata_url={store}"])
        out, err = capsys.readouterr()
        assert code == 0, err
        return json.loads(out.strip().splitlines()[-1])

    def cli(*args: str) -> tuple[int, str, str]:
        code = main([*args, "--db", store])
        out, err = capsys.readouterr()
        return code, out, err

    return {"run": run, "cli": cli, "serving": serving, "store": store}


def _node(run: dict, name: str) -> dict:
    return next(c for c in run["components"] if c["name"] == name)


def _push_result(run: dict) -> dict:
    uri = _node(run, "Pusher")["outputs"]["pushed_model"][0]["uri"]
    with open(os.path.join(uri, "push_result.json")) as f:
        return json.load(f)


def test_manual_blessing_overrides_the_evaluator_and_revoke_blocks_a_push(world):
    run, cli = world["run"], world["cli"]
    first = run(lower=0.999)  # no model reaches 99.9% here: the Evaluator refuses
    assert _push_result(first)["pushed"] == 0
    assert "model_blessing says NOT blessed" in _push_result(first)["reason"]
    model_id = _node(first, "model")["outputs"]["result"][0]["id"]

    code, out, err = cli("bless", str(model_id), "--reason", "accepted by the risk board",
                         "--json")
    assert code == 0, err
    record = json.loads(out)
    assert record["blessed"] is True and record["model_id"] == model_id
    assert record["blessed_by"] == getpass.getuser()
    assert record["reason"] == "accepted by the risk board"

    second = run(lower=0.999)  # same pipeline: Evaluator cached (still NOT blessed) ...
    assert _node(second, "Evaluator")["state"] == "CACHED"
    assert _node(second, "Pusher")["state"] == "COMPLETE"  # ... but the Pusher decides anew
    pushed = _push_result(second)
    assert pushed["pushed"] == 1, pushed
    assert "manually blessed by" in pushed["manual_blessing"]
    assert os.path.isfile(os.path.join(world["serving"], "1", "bundle.json"))

    # On the record: an execution with the model as input, a ModelBlessing as output.
    code, out, _ = cli("lineage", str(model_id), "--direction", "downstream", "--json")
    lineage = json.loads(out)
    manual = [e for e in lineage["executions"] if e["component"] == "ManualBlessing"]
    assert len(manual) == 1 and manual[0]["id"] == record["execution_id"]
    code, out, _ = cli("artifacts", "--type", "ModelBlessing", "--json")
    blessings = {a["id"]: a for a in json.loads(out)}
    assert "accepted by the risk board" in blessings[record["artifact_id"]]["manual_blessing"]
    assert blessings[record["artifact_id"]]["producer"] == "ManualBlessing"
    code, out, _ = cli("runs", "show", first["run_id"], "--json")
    model_node = _node(json.loads(out), "model")
    assert any("accepted by the risk board" in line
               for line in model_node["manual_blessings"])
    code, out, _ = cli("runs", "show", first["run_id"])
    assert code == 0 and "manually blessed by" in out

    code, out, err = cli("bless", str(model_id), "--revoke", "--reason", "bias found")
    assert code == 0 and "manual blessing revoked" in out, err
    third = run(lower=0.5)  # the Evaluator now blesses; the revoke still blocks the push
    verdict = Path(_node(third, "Evaluator")["outputs"]["blessing"][0]["uri"], "blessing.json")
    assert json.loads(verdict.read_text())["blessed"] is True
    refused = _push_result(third)
    assert refused["pushed"] == 0 and "revoked" in refused["reason"]
    assert "bias found" in refused["reason"]
    assert sorted(os.listdir(world["serving"])) == ["1"]


def test_bless_refuses_what_is_not_a_live_model_and_an_empty_reason(world):
    first = world["run"](lower=0.999)
    blessing_id = _node(first, "Evaluator")["outputs"]["blessing"][0]["id"]
    model_id = _node(first, "model")["outputs"]["result"][0]["id"]
    cli = world["cli"]
    code, _, err = cli("bless", str(blessing_id), "--reason", "x")
    assert code == 2 and "is a ModelBlessing, not a Model" in err
    code, _, err = cli("bless", "999", "--reason", "x")
    assert code == 2 and "no artifact 999" in err
    code, _, err = cli("bless", str(model_id), "--reason", "  ")
    assert code == 2 and "--reason is empty" in err
