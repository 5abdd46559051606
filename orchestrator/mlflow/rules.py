"""What MLflow 3.17 accepts, as plain rules that import no MLflow.

The replay checks names with these before buffering them (a refused name is skipped with a
warning, never sent to fail a whole batch), and the direct SQLite writer
(:mod:`~gristmill.orchestrator.mlflow.sqlite_writer`) checks every value with them: where
MLflow's client would refuse or cut a value, the direct writer refuses too and the replay
falls back to the client, so the two never differ. A test checks these rules against
MLflow's own validators.
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
