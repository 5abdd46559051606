"""The Transform component: spec of inputs, outputs and parameters."""

from __future__ import annotations

from gristmill.components.base import BaseComponent, InputSpec, OutputSpec
from gristmill.components.transform.executor import TransformExecutor
from gristmill.components.transform.spec import TransformParameters
from gristmill.metadata.standard_artifacts import Examples, Schema, TransformCache, TransformGraph


class Transform(BaseComponent):
    """Fits a ``preprocessing_fn`` on Beam and applies it to every split.

    Full-pass statistics (means, vocabularies, quantiles) are computed once over the analyzed
    splits and frozen into ``transform_graph``, which serving applies unchanged.

    Inputs: ``examples`` (Examples; several artifacts = several spans), optional ``schema``
    (Schema; column types), optional ``analyzer_cache`` (TransformCache of an earlier run).
    Outputs: ``transform_graph`` (TransformGraph: ``transform_fn.json``, ``vocabularies/``,
    ``transformed_schema.json``), ``transformed_examples`` (Examples: Parquet per split),
    ``updated_analyzer_cache`` (TransformCache). Parameters: :class:`TransformParameters`.
    """

    INPUTS = {"examples": InputSpec(Examples), "schema": InputSpec(Schema, optional=True),
              "analyzer_cache": InputSpec(TransformCache, optional=True)}
    OUTPUTS = {"transform_graph": OutputSpec(TransformGraph),
               "transformed_examples": OutputSpec(Examples),
               "updated_analyzer_cache": OutputSpec(TransformCache)}
    PARAMETERS = TransformParameters
    EXECUTOR = TransformExecutor
    VERSION = "1"
