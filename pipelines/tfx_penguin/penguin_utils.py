# ruff: noqa: UP006, UP035 - TFX's typing imports, kept as in TFX's module
"""The penguin module file of TFX's example (``penguin_utils_base.py`` + the Keras
``run_fn``), ported to Gristmill.

``preprocessing_fn`` is TFX's, with only its imports changed: it passes the four
measurements and the label through (``species_xf``). ``run_fn`` is rewritten: Gristmill's
built-in PyTorch MLP instead of a Keras model. TFX's ``tuner_fn`` (a KerasTuner) has no
PyTorch meaning: use the built-in Tuner (docs/tfx_migration.md, "The Tuner").
"""

from typing import List

import gristmill.components.transform_ops as tft  # noqa: F401 - was: import tensorflow_transform as tft
from gristmill.components import FnArgs  # was: from tfx.components.trainer.fn_args_utils ...

FEATURE_KEYS = [
    'culmen_length_mm', 'culmen_depth_mm', 'flipper_length_mm', 'body_mass_g'
]
_LABEL_KEY = 'species'

TRAIN_BATCH_SIZE = 20
EVAL_BATCH_SIZE = 10


def transformed_name(key):
  return key + '_xf'


# TFX Transform will call this function.
def preprocessing_fn(inputs):
  """tf.transform's callback function for preprocessing inputs.

  Args:
    inputs: map from feature keys to raw not-yet-transformed features.

  Returns:
    Map from string feature key to transformed feature operations.
  """
  outputs = {}

  for key in FEATURE_KEYS:
    # Nothing to transform for the penguin dataset. This code is just to
    # show how the preprocessing function for Transform should be defined.
    # We just assign original values to the transformed feature.
    outputs[transformed_name(key)] = inputs[key]
  outputs[transformed_name(_LABEL_KEY)] = inputs[_LABEL_KEY]

  return outputs


# Gristmill's Trainer will call this function (rewritten: PyTorch instead of Keras).
def run_fn(fn_args: FnArgs):
  """Train the built-in MLP on the transformed features.

  Args:
    fn_args: Holds args used to train the model as name/value pairs.
  """
  from gristmill.components import default_run_fn

  hidden_units: List[int] = [8, 8]
  fn_args.hyperparameters = {
      **fn_args.hyperparameters, 'label_key': transformed_name(_LABEL_KEY),
      'model': 'mlp', 'hidden_units': hidden_units, 'learning_rate': 1e-2,
      'batch_size': TRAIN_BATCH_SIZE, 'epochs': 50, 'exports': []}
  return default_run_fn(fn_args)
