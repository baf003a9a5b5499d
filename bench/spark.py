"""Benchmark: the cohort retention matrix on DuckDB vs Spark local, same Parquet file (issue #21).

    .venv/bin/python bench/spark.py [--rows 50000000] [--users 2000000] [--seed 8] [--dir /tmp/boundary-spark-bench]
                                    [--spark local[2] | sc://host:15002]

Writes a synthetic activity log (bench/cohorts.py's generator: numpy, fixed seed) to Parquet in
chunks, then times `lib.metrics.cohorts.retention_matrix` (monthly calendar cohorts by first
activity) with the same metric function on both engines: DuckDB reading the Parquet file into the
session's table (as an upload would) and Spark reading it as a view (as a lake table would). The
load and the query are timed apart, and the two matrices must be equal cell by cell. Needs pyspark
and Java (requirements-dev.txt). Run on purpose; not part of the test suite.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cohorts import generate  # noqa: E402  (bench/cohorts.py)

from lib.engine import SparkEngine, normalise  # noqa: E402
from lib.metrics import cohorts  # noqa: E402

CHUNK = 5_000_000  # rows generated and written at a time, so memory stays bounded


def write_parquet(path: Path, rows: int, users: int, seed: int) -> None:
    writer = None
    done = 0
    for i in range(0, rows, CHUNK):
        n = min(CHUNK, rows - i)
        part = generate(n, users, seed + i // CHUNK)
        table = pa.table({"_row": pa.array(range(done + 1, done + n + 1), pa.int64()),
                          "user_id": pa.compute.binary_join_element_wise("u", part["uid"].cast(pa.string()), ""),
                          "event_time": part["event_time"], "plan": part["plan"]})
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
        done += n
    writer.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=50_000_000)
    ap.add_argument("--users", type=int, default=2_000_000)
    ap.add_argument("--seed", type=int, default=8)
    ap.add_argument("--dir", default="/tmp/boundary-spark-bench")
    ap.add_argument("--spark", default="local[2]", help="local[N] or a Spark Connect URL (sc://host:port)")
    args = ap.parse_args()

    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"activity_{args.rows}_{args.users}_{args.seed}.parquet"
    if not path.exists():
        t = time.perf_counter()
        write_parquet(path, args.rows, args.users, args.seed)
        print(f"wrote {args.rows:,} events for {args.users:,} users to {path} in {time.perf_counter() - t:.1f} s "
              f"({path.stat().st_size / 1e6:,.0f} MB)")

    import duckdb

    con = duckdb.connect(config={"threads": 2, "memory_limit": "2GB"})
    t = time.perf_counter()
    con.execute("CREATE TABLE activity AS SELECT * FROM read_parquet(?)", [str(path)])
    print(f"DuckDB  load:  {time.perf_counter() - t:7.2f} s")
    t = time.perf_counter()
    duck = cohorts.retention_matrix(con, "activity").frame
    duck_s = time.perf_counter() - t
    print(f"DuckDB  retention_matrix: {duck_s:7.2f} s  ({len(duck):,} cells)")
    con.close()

    engine = (SparkEngine.local(int(args.spark[6:-1])) if args.spark.startswith("local[")
              else SparkEngine.connect(args.spark))
    t = time.perf_counter()
    engine.spark.read.parquet(str(path)).createOrReplaceTempView("activity")  # read where it lies, not copied
    print(f"Spark   view:  {time.perf_counter() - t:7.2f} s")
    t = time.perf_counter()
    spark = cohorts.retention_matrix(engine, "activity").frame
    spark_s = time.perf_counter() - t
    print(f"Spark   retention_matrix: {spark_s:7.2f} s  ({len(spark):,} cells)")

    keys = ["cohort", "period"]
    a = normalise(duck).sort_values(keys).reset_index(drop=True)
    b = normalise(spark).sort_values(keys).reset_index(drop=True)
    counts = ["cohort_size", "users_in", "users_on_or_after"]
    same = (a.shape == b.shape and a[keys].equals(b[keys]) and a[counts].astype("int64").equals(b[counts].astype("int64"))
            and bool(np.allclose(a["revenue"], b["revenue"], rtol=1e-9, atol=1e-9, equal_nan=True)))
    print(f"same matrix: {same}; Spark/DuckDB time: {spark_s / duck_s:.1f}x")
    if not same:
        sys.exit("the two matrices differ")


if __name__ == "__main__":
    main()
