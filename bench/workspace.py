"""Benchmark: saving and restoring a workspace (issue #19) — the sample data plus a large upload.

    .venv/bin/python bench/workspace.py [--csv-rows 2000000] [--repeat 3]

Loads every sample file and a synthetic 12-column CSV of --csv-rows rows (bench/ingest.py's, cached
in bench/data/) into one Workspace, then prints the median time of:
- the first save (every table read out of DuckDB and written as Parquet, every upload kept);
- a save after a page choice and after a threshold change (nothing of the data changed: the previous
  version's files are hard-linked, one manifest written);
- a save after a column fix of one small table (that table alone is written again);
- a restore (read, checksums verified, tables into a fresh session);
against plain pandas writing the same tables with DataFrame.to_parquet and reading them back with
read_parquet (no checksums, no atomic swap) — the ratio is pandas / Boundary. Run on purpose (or under
farm-bench), never as a timed test.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ingest import make_csv, median_time  # noqa: E402
from lib.datasets import Workspace  # noqa: E402
from lib.sample import load_samples  # noqa: E402
from lib.store import Store  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv-rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    csv = make_csv(args.csv_rows)
    ws = Workspace()
    load_samples(ws)
    ws.load(csv.name, csv.read_bytes(), kind="email_campaigns")  # the large upload replaces the sample's
    rows = sum(d.rows_read for d in ws.datasets.values())
    frames = {k: ws.con.sql(f'SELECT * FROM "{d.table}"').df() for k, d in ws.datasets.items() if d.table}

    with tempfile.TemporaryDirectory() as root:
        store = Store(root)
        wid = None

        def first_save():
            nonlocal wid
            wid = store.save(ws.snapshot())  # a new id each time: nothing to reuse

        def choice_save():
            ws.choices = {"nps_grain": {"v": str(time.perf_counter())}}
            store.save(ws.snapshot(), wid)

        def threshold_save():
            key = next(iter(ws.thresholds.values))
            ws.thresholds = ws.thresholds.with_value(key, ws.thresholds[key] * 1.01)
            store.save(ws.snapshot(), wid)

        fixes = iter([{"comment": None}, {"comment": "Comment"}] * args.repeat)

        def column_fix_save():
            ws.remap("nps_responses", next(fixes))
            store.save(ws.snapshot(), wid)

        def restore():
            other = Workspace()
            other.restore(store.load(wid))
            other.close()

        steps = {"first save": first_save, "save after a page choice": choice_save,
                 "save after a threshold": threshold_save, "save after a column fix (NPS)": column_fix_save,
                 "restore": restore}
        timings = {step: median_time(fn, args.repeat) for step, fn in steps.items()}
        on_disk = sum(p.stat().st_size for p in (Path(root) / wid).rglob("*") if p.is_file())

    with tempfile.TemporaryDirectory() as root:
        def pandas_save():
            for kind, frame in frames.items():
                frame.to_parquet(Path(root) / f"{kind}.parquet", compression="zstd")

        def pandas_load():
            for kind in frames:
                pd.read_parquet(Path(root) / f"{kind}.parquet")

        pandas_save_s = median_time(pandas_save, args.repeat)
        pandas_load_s = median_time(pandas_load, args.repeat)

    print(f"Workspace: {len(ws.datasets)} datasets, {rows:,} rows in all ({args.csv_rows:,} in the upload); "
          f"{on_disk / 1e6:,.1f} MB on disk")
    print(f"{'step':32s} {'seconds':>8s} {'pandas / Boundary':>18s}")
    for step, seconds in timings.items():
        baseline = pandas_load_s if step == "restore" else pandas_save_s
        print(f"{step:32s} {seconds:8.2f} {baseline / seconds:17.1f}×")
    print(f"{'pandas to_parquet (every table)':32s} {pandas_save_s:8.2f}")
    print(f"{'pandas read_parquet (every table)':32s} {pandas_load_s:8.2f}")
    ws.close()


if __name__ == "__main__":
    main()
