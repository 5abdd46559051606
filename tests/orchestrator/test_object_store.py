"""Artifact roots on an S3 server (moto, on 127.0.0.1): commit by publish, not by rename.

The hello pipeline runs with its root on the server: outputs land under each execution's
own prefix, a second run is fully cached without downloading anything, inputs read from the
store are downloaded once and checked against their content fingerprint, and damaged objects
are detected (missing: DELETED, changed: ABANDONED, by the cache check and by a Resolver)
and rebuilt or passed over.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
from pathlib import Path

import object_store_server
import pytest
from object_store_server import object_keys, s3_client

from gristmill.metadata.errors import ConfigError, IntegrityError
from gristmill.metadata.store import open_store
from gristmill.metadata.types import ArtifactState, ExecutionState
from gristmill.orchestrator import LocalDagRunner, object_store
from gristmill.orchestrator.cli import main

pytestmark = pytest.mark.integration
s3_endpoint, bucket = object_store_server.s3_endpoint, object_store_server.bucket  # fixtures
HELLO = Path(__file__).resolve().parents[2] / "pipelines" / "hello" / "pipeline.py"
HELLO_NODES = ["MakeNumbers", "Describe", "FitLine", "Check"]


def _hello():
    spec = importlib.util.spec_from_file_location("hello_pipeline_s3", HELLO)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def run_hello(tmp_path):
    """Run the hello pipeline with ``root`` on one SQLite store; return the RunResult."""
    url = f"sqlite:///{tmp_path / 'metadata.db'}"
    module = _hello()

    def run(root: str, **kwargs):
        pipeline = module.create_pipeline(rows=300, root=root, metadata_url=url,
                                          tracking_uri="")
        return LocalDagRunner(mirror_mlflow=False).run(pipeline, **kwargs)

    run.url = url
    return run


@pytest.fixture
def downloads(monkeypatch) -> list[str]:
    """The URIs :mod:`object_store` downloads (the real download still happens)."""
    seen: list[str] = []
    original = object_store._download

    def counting(artifact, target):
        seen.append(artifact.uri)
        return original(artifact, target)

    monkeypatch.setattr(object_store, "_download", counting)
    return seen


def _outputs(result) -> dict[str, list]:
    return {n.node_id: [a for v in n.outputs.values() for a in v] for n in result.components}


def _fingerprints(result) -> dict[str, str]:
    return {f"{n.node_id}.{k}": v[0].fingerprint for n in result.components
            for k, v in n.outputs.items()}


def test_hello_on_s3_commits_by_publish_and_reruns_fully_cached(bucket, s3_endpoint,
                                                                run_hello, tmp_path,
                                                                downloads):
    root = f"s3://{bucket}/hello"
    cold = run_hello(root)
    assert cold.status == "COMPLETE", [c.error for c in cold.components]
    assert cold.root == root
    for node, artifacts in _outputs(cold).items():
        for artifact in artifacts:
            assert re.fullmatch(rf"{root}/{node}/\w+/[0-9a-f]{{12}}", artifact.uri), artifact.uri
            prefix = artifact.uri.removeprefix(f"s3://{bucket}/") + "/"
            assert object_keys(s3_endpoint, bucket, prefix), f"no objects under {prefix}"
            assert artifact.custom_properties[object_store.LISTING_PROPERTY].startswith("sha256:")
    # Consumers in the producing run read the uploaded outputs' staging copies: no download.
    assert downloads == []
    with open_store(run_hello.url) as store:
        live = store.list_artifacts(states=[ArtifactState.LIVE])
        assert len(live) == 3 and all(a.uri.startswith(root) for a in live)
        assert store.list_artifacts(states=[ArtifactState.PENDING]) == []

    cached = run_hello(root)
    assert [c.state for c in cached.components] == [ExecutionState.CACHED] * 4
    assert downloads == []  # a cache hit lists the objects; it downloads nothing
    assert _fingerprints(cached) == _fingerprints(cold)

    # Same outputs as a local root: the bytes that went up are the bytes that came out.
    local = run_hello(str(tmp_path / "local-root"), enable_cache=False)
    assert _fingerprints(local) == _fingerprints(cold)


def test_inputs_are_downloaded_once_and_checked_against_their_fingerprint(
        bucket, run_hello, downloads, home):
    root = f"s3://{bucket}/hello"
    cold = run_hello(root)
    shutil.rmtree(home / "object_cache")  # another machine: no local copies
    rerun = run_hello(root, from_nodes=["Describe", "FitLine"])
    assert rerun.status == "COMPLETE"
    assert [c.state for c in rerun.components] == [ExecutionState.CACHED] * 3
    examples = cold.node("MakeNumbers").outputs["examples"][0]
    assert downloads == []  # cached: nothing read

    forced = run_hello(root, from_nodes=["Describe", "FitLine"], enable_cache=False)
    assert forced.status == "COMPLETE"
    # Describe and FitLine both read MakeNumbers' examples: one download between them.
    assert downloads.count(examples.uri) == 1
    assert downloads.count(forced.node("FitLine").outputs["model"][0].uri) == 0
    assert _fingerprints(forced)["FitLine.model"] == _fingerprints(cold)["FitLine.model"]


def test_a_deleted_object_is_found_and_its_producer_runs_again(bucket, s3_endpoint,
                                                               run_hello):
    root = f"s3://{bucket}/hello"
    cold = run_hello(root)
    model = cold.node("FitLine").outputs["model"][0]
    prefix = model.uri.removeprefix(f"s3://{bucket}/") + "/"
    for key in object_keys(s3_endpoint, bucket, prefix):
        s3_client(s3_endpoint).delete_object(Bucket=bucket, Key=key)

    again = run_hello(root)
    assert again.status == "COMPLETE"
    fit = again.node("FitLine")
    assert fit.state is ExecutionState.COMPLETE
    assert "is missing: its objects were deleted" in fit.cache_reason
    assert fit.outputs["model"][0].uri != model.uri
    with open_store(run_hello.url) as store:
        assert store.get_artifacts([model.id])[0].state is ArtifactState.DELETED


def test_a_rewritten_object_is_found_and_never_reused(bucket, s3_endpoint, run_hello):
    root = f"s3://{bucket}/hello"
    cold = run_hello(root)
    stats = cold.node("Describe").outputs["statistics"][0]
    prefix = stats.uri.removeprefix(f"s3://{bucket}/") + "/"
    (key,) = [k for k in object_keys(s3_endpoint, bucket, prefix) if not k.endswith("/")]
    s3_client(s3_endpoint).put_object(Bucket=bucket, Key=key, Body=b'{"tampered": 1}')

    again = run_hello(root)
    describe = again.node("Describe")
    assert describe.state is ExecutionState.COMPLETE
    assert "was modified after it was published" in describe.cache_reason
    with open_store(run_hello.url) as store:
        assert store.get_artifacts([stats.id])[0].state is ArtifactState.ABANDONED


def test_download_refuses_objects_that_differ_from_the_published_fingerprint(
        bucket, s3_endpoint, run_hello, home):
    cold = run_hello(f"s3://{bucket}/hello")
    examples = cold.node("MakeNumbers").outputs["examples"][0]
    shutil.rmtree(home / "object_cache")
    prefix = examples.uri.removeprefix(f"s3://{bucket}/") + "/"
    key = next(k for k in object_keys(s3_endpoint, bucket, prefix) if k.endswith(".jsonl"))
    body = s3_client(s3_endpoint).get_object(Bucket=bucket, Key=key)["Body"].read()
    s3_client(s3_endpoint).put_object(Bucket=bucket, Key=key, Body=body.replace(b"1", b"2"))

    with pytest.raises(IntegrityError, match=r"do not match the fingerprint.*--no-cache"):
        object_store.materialize(examples)
    assert not os.path.exists(object_store.cache_path(examples))
    assert [p for p in os.listdir(home / "object_cache") if p.startswith(".download")] == []


def test_a_modified_local_copy_is_downloaded_again(bucket, run_hello, downloads):
    cold = run_hello(f"s3://{bucket}/hello")
    examples = cold.node("MakeNumbers").outputs["examples"][0]
    local = object_store.materialize(examples)
    assert downloads == []  # the run kept its staging copy
    victim = next(Path(local).rglob("*.jsonl"))
    victim.write_text("{}\n")
    again = object_store.materialize(examples)
    assert again == local and downloads == [examples.uri]
    from gristmill.metadata.fingerprint import fingerprint_path

    assert fingerprint_path(again) == examples.fingerprint


def test_cli_root_flag_puts_every_artifact_in_the_bucket(bucket, tmp_path, capsys):
    root = f"s3://{bucket}/from-cli"
    code = main(["run", str(HELLO), "--root", root, "--param=rows=200",
                 f"--param=metadata_url=sqlite:///{tmp_path / 'm.db'}", "--param=tracking_uri=",
                 "--json"])
    data = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and data["status"] == "COMPLETE" and data["root"] == root
    uris = [a["uri"] for c in data["components"] for v in c["outputs"].values() for a in v]
    assert len(uris) == 3 and all(u.startswith(root + "/") for u in uris)


def test_root_urls_with_credentials_a_missing_bucket_or_no_bucket_are_refused(
        s3_endpoint, run_hello):
    with pytest.raises(ConfigError) as caught:
        run_hello("s3://AKIDEXAMPLE:wJalrXUtnFEMI@some-bucket/x")
    assert "carries credentials" in str(caught.value) and "AWS_ACCESS_KEY_ID" in str(caught.value)
    assert "wJalrXUtnFEMI" not in str(caught.value)
    with pytest.raises(ConfigError, match=r"bucket 'no-such-bucket' does not exist.*Fix: create"):
        run_hello("s3://no-such-bucket/x")
    with pytest.raises(ConfigError, match=r"names no bucket"):
        run_hello("s3:///x")


def test_stale_recovery_refuses_a_uri_outside_the_plan(bucket, s3_endpoint, caplog):
    root = f"s3://{bucket}/r"
    s3_client(s3_endpoint).put_object(Bucket=bucket, Key="r/keep/me.txt", Body=b"x")
    object_store.discard_leftovers(f"s3://{bucket}/r/keep", root, "execution 1")
    object_store.discard_leftovers(f"s3://{bucket}/other/a/b/0123456789ab", root, "execution 2")
    assert object_keys(s3_endpoint, bucket) == ["r/keep/me.txt"]
    assert caplog.text.count("refused, nothing was deleted") == 2


def test_a_revoked_manual_blessing_stops_the_pusher_on_an_s3_root(bucket, run_hello, tmp_path):
    from gristmill.components.framework.executor import ExecutionContext
    from gristmill.components.pusher.config import Filesystem, PushDestination, PusherParameters
    from gristmill.components.pusher.executor import PusherExecutor
    from gristmill.metadata.standard_artifacts import PushedModel
    from gristmill.orchestrator.manual_blessing import record_manual_blessing

    model = run_hello(f"s3://{bucket}/hello").node("FitLine").outputs["model"][0]
    with open_store(run_hello.url) as store:
        record_manual_blessing(store, model.id, "the slope is wrong", revoke=True, user="qa")
    local = object_store.local_inputs({"model": [model]}, set())["model"][0]
    assert local.uri != model.uri and os.path.isdir(local.uri)  # the Pusher sees a copy
    pushed = PushedModel(str(tmp_path / "pushed"))
    os.makedirs(pushed.uri)
    serving = tmp_path / "serving"
    PusherExecutor(ExecutionContext(component_id="Pusher", pipeline_name="hello")).Do(
        {"model": [local]}, {"pushed_model": [pushed]},
        PusherParameters(push_destination=PushDestination(
            filesystem=Filesystem(base_directory=str(serving)))))
    assert pushed.custom_properties["pushed"] == 0
    assert "manual blessing revoked by qa" in pushed.custom_properties["reason"]
    assert pushed.custom_properties["model_uri"] == model.uri
    assert not serving.exists()


def test_an_object_store_push_destination_is_refused_not_written_locally():
    from gristmill.components.pusher.config import Filesystem

    with pytest.raises(ConfigError, match=r"base_directory 's3://b/serving' is a URL.*Fix: push"):
        Filesystem(base_directory="s3://b/serving")


def test_run_node_on_four_machines_shares_only_the_bucket_and_the_store(
        bucket, tmp_path, monkeypatch, downloads):
    from orchestrator_fakes import diamond, make_pipeline, read_value

    from gristmill.orchestrator.run_node import run_node

    pipeline = make_pipeline(tmp_path, diamond(value=1)).with_options(
        root=f"s3://{bucket}/nodes")
    results = {}
    for node in ["Source", "left", "right", "Join"]:  # each "machine" has its own home
        monkeypatch.setenv("GRISTMILL_HOME", str(tmp_path / f"machine-{node}"))
        results[node] = run_node(pipeline, node, "r1")
    assert {n: r.state for n, r in results.items()} == dict.fromkeys(results, "COMPLETE")
    assert results["Join"].run_status == "COMPLETE"
    with open_store(pipeline.metadata_url) as store:
        join = store.get_outputs(results["Join"].execution_id)["out"][0]
        source = store.get_outputs(results["Source"].execution_id)["out"][0]
    assert join.uri.startswith(f"s3://{bucket}/nodes/Join/out/")
    # left and right each downloaded Source's output on their machine; Join both of theirs.
    assert downloads.count(source.uri) == 2 and len(downloads) == 4
    join.uri = object_store.materialize(join)
    assert read_value(join) == (1 + 1) + (1 + 2)


def test_a_download_that_loses_the_race_to_another_process_keeps_the_first_copy(
        bucket, run_hello):
    from gristmill.metadata.fingerprint import fingerprint_path

    examples = run_hello(f"s3://{bucket}/hello").node("MakeNumbers").outputs["examples"][0]
    target = object_store.materialize(examples)  # in place: the run's own copy
    object_store._download(examples, target)  # a second process finishing later
    assert fingerprint_path(target) == examples.fingerprint
    assert [p for p in os.listdir(os.path.dirname(target)) if p.startswith(".download")] == []


@pytest.mark.parametrize(("damage", "expected"), [("rewrite", ArtifactState.ABANDONED),
                                                  ("delete", ArtifactState.DELETED)])
def test_a_resolver_retires_a_damaged_remote_model_as_abandoned_or_deleted(
        bucket, s3_endpoint, run_hello, damage, expected):
    """The Resolver told DELETED from ABANDONED by ``os.path.exists(uri)``, which is always
    False for an ``s3://`` URI: a rewritten remote model was marked DELETED."""
    from gristmill.metadata.standard_artifacts import Model
    from gristmill.orchestrator import Channel, Pipeline, Resolver

    root = f"s3://{bucket}/hello"
    model = run_hello(root).node("FitLine").outputs["model"][0]
    prefix = model.uri.removeprefix(f"s3://{bucket}/") + "/"
    keys = [k for k in object_keys(s3_endpoint, bucket, prefix) if not k.endswith("/")]
    for key in keys:
        if damage == "rewrite":
            s3_client(s3_endpoint).put_object(Bucket=bucket, Key=key, Body=b'{"a": 0}')
        else:
            s3_client(s3_endpoint).delete_object(Bucket=bucket, Key=key)

    resolver = Resolver(model=Channel(type=Model)).with_id("latest_model")
    result = LocalDagRunner(mirror_mlflow=False).run(Pipeline(
        "hello", [resolver], root=root, metadata_url=run_hello.url, tracking_uri=""),
        allow_shared_name=True)  # the hello pipeline's history, read by a lone Resolver
    assert result.status == "COMPLETE"
    assert result.node("latest_model").outputs["model"] == []
    with open_store(run_hello.url) as store:
        assert store.get_artifacts([model.id])[0].state is expected
