"""ExampleValidator: parameter and config models.

Pydantic only, so pipeline files import them without Beam, torch or MLflow.
"""

from __future__ import annotations

from gristmill.components.framework.base import Parameters


class ExampleValidatorParameters(Parameters):
    """Parameters of :class:`ExampleValidator`.

    Attributes:
        exclude_splits: Splits not validated.
        halt_on_error: Halt downstream components when a split has an ERROR anomaly.
        serving_split: Split of ``serving_statistics`` compared for skew (default: the split
            of the same name, else the only split).
    """

    exclude_splits: list[str] = []
    halt_on_error: bool = True
    serving_split: str | None = None
