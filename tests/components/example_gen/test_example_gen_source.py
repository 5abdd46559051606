"""An ExampleGen over a user's Beam source: a SQL query against SQLite, read in batches."""

from __future__ import annotations

import os
import sqlite3

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gristmill.components.example_gen.component import BeamSourceExampleGen
from gristmill.components.example_gen.source import BeamSourceExampleGenExecutor
from gristmill.components.framework.executor import ExecutionContext
from gristmill.metadata.errors import DataError
from gristmill.metadata.standard_artifacts import Examples

pytestmark = pytest.mark.integration


class ReadQuery(beam.PTransform):
    """Rows of ``query`` in ``db`` as record batches of ``batch_rows`` rows."""

    def __init__(self, db: str, query: str, batch_rows: int = 250):
        super().__init__()
        self.db, self.query, self.batch_rows = db, query, batch_rows

    def expand(self, pbegin):
        return pbegin | beam.Create([self.query]) | beam.FlatMap(self._batches)

    def _batches(self, query):
        with sqlite3.connect(self.db) as connection:
            cursor = connection.execute(query)
            names = [d[0] for d in cursor.description]
            while rows := cursor.fetchmany(self.batch_rows):
                yield pa.RecordBatch.from_arrays([pa.array(c) for c in zip(*rows, strict=True)],
                                                 names=names)


class SqliteExecutor(BeamSourceExampleGenExecutor):
    def output_schema(self, params):
        return pa.schema([(name, pa.type_for_alias(alias))
                          for name, alias in params.custom_config["columns"].items()])

    def input_source(self, params):
        return ReadQuery(params.custom_config["db"], params.query)


class SqliteExampleGen(BeamSourceExampleGen):
    EXECUTOR = SqliteExecutor


def _database(path, rows: int) -> str:
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE trips (id INTEGER, fare REAL, city TEXT)")
        connection.executemany("INSERT INTO trips VALUES (?, ?, ?)",
                               [(i, i * 0.25, "abc"[i % 3]) for i in range(rows)])
    return str(path)


def _run(tmp_path, **params) -> Examples:
    component = SqliteExampleGen(**params)
    output = Examples(str(tmp_path / "examples"))
    os.makedirs(output.uri)
    context = ExecutionContext(component_id="SqliteExampleGen", tmp_dir=str(tmp_path))
    SqliteExampleGen.EXECUTOR(context).Do({}, {"examples": [output]}, component.parameters)
    return output


def test_a_query_source_is_split_typed_and_counted(tmp_path):
    db = _database(tmp_path / "trips.db", 3000)
    columns = {"id": "int64", "fare": "float32", "city": "string"}
    output = _run(tmp_path, query="SELECT id, fare, city FROM trips WHERE id < 2400",
                  custom_config={"db": db, "columns": columns}, span=7)
    counts = output.get_property("row_counts")
    assert output.splits == ["train", "eval"] and sum(counts.values()) == 2400
    assert abs(counts["train"] / 2400 - 2 / 3) < 0.04
    train = pq.read_table(output.split_uri("train"))
    assert train.schema.field("fare").type == pa.float32()  # cast to the declared type
    assert train.num_rows == counts["train"]
    ids = sorted(train.column("id").to_pylist()
                 + pq.read_table(output.split_uri("eval")).column("id").to_pylist())
    assert ids == list(range(2400)) and output.get_property("span") == 7


def test_the_same_query_gives_the_same_splits(tmp_path):
    db = _database(tmp_path / "trips.db", 500)
    params = {"query": "SELECT * FROM trips", "custom_config": {
        "db": db, "columns": {"id": "int64", "fare": "float64", "city": "string"}}}
    first = _run(tmp_path / "a", **params)
    second = _run(tmp_path / "b", **params)
    for split in ("train", "eval"):
        assert pq.read_table(first.split_uri(split)).equals(
            pq.read_table(second.split_uri(split)))


def test_a_batch_that_does_not_fit_the_declared_schema_fails_with_the_columns(tmp_path):
    db = _database(tmp_path / "trips.db", 50)
    with pytest.raises(DataError, match=r"without columns \['distance'\].*output_schema"):
        _run(tmp_path, query="SELECT * FROM trips", custom_config={
            "db": db, "columns": {"id": "int64", "distance": "float64"}})
    with pytest.raises(DataError, match="does not convert.*'city': 'string'"):
        _run(tmp_path / "again", query="SELECT * FROM trips", custom_config={
            "db": db, "columns": {"id": "int64", "city": "int64"}})
