"""The two Beam construction caches answer exactly what Beam answers without them."""

from __future__ import annotations

import pickle

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import (
    PipelineOptions,
    StandardOptions,
    TypeOptions,
)
from apache_beam.transforms import core, userstate

from gristmill.components.beam import construction
from gristmill.components.beam.pipeline import make_beam_pipeline

pytestmark = pytest.mark.unit


class _StatefulDoFn(beam.DoFn):
    COUNT = userstate.CombiningValueStateSpec("count", sum)

    def process(self, element, count=beam.DoFn.StateParam(COUNT), side=None, *rest,
                window=beam.DoFn.WindowParam, **extra):
        yield element


def _uncached():
    construction.install_signature_cache()
    return core.get_function_args_defaults.gristmill_uncached


def _bound_methods():
    dofns = [_StatefulDoFn(), beam.Map(len).dofn, beam.combiners.CountCombineFn()]
    for dofn in dofns:
        for name in dir(dofn):
            method = getattr(dofn, name, None)
            if callable(method) and hasattr(method, "__func__"):
                yield method


def test_cached_signatures_equal_beams_for_every_method_of_several_dofns():
    uncached = _uncached()
    methods = list(_bound_methods())
    assert len(methods) > 60
    for method in methods:
        expected = uncached(method)
        assert core.get_function_args_defaults(method) == expected  # miss, then fill
        assert core.get_function_args_defaults(method) == expected  # hit


def test_callers_get_their_own_lists():
    method = _StatefulDoFn().process
    args, defaults = core.get_function_args_defaults(method)
    args.append("mutated")
    defaults.clear()
    assert core.get_function_args_defaults(method) == _uncached()(method)


def test_a_function_whose_defaults_change_is_inspected_again():
    class Changing(beam.DoFn):
        def process(self, element, extra=1):
            yield element

    dofn = Changing()
    assert core.get_function_args_defaults(dofn.process)[1] == [1]
    Changing.process.__defaults__ = (2,)
    assert core.get_function_args_defaults(dofn.process)[1] == [2]


def test_plain_functions_and_lambdas_are_not_cached():
    construction.install_signature_cache()
    before = len(construction._SIGNATURE_CACHE)
    assert core.get_function_args_defaults(lambda a, b=3: a) == (["a", "b"], [3])
    assert len(construction._SIGNATURE_CACHE) == before


def test_state_specs_found_through_the_cache():
    construction.install_signature_cache()
    state, timers = userstate.get_dofn_specs(_StatefulDoFn())
    assert [s.name for s in state] == ["count"] and not timers


def test_install_is_idempotent():
    construction.install_signature_cache()
    installed = core.get_function_args_defaults
    construction.install_signature_cache()
    assert core.get_function_args_defaults is installed


def test_kept_views_read_and_write_the_shared_options():
    options = construction.ViewCachingOptions(["--runner=FnApiRunner", "--no_pipeline_type_check"])
    plain = PipelineOptions(["--runner=FnApiRunner", "--no_pipeline_type_check"])
    view = options.view_as(TypeOptions)
    assert options.view_as(TypeOptions) is view
    assert view.pipeline_type_check is plain.view_as(TypeOptions).pipeline_type_check is False
    assert options.view_as(StandardOptions).runner == "FnApiRunner"
    options.view_as(StandardOptions).runner = "Other"
    assert options.view_as(StandardOptions).runner == "Other"
    assert options.get_all_options()["runner"] == "Other"
    assert options.get_all_options() == {**plain.get_all_options(), "runner": "Other"}


def test_options_pickle_without_their_views():
    options = construction.ViewCachingOptions(["--no_pipeline_type_check"])
    options.view_as(TypeOptions)
    restored = pickle.loads(pickle.dumps(options))
    assert "_gristmill_views" not in restored.__dict__
    assert restored.view_as(TypeOptions).pipeline_type_check is False


def test_gristmill_pipelines_use_both_and_still_run(tmp_path):
    with make_beam_pipeline([]) as pipeline:
        assert isinstance(pipeline._options, construction.ViewCachingOptions)
        counted = (pipeline | beam.Create([3, 1, 2]) | beam.ParDo(_KeyOne())
                   | beam.ParDo(_StatefulDoFn()) | beam.Map(lambda kv: kv[1]))
        total = counted | beam.CombineGlobally(sum)
        total | beam.Map(lambda t: (tmp_path / "total").write_text(str(t)))
    assert (tmp_path / "total").read_text() == "6"
    assert hasattr(core.get_function_args_defaults, "gristmill_uncached")


class _KeyOne(beam.DoFn):
    def process(self, element):
        yield ("k", element)
