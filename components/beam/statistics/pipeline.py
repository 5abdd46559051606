"""The Beam pipeline of StatisticsGen: read Parquet row groups, fold statistics, write them.

Kept apart from :mod:`gristmill.components.statistics_gen` so that defining a pipeline
(importing the component class) does not import Beam; only the executor does.
"""

from __future__ import annotations

import os

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq

from gristmill.components.beam import arrow_coder  # noqa: F401  (registers the batch coder)
from gristmill.components.beam.hashing import hash_bytes
from gristmill.components.beam.pipeline import make_beam_pipeline
from gristmill.components.beam.statistics.combine import StatsCombineFn, StatsConfig, unpacked
from gristmill.components.beam.statistics.output import dataset_statistics
from gristmill.components.framework.row_progress import RowCounter
from gristmill.metadata.errors import DataError


class ReadRowGroups(beam.DoFn):
    """``(path, row_group)`` -> ``(seed, RecordBatch)`` for each batch of that row group.

    The seed is a stable hash of file name, row group and batch index, so sampling is the
    same on every runner.
    """

    def __init__(self, columns: list[str] | None, batch_size: int):
        self.columns = columns
        self.batch_size = batch_size
        self.progress = RowCounter()

    def process(self, task):
        path, row_group = task
        try:
            reader = pq.ParquetFile(path)
            batches = reader.iter_batches(batch_size=self.batch_size, row_groups=[row_group],
                                          columns=self.columns)
            for index, batch in enumerate(batches):
                key = f"{os.path.basename(path)}:{row_group}:{index}"
                self.progress.add(batch.num_rows)
                yield int(hash_bytes(key) >> 2), batch
        except OSError as e:
            raise DataError(f"StatisticsGen: cannot read row group {row_group} of {path}: {e}.",
                            uri=path, fix="regenerate the Examples artifact") from e


class _PackedStatsCombineFn(StatsCombineFn):
    """:class:`StatsCombineFn` whose output is the final accumulators pickled as one
    ``bytes`` (see :meth:`StatsCombineFn.compact`): ``CombineGlobally`` hands its output on
    as a side input, which Beam's state cache sizes object by object."""

    def extract_output(self, acc) -> bytes:
        return self.compact(super().extract_output(acc))


def _write_split(packed: bytes, split: str, split_dir: str, config: StatsConfig) -> str:
    from gristmill.components.framework.statistics_model import save_statistics

    return save_statistics(dataset_statistics(split, unpacked(packed), config), split_dir)


def run_statistics_pipeline(plans: dict[str, tuple[list, StatsConfig]],
                            split_uri, batch_size: int, beam_args: list[str]) -> None:
    """One Beam pipeline computing and writing the statistics of every split.

    Args:
        plans: Split name -> (``(path, row_group)`` tasks, :class:`StatsConfig`).
        split_uri: Split name -> output directory of its ``statistics.json``.
        batch_size: Rows per Arrow record batch.
        beam_args: The component's Beam pipeline args.
    """
    with make_beam_pipeline(beam_args) as pipeline:
        for split, (tasks, config) in plans.items():
            columns = list(config.features) if config.features else None
            if columns and config.weight_feature and config.weight_feature not in columns:
                columns.append(config.weight_feature)
            _ = (pipeline
                 | f"RowGroups[{split}]" >> beam.Create(tasks)
                 | f"Read[{split}]" >> beam.ParDo(ReadRowGroups(columns, batch_size))
                 .with_output_types(tuple[int, pa.RecordBatch])
                 | f"Statistics[{split}]" >> beam.CombineGlobally(_PackedStatsCombineFn(config))
                 | f"Write[{split}]" >> beam.Map(_write_split, split, split_uri(split), config))
