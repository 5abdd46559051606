"""The ExampleDiff component spec: inputs, outputs, parameters.

The work is done by :mod:`.executor`; parameter models live in :mod:`.config`.
"""

from __future__ import annotations

from gristmill.components.example_diff.config import ExampleDiffParameters
from gristmill.components.example_diff.executor import ExampleDiffExecutor
from gristmill.components.framework.base import BaseComponent, InputSpec, OutputSpec
from gristmill.metadata.standard_artifacts import Examples, ExamplesDiff


class ExampleDiff(BaseComponent):
    """Feature-level skew between rows of two Examples artifacts paired on identifiers.

    Args:
        examples: The ``Examples`` under test (e.g. serving logs, a new span).
        baseline_examples: The ``Examples`` they are compared with (e.g. training data).
        config: An :class:`ExampleDiffConfig` naming the identifier features.
        include_split_pairs: ``(test split, base split)`` pairs; default: same-named splits.
        num_shards: See :class:`ExampleDiffParameters`.

    Outputs:
        example_diff_result: ``ExamplesDiff`` with ``SplitPair-<test>_<base>/diff.json``,
        ``report.html`` and property ``split_pairs`` = ``[[test, base], ...]``.
    """

    INPUTS = {"examples": InputSpec(Examples), "baseline_examples": InputSpec(Examples)}
    OUTPUTS = {"example_diff_result": OutputSpec(ExamplesDiff)}
    PARAMETERS = ExampleDiffParameters
    EXECUTOR = ExampleDiffExecutor
    VERSION = "1"
