"""How the batch scoring engine splits a dataset file: chunks of exactly ``chunk_rows`` rows in
file order, whatever the file's row groups or CSV blocks, and the tensors built from them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow
import pyarrow.csv
import pyarrow.parquet

from modelyard_deploy.runtimes.batch import _tensors, read_chunks
from modelyard_deploy.storage.parts import output_table

TABLE = pyarrow.table({"id": np.arange(1000, dtype=np.int64), "a": np.linspace(0, 1, 1000), "b": np.ones(1000)})


def test_parquet_chunks_do_not_depend_on_row_groups(tmp_path: Path) -> None:
    splits = []
    for group in (7, 300, 1000):
        pyarrow.parquet.write_table(TABLE, tmp_path / f"{group}.parquet", row_group_size=group)
        chunks = list(read_chunks(tmp_path / f"{group}.parquet", ["id", "a"], 333))
        splits.append([c.num_rows for c in chunks])
        assert pyarrow.concat_tables(chunks).equals(TABLE.select(["id", "a"]))
    assert splits == [[333, 333, 333, 1]] * 3


def test_csv_chunks_take_the_types_given(tmp_path: Path) -> None:
    pyarrow.csv.write_csv(TABLE, tmp_path / "t.csv")
    types = {"id": pyarrow.string(), "b": pyarrow.float64()}
    chunks = list(read_chunks(tmp_path / "t.csv", ["id", "b"], 400, types))
    assert [c.num_rows for c in chunks] == [400, 400, 200]
    assert chunks[0].schema.field("id").type == pyarrow.string()


def test_tensors_stack_columns_in_order_in_the_declared_datatype() -> None:
    tensors = _tensors(TABLE.slice(0, 3), {"x": ["b", "a"]}, {"x": "FP32"})
    assert tensors["x"].dtype == np.float32
    np.testing.assert_array_equal(tensors["x"], np.array([[1, 0], [1, 1 / 999], [1, 2 / 999]], dtype=np.float32))


def test_a_two_dimensional_output_gives_a_column_per_class() -> None:
    table = output_table(
        TABLE.select(["id"]).slice(0, 2), {"label": np.array([1, 0]), "proba": np.array([[0.2, 0.8], [0.9, 0.1]])}
    )
    assert table.column_names == ["id", "label", "proba_0", "proba_1"]
    assert table["proba_1"].to_pylist() == [0.8, 0.1]
