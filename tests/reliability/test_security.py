"""Security checks as regular tests: unpickling, path escapes, binds, redaction."""

from __future__ import annotations

import ast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from . import security
from .common import HarnessResult

# Engine findings once reported here are fixed; their tests below now pass.
KNOWN_FINDINGS: tuple = ()  # both engine findings are fixed


def _unexpected(result: HarnessResult) -> list[str]:
    return [d for d in result.details
            if not any(all(part in d for part in known) for known in KNOWN_FINDINGS)]


def _flags(source: str) -> list[str | None]:
    tree = ast.parse(source)
    aliases = security._aliases(tree)
    return [security.unsafe_call(node, aliases) for node in ast.walk(tree)
            if isinstance(node, ast.Call)]


@pytest.mark.unit
@pytest.mark.parametrize("source", [
    "import pickle\npickle.loads(b)", "from pickle import load as l\nl(f)",
    "import torch\ntorch.load(p)", "import torch\ntorch.load(p, weights_only=False)",
    "import yaml\nyaml.load(s)", "import numpy as np\nnp.load(p, allow_pickle=True)",
    "import cloudpickle\ncloudpickle.loads(b)", "import pandas as pd\npd.read_pickle(p)",
    "import torch\ntorch.export.load(p)", "import joblib\njoblib.load(p)",
])
def test_scanner_flags_calls_that_unpickle(source):
    assert any(_flags(source))


@pytest.mark.unit
@pytest.mark.parametrize("source", [
    "import torch\ntorch.load(p, weights_only=True)", "import yaml\nyaml.safe_load(s)",
    "import yaml\nyaml.load(s, Loader=yaml.SafeLoader)", "import numpy as np\nnp.load(p)",
    "import json\njson.load(f)", "from safetensors.torch import load_file\nload_file(p)",
])
def test_scanner_passes_safe_loads(source):
    assert not any(_flags(source))


@pytest.mark.unit
def test_no_source_file_unpickles_artifact_data_or_binds_all_interfaces():
    result = HarnessResult("static")

    security.check_static(result)

    assert result.trials > 50
    assert _unexpected(result) == []


@pytest.mark.integration
def test_hostile_artifact_files_never_run_their_payload(tmp_path):
    result = HarnessResult("hostile")

    security.check_hostile_artifacts(result, tmp_path)

    assert result.trials == 5 and result.failures == 0, result.details


@pytest.mark.unit
def test_node_ids_and_split_names_cannot_escape_their_directories(tmp_path):
    result = HarnessResult("paths")

    security.check_paths(result, tmp_path)

    assert result.trials > 25
    assert _unexpected(result) == []


@pytest.mark.unit
@settings(max_examples=100, deadline=None)
@given(st.text(max_size=20))
def test_any_accepted_node_id_stays_under_the_pipeline_root(node_id):
    import os

    from gristmill.metadata.errors import ConfigError

    from .crash_pipeline import Source

    try:
        Source().with_id(node_id)
    except ConfigError:
        return
    root = "/srv/root"
    path = os.path.normpath(os.path.join(root, node_id, "examples", "token"))
    assert path.startswith(root + "/") and node_id not in ("", ".", "..")


@pytest.mark.unit
def test_ui_and_infra_validator_bind_loopback_by_default():
    result = HarnessResult("binds")

    security.check_binds(result)

    assert result.trials == 3 and result.failures == 0, result.details


@pytest.mark.unit
@settings(max_examples=100, deadline=None)
@given(password=st.text(alphabet="abcXYZ019-._~!$&'()*+,;=%@:", min_size=6, max_size=20),
       scheme=st.sampled_from(["postgresql", "postgresql+psycopg", "postgres", "mysql"]))
def test_redaction_hides_any_password(password, scheme):
    from gristmill.metadata.settings import redact_text, redact_url

    url = f"{scheme}://user:{password}@db.example:5432/name"

    assert password not in redact_url(url)
    assert password not in redact_text(f"connect to '{url}' failed")
    assert password not in redact_text(f"urls: {url!r}, {url}")


@pytest.mark.integration
def test_cli_and_store_errors_never_show_a_password(tmp_path):
    result = HarnessResult("redaction")

    security.check_redaction(result, tmp_path)

    assert result.trials >= 20 and result.failures == 0, result.details


@pytest.mark.integration
@pytest.mark.slow
def test_mlflow_params_and_tags_never_show_a_password(tmp_path):
    result = HarnessResult("mlflow")

    security.check_mlflow_params(result, tmp_path)

    assert result.trials == 2 and result.failures == 0, result.details


@pytest.mark.unit
def test_serving_never_calls_torch_export_load():
    found = security.scan_file(security.REPO / "engine" / "serving.py")

    assert not any("torch.export.load" in f for f in found)


@pytest.mark.unit
def test_transform_graph_cannot_name_vocabulary_files_outside_itself(tmp_path):
    result = HarnessResult("paths")

    security._check_paths_in_artifacts(result, tmp_path)

    assert result.failures == 0, result.details
