"""The Transform component: spec of inputs, outputs and parameters."""

from __future__ import annotations

from gristmill.components.framework.base import BaseComponent, InputSpec, OutputSpec
from gristmill.components.transform.executor import TransformExecutor
from gristmill.components.transform.spec import TransformParameters
from gristmill.metadata.standard_artifacts import (
    ExampleAnomalies,
    Examples,
    ExampleStatistics,
    Schema,
    TransformCache,
    TransformGraph,
)


class Transform(BaseComponent):
    """Fits a ``preprocessing_fn`` on Beam and applies it to every split.

    Full-pass statistics (means, vocabularies, quantiles) are computed once over the analyzed
    splits and frozen into ``transform_graph``, which serving applies unchanged.

    Inputs: ``examples`` (Examples; several artifacts = several spans), optional ``schema``
    (Schema; column types), optional ``analyzer_cache`` (TransformCache of an earlier run).
    Outputs: ``transform_graph`` (TransformGraph: ``transform_fn.json``, ``vocabularies/``,
    ``transformed_schema.json``), ``transformed_examples`` (Examples: Parquet per split),
    ``updated_analyzer_cache`` (TransformCache), and, as in TFX, ``pre_transform_stats`` /
    ``post_transform_stats`` (ExampleStatistics of the raw analyzed splits / of the
    transformed splits), ``pre_transform_schema`` / ``post_transform_schema`` (Schema) and
    ``post_transform_anomalies`` (ExampleAnomalies: the transformed splits against the
    post-transform schema). With ``disable_statistics=True`` those five are published empty
    with custom property ``disabled=1``. Parameters: :class:`TransformParameters`.
    """

    INPUTS = {"examples": InputSpec(Examples), "schema": InputSpec(Schema, optional=True),
              "analyzer_cache": InputSpec(TransformCache, optional=True)}
    OUTPUTS = {"transform_graph": OutputSpec(TransformGraph),
               "transformed_examples": OutputSpec(Examples),
               "updated_analyzer_cache": OutputSpec(TransformCache),
               "pre_transform_schema": OutputSpec(Schema),
               "pre_transform_stats": OutputSpec(ExampleStatistics),
               "post_transform_schema": OutputSpec(Schema),
               "post_transform_stats": OutputSpec(ExampleStatistics),
               "post_transform_anomalies": OutputSpec(ExampleAnomalies)}
    PARAMETERS = TransformParameters
    EXECUTOR = TransformExecutor
    VERSION = "2"  # 2: the five statistics outputs
