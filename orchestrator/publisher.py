"""Every state change of an execution, one named function each. The only store writer.

Outputs are written by executors to a staging directory and promoted (renamed) to their
final URI just before the COMPLETE transaction, so a crash never leaves a LIVE artifact with
missing or half-written files: a crash before the transaction leaves PENDING artifacts,
which :func:`recover_stale` marks ABANDONED.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
from collections.abc import Mapping, Sequence
from typing import Any

from gristmill.metadata.fingerprint import fingerprint_path
from gristmill.metadata.store import PIPELINE_RUN, MetadataStore
from gristmill.metadata.types import Artifact, ArtifactState, ExecutionRecord, ExecutionState


def register_execution(store: MetadataStore, *, component_id: str, component_type: str,
                       parameters: Mapping[str, Any], cache_key: str | None,
                       ingredients: Mapping[str, Any], context_ids: Sequence[int],
                       inputs: Mapping[str, Sequence[Artifact]],
                       outputs: Mapping[str, Sequence[Artifact]], pipeline_name: str,
                       run_id: str, state: ExecutionState = ExecutionState.RUNNING
                       ) -> ExecutionRecord:
    """Record a RUNNING execution with its inputs and PENDING outputs (one transaction)."""
    return store.register_execution(
        component_id=component_id, component_type=component_type, parameters=parameters,
        cache_key=cache_key, cache_ingredients=ingredients, context_ids=context_ids,
        inputs=inputs, outputs=outputs, pipeline_name=pipeline_name, run_id=run_id, state=state)


def publish_succeeded(store: MetadataStore, execution: ExecutionRecord,
                      staged: Mapping[str, Sequence[tuple[Artifact, str]]],
                      custom_properties: Mapping[str, Any]) -> ExecutionRecord:
    """Fingerprint and promote staged outputs, then mark them LIVE in one transaction.

    Args:
        staged: Output key -> (artifact whose ``uri`` is the final URI, its staging path).
    """
    outputs: dict[str, list[Artifact]] = {}
    for key, pairs in staged.items():
        outputs[key] = []
        for artifact, staging in pairs:
            artifact.fingerprint = fingerprint_path(staging)
            _promote(staging, artifact.uri)
            outputs[key].append(artifact)
    return store.publish_execution(execution.id, state=ExecutionState.COMPLETE, outputs=outputs,
                                   custom_properties=custom_properties)


def publish_failed(store: MetadataStore, execution: ExecutionRecord, error: str,
                   staging_dirs: Sequence[str] = ()) -> ExecutionRecord:
    """Mark the execution FAILED, its outputs ABANDONED, and delete its staging files."""
    for path in staging_dirs:
        shutil.rmtree(path, ignore_errors=True)
        _remove_if_empty(os.path.dirname(path))
    return store.publish_execution(execution.id, state=ExecutionState.FAILED, error=error)


def publish_cached(store: MetadataStore, execution: ExecutionRecord,
                   outputs: Mapping[str, Sequence[Artifact]],
                   custom_properties: Mapping[str, Any]) -> ExecutionRecord:
    """Mark the execution CACHED, linking the reused LIVE outputs."""
    return store.publish_execution(execution.id, state=ExecutionState.CACHED, outputs=outputs,
                                   custom_properties=custom_properties)


def publish_canceled(store: MetadataStore, execution: ExecutionRecord, reason: str
                     ) -> ExecutionRecord:
    """Mark the execution CANCELED (an upstream failed or asked to halt)."""
    return store.publish_execution(execution.id, state=ExecutionState.CANCELED, error=reason)


def recover_stale(store: MetadataStore) -> list[ExecutionRecord]:
    """Mark executions whose process died on this host FAILED and their outputs ABANDONED.

    Pipeline runs whose process died (``status`` still RUNNING) are marked FAILED too, so
    ``gristmill runs`` never shows a killed run as running forever.
    """
    recovered = store.recover_stale_executions(
        lambda record: _process_alive(record.pid, record.host))
    for execution in recovered:
        for artifacts in store.get_outputs(execution.id).values():
            for artifact in artifacts:
                if artifact.state is ArtifactState.ABANDONED:  # never a cached, LIVE output
                    _discard_leftovers(artifact.uri)
    for ctx in store.list_contexts(PIPELINE_RUN):
        props = ctx.properties
        if props.get("status") == "RUNNING" and not _process_alive(props.get("pid"),
                                                                   props.get("host")):
            store.put_context(PIPELINE_RUN, ctx.name, {
                "status": "FAILED", "error": f"process {props.get('pid')} died"})
    return recovered


_TOKEN = re.compile(r"^[0-9a-f]{12}$")


def _discard_leftovers(uri: str) -> None:
    """Delete what a killed execution left for an output planned at ``uri``
    (``<root>/<node>/<key>/<token>``): its staging and scratch folders under
    ``<root>/.staging/<token>`` and ``<root>/.tmp/<token>``, and a half-promoted copy at
    ``uri`` itself (never LIVE: the record is ABANDONED)."""
    token = os.path.basename(uri.rstrip("/"))
    if not _TOKEN.match(token) or "://" in uri:
        return  # not a layout this runner planned (e.g. an import): leave it alone
    root = os.path.dirname(os.path.dirname(os.path.dirname(uri.rstrip("/"))))
    for path in (os.path.join(root, ".staging", token), os.path.join(root, ".tmp", token), uri):
        shutil.rmtree(path, ignore_errors=True)


def _process_alive(pid: int | None, host: str | None) -> bool:
    if host != socket.gethostname() or pid is None:
        return True  # another machine's process: we cannot tell, so leave it
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] == "Z"
    except OSError:
        return False


def _promote(staging: str, final: str) -> None:
    os.makedirs(os.path.dirname(final), exist_ok=True)
    if os.path.exists(final):  # left by a crash between promote and publish; never LIVE
        shutil.rmtree(final)
    os.replace(staging, final)
    _remove_if_empty(os.path.dirname(staging))


def _remove_if_empty(directory: str) -> None:
    """Drop an execution's staging directory once its last output has moved out."""
    with contextlib.suppress(OSError):  # not empty yet (more outputs to come) or already gone
        os.rmdir(directory)
