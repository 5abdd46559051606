"""MLflow models-from-code entry: a pyfunc that serves a Gristmill bundle on raw records.

MLflow executes this file when loading the model (``mlflow.pyfunc.load_model``,
``mlflow models predict``); the bundle travels as the ``bundle`` artifact.
"""

from __future__ import annotations

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel


class GristmillBundleModel(PythonModel):
    """Raw records (a DataFrame) in, ``prediction`` (+ ``probabilities``) out."""

    def load_context(self, context):
        """Load the serving bundle copied into the model's artifacts."""
        from gristmill.engine.serving import load_bundle, read_config

        # MLflow's models-from-code runs code named in this model directory's MLmodel, so
        # loading it already trusts the directory; the bundle's own model class is allowed
        # (Gristmill's own loaders keep the allow-list: engine.serving.check_model_class).
        uri = context.artifacts["bundle"]
        self.bundle = load_bundle(uri, backend="torch",
                                  trusted_model_classes=[read_config(uri)["model"]["class"]])

    # A DataFrame hint tells MLflow the input is taken as is. The signature declares outputs
    # only: the bundle checks raw inputs itself (missing columns, safe widening), with errors
    # that name the column, and reports unknown columns instead of MLflow dropping them.
    def predict(self, context, model_input: pd.DataFrame, params=None):
        """Predict for raw records; returns a pandas DataFrame.

        A column the model reads but the input lacks is an error naming it. Columns the model
        does not read are ignored; when one holds a value in a row, that row's ``warnings``
        column says so (the column exists only then).
        """
        from gristmill.engine.transform_fn import to_table

        table = to_table(model_input)
        out, report = self.bundle.predict_with_report(table)
        frame = out.to_pandas()
        warnings = report.row_warnings(table)
        if warnings is not None:
            frame["warnings"] = warnings
        return frame


mlflow.models.set_model(GristmillBundleModel())
