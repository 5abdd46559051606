"""Analysis passes: feed record batches into every analyzer accumulator of a phase.

:class:`AnalyzerSet` is what one pass computes: a partial plan that produces the analyzer
inputs (run by the same :class:`FittedTransform` as the final apply) and the accumulators to
fill. ``beam_io.AnalyzeCombineFn`` wraps it as one Beam ``CombineFn`` so a phase is a single
pass; :func:`fit_in_memory` runs the same code without Beam (tests, small data).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from gristmill.components.transform.analyzers import new_accumulator
from gristmill.components.transform.compiler import (
    build_plan,
    num_phases,
    phase_plan,
    phase_targets,
)
from gristmill.components.transform.tracing import Analyzer, TracedFn
from gristmill.engine.transform_fn import FittedTransform


@dataclass
class AnalyzerSpec:
    """One accumulator to fill: its fingerprint, kind, params and input refs."""

    fingerprint: str
    kind: str
    params: dict[str, Any]
    refs: list[str]
    label: str


class AnalyzerSet:
    """The analyzers of one pass and the partial plan computing their inputs.

    Args:
        plan: Partial plan (steps only) from :func:`compiler.phase_plan`.
        vocabularies: Vocabularies the partial plan looks up.
        specs: The accumulators to fill.
    """

    def __init__(self, plan: dict[str, Any], vocabularies: dict[str, list[str]],
                 specs: list[AnalyzerSpec]):
        self.plan, self.vocabularies, self.specs = plan, vocabularies, specs
        self._fitted: FittedTransform | None = None

    @classmethod
    def for_analyzers(cls, traced: TracedFn, analyzers: list[Analyzer],
                      accumulators: dict[str, Any]) -> AnalyzerSet:
        """Build the set for ``analyzers`` given the accumulators of earlier phases."""
        plan, vocabs, refs = phase_plan(traced, analyzers, accumulators)
        specs = [AnalyzerSpec(an.fingerprint, an.kind, an.params, refs[an.fingerprint],
                              an.label) for an in analyzers]
        return cls(plan, vocabs, specs)

    @property
    def columns(self) -> list[str]:
        """Raw columns a pass must read."""
        return [f["name"] for f in self.plan["raw_features"]]

    def create(self) -> dict[str, Any]:
        """Fresh accumulators, fingerprint -> accumulator."""
        return {s.fingerprint: new_accumulator(s.kind, s.params) for s in self.specs}

    def add(self, accs: dict[str, Any], table: pa.Table | pa.RecordBatch) -> dict[str, Any]:
        """Fold one batch into ``accs`` (in place) and return it."""
        if isinstance(table, pa.RecordBatch):
            table = pa.Table.from_batches([table])
        if table.num_rows == 0:
            return accs
        if self._fitted is None:
            self._fitted = FittedTransform(self.plan, self.vocabularies, source="analysis")
        values = self._fitted.evaluate(table, [r for s in self.specs for r in s.refs])
        for spec in self.specs:
            accs[spec.fingerprint].add([values[r] for r in spec.refs])
        return accs

    def __getstate__(self) -> dict[str, Any]:
        return {"plan": self.plan, "vocabularies": self.vocabularies, "specs": self.specs}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["plan"], state["vocabularies"], state["specs"])


def merge_into(target: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """Merge accumulator dict ``other`` into ``target`` (same or disjoint fingerprints)."""
    for fp, acc in other.items():
        if fp in target:
            target[fp].merge(acc)
        else:
            target[fp] = acc
    return target


def fit_in_memory(traced: TracedFn, tables: list[pa.Table],
                  arrow_types: dict[str, str] | None = None
                  ) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Analyze ``tables`` without Beam and return ``(plan, vocabularies)``.

    Runs exactly the passes the Beam executor runs, with the same accumulators.
    """
    accs: dict[str, Any] = {}
    for phase in range(num_phases(traced)):
        aset = AnalyzerSet.for_analyzers(traced, phase_targets(traced, phase), accs)
        phase_accs = aset.create()
        for table in tables:
            aset.add(phase_accs, table)
        accs.update(phase_accs)
    if arrow_types is None:
        arrow_types = {f.name: str(f.type) for f in tables[0].schema} if tables else {}
    return build_plan(traced, accs, arrow_types)
