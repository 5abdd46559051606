"""BulkInferrer: parameter and config models.

Pydantic only, so pipeline files import them without Beam, torch or MLflow.
"""

from __future__ import annotations

from gristmill.components.framework.base import Parameters


class DataSpec(Parameters):
    """Which splits to infer on; empty means every split of the input."""

    example_splits: list[str] = []


class BulkInferrerParameters(Parameters):
    """BulkInferrer parameters."""

    data_spec: DataSpec = DataSpec()
