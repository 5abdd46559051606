# ruff: noqa: UP006, UP035, UP045, UP031, N802, E501 - TFX's code, kept so the file differs from TFX's only in imports
"""Penguin example, TFX's ``penguin_pipeline_local.py`` ported to Gristmill.

The import lines differ, and the ``absl`` command-line flags (``--runner``,
``--model_framework``) are plain constants, since Gristmill does not depend on absl
(docs/tfx_migration.md). ``enable_tuning=True`` is refused with the built-in Tuner named:
TFX's ``tuner_fn`` returns a KerasTuner.
"""

import datetime
import multiprocessing
import os
import socket
from typing import List, Optional

import gristmill.components.tfma as tfma  # was: import tensorflow_model_analysis as tfma
from gristmill.orchestrator import dsl as conditional  # was: ...conditionals import conditional
from gristmill.orchestrator import tfx_v1 as tfx  # was: from tfx import v1 as tfx
from gristmill.orchestrator.tfx import proto_utils  # was: from tfx.utils import proto_utils

# The runner and model framework, absl flags in TFX's file.
_runner = 'DirectRunner'
_model_framework = 'keras'

# This example assumes that penguin data is stored in ~/penguin/data and the
# utility function is in ~/penguin. Feel free to customize as needed.
_penguin_root = os.path.join(os.environ['HOME'], 'penguin')
_data_root = os.path.join(_penguin_root, 'data')

# Directory and data locations.  This example assumes all of the
# example code and metadata library is relative to $HOME, but you can store
# these files anywhere on your local filesystem.
_tfx_root = os.path.join(os.environ['HOME'], 'tfx')

try:
  _parallelism = multiprocessing.cpu_count()
except NotImplementedError:
  _parallelism = 1

# Common pipeline arguments used by both Flink and Spark runners.
_beam_portable_pipeline_args = [
    '--environment_type=LOOPBACK',
    '--experiments=use_loopback_process_worker=True',
    '--sdk_worker_parallelism=%d' % _parallelism,
    '--environment_cache_millis=1000000',
    '--experiments=pre_optimize=all',
]

# Pipeline arguments for Beam powered Components, by runner.
_beam_pipeline_args_by_runner = {
    'DirectRunner': [
        '--direct_running_mode=multi_processing',
        '--direct_num_workers=0',
    ],
    'SparkRunner': [
        '--runner=SparkRunner',
        '--spark_submit_uber_jar',
        '--spark_rest_url=http://%s:6066' % socket.gethostname(),
    ] + _beam_portable_pipeline_args,
    'FlinkRunner': [
        '--runner=FlinkRunner',
        '--flink_version=1.12',
        '--flink_submit_uber_jar',
        '--flink_master=http://localhost:8081',
        '--parallelism=%d' % _parallelism,
    ] + _beam_portable_pipeline_args
}

_examplegen_input_config = None
_examplegen_range_config_date = None
_resolver_range_config = None


@tfx.dsl.components.component
def RangeConfigGenerator(input_date: tfx.dsl.components.Parameter[str],
                         range_config: tfx.dsl.components.OutputArtifact[
                             tfx.types.standard_artifacts.String]):
  """Implements the custom component to convert date into span number.

  Args:
    input_date: input date to generate range_config.
    range_config: range_config to ExampleGen.
  """
  start_time = datetime.datetime(2022, 1, 1)  # start time calculate span number from.
  datem = datetime.datetime.strptime(input_date, '%Y%m%d')
  span_number = (datetime.datetime(datem.year, datem.month, datem.day) -
                 start_time).days
  range_config_str = proto_utils.proto_to_json(
      tfx.proto.RangeConfig(
          static_range=tfx.proto.StaticRange(
              start_span_number=span_number, end_span_number=span_number)))
  range_config.value = range_config_str


def create_pipeline(  # pylint: disable=invalid-name
    pipeline_name: str,
    pipeline_root: str,
    data_root: str,
    module_file: str,
    accuracy_threshold: float,
    serving_model_dir: str,
    metadata_path: str,
    user_provided_schema_path: Optional[str],
    enable_tuning: bool,
    enable_bulk_inferrer: bool,
    examplegen_input_config: Optional[tfx.proto.Input],
    examplegen_range_config_date: Optional[str],
    resolver_range_config: Optional[tfx.proto.RangeConfig],
    beam_pipeline_args: List[str],
    enable_transform_input_cache: bool) -> tfx.dsl.Pipeline:
  """Implements the penguin pipeline with TFX."""
  range_config = None
  if examplegen_range_config_date:
    input_config_generator = RangeConfigGenerator(  # pylint: disable=no-value-for-parameter
        input_date=examplegen_range_config_date)
    range_config = input_config_generator.outputs['range_config'].future(
    )[0].value

  example_gen = tfx.components.CsvExampleGen(
      input_base=os.path.join(data_root, 'labelled'),
      input_config=examplegen_input_config,
      range_config=range_config)

  # Computes statistics over data for visualization and example validation.
  statistics_gen = tfx.components.StatisticsGen(
      examples=example_gen.outputs['examples'])

  if user_provided_schema_path:
    # Import user-provided schema.
    schema_gen = tfx.components.ImportSchemaGen(
        schema_file=user_provided_schema_path)
    # Performs anomaly detection based on statistics and data schema.
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs['statistics'],
        schema=schema_gen.outputs['schema'])
  else:
    # Generates schema based on statistics files.
    schema_gen = tfx.components.SchemaGen(
        statistics=statistics_gen.outputs['statistics'],
        infer_feature_shape=True)

  # Gets multiple Spans for transform and training.
  if resolver_range_config:
    examples_resolver = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.SpanRangeStrategy,
        config={
            'range_config': resolver_range_config
        },
        examples=tfx.dsl.Channel(
            type=tfx.types.standard_artifacts.Examples,
            producer_component_id=example_gen.id)).with_id('span_resolver')
    examples_resolver.add_upstream_node(example_gen)

  # Performs transformations and feature engineering in training and serving.
  if enable_transform_input_cache:
    transform_cache_resolver = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestArtifactStrategy,
        cache=tfx.dsl.Channel(type=tfx.types.standard_artifacts.TransformCache)
    ).with_id('transform_cache_resolver')
    tft_resolved_cache = transform_cache_resolver.outputs['cache']
  else:
    tft_resolved_cache = None

  transform = tfx.components.Transform(
      examples=(examples_resolver.outputs['examples']
                if resolver_range_config else example_gen.outputs['examples']),
      schema=schema_gen.outputs['schema'],
      module_file=module_file,
      analyzer_cache=tft_resolved_cache)

  # Tunes the hyperparameters for model training based on user-provided Python
  # function.
  if enable_tuning:
    tuner = tfx.components.Tuner(
        module_file=module_file,
        examples=transform.outputs['transformed_examples'],
        transform_graph=transform.outputs['transform_graph'],
        train_args=tfx.proto.TrainArgs(num_steps=20),
        eval_args=tfx.proto.EvalArgs(num_steps=5))

  # Uses user-provided Python function that trains a model.
  trainer = tfx.components.Trainer(
      module_file=module_file,
      examples=transform.outputs['transformed_examples'],
      transform_graph=transform.outputs['transform_graph'],
      schema=schema_gen.outputs['schema'],
      hyperparameters=(tuner.outputs['best_hyperparameters']
                       if enable_tuning else None),
      train_args=tfx.proto.TrainArgs(num_steps=100),
      eval_args=tfx.proto.EvalArgs(num_steps=5))

  # Get the latest blessed model for model validation.
  model_resolver = tfx.dsl.Resolver(
      strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
      model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
      model_blessing=tfx.dsl.Channel(
          type=tfx.types.standard_artifacts.ModelBlessing)).with_id(
              'latest_blessed_model_resolver')

  # Uses TFMA to compute evaluation statistics over features of a model and
  # perform quality validation of a candidate model (compared to a baseline).
  eval_config = tfma.EvalConfig(
      model_specs=[
          tfma.ModelSpec(
              signature_name='serving_default',
              label_key='species_xf',
              preprocessing_function_names=['transform_features'])
      ],
      slicing_specs=[tfma.SlicingSpec()],
      metrics_specs=[
          tfma.MetricsSpec(metrics=[
              tfma.MetricConfig(
                  class_name='SparseCategoricalAccuracy',
                  threshold=tfma.MetricThreshold(
                      value_threshold=tfma.GenericValueThreshold(
                          lower_bound={'value': accuracy_threshold}),
                      # Change threshold will be ignored if there is no
                      # baseline model resolved from MLMD (first run).
                      change_threshold=tfma.GenericChangeThreshold(
                          direction=tfma.MetricDirection.HIGHER_IS_BETTER,
                          absolute={'value': -1e-10})))
          ])
      ])
  evaluator = tfx.components.Evaluator(
      examples=example_gen.outputs['examples'],
      model=trainer.outputs['model'],
      baseline_model=model_resolver.outputs['model'],
      eval_config=eval_config)

  # Components declared within the conditional block will only be triggered
  # if the Predicate evaluates to True.
  with conditional.Cond(evaluator.outputs['blessing'].future()
                        [0].custom_property('blessed') == 1):
    # Checks whether the model passed the validation steps and pushes the model
    # to a file destination if check passed.
    pusher = tfx.components.Pusher(
        model=trainer.outputs['model'],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(
                base_directory=serving_model_dir)))

  # Showcase for BulkInferrer component.
  if enable_bulk_inferrer:
    # Generates unlabelled examples.
    example_gen_unlabelled = tfx.components.CsvExampleGen(
        input_base=os.path.join(data_root, 'unlabelled')).with_id(
            'CsvExampleGen_Unlabelled')

    # Performs offline batch inference.
    bulk_inferrer = tfx.components.BulkInferrer(
        examples=example_gen_unlabelled.outputs['examples'],
        model=trainer.outputs['model'],
        # Empty data_spec.example_splits will result in using all splits.
        data_spec=tfx.proto.DataSpec(),
        model_spec=tfx.proto.ModelSpec())

  components_list = [
      example_gen,
      statistics_gen,
      schema_gen,
      transform,
      trainer,
      model_resolver,
      evaluator,
      pusher,
  ]
  if examplegen_range_config_date:
    components_list.append(input_config_generator)
  if resolver_range_config:
    components_list.append(examples_resolver)
  if enable_transform_input_cache:
    components_list.append(transform_cache_resolver)
  if enable_tuning:
    components_list.append(tuner)
  if enable_bulk_inferrer:
    components_list.append(example_gen_unlabelled)
    components_list.append(bulk_inferrer)
  if user_provided_schema_path:
    components_list.append(example_validator)

  return tfx.dsl.Pipeline(
      pipeline_name=pipeline_name,
      pipeline_root=pipeline_root,
      components=components_list,
      enable_cache=True,
      metadata_connection_config=tfx.orchestration.metadata
      .sqlite_metadata_connection_config(metadata_path),
      beam_pipeline_args=beam_pipeline_args)


# To run this pipeline from the python CLI:
#   $python penguin_pipeline_local.py
if __name__ == '__main__':
  _pipeline_name = f'penguin_local_{_model_framework}'

  # Python module file to inject customized logic into the components.
  _module_file_name = f'penguin_utils_{_model_framework}.py'
  _module_file = os.path.join(_penguin_root, _module_file_name)
  # Path which can be listened to by the model server.  Pusher will output the
  # trained model here.
  _serving_model_dir = os.path.join(_penguin_root, 'serving_model',
                                    _pipeline_name)
  # Pipeline root for artifacts.
  _pipeline_root = os.path.join(_tfx_root, 'pipelines', _pipeline_name)
  # Sqlite ML-metadata db path.
  _metadata_path = os.path.join(_tfx_root, 'metadata', _pipeline_name,
                                'metadata.db')
  tfx.orchestration.LocalDagRunner().run(
      create_pipeline(
          pipeline_name=_pipeline_name,
          pipeline_root=_pipeline_root,
          data_root=_data_root,
          module_file=_module_file,
          accuracy_threshold=0.6,
          serving_model_dir=_serving_model_dir,
          metadata_path=_metadata_path,
          user_provided_schema_path=None,
          enable_tuning=False,  # TFX's tuner_fn is a KerasTuner: see the built-in Tuner
          enable_bulk_inferrer=True,
          examplegen_input_config=_examplegen_input_config,
          examplegen_range_config_date=_examplegen_range_config_date,
          resolver_range_config=_resolver_range_config,
          beam_pipeline_args=_beam_pipeline_args_by_runner[_runner],
          enable_transform_input_cache=True))
