"""Several processes share one metadata database: no lost writes, no lock errors."""

from __future__ import annotations

import multiprocessing
import traceback

import pytest

from gristmill.metadata.types import ArtifactState, ExecutionState

pytestmark = pytest.mark.integration

EXECUTIONS_PER_PROCESS = 25


def _register_and_publish(url: str, worker: int, count: int, errors) -> None:
    """One process: open the store (maybe creating it), then register+publish ``count``."""
    try:
        from gristmill.metadata.sql.store import SqlMetadataStore
        from gristmill.metadata.standard_artifacts import Examples

        with SqlMetadataStore(url) as store:
            run = store.put_context("pipeline_run", "shared-run")
            for i in range(count):
                examples = Examples(f"/data/{worker}/{i}")
                record = store.register_execution(
                    component_id=f"Gen{worker}", component_type="test.Gen",
                    parameters={"i": i}, cache_key=f"{worker}-{i}", cache_ingredients={},
                    context_ids=[run.id], inputs={}, outputs={"examples": [examples]},
                    pipeline_name="pipe", run_id="shared-run")
                examples.fingerprint = f"blake2b:{worker}-{i}"
                store.publish_execution(record.id, state=ExecutionState.COMPLETE,
                                        outputs={"examples": [examples]})
    except BaseException:
        errors.put(f"worker {worker}: {traceback.format_exc()}")


def _run_processes(url: str, processes: int) -> list[str]:
    context = multiprocessing.get_context("fork")
    errors = context.Queue()
    workers = [context.Process(target=_register_and_publish,
                               args=(url, n, EXECUTIONS_PER_PROCESS, errors))
               for n in range(processes)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=240)
    found = []
    while not errors.empty():
        found.append(errors.get())
    found += [f"worker exit code {p.exitcode}" for p in workers if p.exitcode != 0]
    return found


def _check_everything_was_written(url: str, processes: int) -> None:
    from gristmill.metadata.sql.store import SqlMetadataStore

    total = processes * EXECUTIONS_PER_PROCESS
    with SqlMetadataStore(url) as store:
        executions = store.list_executions(run_id="shared-run")
        live = store.list_artifacts(states=[ArtifactState.LIVE])
        run = store.get_context("pipeline_run", "shared-run")
        attributed = store.list_artifacts(context_id=run.id)
    assert len(executions) == total
    assert {e.state for e in executions} == {ExecutionState.COMPLETE}
    assert len({(e.component_id, e.parameters["i"]) for e in executions}) == total
    assert len(live) == total and len(attributed) == total


def test_four_processes_write_one_new_database_concurrently(store_url):
    errors = _run_processes(store_url, 4)

    assert errors == []
    _check_everything_was_written(store_url, 4)


def test_eight_processes_write_one_database_concurrently(store_url):
    errors = _run_processes(store_url, 8)

    assert errors == []
    _check_everything_was_written(store_url, 8)
