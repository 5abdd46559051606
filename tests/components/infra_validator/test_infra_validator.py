"""InfraValidator: a real server process is started, queried and stopped."""

from __future__ import annotations

import json
import os
import shutil

import pydantic
import pytest
from bundles import penguin_like_table, train_bundle, write_examples

from gristmill.components.framework.base import Channel
from gristmill.components.framework.executor import ExecutionContext
from gristmill.components.infra_validator.component import InfraValidator
from gristmill.components.infra_validator.config import (
    InfraValidatorParameters,
    RequestSpec,
    ServingSpec,
    ValidationSpec,
)
from gristmill.components.infra_validator.executor import InfraValidatorExecutor
from gristmill.components.infra_validator.serving_process import InfraFailure, check_predictions
from gristmill.metadata.errors import ConfigError
from gristmill.metadata.standard_artifacts import Examples, InfraBlessing, Model, ModelBlessing


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("infra")
    table = penguin_like_table(60, seed=3)
    examples = write_examples(str(root / "examples"), {"train": table, "eval": table})
    model = train_bundle(str(root / "model"), table, good=False, model_id=31)
    return {"root": root, "examples": examples, "model": model}


def _run(root, name, model, examples=None, **params):
    out = InfraBlessing(str(root / name / "blessing"))
    os.makedirs(out.uri)
    inputs = {"model": [model]}
    if examples is not None:
        inputs["examples"] = [examples]
    context = ExecutionContext(component_id="InfraValidator", tmp_dir=str(root / name))
    InfraValidatorExecutor(context).Do(inputs, {"blessing": [out]},
                                       InfraValidatorParameters(**params))
    with open(os.path.join(out.uri, "blessing.json")) as f:
        return out, json.load(f)


def _gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie still "exists" until reaped; Popen.wait() in stop() reaps it.
    with open(f"/proc/{pid}/status") as f:
        return "zombie" in f.read()


@pytest.mark.e2e
def test_good_bundle_loads_answers_and_is_stopped(world):
    out, payload = _run(world["root"], "ok", world["model"], world["examples"],
                        request_spec=RequestSpec(num_examples=5),
                        validation_spec=ValidationSpec(max_loading_time_seconds=120, num_tries=1))
    assert out.get_custom_property("blessed") == 1
    assert os.path.exists(os.path.join(out.uri, "BLESSED"))
    assert payload["mode"] == "LOAD_AND_QUERY"
    assert "answered 5 request record(s)" in payload["reasons"][0]
    assert out.get_custom_property("current_model_id") == 31
    assert out.get_custom_property("load_seconds") > 0
    assert _gone(payload["tries"][0]["pid"])


@pytest.mark.e2e
def test_without_examples_only_loading_is_checked(world):
    out, payload = _run(world["root"], "loadonly", world["model"],
                        validation_spec=ValidationSpec(num_tries=1))
    assert out.get_custom_property("blessed") == 1
    assert payload["mode"] == "LOAD_ONLY"
    assert "load-only check" in out.get_custom_property("blessing_message")


@pytest.mark.e2e
def test_bundle_that_fails_to_load_is_rejected_after_each_try(world, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(world["model"].uri, broken)
    (broken / "weights.safetensors").write_bytes(b"not a safetensors file")
    out, payload = _run(world["root"], "broken", Model(str(broken), id=32), world["examples"],
                        validation_spec=ValidationSpec(max_loading_time_seconds=120, num_tries=2))
    assert out.get_custom_property("blessed") == 0
    assert os.path.exists(os.path.join(out.uri, "NOT_BLESSED"))
    assert len(payload["tries"]) == 2
    assert all("failed to load" in r for r in payload["reasons"])
    assert "LOAD FAILED" in payload["reasons"][0] and "SafetensorError" in payload["reasons"][0]


@pytest.mark.unit
def test_answer_checks_catch_wrong_count_class_and_probabilities():
    good = {"predictions": [{"prediction": "a", "probabilities": [0.3, 0.7]}]}
    check_predictions(good, 1, "classification", ["a", "b"])
    with pytest.raises(InfraFailure, match="expected 2 predictions, got 1"):
        check_predictions(good, 2, "classification", ["a", "b"])
    with pytest.raises(InfraFailure, match="not one of the model's classes"):
        check_predictions({"predictions": [{"prediction": "z", "probabilities": [.5, .5]}]}, 1,
                          "classification", ["a", "b"])
    with pytest.raises(InfraFailure, match="not a distribution"):
        check_predictions({"predictions": [{"prediction": "a", "probabilities": [.5, .9]}]}, 1,
                          "classification", ["a", "b"])
    with pytest.raises(InfraFailure, match="expected a finite number"):
        check_predictions({"predictions": [{"prediction": float("nan")}]}, 1, "regression", [])


@pytest.mark.unit
def test_component_and_spec_validation():
    validator = InfraValidator(model=Channel(Model), examples=Channel(Examples),
                               request_spec=RequestSpec(num_examples=3))
    assert validator.outputs["blessing"].type is InfraBlessing
    with pytest.raises(ConfigError, match="expected a Model channel, got ModelBlessing"):
        InfraValidator(model=Channel(ModelBlessing))
    with pytest.raises(pydantic.ValidationError, match="host must be loopback"):
        ServingSpec(host="0.0.0.0")


@pytest.fixture()
def server(world):
    import threading
    from http.server import ThreadingHTTPServer

    from gristmill.components.infra_validator.serve import make_handler
    from gristmill.engine.serving import load_bundle

    httpd = ThreadingHTTPServer(("127.0.0.1", 0),
                                make_handler(load_bundle(world["model"].uri), 0.0))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def _post(url, payload):
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"{url}/invocations", data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.mark.integration
def test_server_scores_absent_keys_as_null_reports_unknown_keys_refuses_empty(server):
    import urllib.request

    full = {"bill_length_mm": 1, "flipper_length_mm": None, "island": "Dream"}
    status, sent_null = _post(server, {"dataframe_records": [full, full]})
    assert status == 200 and sent_null["warnings"] == [] and sent_null["unknown_keys"] == {}
    status, left_out = _post(server, {"dataframe_records": [
        {"bill_length_mm": 1, "island": "Dream", "flipper_lenght_mm": 3.0},
        {"bill_length_mm": 1, "island": "Dream", "flipper_lenght_mm": 2.0}]})
    assert status == 200
    assert left_out["predictions"] == sent_null["predictions"]
    assert left_out["unknown_keys"] == {"flipper_lenght_mm": 2}
    assert left_out["warnings"] == ["unknown key 'flipper_lenght_mm' ignored in 2 record(s): "
                                    "the model does not read it; did you mean "
                                    "'flipper_length_mm'?"]
    with urllib.request.urlopen(f"{server}/ping", timeout=30) as response:
        assert json.loads(response.read())["unknown_keys_total"] == {"flipper_lenght_mm": 2}
    status, answer = _post(server, {"dataframe_records": [full, {}]})
    assert status == 400 and "record(s) [1] of 2 have no value" in answer["error"]
    status, answer = _post(server, {"dataframe_records": []})
    assert status == 400 and "no records to predict" in answer["error"]
    status, answer = _post(server, [{"bill_length_mm": "long", "island": "Dream"}])
    assert status == 400 and "raw column 'bill_length_mm'" in answer["error"]


@pytest.mark.integration
def test_request_examples_without_the_raw_columns_are_refused(world, tmp_path):
    from gristmill.components.infra_validator.executor import build_requests
    from gristmill.engine.serving import required_columns

    table = penguin_like_table(10, seed=4).drop_columns(["island"])
    examples = write_examples(str(tmp_path / "ex"), {"eval": table})
    with pytest.raises(ConfigError, match=r"request examples lack raw column\(s\) \['island'\]"):
        build_requests(examples, RequestSpec(num_examples=3), "species",
                       required_columns(world["model"].uri))


@pytest.mark.integration
def test_server_batch_requests_need_every_raw_column(server):
    columns = ["bill_length_mm", "flipper_length_mm", "island", "row_id"]
    data = [[1, 2, "Dream", 7], [3, None, "Biscoe", 8]]
    status, batch = _post(server, {"dataframe_split": {"columns": columns, "data": data}})
    assert status == 200 and len(batch["predictions"]) == 2
    assert batch["unknown_keys"] == {"row_id": 2}
    as_records = [dict(zip(columns[:3], row[:3], strict=True)) for row in data]
    status, records = _post(server, {"dataframe_records": as_records})
    assert [p["prediction"] for p in records["predictions"]] == \
        [p["prediction"] for p in batch["predictions"]]
    status, answer = _post(server, {"dataframe_split": {
        "columns": ["bill_length_mm", "flipper_length_mm"], "data": [[1, 2]]}})
    assert status == 400 and "raw column 'island' is missing" in answer["error"]
