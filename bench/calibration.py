"""Calibration benchmark (issue #16): how many red flags on exports in which nothing changes, and
whether planted changes of known size are found.

    .venv/bin/python bench/calibration.py [--seeds 20] [--first-seed 1] [--area email --area nps …]

For each area and each seed, bench/calibration_data.py writes a null file (a process that does not
change) and its twin (the same seed with the changes in PLANTED), in the vendor format the app
reads. Each file is loaded the way an upload is (`Workspace.load` with the page's kind: header
recognition, column map, typed DuckDB table) into a fresh Workspace with default thresholds, and
the report's `lib.report.gather_flags(ws)` collects the flags; only the area's own flags count.

Printed per area:
- flags per null file by severity — mean, max, and a 95% t-interval for the mean over seeds;
- the false-alarm rate: the share of null files with at least one flag (and with at least one high
  flag), with a 95% Clopper–Pearson interval;
- the metrics that flag most on null files;
- power: for each planted change, the share of twins in which a flag found it (area + metric
  substring + subject + period window, see `Planted.found_by`), with its 95% interval, beside the
  share of null files in which the same rule matched (what the rule finds by chance: a change is
  only told apart from noise when that share is small);
then a Markdown table for the README.
Targets (issue #16): no high flag and a handful at most per area on null files; every planted
change found. Run on purpose; not part of the test suite (tests/test_calibration_smoke.py keeps it
running on one tiny file per area).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scipy import stats as sps  # noqa: E402

from bench.calibration_data import GENERATORS, PLANTED, Export, generate  # noqa: E402
from lib.datasets import Workspace  # noqa: E402
from lib.errors import BoundaryError  # noqa: E402
from lib.report import gather_flags  # noqa: E402
from lib.result import AREA_LABELS, SEVERITIES, Flag  # noqa: E402

AREAS = tuple(GENERATORS)
DEFAULT_SEEDS = 20  # about 70 s of CPU: 2–4 minutes on the shared two cores


def area_flags(export: Export) -> tuple[list[Flag], list[str]]:
    """Load one generated file as an upload would be and gather the report's flags for its area."""
    ws = Workspace()
    try:
        dataset = ws.load(export.file_name, export.data, kinds=[export.kind])
        if not dataset.ready or dataset.kind != export.kind:
            raise BoundaryError(f"{export.file_name}: read as {dataset.kind}, missing {dataset.missing}")
        flags, notes = gather_flags(ws)
    finally:
        ws.close()
    return [f for f in flags if f.area == export.area], notes


@dataclass
class AreaRun:
    area: str
    null_flags: list[list[Flag]] = field(default_factory=list)  # one list per seed
    twin_found: list[list[bool]] = field(default_factory=list)  # seed × planted change
    null_matched: list[list[bool]] = field(default_factory=list)  # the same rules on the null file
    twin_high: list[list[bool]] = field(default_factory=list)  # found by a high flag
    null_high: list[list[bool]] = field(default_factory=list)  # the same rules by a high flag on the null file
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def run_area(area: str, seeds: list[int]) -> AreaRun:
    out = AreaRun(area)
    started = time.perf_counter()
    planted = PLANTED[area]
    for seed in seeds:
        null, notes = area_flags(generate(area, seed))
        twin, twin_notes = area_flags(generate(area, seed, twin=True))
        out.notes += notes + twin_notes
        out.null_flags.append(null)
        out.null_matched.append([any(p.found_by(f) for f in null) for p in planted])
        out.null_high.append([any(p.found_by(f) and f.severity == "high" for f in null) for p in planted])
        out.twin_found.append([any(p.found_by(f) for f in twin) for p in planted])
        out.twin_high.append([any(p.found_by(f) and f.severity == "high" for f in twin) for p in planted])
    out.seconds = time.perf_counter() - started
    return out


# ----------------------------------------------------------------------------- summaries

def mean_interval(values: list[float]) -> tuple[float, float, float]:
    """Mean and 95% t-interval over seeds (the seeds are independent files)."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, math.nan, math.nan
    half = sps.t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return mean, max(0.0, mean - half), mean + half


def share_interval(k: int, n: int) -> tuple[float, float]:
    """95% Clopper–Pearson interval of a share k/n (scipy's exact binomial interval)."""
    ci = sps.binomtest(k, n).proportion_ci(0.95, method="exact")
    return ci.low, ci.high


def _share(k: int, n: int) -> str:
    lo, hi = share_interval(k, n)
    return f"{k}/{n} = {k / n:.0%} (95% CI {lo:.0%}–{hi:.0%})"


def severity_counts(flags: list[Flag]) -> dict[str, int]:
    counts = Counter(f.severity for f in flags)
    return {"all": len(flags), **{s: counts.get(s, 0) for s in SEVERITIES}}


def report_area(run: AreaRun) -> list[str]:
    n = len(run.null_flags)
    per_file = [severity_counts(flags) for flags in run.null_flags]
    lines = [f"== {AREA_LABELS[run.area]} — {n} null files and {n} twins ({run.seconds:.0f} s)",
             "  Flags per null file      mean     max   95% CI of the mean"]
    for key in ("all", *SEVERITIES):
        values = [c[key] for c in per_file]
        mean, lo, hi = mean_interval(values)
        lines.append(f"    {key:<20} {mean:8.2f} {max(values):7d}   {lo:.2f}–{hi:.2f}")
    any_flag = sum(c["all"] > 0 for c in per_file)
    any_high = sum(c["high"] > 0 for c in per_file)
    lines.append(f"  Null files with ≥ 1 flag:      {_share(any_flag, n)}")
    lines.append(f"  Null files with ≥ 1 high flag: {_share(any_high, n)}")
    metrics = Counter(f.metric for flags in run.null_flags for f in flags)
    if metrics:
        top = ", ".join(f"{m} {k / n:.1f}" for m, k in metrics.most_common(8))
        lines.append(f"  Most frequent on null files (flags per file): {top}")
    lines.append("  Planted changes (twins): found by any flag / by a high flag / same rule on null files")
    for j, planted in enumerate(PLANTED[run.area]):
        found = sum(row[j] for row in run.twin_found)
        high = sum(row[j] for row in run.twin_high)
        on_null = sum(row[j] for row in run.null_matched)
        high_null = sum(row[j] for row in run.null_high)
        lines.append(f"    {planted.description}")
        lines.append(f"      rule: {planted.rule()}")
        lines.append(f"      found {_share(found, n)}; by a high flag {high}/{n}; "
                     f"rule on null files {on_null}/{n} (by a high flag {high_null}/{n})")
    if run.notes:
        lines.append(f"  Notes from the report ({len(run.notes)}): {sorted(set(run.notes))[:3]}")
    return lines


def readme_table(runs: list[AreaRun]) -> list[str]:
    lines = ["| Area | Flags per null file: mean (max) | high | medium | low | Null files with a high flag "
             "| Planted changes found |",
             "|---|---|---|---|---|---|---|"]
    for run in runs:
        n = len(run.null_flags)
        per_file = [severity_counts(flags) for flags in run.null_flags]

        def cell(key):
            values = [c[key] for c in per_file]
            return f"{statistics.fmean(values):.1f} ({max(values)})"
        any_high = sum(c["high"] > 0 for c in per_file)
        found = "; ".join(f"{p.description.split(' (')[0]}: {sum(row[j] for row in run.twin_found)}/{n}"
                          for j, p in enumerate(PLANTED[run.area]))
        lines.append(f"| {AREA_LABELS[run.area]} | {cell('all')} | {cell('high')} | {cell('medium')} | "
                     f"{cell('low')} | {any_high}/{n} | {found} |")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=DEFAULT_SEEDS, help="files per area (null and twin each)")
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--area", action="append", choices=AREAS, help="repeat for several; default all")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    runs = []
    for area in args.area or AREAS:
        run = run_area(area, seeds)
        runs.append(run)
        print("\n".join(report_area(run)), flush=True)
        print()
    print(f"README table (seeds {seeds[0]}–{seeds[-1]}, default thresholds):\n")
    print("\n".join(readme_table(runs)))


if __name__ == "__main__":
    main()
