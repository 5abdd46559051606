"""The pipeline definition users write: ``Pipeline(name, components, ...)``."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from gristmill.components.framework.base import BaseComponent, check_node_id
from gristmill.metadata.errors import ConfigError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True)
class Pipeline:
    """A named DAG of components plus where its metadata, artifacts and UI data live.

    Args:
        name: Pipeline name; also the MLflow experiment name. TFX's ``pipeline_name`` works too.
        components: The nodes. Order does not matter; dependencies come from channels.
        root: Directory for artifacts (default ``$GRISTMILL_HOME/pipelines/<name>``).
            TFX's ``pipeline_root`` works too.
        metadata_url: Metadata store URL (default SQLite under GRISTMILL_HOME).
        tracking_uri: MLflow tracking URI (default ``sqlite:///$GRISTMILL_HOME/mlflow.db``);
            ``""`` turns the MLflow mirror off.
        beam_pipeline_args: Beam flags for every component (each may add its own).
        enable_cache: Reuse outputs of identical earlier executions.
        pipeline_id: A declared identity. Runs of one name share history (cache, Resolver
            baselines, ``<name>@champion``), so a store refuses a second pipeline under a
            name already used by another; by default a pipeline's identity is the file
            that built it (``source``). Declare the same id in files meant to share.
        source: The file that called ``Pipeline(...)`` (found automatically).
    """

    name: str
    components: Sequence[BaseComponent]
    root: str | None = None
    metadata_url: str | None = None
    tracking_uri: str | None = None
    beam_pipeline_args: Sequence[str] = field(default_factory=tuple)
    enable_cache: bool = True
    pipeline_id: str | None = None
    source: str | None = None

    def __init__(self, name: str | None = None, components: Sequence[BaseComponent] = (),
                 root: str | None = None, metadata_url: str | None = None,
                 tracking_uri: str | None = None, beam_pipeline_args: Sequence[str] = (),
                 enable_cache: bool = True, *, pipeline_name: str | None = None,
                 pipeline_root: str | None = None, pipeline_id: str | None = None,
                 source: str | None = None):
        name = name or pipeline_name
        if not name or not _NAME.match(name):
            raise ConfigError(f"Pipeline: invalid name {name!r}; expected letters, digits, '_', "
                              "'.', '-' (1-128 characters).", fix="pass name='my_pipeline'")
        set_ = object.__setattr__
        set_(self, "name", name)
        set_(self, "components", tuple(components))
        set_(self, "root", root or pipeline_root)
        set_(self, "metadata_url", metadata_url)
        set_(self, "tracking_uri", tracking_uri)
        set_(self, "beam_pipeline_args", tuple(beam_pipeline_args))
        set_(self, "enable_cache", enable_cache)
        set_(self, "pipeline_id", pipeline_id)
        set_(self, "source", source or _calling_file())
        for component in self.components:
            if not isinstance(component, BaseComponent):
                raise ConfigError(f"Pipeline {name!r}: components must be Gristmill components, "
                                  f"got {type(component).__name__} {component!r}.",
                                  fix="pass component instances such as CsvExampleGen(...)")
            check_node_id(component.id, f"Pipeline {name!r}")

    @property
    def identity(self) -> str | None:
        """What tells this pipeline from another of the same name: ``id:<pipeline_id>``,
        else ``file:<source>``; ``None`` when built outside a file (an interactive shell)."""
        if self.pipeline_id:
            return f"id:{self.pipeline_id}"
        return f"file:{self.source}" if self.source else None

    @property
    def pipeline_name(self) -> str:
        """TFX's name for :attr:`name`."""
        return self.name

    def with_options(self, **changes) -> Pipeline:
        """Return a copy with some fields changed (e.g. ``enable_cache=False``)."""
        return replace(self, **changes)


def _calling_file() -> str | None:
    """The real path of the file whose code called ``Pipeline(...)``."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename == __file__:
        frame = frame.f_back
    filename = frame.f_code.co_filename if frame is not None else ""
    return os.path.realpath(filename) if os.path.isfile(filename) else None


class Cond:
    """Run the components created inside the block only when ``predicate`` holds at run
    time (TFX's ``tfx.dsl.Cond``); otherwise they, and nodes that consume their outputs,
    are SKIPPED, which does not fail the run::

        blessed = evaluator.outputs["blessing"].future()[0].custom_property("blessed") == 1
        with Cond(blessed):
            pusher = Pusher(model=trainer.outputs["model"], ...)

    Blocks nest (every predicate must hold). The predicate's producers become the nodes'
    dependencies. See :mod:`gristmill.components.framework.conditions` for what predicates can read.
    """

    def __init__(self, predicate):
        from gristmill.components.framework.conditions import condition_scope

        self._scope = condition_scope(predicate)

    def __enter__(self) -> Cond:
        self._scope.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._scope.__exit__(*exc)
