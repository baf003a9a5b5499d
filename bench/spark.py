"""Benchmark: the cohort retention matrix on DuckDB, on Spark and in plain pandas, same Parquet (issue #21).

    .venv/bin/python bench/spark.py [--rows 50000000 [20000000 …]] [--users N] [--seed 8]
                                    [--engines duckdb,spark,pandas] [--pandas-max-rows 20000000]
                                    [--spark local[2] | sc://host:15002] [--spark-memory 4g] [--dir bench/data]

Writes a synthetic activity log (users start uniformly over two years; each event an exponential
time, mean 90 days, after its user's start; 4% of events carry revenue) to Parquet once per size
and seed, in 2M-row chunks (1M-row row groups), so memory stays bounded whatever --rows is; the
file is kept in --dir (bench/data/ is gitignored) and reused by later runs.

Then each engine runs in a process of its own, so its peak memory (the resident memory of the
process and its children — Spark local's JVM — sampled every 0.1 s) is its own:
- DuckDB: a session-like connection (2 threads, 2 GB) with the Parquet file as a view, read where it
  lies (not loaded, not through pandas); `lib.metrics.cohorts.retention_matrix`.
- Spark: `SparkEngine` (local[2] in-process with Java, or a Spark Connect URL) with the file as a
  temporary view; the same `retention_matrix`, its DuckDB SQL transpiled by sqlglot. Over Spark
  Connect the server must be able to read the path, and only the client's memory is counted.
- pandas: `read_parquet` then a plain groupby implementation of the same matrix (the ratio baseline:
  benchmarks here print ratios against plain pandas on the same data). It holds every event in
  memory, so it is run only up to --pandas-max-rows.

Times: the first run (nothing stored) and a rerun (a page's rerun asks again: Spark answers from
its result cache; DuckDB reading a view computes again); Spark also its session start and the
floor of one tiny query (transpile, plan, job, Arrow back). The matrices (cohort, period, cohort
size, users in N, users in N or later, revenue) must be equal cell by cell (revenue to 1e-9), or
the run fails. Needs pyspark and Java for Spark (requirements-dev.txt). Run on purpose (use
`nice -n 19` on a shared machine); tests/test_bench_spark.py runs it at 20k events.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lib.engine import normalise  # noqa: E402
from lib.metrics import cohorts  # noqa: E402

START = np.datetime64("2024-01-01T00:00:00", "s")
SPAN_DAYS = 730
CHUNK = 2_000_000  # events generated and written at a time
ROW_GROUP = 1_000_000
PURCHASE_SHARE = 0.04
VIEW = "bench_activity"  # not a name the app or the conformance tests use on a shared Spark session
COMPARED = ["cohort", "period", "cohort_size", "users_in", "users_on_or_after", "revenue"]
ENGINES = ("duckdb", "spark", "pandas")


# ------------------------------------------------------------------ data

def parquet_path(folder: Path, rows: int, users: int, seed: int) -> Path:
    return Path(folder) / f"activity_{rows}_{users}_{seed}.parquet"


def chunks(rows: int, users: int, seed: int):
    """The activity log as Arrow tables of at most CHUNK events. Each user's start and plan are drawn
    once (so a user is the same person in every chunk); each chunk's events from a seed of its own."""
    rng = np.random.default_rng(seed)
    start = rng.integers(0, SPAN_DAYS * 86400, size=users)
    plan = np.array(["Free", "Starter", "Pro"])[rng.choice(3, size=users, p=[0.6, 0.3, 0.1])]
    for k, first in enumerate(range(0, rows, CHUNK)):
        n = min(CHUNK, rows - first)
        rng = np.random.default_rng([seed, k])
        uid = rng.integers(0, users, size=n)
        offset = rng.exponential(90 * 86400, size=n).astype(np.int64)
        seconds = np.minimum(start[uid] + offset, SPAN_DAYS * 86400 - 1)
        bought = rng.random(n) < PURCHASE_SHARE
        amount = np.round(rng.lognormal(3.0, 1.0, size=n), 2)
        yield pa.table({
            "_row": pa.array(np.arange(first + 1, first + n + 1), pa.int64()),
            "user_id": pa.compute.binary_join_element_wise("u", pa.array(uid).cast(pa.string()), ""),
            "event_time": pa.array((START + seconds.astype("timedelta64[s]")).astype("datetime64[us]")),
            "plan": pa.array(plan[uid]),
            "revenue": pa.array(amount, mask=~bought),  # blank on events that are not purchases
        })


def write_parquet(path: Path, rows: int, users: int, seed: int) -> None:
    """Writes the log chunk by chunk to a temporary name, renamed when complete (an interrupted run
    leaves no half file to be reused)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_suffix(".part")
    writer = None
    try:
        for table in chunks(rows, users, seed):
            writer = writer or pq.ParquetWriter(part, table.schema)
            writer.write_table(table, row_group_size=ROW_GROUP)
    finally:
        if writer is not None:
            writer.close()
    part.rename(path)


def ensure_parquet(folder: Path, rows: int, users: int, seed: int) -> Path:
    path = parquet_path(folder, rows, users, seed)
    if not path.exists():
        t = time.perf_counter()
        write_parquet(path, rows, users, seed)
        print(f"wrote {rows:,} events for {users:,} users to {path} in {time.perf_counter() - t:.1f} s "
              f"({path.stat().st_size / 1e6:,.0f} MB)", flush=True)
    return path


# ------------------------------------------------------------------ the three implementations

def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def duckdb_matrix(path: Path) -> tuple[pd.DataFrame, dict]:
    """retention_matrix on a session-like DuckDB connection, the Parquet file as a view."""
    import duckdb

    from lib.datasets import SESSION_MEMORY_LIMIT, SESSION_THREADS

    times = {}
    with tempfile.TemporaryDirectory(prefix="boundary-bench-spill-") as spill:
        con = duckdb.connect(":memory:", config={"threads": SESSION_THREADS, "temp_directory": spill})
        con.execute("SET memory_limit = ?", [SESSION_MEMORY_LIMIT])  # SET is enforced (lib/datasets.py)
        t = time.perf_counter()
        # a view takes no ? values: the path is a quoted literal
        con.execute(f"CREATE VIEW {VIEW} AS SELECT * FROM read_parquet({_sql_text(str(path))})")
        times["view_s"] = time.perf_counter() - t
        frame = _timed_matrix(con, times)
        con.close()
    return frame, times


def _timed_matrix(con, times: dict) -> pd.DataFrame:
    """retention_matrix of VIEW on `con` (a DuckDB connection or a SparkEngine), run twice: the first
    run's and the rerun's seconds go into `times` (first_s, rerun_s); the matrix is returned."""
    t = time.perf_counter()
    frame = cohorts.retention_matrix(con, VIEW).frame
    times["first_s"] = time.perf_counter() - t
    t = time.perf_counter()
    cohorts.retention_matrix(con, VIEW)
    times["rerun_s"] = time.perf_counter() - t
    return frame


def spark_matrix(engine, path: Path) -> tuple[pd.DataFrame, dict]:
    """retention_matrix through a SparkEngine, the Parquet file as a temporary view (as a lake table
    is read where it lies)."""
    times = {}
    t = time.perf_counter()
    engine.spark.read.parquet(str(path)).createOrReplaceTempView(VIEW)
    engine.clear_cache()  # new data under a known name: results stored for the old must go
    times["view_s"] = time.perf_counter() - t
    frame = _timed_matrix(engine, times)
    floors = []
    for i in range(5):  # distinct values, so the result cache does not answer
        t = time.perf_counter()
        engine.query("SELECT CAST(? AS BIGINT) + 1 AS x", [int(time.time_ns()) % 1_000_000 + i])
        floors.append(time.perf_counter() - t)
    times["tiny_query_s"] = statistics.median(floors)
    return frame, times


def pandas_matrix(events: pd.DataFrame) -> pd.DataFrame:
    """The same matrix in plain pandas (monthly calendar cohorts by first activity), written from the
    definition in retention_matrix's docstring rather than from its SQL:
    usable events have a user and a time and no negative revenue; p = year × 12 + month − 1;
    a user's cohort is the month of their first usable event and N = p − cohort; per (cohort, N):
    users_in = users with an event in N, revenue = Σ revenue (blank = 0), users_on_or_after = users
    whose last active N is ≥ N; one row for every N from 0 to the month of the data's last event."""
    amount = events["revenue"].fillna(0.0)
    keep = events["user_id"].notna() & events["event_time"].notna() & ~(amount < 0)
    when = events.loc[keep, "event_time"]
    months = pd.DataFrame({"user_id": events.loc[keep, "user_id"],
                           "p": when.dt.year * 12 + when.dt.month - 1, "amount": amount[keep]})
    um = months.groupby(["user_id", "p"], sort=False)["amount"].sum().reset_index()
    per_user = um.groupby("user_id", sort=False)["p"]
    um["c"] = per_user.transform("min")
    um["n"] = um["p"] - um["c"]
    users = pd.DataFrame({"c": per_user.min(), "last_n": per_user.max() - per_user.min()})
    cells = um.groupby(["c", "n"])["amount"].agg(["size", "sum"])
    last = users.groupby(["c", "last_n"]).size()
    sizes = users.groupby("c").size()
    end_p = int(when.max().year * 12 + when.max().month - 1)

    parts = []
    for c, size in sizes.items():
        n = np.arange(0, end_p - c + 1)
        idx = pd.MultiIndex.from_product([[c], n])
        k = last.reindex(idx, fill_value=0).to_numpy()
        parts.append(pd.DataFrame({
            "c": c, "period": n, "cohort_size": size,
            "users_in": cells["size"].reindex(idx, fill_value=0).to_numpy(),
            "users_on_or_after": k[::-1].cumsum()[::-1],
            "revenue": cells["sum"].reindex(idx, fill_value=0.0).to_numpy(dtype=float)}))
    out = pd.concat(parts, ignore_index=True)
    c = out.pop("c")
    out.insert(0, "cohort", pd.to_datetime(pd.DataFrame({"year": c // 12, "month": c % 12 + 1, "day": 1})))
    return out


def pandas_run(path: Path) -> tuple[pd.DataFrame, dict]:
    times = {}
    t = time.perf_counter()
    events = pd.read_parquet(path, columns=["user_id", "event_time", "revenue"])
    times["view_s"] = time.perf_counter() - t  # the read: pandas must load before it computes
    t = time.perf_counter()
    frame = pandas_matrix(events)
    times["first_s"] = time.perf_counter() - t
    return frame, times


# ------------------------------------------------------------------ checking

def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """The compared columns with one type per kind, sorted by cohort and period."""
    out = normalise(frame[COMPARED].reset_index(drop=True))
    for col in ("period", "cohort_size", "users_in", "users_on_or_after"):
        out[col] = out[col].astype("int64")
    out["revenue"] = out["revenue"].astype("float64")
    return out.sort_values(["cohort", "period"]).reset_index(drop=True)


def difference(a: pd.DataFrame, b: pd.DataFrame) -> str | None:
    """None when the two matrices agree (counts exactly, revenue within 1e-9 relative or absolute),
    else what differs first, in words."""
    a, b = comparable(a), comparable(b)
    if len(a) != len(b):
        return f"{len(a)} cells vs {len(b)}"
    for col in COMPARED:
        if col == "revenue":
            bad = ~np.isclose(a[col], b[col], rtol=1e-9, atol=1e-9)
        else:
            bad = (a[col] != b[col]).to_numpy()
        if bad.any():
            i = int(np.argmax(bad))
            return (f"{col} differs in {int(bad.sum())} cells, first at cohort {a.at[i, 'cohort']:%Y-%m} "
                    f"period {a.at[i, 'period']}: {a.at[i, col]} vs {b.at[i, col]}")
    return None


# ------------------------------------------------------------------ one engine in its own process

def _child(engine: str, path: Path, out: Path, spark_url: str, spark_memory: str | None = None) -> None:
    if engine == "duckdb":
        frame, times = duckdb_matrix(path)
    elif engine == "pandas":
        frame, times = pandas_run(path)
    else:
        from lib.engine import SparkEngine

        t = time.perf_counter()
        if spark_memory and spark_url.startswith("local["):
            from pyspark.sql import SparkSession

            # started first with more heap; SparkEngine.local then reuses it and sets the rest
            SparkSession.builder.master(spark_url).config("spark.driver.memory", spark_memory).getOrCreate()
        session = (SparkEngine.local(int(spark_url[6:-1])) if spark_url.startswith("local[")
                   else SparkEngine.connect(spark_url))
        start_s = time.perf_counter() - t
        frame, times = spark_matrix(session, path)
        times["start_s"] = start_s
    comparable(frame).to_parquet(out)
    print(json.dumps(times))


def _tree_rss(pid: int) -> int:
    """Resident bytes of `pid` and all its descendants (Linux /proc)."""
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    parent[int(entry)] = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    tree, todo = set(), [pid]
    while todo:
        p = todo.pop()
        tree.add(p)
        todo.extend(c for c, pp in parent.items() if pp == p and c not in tree)
    total = 0
    for p in tree:
        try:
            with open(f"/proc/{p}/statm") as fh:
                total += int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            pass
    return total


def run_engine(engine: str, path: Path, spark_url: str = "local[2]", spark_memory: str | None = None
               ) -> tuple[pd.DataFrame, dict]:
    """Runs one engine in a child process; returns its matrix and times, with peak_mb (the sampled
    peak resident memory of the child and its descendants) and wall_s (the whole process)."""
    with tempfile.TemporaryDirectory(prefix="boundary-bench-") as tmp:
        out, log = Path(tmp) / "matrix.parquet", Path(tmp) / "stderr.txt"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", engine, "--path", str(path),
               "--out", str(out), "--spark", spark_url] + (["--spark-memory", spark_memory] if spark_memory else [])
        t = time.perf_counter()
        with open(log, "w") as err:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, cwd=ROOT)
            peak = [0]

            def sample() -> None:
                while proc.poll() is None:
                    peak[0] = max(peak[0], _tree_rss(proc.pid))
                    time.sleep(0.1)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            stdout, _ = proc.communicate()
            sampler.join()
        wall = time.perf_counter() - t
        if proc.returncode != 0:
            raise RuntimeError(f"{engine} failed (exit {proc.returncode}):\n{log.read_text()[-3000:]}")
        times = json.loads(stdout.strip().splitlines()[-1])
        times.update(peak_mb=peak[0] / 1e6, wall_s=wall)
        return pd.read_parquet(out), times


# ------------------------------------------------------------------ report

def run_size(rows: int, users: int, seed: int, folder: Path, engines: list[str], spark_url: str,
             pandas_max_rows: int, spark_memory: str | None = None) -> dict:
    path = ensure_parquet(folder, rows, users, seed)
    frames, times = {}, {}
    for engine in engines:
        if engine == "pandas" and rows > pandas_max_rows:
            print(f"pandas  not run at {rows:,} events (> --pandas-max-rows {pandas_max_rows:,}: it holds "
                  f"every event in memory)", flush=True)
            continue
        frames[engine], times[engine] = run_engine(engine, path, spark_url, spark_memory)
        print(f"{engine:7s} {json.dumps({k: round(v, 3) for k, v in times[engine].items()})}", flush=True)

    print(f"\n{rows:,} events, {users:,} users ({path.stat().st_size / 1e6:,.0f} MB Parquet)"
          + (f", Spark heap {spark_memory}" if spark_memory and "spark" in times else "") + ":")
    base = times.get("pandas")
    base_s = base["view_s"] + base["first_s"] if base else None
    print(f"  {'engine':8s} {'read':>8s} {'matrix':>8s} {'rerun':>8s} {'peak MB':>8s}  vs pandas (read + matrix)")
    for engine, t in times.items():
        total = t.get("view_s", 0.0) + t["first_s"]
        ratio = f"{base_s / total:6.2f}x" if base_s else "  (pandas not run)"
        rerun = f"{t['rerun_s']:8.2f}" if "rerun_s" in t else f"{'-':>8s}"
        print(f"  {engine:8s} {t['view_s']:8.2f} {t['first_s']:8.2f} {rerun} {t['peak_mb']:8.0f}  {ratio}")
    if "spark" in times:
        print(f"  Spark session start {times['spark']['start_s']:.1f} s; one tiny query "
              f"{times['spark']['tiny_query_s'] * 1000:.0f} ms (the floor of any query)")
    if "duckdb" in times and "spark" in times:
        print(f"  Spark/DuckDB matrix time: {times['spark']['first_s'] / times['duckdb']['first_s']:.1f}x")
    names = list(frames)
    problems = []
    for other in names[1:]:
        diff = difference(frames[names[0]], frames[other])
        print(f"  same matrix, {names[0]} vs {other}: {'yes' if diff is None else 'NO — ' + diff} "
              f"({len(frames[other]):,} cells)")
        if diff:
            problems.append(f"{names[0]} vs {other}: {diff}")
    return {"rows": rows, "users": users, "spark_memory": spark_memory, "times": times, "problems": problems}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[50_000_000], help="events; several sizes allowed")
    ap.add_argument("--users", type=int, default=None, help="users (default: events / 25)")
    ap.add_argument("--seed", type=int, default=8)
    ap.add_argument("--dir", default=str(ROOT / "bench" / "data"), help="where the Parquet files are kept")
    ap.add_argument("--engines", default="duckdb,spark,pandas")
    ap.add_argument("--pandas-max-rows", type=int, default=20_000_000)
    ap.add_argument("--spark", default="local[2]", help="local[N] or a Spark Connect URL (sc://host:15002)")
    ap.add_argument("--spark-memory", help="local[N] only: the JVM heap, e.g. 4g (default: SparkEngine.local's 1g)")
    ap.add_argument("--json", help="also write the figures to this file")
    ap.add_argument("--child", choices=ENGINES, help=argparse.SUPPRESS)
    ap.add_argument("--path", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        _child(args.child, Path(args.path), Path(args.out), args.spark, args.spark_memory)
        return 0
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = set(engines) - set(ENGINES)
    if unknown:
        ap.error(f"unknown engine(s) {', '.join(sorted(unknown))}; choose from {', '.join(ENGINES)}")
    results = [run_size(rows, args.users or max(1, rows // 25), args.seed, Path(args.dir), engines, args.spark,
                        args.pandas_max_rows, args.spark_memory) for rows in args.rows]
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    problems = [p for r in results for p in r["problems"]]
    if problems:
        print("the matrices differ: " + "; ".join(problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
