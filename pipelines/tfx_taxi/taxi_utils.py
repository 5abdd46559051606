# ruff: noqa: UP006, UP035 - TFX's typing imports, kept so the file differs from TFX's only in imports
"""The taxi module file of TFX's native-Keras example, ported to Gristmill.

``preprocessing_fn`` is TFX's, with two kinds of change (docs/tfx_migration.md lists them):
the imports, and the ``tf.*`` calls, which become transform ops
(``_fill_in_missing``'s sparse-to-dense dance is ``tft.fill_missing``; ``tf.where``,
``tf.math.is_nan``, ``tf.cast``, ``tf.zeros_like``, ``tf.greater``, ``tf.multiply`` keep
their names under ``tft``). The label is made here, as in TFX: ``tips_xf`` is 1 when the tip
is above 20% of the fare.

``run_fn`` is the part that must be rewritten: TFX's builds and fits a Keras model; this one
trains Gristmill's built-in PyTorch wide & deep model on the same transformed features.
"""

from typing import List

import gristmill.components.transform_ops as tft  # was: import tensorflow_transform as tft
from gristmill.components import FnArgs  # was: from tfx.components.trainer.fn_args_utils ...

# Categorical features are assumed to each have a maximum value in the dataset.
_MAX_CATEGORICAL_FEATURE_VALUES = [24, 31, 13]

_CATEGORICAL_FEATURE_KEYS = [
    'trip_start_hour', 'trip_start_day', 'trip_start_month',
    'pickup_census_tract', 'dropoff_census_tract', 'pickup_community_area',
    'dropoff_community_area'
]

_DENSE_FLOAT_FEATURE_KEYS = ['trip_miles', 'fare', 'trip_seconds']

# Number of buckets used by tf.transform for encoding each feature.
_FEATURE_BUCKET_COUNT = 10

_BUCKET_FEATURE_KEYS = [
    'pickup_latitude', 'pickup_longitude', 'dropoff_latitude',
    'dropoff_longitude'
]

# Number of vocabulary terms used for encoding VOCAB_FEATURES by tf.transform
_VOCAB_SIZE = 1000

# Count of out-of-vocab buckets in which unrecognized VOCAB_FEATURES are hashed.
_OOV_SIZE = 10

_VOCAB_FEATURE_KEYS = [
    'payment_type',
    'company',
]

# Keys
_LABEL_KEY = 'tips'
_FARE_KEY = 'fare'


def _transformed_name(key):
  return key + '_xf'


def _transformed_names(keys):
  return [_transformed_name(key) for key in keys]


def _fill_in_missing(x):
  """Replace missing values: '' for strings, 0 for numbers (TFX's defaults).

  Args:
    x: A column, possibly with missing values.

  Returns:
    The column with missing values filled in.
  """
  return tft.fill_missing(x)


def preprocessing_fn(inputs):
  """tf.transform's callback function for preprocessing inputs.

  Args:
    inputs: map from feature keys to raw not-yet-transformed features.

  Returns:
    Map from string feature key to transformed feature operations.
  """
  outputs = {}
  for key in _DENSE_FLOAT_FEATURE_KEYS:
    # If sparse make it dense, setting nan's to 0 or '', and apply zscore.
    outputs[_transformed_name(key)] = tft.scale_to_z_score(
        _fill_in_missing(inputs[key]))

  for key in _VOCAB_FEATURE_KEYS:
    # Build a vocabulary for this feature.
    outputs[_transformed_name(key)] = tft.compute_and_apply_vocabulary(
        _fill_in_missing(inputs[key]),
        top_k=_VOCAB_SIZE,
        num_oov_buckets=_OOV_SIZE)

  for key in _BUCKET_FEATURE_KEYS:
    outputs[_transformed_name(key)] = tft.bucketize(
        _fill_in_missing(inputs[key]),
        _FEATURE_BUCKET_COUNT)

  for key in _CATEGORICAL_FEATURE_KEYS:
    outputs[_transformed_name(key)] = _fill_in_missing(inputs[key])

  # Was this passenger a big tipper?
  taxi_fare = _fill_in_missing(inputs[_FARE_KEY])
  tips = _fill_in_missing(inputs[_LABEL_KEY])
  outputs[_transformed_name(_LABEL_KEY)] = tft.where(
      tft.is_nan(taxi_fare),
      tft.cast(tft.zeros_like(taxi_fare), 'int64'),
      # Test if the tip was > 20% of the fare.
      tft.cast(
          tft.greater(tips, tft.multiply(taxi_fare, 0.2)), 'int64'))

  return outputs


# Gristmill's Trainer will call this function (rewritten: PyTorch instead of Keras).
def run_fn(fn_args: FnArgs):
  """Train the built-in wide & deep model on the transformed features.

  Args:
    fn_args: Holds args used to train the model as name/value pairs.
  """
  from gristmill.components import default_run_fn

  # Number of nodes in the first layer of the DNN, decaying as in TFX's example.
  first_dnn_layer_size = 100
  num_dnn_layers = 4
  dnn_decay_factor = 0.7
  hidden_units: List[int] = [
      max(2, int(first_dnn_layer_size * dnn_decay_factor**i))
      for i in range(num_dnn_layers)]
  fn_args.hyperparameters = {
      **fn_args.hyperparameters, 'label_key': _transformed_name(_LABEL_KEY),
      'model': 'wide_deep', 'hidden_units': hidden_units, 'learning_rate': 0.001,
      'batch_size': 40, 'exports': []}
  return default_run_fn(fn_args)
