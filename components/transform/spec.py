"""Transform's parameters and how the user's ``preprocessing_fn`` is found."""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Callable
from typing import Any

import pydantic

from gristmill.components.framework.base import Parameters
from gristmill.metadata.errors import ConfigError, did_you_mean

FN_NAME = "preprocessing_fn"


class SplitsConfig(pydantic.BaseModel):
    """Which splits Transform analyzes and which it transforms (TFX ``SplitsConfig``).

    Attributes:
        analyze: Splits the analyzers see (default ``["train"]``).
        transform: Splits written as transformed examples (default: every split).
    """

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    analyze: list[str] = ["train"]
    transform: list[str] = []

    @pydantic.field_validator("analyze")
    @classmethod
    def _some(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one split must be analyzed")
        return value


class TransformParameters(Parameters):
    """Parameters of :class:`Transform`.

    Attributes:
        module_file: A ``.py`` file defining ``preprocessing_fn`` (or the name given in
            ``preprocessing_fn``).
        preprocessing_fn: A callable, ``"package.module.fn"``, or a function name in
            ``module_file``. It takes ``inputs`` (and optionally ``custom_config``) and
            returns a dict of output columns built with ``gristmill.components.transform_ops``.
        splits_config: Splits to analyze and to transform.
        materialize: Write ``transformed_examples`` (else only the transform graph).
        disable_analyzer_cache: Neither read nor write accumulators of earlier runs.
        custom_config: Passed to ``preprocessing_fn(inputs, custom_config)``.
        batch_rows: Rows per Arrow record batch.
        disable_statistics: Skip the pre-/post-transform statistics, schemas and anomalies
            (the five outputs are still published, marked ``disabled=1`` and empty).
        stats_options_updater_fn: ``fn(stats_type, options) -> StatsOptions`` adjusting the
            default ``StatsOptions`` for ``stats_type`` ``"pre_transform"`` or
            ``"post_transform"``: a callable, ``"package.module.fn"``, or a function name in
            ``module_file`` (TFX ``stats_options_updater_fn``).
    """

    module_file: str | None = None
    preprocessing_fn: Callable[..., Any] | str | None = None
    splits_config: SplitsConfig = SplitsConfig()
    materialize: bool = True
    disable_analyzer_cache: bool = False
    custom_config: dict[str, Any] = {}
    batch_rows: int = pydantic.Field(65_536, ge=1)
    disable_statistics: bool = False
    stats_options_updater_fn: Callable[..., Any] | str | None = None

    @pydantic.model_validator(mode="after")
    def _one_source(self) -> TransformParameters:
        if self.module_file is None and self.preprocessing_fn is None:
            raise ValueError("give module_file (a .py defining preprocessing_fn) or "
                             "preprocessing_fn (a callable or 'package.module.fn')")
        if self.module_file is not None and callable(self.preprocessing_fn):
            raise ValueError("give module_file or a preprocessing_fn callable, not both")
        return self


def resolve_preprocessing_fn(params: TransformParameters) -> Callable[..., Any]:
    """The user's ``preprocessing_fn``.

    Raises:
        ConfigError: The module file or function cannot be found.
    """
    fn = params.preprocessing_fn
    if callable(fn):
        return fn
    if params.module_file:
        return _from_file(params.module_file, fn or FN_NAME)
    return _import("preprocessing_fn", str(fn))


def resolve_stats_options_updater(params: TransformParameters) -> Callable[..., Any] | None:
    """The user's ``stats_options_updater_fn``, or ``None`` when not given.

    A bare name (no dot) is looked up in ``module_file``; a dotted name is imported.

    Raises:
        ConfigError: The module file or function cannot be found.
    """
    fn = params.stats_options_updater_fn
    if fn is None or callable(fn):
        return fn
    if params.module_file and "." not in fn:
        return _from_file(params.module_file, fn)
    return _import("stats_options_updater_fn", fn)


def _import(param: str, dotted: str) -> Callable[..., Any]:
    module_name, _, attr = dotted.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as e:
        raise ConfigError(f"Transform({param}={dotted!r}): cannot import it: {e}.",
                          fix="pass 'package.module.function' importable here, or a callable"
                          ) from e


def _from_file(path: str, name: str) -> Callable[..., Any]:
    if not os.path.exists(path):
        raise ConfigError(f"Transform(module_file={path!r}): file not found.",
                          fix=f"pass the path of a .py file that defines {name}(inputs)")
    module_name = f"gristmill_transform_user_{abs(hash(os.path.abspath(path)))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    if not callable(getattr(module, name, None)):
        names = [n for n in vars(module) if callable(vars(module)[n])]
        raise ConfigError(f"Transform(module_file={path!r}): defines no function {name!r}."
                          f"{did_you_mean(name, names)}",
                          fix=f"define def {name}(inputs): ... in that file")
    return getattr(module, name)
