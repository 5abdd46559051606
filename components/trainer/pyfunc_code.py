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
        from gristmill.engine.serving import load_bundle

        self.bundle = load_bundle(context.artifacts["bundle"], backend="torch")

    # A DataFrame hint tells MLflow the input is taken as is; the signature comes from the
    # input example saved with the model.
    def predict(self, context, model_input: pd.DataFrame, params=None):
        """Predict for raw records; returns a pandas DataFrame."""
        return self.bundle.predict(model_input).to_pandas()


mlflow.models.set_model(GristmillBundleModel())
