"""``gristmill ui`` serves MLflow's app opening in model-training view (issue 21 item 1).

MLflow 3.17's UI chooses GenAI vs model training from the browser's stored preference
``localStorage["mlflow.workflowType_v1"]`` (default ``"genai"``), not from the experiment's
``mlflow.experimentKind`` tag; the page Gristmill serves sets it when the browser has none.
The browser-level check is ``tests/pipelines/test_ui_browser.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gristmill.orchestrator.mlflow import ui_app

pytestmark = pytest.mark.integration


def test_the_ui_command_serves_gristmills_mlflow_app():
    from gristmill.orchestrator.mlflow_replay import ui_command

    command = ui_command("sqlite:////tmp/x/mlflow.db", "127.0.0.1", 5000)
    assert ui_app.app_registered(), "reinstall: pip install -e . (registers the entry point)"
    assert command[command.index("--app-name") + 1] == "gristmill"


def test_the_page_defaults_to_model_training_and_keeps_a_stored_choice():
    app = ui_app.create_app()  # MLflow's FastAPI app over its Flask app
    from mlflow.server import app as flask_app

    page = flask_app.test_client().get("/")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    script = ui_app.DEFAULT_VIEW_SCRIPT.decode()
    assert body.startswith('<!doctype html><html lang="en"><head>' + script)
    # Only when nothing is stored: a user who picked GenAI keeps it.
    assert re.search(r'if\(localStorage\.getItem\("mlflow\.workflowType_v1"\)===null\)', script)
    assert 'setItem("mlflow.workflowType_v1","\\"machine_learning\\"")' in script
    assert int(page.headers["Content-Length"]) == len(page.get_data())
    # Anything else MLflow serves is left as it is.
    assert flask_app.test_client().get("/health").get_data() == b"OK"
    assert app is not None


def test_the_storage_key_is_the_one_mlflows_bundle_reads():
    import mlflow

    bundle = Path(mlflow.__file__).parent / "server" / "js" / "build" / "static" / "js"
    main = next(bundle.glob("main.*.js")).read_text(errors="replace")
    # useLocalStorage({key: "mlflow.workflowType", version: 1}) stores "<key>_v<version>".
    assert 'key:"mlflow.workflowType",version:1' in main
    assert "`${e}_v${t}`" in main
