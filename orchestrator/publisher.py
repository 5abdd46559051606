"""Every state change of an execution, one named function each. The only store writer.

Outputs are written by executors to a staging directory and promoted (renamed) to their
final URI just before the COMPLETE transaction, so a crash never leaves a LIVE artifact with
missing or half-written files: a crash before the transaction leaves PENDING artifacts,
which :func:`recover_stale` marks ABANDONED. On an object-store root there is no rename:
outputs are uploaded under the execution's own prefix and the publish transaction is the
commit (:mod:`gristmill.orchestrator.object_store`).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gristmill.metadata.confinement import ConfinementError, confine
from gristmill.metadata.fingerprint import fingerprint_path
from gristmill.metadata.store import PIPELINE_RUN, MetadataStore
from gristmill.metadata.types import Artifact, ArtifactState, ExecutionRecord, ExecutionState
from gristmill.orchestrator import object_store
from gristmill.orchestrator.cleanup import remove_if_empty

log = logging.getLogger(__name__)


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
                      custom_properties: Mapping[str, Any],
                      remove_if_empty: Callable[[str], None] | None = None) -> ExecutionRecord:
    """Fingerprint and promote staged outputs, then mark them LIVE in one transaction.

    Args:
        staged: Output key -> (artifact whose ``uri`` is the final URI, its staging path).
        remove_if_empty: Deletes the emptied staging directory (default: at once; a run
            passes its :class:`~gristmill.orchestrator.cleanup.DeferredCleanup`'s).
    """
    outputs: dict[str, list[Artifact]] = {}
    for key, pairs in staged.items():
        outputs[key] = []
        for artifact, staging in pairs:
            artifact.fingerprint = fingerprint_path(staging)
            _promote(staging, artifact)
            outputs[key].append(artifact)
    for staging in {os.path.dirname(s) for pairs in staged.values() for _, s in pairs}:
        (remove_if_empty or _remove_if_empty)(staging)
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


def recover_stale(store: MetadataStore, root: str, pipeline_name: str
                  ) -> list[ExecutionRecord]:
    """Mark this pipeline's executions whose process died on this host FAILED, their
    outputs ABANDONED, and delete what they left under ``root``.

    Only files inside ``root`` (the run's artifact root, symlinks resolved) are deleted,
    whatever the store says: an output recorded elsewhere is left alone and reported as a
    warning naming the execution and path. Executions of other pipelines are left to their
    own pipeline's next run, which knows their root. Pipeline runs whose process died
    (``status`` still RUNNING) are marked FAILED for every pipeline, so ``gristmill runs``
    never shows a killed run as running forever.
    """
    recovered = store.recover_stale_executions(
        lambda record: record.pipeline_name != pipeline_name
        or _process_alive(record.pid, record.host))
    for execution in recovered:
        for artifacts in store.get_outputs(execution.id).values():
            for artifact in artifacts:
                if artifact.state is ArtifactState.ABANDONED:  # never a cached, LIVE output
                    _discard_leftovers(artifact.uri, root, f"execution {execution.id} "
                                       f"({execution.component_id}), output {artifact.id}")
    for ctx in store.list_contexts(PIPELINE_RUN):
        props = ctx.properties
        if props.get("status") == "RUNNING" and not _process_alive(props.get("pid"),
                                                                   props.get("host")):
            store.put_context(PIPELINE_RUN, ctx.name, {
                "status": "FAILED", "error": f"process {props.get('pid')} died"})
    return recovered


_TOKEN = re.compile(r"^[0-9a-f]{12}$")


def leftover_paths(uri: str, root: str) -> list[str]:
    """What a killed execution may have left for an output planned at ``uri``
    (``<root>/<node>/<key>/<token>``): ``<root>/.staging/<token>``, ``<root>/.tmp/<token>``
    and a half-promoted copy at ``uri`` itself (never LIVE: the record is ABANDONED).

    Raises:
        ConfinementError: ``uri`` is not a path this runner plans under ``root``: outside
            it once symlinks are resolved, or not ``<node>/<key>/<token>`` below it.
    """
    what = f"stale output {uri!r}"
    confine(uri, [root], what=what)
    relative = os.path.relpath(os.path.abspath(uri), os.path.abspath(root)).split(os.sep)
    if len(relative) != 3 or not _TOKEN.match(relative[2]) or relative[0].startswith("."):
        raise ConfinementError(
            f"{what}: not <root>/<node>/<key>/<token> below the artifact root {root}; "
            "refused, nothing was deleted.", uri=uri, roots=(root,),
            fix="the row is stale, foreign or tampered with; check who else writes this "
                "metadata database")
    token = relative[2]
    paths = [os.path.join(root, ".staging", token), os.path.join(root, ".tmp", token), uri]
    for path in paths:  # a symlinked .staging or .tmp must not lead out either
        if os.path.lexists(path):
            confine(path, [root], what=what)
    return paths


def _discard_leftovers(uri: str, root: str, what: str) -> None:
    """Delete an abandoned output's leftovers; refuse (and warn about) any outside ``root``."""
    if object_store.is_remote(root):
        return object_store.discard_leftovers(uri, root, what)
    try:
        paths = leftover_paths(uri, root)
    except ConfinementError as e:
        log.warning("stale recovery of %s: %s", what, e)
        return
    for path in paths:
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


def _promote(staging: str, artifact: Artifact) -> None:
    """Move a staged output to ``artifact.uri``: a rename on a filesystem; on an object
    store an upload under the execution's own prefix (the publish transaction commits)."""
    final = artifact.uri
    if object_store.is_remote(final):
        return object_store.upload(staging, artifact)
    os.makedirs(os.path.dirname(final), exist_ok=True)
    if os.path.exists(final):  # left by a crash between promote and publish; never LIVE
        shutil.rmtree(final)
    os.replace(staging, final)


def _remove_if_empty(directory: str) -> None:
    """Drop an execution's staging directory once its last output has moved out."""
    remove_if_empty(directory)
