"""What MLflow 3.17 accepts, as plain rules that import no MLflow.

The replay checks names with these before buffering them (a refused name is skipped with a
warning, never sent to fail a whole batch), and the direct SQLite writers (the replay's,
:mod:`~gristmill.orchestrator.mlflow.sqlite_writer`, and the Pusher's registry writer,
:mod:`~gristmill.components.pusher.registry_sqlite`) check every value with them: where
MLflow's client would refuse or cut a value, the direct writer refuses too and the caller
falls back to the client, so the two never differ. A test checks these rules against
MLflow's own validators. Here (in ``metadata``) so that components and the orchestrator
can both import them.
"""

from __future__ import annotations

import posixpath
import re

#: Characters MLflow accepts in metric, param and tag names (POSIX; ``re.match``, as MLflow).
NAME_CHARACTERS = re.compile(r"^[/\w.\- :]*$")
KEY_LIMIT = 250
PARAM_VALUE_LIMIT = 6000
TAG_VALUE_LIMIT = 8000
EXPERIMENT_NAME_LIMIT = 500
EXPERIMENT_TAG_VALUE_LIMIT = 20000
ARTIFACT_LOCATION_LIMIT = 2048
MAX_PARAMS_OR_TAGS_PER_BATCH = 100
MAX_ENTITIES_PER_BATCH = 1000
DATASET_LIMITS = {"name": 500, "digest": 36, "source": 65535, "schema": 1048575,
                  "profile": 16777215}
INPUT_TAG_KEY_LIMIT = 255
INPUT_TAG_VALUE_LIMIT = 500
LOGGED_MODEL_NAME_FORBIDDEN = ("/", ":", ".", "%", '"', "'")
REGISTRY_TAG_KEY_LIMIT = 250
REGISTRY_TAG_VALUE_LIMIT = 100_000
ALIAS_LIMIT = 255
ALIAS_CHARACTERS = re.compile(r"^[\w\-]*$")
ALIAS_RESERVED = re.compile(r"^[vV]\d+$")
#: The tag that makes a registered model a prompt (the client refuses it on models).
PROMPT_TAG = "mlflow.prompt.is_prompt"
#: Environment variables that change what or where MLflow's client writes (an active model
#: id added to every metric, model versions in another registry); when set, the replay uses
#: the client.
CLIENT_ONLY_ENVIRONMENT = ("MLFLOW_ACTIVE_MODEL_ID", "_MLFLOW_ACTIVE_MODEL_ID",
                           "MLFLOW_ENABLE_WORKSPACES", "MLFLOW_ARTIFACT_LOCATION_MAX_LENGTH",
                           "_MLFLOW_SERVER_ARTIFACT_ROOT", "MLFLOW_REGISTRY_URI")


def name_problem(name: str | None) -> str | None:
    """Why MLflow refuses ``name`` as a metric, param or tag name; None when it accepts it."""
    if name is None:
        return "a name is required"
    if not NAME_CHARACTERS.match(name):
        return ("names may only contain alphanumerics, underscores, dashes, periods, spaces, "
                "colons and slashes")
    normal = posixpath.normpath(name)
    if normal != str(name) or normal == "." or normal.startswith("..") or normal.startswith("/"):
        return "names must be normalized relative paths (no '..', '//', leading '/')"
    return None


def key_value_problem(kind: str, key: str, value: str | None, value_limit: int) -> str | None:
    """Why MLflow would refuse or cut ``key=value`` of a ``kind`` (param, tag); None if fine."""
    problem = name_problem(key)
    if problem:
        return f"{kind} {key!r}: {problem}"
    if len(key) > KEY_LIMIT:
        return f"{kind} {key[:80]!r}...: key longer than {KEY_LIMIT} characters"
    if value is not None and len(value) > value_limit:
        return f"{kind} {key!r}: value of {len(value)} characters (MLflow keeps {value_limit})"
    return None


def registered_model_name_problem(name: str | None) -> str | None:
    """Why MLflow refuses ``name`` as a registered model name; None when it accepts it."""
    if name is None or not name.strip():
        return "a registered model name is required"
    if "/" in name or ":" in name:
        return f"registered model name {name!r} contains '/' or ':'"
    normal = posixpath.normpath(name)
    if normal != name or normal == "." or normal.startswith(".."):
        return f"registered model name {name!r} is not a normalized path"
    return None


def registry_tag_problem(kind: str, key: str, value: str | None) -> str | None:
    """Why MLflow refuses the tag ``key=value`` of a registered model or model version."""
    problem = name_problem(key)
    if problem:
        return f"{kind} tag {key!r}: {problem}"
    if len(key) > REGISTRY_TAG_KEY_LIMIT:
        return f"{kind} tag {key[:80]!r}...: key longer than {REGISTRY_TAG_KEY_LIMIT}"
    if value is None or len(value) > REGISTRY_TAG_VALUE_LIMIT:
        return f"{kind} tag {key!r}: value missing or longer than {REGISTRY_TAG_VALUE_LIMIT}"
    if key == PROMPT_TAG:
        return f"{kind} tag {key!r}: prompts cannot be registered as models"
    return None


def alias_problem(alias: str | None) -> str | None:
    """Why MLflow refuses ``alias`` as a registered model alias; None when it accepts it."""
    if not alias or not ALIAS_CHARACTERS.match(alias) or len(alias) > ALIAS_LIMIT:
        return f"alias {alias!r}: empty, too long or not made of letters, digits, '_' and '-'"
    if alias.lower() == "latest" or ALIAS_RESERVED.match(alias):
        return f"alias {alias!r} is reserved"
    return None
