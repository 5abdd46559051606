"""Cut two costs Beam pays again for every transform it builds, without changing a result.

Profiling Transform on 100k rows (issue 20, goal 2) showed most of a small pipeline's time
outside our code, in building it:

* **Signature inspection.** For every ``ParDo`` Beam calls ``get_dofn_specs``, which wraps
  every method of the DoFn (~30, mostly inherited from ``beam.DoFn``) and inspects each
  one's signature: 5,653 ``inspect.signature`` calls for Transform's 180 DoFns, ~0.1 s of a
  0.4 s run. A bound method's parameters depend only on its function, so
  :func:`install_signature_cache` memoises ``apache_beam.transforms.core
  .get_function_args_defaults`` for bound methods, keyed on the function and checked
  against its defaults (a function whose defaults were reassigned is inspected again).
  Anything else (plain functions, lambdas, callables) is inspected as before.
* **Options views.** Beam asks the pipeline's options for a ``TypeOptions`` view at least
  twice per transform; each ``view_as`` builds an ``argparse`` parser and parses the flags
  again (618 parsers for one Transform run). :class:`ViewCachingOptions` keeps one view per
  options class. Views share their values with the options they come from (Beam's own
  contract), so a kept view reads and writes exactly what a new one would; only the
  options object that :func:`~gristmill.components.beam.pipeline.make_beam_pipeline`
  creates behaves this way.

Both are checked against Beam's own answers in ``tests/components/test_beam_construction.py``.
"""

from __future__ import annotations

import types
from typing import Any

from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.transforms import core

_SIGNATURE_CACHE: dict[Any, tuple[Any, Any, list[str], list[Any]]] = {}


def _cached_function_args_defaults(inspect_uncached):
    """Wrap Beam's ``get_function_args_defaults`` with a memo for bound methods."""

    def get_function_args_defaults(f):
        function = f.__func__ if isinstance(f, types.MethodType) else None
        if not isinstance(function, types.FunctionType):
            return inspect_uncached(f)
        hit = _SIGNATURE_CACHE.get(function)
        if (hit is None or hit[0] is not function.__defaults__
                or hit[1] is not function.__kwdefaults__):
            args, defaults = inspect_uncached(f)
            hit = (function.__defaults__, function.__kwdefaults__, args, defaults)
            _SIGNATURE_CACHE[function] = hit
        return list(hit[2]), list(hit[3])  # callers get their own lists, as before

    get_function_args_defaults.gristmill_uncached = inspect_uncached
    return get_function_args_defaults


def install_signature_cache() -> None:
    """Memoise Beam's signature inspection of bound methods (idempotent, process-wide)."""
    if not hasattr(core.get_function_args_defaults, "gristmill_uncached"):
        core.get_function_args_defaults = _cached_function_args_defaults(
            core.get_function_args_defaults)


class ViewCachingOptions(PipelineOptions):
    """``PipelineOptions`` that build each ``view_as`` view once and hand it out again.

    Adds no flags of its own. A view shares ``_all_options`` with this object, so reading or
    setting an option through a kept view is the same as through a fresh one.
    """

    def view_as(self, cls):
        """Returns the view of these options as ``cls``, built on first use."""
        views = self.__dict__.setdefault("_gristmill_views", {})
        view = views.get(cls)
        if view is None:
            view = views[cls] = super().view_as(cls)
        return view

    def __getstate__(self):
        state = super().__getstate__()
        if "_gristmill_views" in state:  # views are rebuilt after unpickling
            state = {k: v for k, v in state.items() if k != "_gristmill_views"}
        return state
