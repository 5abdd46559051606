"""Component definitions: typed input/output specs, frozen parameters, channels.

A component class declares ``INPUTS``, ``OUTPUTS``, a frozen pydantic ``PARAMETERS`` model
and an ``EXECUTOR``. Instances are pipeline nodes: ``StatisticsGen(examples=gen.outputs[
"examples"])``. Definitions are values: ``with_id`` and ``with_beam_pipeline_args`` return
copies.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import pydantic

from gristmill.components.framework.conditions import ValueRef, active_conditions
from gristmill.metadata.errors import ConfigError, did_you_mean
from gristmill.metadata.types import Artifact

if TYPE_CHECKING:
    from gristmill.components.framework.conditions import ChannelFuture
    from gristmill.components.framework.executor import BaseExecutor


#: Node ids name directories under the pipeline root, so they cannot hold "/" or start with ".".
NODE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def check_node_id(node_id: object, where: str) -> str:
    """Return ``node_id`` if it is a safe node id; raise ConfigError naming ``where`` if not."""
    if not isinstance(node_id, str) or not NODE_ID_PATTERN.match(node_id):
        raise ConfigError(f"{where}: invalid node id {node_id!r}; expected letters, digits, "
                          "'_', '.', '-' (1-128 characters, not starting with '.', '_' or '-'), "
                          "because it names a directory under the pipeline root.",
                          component_id=str(node_id), fix="use an id such as 'trainer_2'")
    return node_id


def _a(noun: str) -> str:
    """``"an Examples"``, ``"a Model"``: the article error messages need."""
    return f"{'an' if noun[:1].upper() in 'AEIOU' else 'a'} {noun}"


class Parameters(pydantic.BaseModel):
    """Base of every component's parameter model: frozen, typed, unknown names refused."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


@dataclass(frozen=True)
class InputSpec:
    """One declared input: its artifact type and whether it may be left out."""

    type: type[Artifact]
    optional: bool = False


@dataclass(frozen=True)
class OutputSpec:
    """One declared output: its artifact type."""

    type: type[Artifact]


@dataclass(frozen=True)
class NodeExecutionOptions:
    """How the runner treats one node (TFX ``NodeExecutionOptions``, which TFX's
    LocalDagRunner ignores; ours honours them).

    Attributes:
        max_execution_retries: Extra attempts after the executor fails (each attempt is its
            own execution in the store, FAILED ones included).
        retry_backoff_sec: Wait before the first retry; doubled before each next one.
        enable_cache: ``False`` always runs the node, ``True`` always looks the cache up,
            ``None`` follows the pipeline (and ``--no-cache``).
        num_cpus, num_gpus, memory_gb: What the node's task asks a cluster scheduler for
            (a KFP container's limits, an Airflow task's ``resources``); the local runner
            ignores them. ``None`` asks for nothing.
    """

    max_execution_retries: int = 0
    retry_backoff_sec: float = 1.0
    enable_cache: bool | None = None
    num_cpus: float | None = None
    num_gpus: int = 0
    memory_gb: float | None = None

    def __post_init__(self):
        if not isinstance(self.max_execution_retries, int) or self.max_execution_retries < 0:
            raise ConfigError(f"NodeExecutionOptions: max_execution_retries must be an int >= 0, "
                              f"got {self.max_execution_retries!r}.", fix="e.g. 2")
        if self.retry_backoff_sec < 0:
            raise ConfigError(f"NodeExecutionOptions: retry_backoff_sec must be >= 0, got "
                              f"{self.retry_backoff_sec!r}.", fix="e.g. 1.0")
        for name in ("num_cpus", "memory_gb"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or value <= 0):
                raise ConfigError(f"NodeExecutionOptions: {name} must be > 0 or None, got "
                                  f"{value!r}.", fix=f"e.g. {name}=2")
        if not isinstance(self.num_gpus, int) or self.num_gpus < 0:
            raise ConfigError(f"NodeExecutionOptions: num_gpus must be an int >= 0, got "
                              f"{self.num_gpus!r}.", fix="e.g. num_gpus=1")


class Channel:
    """A typed stream of artifacts produced by one node's output key.

    Users index ``component.outputs[key]``; a free-standing ``Channel(type=Model)`` feeds a
    Resolver, which looks artifacts of that type up in the store.
    """

    def __init__(self, type: type[Artifact], producer: BaseComponent | None = None,  # noqa: A002
                 output_key: str = ""):
        self.type = type
        self.producer = producer
        self.output_key = output_key

    @property
    def producer_id(self) -> str | None:
        """Id of the producing node, or ``None`` for a free-standing channel."""
        return self.producer.id if self.producer is not None else None

    def future(self) -> ChannelFuture:
        """The channel's artifacts at run time, for ``Cond`` predicates (TFX's API):
        ``channel.future()[0].custom_property("blessed") == 1``."""
        from gristmill.components.framework.conditions import ChannelFuture

        return ChannelFuture(self)

    def describe(self) -> str:
        """How the user wrote it: ``StatisticsGen.outputs["statistics"]``."""
        return f'{self.producer_id}.outputs["{self.output_key}"]'

    def __repr__(self) -> str:
        return f"Channel({self.type.TYPE_NAME} from {self.describe()})"


class BaseComponent:
    """A pipeline node. Subclasses declare the class variables below.

    Attributes:
        inputs: Input key -> Channel, as passed by the user.
        outputs: Output key -> Channel, for downstream components to consume.
        parameters: The validated, frozen ``PARAMETERS`` instance.
        beam_pipeline_args: Extra Beam args for this node (added after the pipeline's).
    """

    INPUTS: ClassVar[dict[str, InputSpec]] = {}
    OUTPUTS: ClassVar[dict[str, OutputSpec]] = {}
    PARAMETERS: ClassVar[type[Parameters]] = Parameters
    EXECUTOR: ClassVar[type[BaseExecutor] | None] = None
    #: Bump when the executor's output for the same inputs changes; part of the cache key.
    VERSION: ClassVar[str] = "1"

    def __init__(self, **kwargs: Any):
        inputs = {k: kwargs.pop(k) for k in list(kwargs) if k in self.INPUTS}
        self.inputs: dict[str, Channel] = self._check_inputs(inputs)
        #: Parameters given an upstream value (``channel.future()[0].value``): the
        #: orchestrator reads and validates them at run time (orchestrator.runtime_params).
        self.runtime_parameters: dict[str, ValueRef] = {
            k: kwargs.pop(k) for k in list(kwargs) if isinstance(kwargs[k], ValueRef)}
        self.parameters = self._check_parameters(kwargs, self.runtime_parameters)
        self._id = type(self).__name__
        self.beam_pipeline_args: list[str] = []
        self.execution_options = NodeExecutionOptions()
        #: Predicates of the ``Cond`` blocks the node was created in (all must hold).
        self.conditions = active_conditions()
        self.outputs: dict[str, Channel] = self._make_outputs()

    @property
    def id(self) -> str:
        """Node id, unique within a pipeline; the class name unless set by ``with_id``."""
        return self._id

    @property
    def type_name(self) -> str:
        """The component class's name, e.g. ``"StatisticsGen"``."""
        return type(self).__name__

    def with_id(self, node_id: str) -> BaseComponent:
        """Return a copy with id ``node_id`` (needed when one class appears twice)."""
        check_node_id(node_id, f"{type(self).__name__}.with_id()")
        clone = self._clone()
        clone._id = node_id
        return clone

    def with_beam_pipeline_args(self, args: list[str]) -> BaseComponent:
        """Return a copy whose Beam work also gets ``args``."""
        clone = self._clone()
        clone.beam_pipeline_args = [*self.beam_pipeline_args, *args]
        return clone

    def with_node_execution_options(self, options: NodeExecutionOptions | None = None,
                                    **fields: Any) -> BaseComponent:
        """Return a copy run with ``options`` (or :class:`NodeExecutionOptions` fields), e.g.
        ``trainer.with_node_execution_options(max_execution_retries=2)``."""
        clone = self._clone()
        try:
            clone.execution_options = options or NodeExecutionOptions(**fields)
        except TypeError as e:
            raise ConfigError(f"{self.id}.with_node_execution_options(): {e}.",
                              component_id=self.id, fix="use max_execution_retries, "
                              "retry_backoff_sec, enable_cache, num_cpus, num_gpus or "
                              "memory_gb") from e
        return clone

    def _clone(self) -> BaseComponent:
        clone = copy.copy(self)
        clone.outputs = {}
        clone.outputs = clone._make_outputs()
        return clone

    def _make_outputs(self) -> dict[str, Channel]:
        return {key: Channel(spec.type, self, key) for key, spec in self.OUTPUTS.items()}

    def _check_inputs(self, inputs: dict[str, Any]) -> dict[str, Channel]:
        checked = {}
        for key, spec in self.INPUTS.items():
            value = inputs.get(key)
            if value is None:
                if not spec.optional:
                    raise ConfigError(
                        f"{type(self).__name__}: input {key!r} is required (expected "
                        f"{_a(spec.type.TYPE_NAME)} channel), got nothing.",
                        fix=f"pass {key}=<component>.outputs[...] of type {spec.type.TYPE_NAME}")
                continue
            checked[key] = self._check_channel(key, spec, value)
        return checked

    def _check_channel(self, key: str, spec: InputSpec, value: Any) -> Channel:
        name = type(self).__name__
        if not isinstance(value, Channel):
            raise ConfigError(f"{name}({key}=...): expected {_a(spec.type.TYPE_NAME)} channel, "
                              f"got {type(value).__name__}.",
                              fix=f"pass an output channel such as <component>.outputs[{key!r}]")
        if not issubclass(value.type, spec.type):
            hint = ""
            if value.producer is not None:
                same = [k for k, c in value.producer.outputs.items()
                        if issubclass(c.type, spec.type)]
                if same:
                    hint = f' Did you mean {value.producer_id}.outputs["{same[0]}"]?'
            raise ConfigError(f"{name}({key}=...): expected {_a(spec.type.TYPE_NAME)} channel, "
                              f"got {value.type.TYPE_NAME} from {value.describe()}.{hint}",
                              fix=f"connect an output of type {spec.type.TYPE_NAME}")
        return value

    def _check_parameters(self, params: dict[str, Any], runtime: Any = ()) -> Parameters:
        name = type(self).__name__
        known = list(self.PARAMETERS.model_fields) + list(self.INPUTS)
        for key in runtime:
            field_ = self.PARAMETERS.model_fields.get(key)
            if field_ is not None and field_.is_required():
                raise ConfigError(f"{name}({key}=...): a required parameter cannot wait for a "
                                  "run-time value.", fix=f"give {key} a value when defining "
                                  "the pipeline")
        for key in [*params, *runtime]:
            if key not in self.PARAMETERS.model_fields:
                raise ConfigError(f"{name}: unknown parameter {key!r}.{did_you_mean(key, known)}",
                                  fix=f"use one of {sorted(known)}")
        try:
            return self.PARAMETERS(**params)
        except pydantic.ValidationError as e:
            problems = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']} (got "
                                 f"{err.get('input')!r})" for err in e.errors())
            raise ConfigError(f"{name}: invalid parameters: {problems}.",
                              fix="correct the values above") from e

    def __repr__(self) -> str:
        return f"{self.type_name}(id={self.id!r})"
