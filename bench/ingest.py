"""Benchmark: the app's reader (lib.ingest.read_table) against plain pandas on the same files.

    .venv/bin/python bench/ingest.py [--xlsx-rows 200000] [--csv-rows 2000000] [--repeat 3]

Makes (once, cached in bench/data/, git-ignored) a 12-column .xlsx with a title row above the
header and a 12-column CSV, then prints the median time of each reader and the ratio
pandas / app. Targets (issue #2): ≥ 5× on xlsx, ≥ 3× on CSV. For trustworthy numbers run it
under farm-bench; this script is run on purpose, never as a timed test.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.csv as pacsv

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lib.ingest import read_table  # noqa: E402

DATA = ROOT / "bench" / "data"


def synthetic_frame(rows: int, seed: int = 7) -> pd.DataFrame:
    """12 columns like a campaign/event export: ids, text, dates, counts, money, rates."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2024-01-01T00:00")
    return pd.DataFrame({
        "Campaign ID": np.arange(rows),
        "Campaign Name": rng.choice(["Spring sale", "Newsletter", "Welcome", "Webinar invite"], rows),
        "List": rng.choice(["Customers", "Trial users", "Leads"], rows),
        "Send Date": start + rng.integers(0, 600 * 24 * 60, rows).astype("timedelta64[m]"),
        "Total Recipients": rng.integers(100, 50_000, rows),
        "Successful Deliveries": rng.integers(90, 49_000, rows),
        "Unique Opens": rng.integers(0, 20_000, rows),
        "Unique Clicks": rng.integers(0, 3_000, rows),
        "Unsubscribes": rng.integers(0, 80, rows),
        "Abuse Complaints": rng.integers(0, 10, rows),
        "Revenue": rng.gamma(2.0, 150.0, rows).round(2),
        "Open Rate": rng.uniform(0.05, 0.6, rows).round(4),
    })


def make_xlsx(rows: int) -> Path:
    path = DATA / f"campaigns_{rows}.xlsx"
    if path.exists():
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    frame = synthetic_frame(rows)
    with pd.ExcelWriter(path, engine="xlsxwriter", engine_kwargs={"options": {"constant_memory": True}}) as w:
        frame.to_excel(w, index=False, startrow=1, sheet_name="Campaigns")
        w.sheets["Campaigns"].write(0, 0, "Campaign performance export")
    return path


def make_csv(rows: int) -> Path:
    path = DATA / f"events_{rows}.csv"
    if path.exists():
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    synthetic_frame(rows).to_csv(path, index=False)
    return path


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--xlsx-rows", type=int, default=200_000)
    parser.add_argument("--csv-rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=["xlsx", "csv"])
    args = parser.parse_args()

    if args.only in (None, "xlsx"):
        path = make_xlsx(args.xlsx_rows)
        data = path.read_bytes()
        app = median_time(lambda: read_table(path.name, data), args.repeat)
        base = median_time(lambda: pd.read_excel(io.BytesIO(data), engine="openpyxl", skiprows=1),
                           max(1, args.repeat - 1))
        rows = len(read_table(path.name, data).frame)
        print(f"xlsx {rows:,} rows x 12: app {app:.2f} s, pandas+openpyxl {base:.2f} s, ratio {base / app:.1f}x (target >= 5x)")

    if args.only in (None, "csv"):
        path = make_csv(args.csv_rows)
        data = path.read_bytes()
        app = median_time(lambda: read_table(path.name, data), args.repeat)
        base = median_time(lambda: pd.read_csv(io.BytesIO(data)), args.repeat)
        # the same output as the app's reader (typed dates), and the floor of any full read: pyarrow
        # splitting every line into fields but converting only the first column
        typed = median_time(lambda: pd.read_csv(io.BytesIO(data), parse_dates=["Send Date"]), args.repeat)
        floor = median_time(lambda: pacsv.read_csv(
            io.BytesIO(data), convert_options=pacsv.ConvertOptions(include_columns=["Campaign ID"])), args.repeat)
        print(f"csv  {args.csv_rows:,} rows x 12 ({len(data) / 1e6:.0f} MB): app {app:.2f} s, "
              f"pandas.read_csv {base:.2f} s, ratio {base / app:.1f}x (target >= 3x); "
              f"with parse_dates {typed:.2f} s, ratio {typed / app:.1f}x; "
              f"tokenising floor {floor:.2f} s, at most {base / floor:.1f}x")


if __name__ == "__main__":
    main()
