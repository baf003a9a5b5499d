"""Benchmark: the cohort retention matrix in DuckDB SQL vs a plain pandas groupby, same data.

    .venv/bin/python bench/cohorts.py [--rows 10000000] [--users 500000] [--seed 8]

Generates synthetic activity events with numpy (fixed seed) straight into a DuckDB table of a
session-like connection (2 threads, 2 GB, as lib.datasets.Workspace), times
`lib.metrics.cohorts.retention_matrix` (monthly calendar cohorts by first activity, "returned in
month N"), times a plain pandas implementation of the same matrix on the same rows, checks that
both give the same counts cell by cell, and prints the ratio (target: DuckDB ≥ 5× faster). The
ratio uses DuckDB's first run (nothing stored yet); a rerun on the same data (what every widget
click on the page does) reads the result stored for this table version and is timed separately.
Also times the page's other heavy figures (active users, group curves), first run and rerun.
Run on purpose; not part of the test suite.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lib.datasets import Workspace  # noqa: E402
from lib.metrics import cohorts  # noqa: E402

START = np.datetime64("2024-01-01T00:00:00", "s")
SPAN_DAYS = 730


def generate(rows: int, users: int, seed: int) -> pa.Table:
    """Users start uniformly over two years; each event falls an exponential time (mean 90 days)
    after its user's start (so retention decays), clipped to the span; a 'plan' attribute per user."""
    rng = np.random.default_rng(seed)
    start = rng.integers(0, SPAN_DAYS * 86400, size=users)
    uid = rng.integers(0, users, size=rows)
    offset = rng.exponential(90 * 86400, size=rows).astype(np.int64)
    seconds = np.minimum(start[uid] + offset, SPAN_DAYS * 86400 - 1)
    event_time = START + seconds.astype("timedelta64[s]")
    plan = np.array(["Free", "Starter", "Pro"])[rng.choice(3, size=users, p=[0.6, 0.3, 0.1])][uid]
    return pa.table({"uid": uid, "event_time": event_time.astype("datetime64[us]"), "plan": plan})


def pandas_matrix(events: pd.DataFrame) -> pd.DataFrame:
    """The same matrix with plain pandas: month index per event, each user's first month by
    groupby-transform, distinct (user, month N) pairs, counted per (cohort, N)."""
    when = events["event_time"]
    month = when.dt.year * 12 + (when.dt.month - 1)
    first = month.groupby(events["user_id"]).transform("min")
    pairs = pd.DataFrame({"user_id": events["user_id"], "cohort": first, "period": month - first}).drop_duplicates()
    out = pairs.groupby(["cohort", "period"]).size().rename("users").reset_index()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--users", type=int, default=500_000)
    ap.add_argument("--seed", type=int, default=8)
    args = ap.parse_args()

    t0 = time.perf_counter()
    ws = Workspace()
    con = ws.con
    arrow = generate(args.rows, args.users, args.seed)
    con.register("_gen", arrow)
    con.execute("CREATE TABLE activity AS SELECT row_number() OVER () + 1 AS _row, "
                "'u' || CAST(uid AS VARCHAR) AS user_id, event_time, plan FROM _gen")
    con.unregister("_gen")
    del arrow
    print(f"generated {args.rows:,} events for {args.users:,} users into DuckDB in {time.perf_counter() - t0:.1f} s")

    t = time.perf_counter()
    result = cohorts.retention_matrix(con, "activity")
    duck_s = time.perf_counter() - t
    print(f"DuckDB  retention_matrix: {duck_s:6.2f} s  ({len(result.frame):,} cells; first run, nothing stored)")
    t = time.perf_counter()
    rerun = cohorts.retention_matrix(con, "activity")
    print(f"        rerun, same data: {time.perf_counter() - t:6.2f} s  (the stored result; "
          f"same frame: {rerun.frame.equals(result.frame)})")

    events = con.execute("SELECT user_id, event_time FROM activity").df()  # same rows, not timed
    t = time.perf_counter()
    expected = pandas_matrix(events)
    pandas_s = time.perf_counter() - t
    print(f"pandas  groupby matrix:   {pandas_s:6.2f} s  ({len(expected):,} non-empty cells)")
    del events

    got = result.frame.loc[result.frame["users_in"] > 0, ["cohort", "period", "users_in"]].copy()
    got["cohort"] = got["cohort"].dt.year * 12 + (got["cohort"].dt.month - 1)
    got = got.rename(columns={"users_in": "users"}).sort_values(["cohort", "period"]).reset_index(drop=True)
    expected = expected.sort_values(["cohort", "period"]).reset_index(drop=True)
    same = got.astype("int64").equals(expected.astype("int64"))
    print(f"same matrix: {same}  (users: {int(got.loc[got['period'] == 0, 'users'].sum()):,} DuckDB vs "
          f"{int(expected.loc[expected['period'] == 0, 'users'].sum()):,} pandas)")
    ratio = pandas_s / duck_s
    print(f"ratio: DuckDB is {ratio:.1f}x faster than pandas (target >= 5x) -> {'OK' if ratio >= 5 else 'BELOW TARGET'}")

    for label, run in (("average curve", lambda: cohorts.average_retention(result)),
                       ("active users (DAU/WAU/MAU)", lambda: cohorts.active_users(con, "activity")),
                       ("group curves by plan", lambda: cohorts.group_retention(con, "activity", "plan")),
                       ("weekly rolling matrix", lambda: cohorts.retention_matrix(
                           con, "activity", cohorts.CohortOptions(grain="week", mode="rolling")))):
        t = time.perf_counter()
        run()
        first = time.perf_counter() - t
        t = time.perf_counter()
        run()
        print(f"  {label:28s} {first:6.2f} s   rerun {time.perf_counter() - t:5.2f} s")
    ws.close()
    if not same:
        sys.exit("the two matrices differ")


if __name__ == "__main__":
    main()
