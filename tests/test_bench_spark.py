"""bench/spark.py keeps working: at 20k events its DuckDB, Spark and pandas matrices agree (issue #21).

No timing is checked. The Spark test uses the test run's one local Spark (tests/spark_capture.py):
skipped with the reason without pyspark or Java, and failing instead under CI=true.
"""

import importlib.util
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from tests.spark_capture import local_spark

ROWS, USERS = 20_000, 800

_spec = importlib.util.spec_from_file_location("bench_spark", Path(__file__).resolve().parents[1] / "bench" / "spark.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    return bench.ensure_parquet(tmp_path_factory.mktemp("bench_spark"), ROWS, USERS, 8)


@pytest.fixture(scope="module")
def duck(log):
    return bench.duckdb_matrix(log)[0]


def test_the_log_is_written_in_chunks_as_one_file(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "CHUNK", 3_000)  # 7 chunks: 6 of 3,000 and one of 2,000
    path = bench.ensure_parquet(tmp_path, ROWS, USERS, 8)
    table = pq.read_table(path)
    assert table.num_rows == ROWS
    assert table.column("_row").to_pylist() == list(range(1, ROWS + 1))
    assert not list(tmp_path.glob("*.part"))
    # each user keeps one plan across chunks (drawn once per user, not per chunk)
    plans = table.group_by("user_id").aggregate([("plan", "count_distinct")])
    assert pc.max(plans.column("plan_count_distinct")).as_py() == 1


def test_duckdb_and_pandas_give_the_same_matrix(log, duck):
    events = pq.read_table(log)
    pandas = bench.pandas_run(log)[0]
    assert bench.difference(duck, pandas) is None
    # independent of both: every user is in exactly one cohort, and in it at period 0;
    # the matrix's revenue is all the file's revenue (no negative amounts are generated)
    first = duck[duck["period"] == 0]
    assert first["cohort_size"].sum() == pc.count_distinct(events.column("user_id")).as_py()
    assert (first["users_in"] == first["cohort_size"]).all()
    assert duck["revenue"].sum() == pytest.approx(pc.sum(events.column("revenue")).as_py(), rel=1e-12)
    # 2024-01 … 2025-12: the first cohort has periods 0–23
    assert duck["period"].max() == 23


def test_difference_names_a_changed_cell(duck):
    changed = duck.copy()
    changed.loc[5, "users_in"] += 1
    assert bench.difference(duck, changed).startswith("users_in differs in 1 cells")
    changed = duck.copy()
    changed["revenue"] = changed["revenue"] * (1 + 1e-6)
    assert "revenue differs" in bench.difference(duck, changed)
    assert bench.difference(duck, duck.iloc[1:]) == f"{len(duck)} cells vs {len(duck) - 1}"


def test_spark_gives_the_same_matrix(log, duck):
    engine = local_spark()
    spark, times = bench.spark_matrix(engine, log)
    assert bench.difference(duck, spark) is None
    assert {"view_s", "first_s", "rerun_s", "tiny_query_s"} <= set(times)


def test_the_command_runs_each_engine_in_a_process_and_checks_the_answers(log, capsys):
    # DuckDB and pandas only: a second Spark JVM would add a minute; Spark is checked above
    assert bench.main(["--rows", str(ROWS), "--users", str(USERS), "--dir", str(log.parent),
                       "--engines", "duckdb,pandas"]) == 0
    out = capsys.readouterr().out
    assert "same matrix, duckdb vs pandas: yes (" in out
    assert "wrote" not in out  # the file of the same size and seed is reused
