"""MLflow's tracking server app as ``gristmill ui`` serves it: opening in model-training view.

MLflow 3.17's UI does not read the experiment's ``mlflow.experimentKind`` tag to choose
between its GenAI view (overview, traces, token usage) and its model-training view (runs
table): the choice is the browser's stored preference ``localStorage["mlflow.workflowType_v1"]``
(default ``"genai"``), overridden only by a ``?workflowType=`` query parameter that the
experiment list's links drop. So a fresh browser clicking an experiment landed on the GenAI
overview. This app is MLflow's own (``mlflow.server.fastapi_app``) with one change: the
page it serves sets that preference to ``"machine_learning"`` when the browser has none, so
a user who picks GenAI in the sidebar keeps that choice.

Registered as the ``mlflow.app`` entry point ``gristmill`` (``mlflow server --app-name
gristmill``). The factory keeps importing this module cheap: ``mlflow server`` imports it
in its supervising process only to see that ``create_app`` is a function.
"""

from __future__ import annotations

import json
import logging

log = logging.getLogger(__name__)

#: The UI's stored preference (MLflow's ``useLocalStorage`` writes ``<key>_v<version>``).
WORKFLOW_STORAGE_KEY = "mlflow.workflowType_v1"
MODEL_TRAINING = "machine_learning"
APP_NAME = "gristmill"
_KEY, _VALUE = json.dumps(WORKFLOW_STORAGE_KEY), json.dumps(json.dumps(MODEL_TRAINING))
DEFAULT_VIEW_SCRIPT = (f"<script>try{{if(localStorage.getItem({_KEY})===null)"
                       f"{{localStorage.setItem({_KEY},{_VALUE})}}}}catch(e){{}}</script>").encode()


def create_app():
    """MLflow's ASGI app whose UI page defaults to the model-training view."""
    from mlflow.server import app as flask_app

    flask_app.after_request(default_to_model_training)
    from mlflow.server.fastapi_app import app

    return app


def default_to_model_training(response):
    """Flask ``after_request`` hook: add :data:`DEFAULT_VIEW_SCRIPT` to the UI's page.

    Only the page itself (MLflow's ``serve`` endpoint answering 200) is changed; a page
    without ``<head>`` (an MLflow that changed it) is served as it is, with a warning.
    """
    from flask import request

    if request.endpoint != "serve" or response.status_code != 200:
        return response
    response.direct_passthrough = False
    body = response.get_data()
    if b"<head>" not in body:
        log.warning("gristmill ui: MLflow's page has no <head>; it opens in MLflow's default "
                    "view (pick 'Model training' in the sidebar)")
        return response
    response.set_data(body.replace(b"<head>", b"<head>" + DEFAULT_VIEW_SCRIPT, 1))
    response.headers.pop("ETag", None)  # the body is no longer the file's
    return response


def app_registered() -> bool:
    """True when this app is installed as the ``mlflow.app`` entry point ``gristmill``."""
    from importlib.metadata import entry_points

    return any(e.name == APP_NAME for e in entry_points(group="mlflow.app"))
