"""The metadata store interface.

A small core of primitives; :class:`gristmill.metadata.sql.SqlMetadataStore` implements it
on SQLAlchemy 2 for SQLite and PostgreSQL. The store returns plain records and
:class:`~gristmill.metadata.types.Artifact` objects, never ORM rows. Only the
orchestrator calls the mutating methods.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from gristmill.metadata.types import (
    Artifact,
    ArtifactState,
    ContextRecord,
    EventRecord,
    ExecutionRecord,
    ExecutionState,
    LineageGraph,
)

# Context types, in MLMD's spirit.
PIPELINE = "pipeline"
PIPELINE_RUN = "pipeline_run"
NODE = "node"


class MetadataStore(abc.ABC):
    """Artifacts, executions, contexts and events with full lineage."""

    # -- contexts ------------------------------------------------------------------------
    @abc.abstractmethod
    def put_context(self, type: str, name: str, properties: Mapping[str, Any] | None = None
                    ) -> ContextRecord:
        """Get or create the context ``(type, name)``; properties are merged in."""

    def put_contexts(self, type: str, names: Iterable[str]) -> dict[str, ContextRecord]:
        """Get or create the contexts ``(type, name)`` of every name (no properties); by name.
        Stores may do it in one transaction (the SQL store does)."""
        return {name: self.put_context(type, name) for name in names}

    @abc.abstractmethod
    def get_context(self, type: str, name: str) -> ContextRecord | None:
        """Return the context ``(type, name)`` or ``None``."""

    @abc.abstractmethod
    def list_contexts(self, type: str) -> list[ContextRecord]:
        """All contexts of one type, newest first."""

    # -- executions ----------------------------------------------------------------------
    @abc.abstractmethod
    def register_execution(
        self, *, component_id: str, component_type: str, parameters: Mapping[str, Any],
        cache_key: str | None, cache_ingredients: Mapping[str, Any],
        context_ids: Sequence[int], inputs: Mapping[str, Sequence[Artifact]],
        outputs: Mapping[str, Sequence[Artifact]], pipeline_name: str, run_id: str,
        state: ExecutionState = ExecutionState.RUNNING,
    ) -> ExecutionRecord:
        """Record a new execution in ONE transaction.

        Writes the execution (with pid, host and start time), INPUT events for ``inputs``,
        and ``outputs`` as PENDING artifacts with OUTPUT events; attributes and associates
        everything with ``context_ids``. Sets ``id`` on every output artifact in place.
        """

    @abc.abstractmethod
    def publish_execution(
        self, execution_id: int, *, state: ExecutionState,
        outputs: Mapping[str, Sequence[Artifact]] | None = None, error: str | None = None,
        custom_properties: Mapping[str, Any] | None = None,
    ) -> ExecutionRecord:
        """Finish an execution in ONE transaction.

        For COMPLETE: the ``outputs`` (already registered, files already promoted) become
        LIVE with their final uri, properties, custom properties and fingerprints
        (``outputs=None`` makes every registered output LIVE as registered); registered
        outputs left out become ABANDONED. For FAILED or CANCELED: the execution's PENDING
        outputs become ABANDONED and ``error`` is stored. For CACHED: ``outputs`` are the
        reused LIVE artifacts, linked with OUTPUT events and attributed to the execution's
        contexts; the placeholder outputs from registration become ABANDONED and lose their
        OUTPUT events, so ``get_outputs`` returns the reused artifacts. Sets the end time;
        ``custom_properties`` are merged into the execution's.

        Raises:
            StoreError: The execution is unknown or already finished, or an output was not
                registered by it (COMPLETE) or is not LIVE (CACHED).
        """

    @abc.abstractmethod
    def get_execution(self, execution_id: int) -> ExecutionRecord:
        """Return one execution; raises StoreError when absent."""

    @abc.abstractmethod
    def list_executions(self, *, run_id: str | None = None, pipeline_name: str | None = None,
                        component_id: str | None = None,
                        states: Iterable[ExecutionState] | None = None) -> list[ExecutionRecord]:
        """Executions matching all given filters, oldest first."""

    @abc.abstractmethod
    def find_cached_execution(self, cache_key: str) -> ExecutionRecord | None:
        """The newest COMPLETE or CACHED execution with ``cache_key`` whose outputs are all LIVE.

        A CACHED execution's outputs are the artifacts it reused, so a chain of cache hits
        stays reusable for as long as the original files are LIVE.
        """

    @abc.abstractmethod
    def recover_stale_executions(self, is_alive) -> list[ExecutionRecord]:
        """Mark RUNNING/NEW executions whose process is gone as FAILED, outputs ABANDONED.

        Args:
            is_alive: ``callable(ExecutionRecord) -> bool``; False means the owner died.
        """

    # -- artifacts -----------------------------------------------------------------------
    @abc.abstractmethod
    def get_artifacts(self, ids: Sequence[int]) -> list[Artifact]:
        """Artifacts by id, in the order given; raises StoreError for unknown ids."""

    @abc.abstractmethod
    def list_artifacts(self, *, type_name: str | None = None,
                       states: Iterable[ArtifactState] | None = None,
                       context_id: int | None = None,
                       producer_component: str | None = None) -> list[Artifact]:
        """Artifacts matching all given filters, newest first."""

    @abc.abstractmethod
    def set_artifact_state(self, artifact_id: int, state: ArtifactState) -> None:
        """Change one artifact's state (e.g. DELETED after garbage collection)."""

    @abc.abstractmethod
    def get_outputs(self, execution_id: int) -> dict[str, list[Artifact]]:
        """An execution's output artifacts by key, ordered by event index."""

    @abc.abstractmethod
    def get_inputs(self, execution_id: int) -> dict[str, list[Artifact]]:
        """An execution's input artifacts by key, ordered by event index."""

    # -- events and lineage --------------------------------------------------------------
    @abc.abstractmethod
    def get_events(self, *, execution_id: int | None = None,
                   artifact_id: int | None = None) -> list[EventRecord]:
        """Events of one execution and/or one artifact."""

    @abc.abstractmethod
    def get_lineage(self, artifact_id: int, *, direction: str = "upstream",
                    hops: int = 3) -> LineageGraph:
        """Artifacts and executions within ``hops`` executions of ``artifact_id``.

        Args:
            direction: ``"upstream"`` (what it was made from), ``"downstream"`` (what was
                made from it) or ``"both"``.
            hops: Number of execution steps to follow.
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections."""

    def __enter__(self) -> MetadataStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_store(url: str | None = None) -> MetadataStore:
    """Open the store at ``url`` (SQLite by default under GRISTMILL_HOME).

    ``sqlite:///path`` or ``postgresql+psycopg://user:pass@host/db`` pick the backend.
    Raises SchemaVersionError naming ``gristmill db upgrade`` when the schema is behind.
    """
    from gristmill.metadata.sql.store import SqlMetadataStore

    return SqlMetadataStore(url)
