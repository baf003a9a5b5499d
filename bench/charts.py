"""What the pages' charts cost and what they send (issue #20, charts).

    .venv/bin/python bench/charts.py dump DIR [--pages email,ncvg]   # every Vega-Lite spec the pages send
    .venv/bin/python bench/charts.py compare DIR_A DIR_B              # the same specs? (exit 1 if not)
    .venv/bin/python bench/charts.py compare DIR_A DIR_B --columns    # ... or the same but for columns B left out
    .venv/bin/python bench/charts.py share email [--widget 'email_grain_*'] [--repeats 3]  # chart CPU

`dump` drives the app in-process (AppTest, as bench/interaction.py does): "Load sample data", then for each
page its first render and each of bench/interaction.py's widget changes, and writes every chart element the
page sent (the `VegaLiteChart` protos: the spec JSON, its Arrow datasets decoded to rows, width and theme)
to DIR/<page>.json, one entry per page state. Dataset names are Altair's hashes of the rows; they are
replaced by a hash of the decoded rows, so two trees that send the same rows compare equal.

Floats in the rows are kept to 10 significant digits (DuckDB's parallel sums vary in the last bits).
`compare` says how many charts were compared, how many are identical, and prints where the others differ.
With `--columns`, a chart whose spec is the same but for its datasets' names, and whose every dataset has the
same rows as A's with some of A's columns left out, counts as "the same but for columns" and the columns left
out are listed (for a change that sends a chart only the fields it draws); anything else still differs.

`share` times one rerun (or the rerun after changing a widget; --repeats N, a fresh app each) and prints
the CPU spent building the charts (calls into lib/charts from outside it) and converting them
(ui.cache.chart_spec), thread CPU measured around those calls, beside the whole run's process CPU.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.interaction import PAGES, change, cpu, find_widget, open_panel, warm_imports  # noqa: E402
from tests.apptest import fresh_app  # noqa: E402


def _rows(arrow_bytes: bytes) -> list[dict]:
    """A dataset's rows as JSON values; floats to 10 significant digits, as DuckDB's parallel sums
    differ in the last bits from run to run (the same tree dumped twice would not compare equal)."""
    import pyarrow as pa

    table = pa.ipc.open_stream(arrow_bytes).read_all() if arrow_bytes else None
    rows = [] if table is None else json.loads(json.dumps(table.to_pylist(), default=str))
    return [{k: float(f"{v:.10g}") if isinstance(v, float) else v for k, v in row.items()} for row in rows]


def chart_states(at) -> list[dict]:
    """Every chart element on the page as plain JSON: spec, datasets (by content), width, theme."""
    out = []
    for element in at.get("vega_lite_chart"):
        proto = element.proto
        text = proto.spec
        datasets = {}
        for ds in proto.datasets:
            rows = _rows(ds.data.data)
            digest = "rows-" + hashlib.sha1(json.dumps(rows, sort_keys=True).encode()).hexdigest()[:16]
            datasets[digest] = rows
            text = text.replace(json.dumps(ds.name), json.dumps(digest))
        out.append({"spec": json.loads(text), "datasets": datasets,
                    "inline data": _rows(proto.data.data) if proto.HasField("data") else None,
                    "use_container_width": proto.use_container_width, "theme": proto.theme})
    return out


def dump(directory: Path, pages: list[str]) -> None:
    from ui.cache import SAMPLE_MEMO

    directory.mkdir(parents=True, exist_ok=True)
    warm_imports()
    SAMPLE_MEMO.clear()
    at = fresh_app()
    at.button(key="sample_home").click().run()
    for page in pages:
        script, widgets = PAGES[page]
        at.switch_page(script).run()
        states = {"first render": chart_states(at)}
        for spec in widgets:
            open_panel(at, spec)  # a threshold's panel is built only while open
            w = find_widget(at, spec)
            if w is None:
                continue
            what = change(w)
            at.run()
            if at.exception:
                raise RuntimeError(f"{page}: {at.exception[0].value}")
            states[f"{w.key} {what}"] = chart_states(at)
            open_panel(at, spec, False)
        (directory / f"{page}.json").write_text(json.dumps(states, indent=1, sort_keys=True))
        print(f"{page}: {sum(len(s) for s in states.values())} charts in {len(states)} states", file=sys.stderr)


def _diff(a, b, path="") -> list[str]:
    if type(a) is not type(b):
        return [f"{path}: {json.dumps(a)[:120]} != {json.dumps(b)[:120]}"]
    if isinstance(a, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append(f"{path}/{k}: only in {'B' if k not in a else 'A'}")
            else:
                out += _diff(a[k], b[k], f"{path}/{k}")
        return out
    if isinstance(a, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items != {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _diff(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {json.dumps(a)[:120]} != {json.dumps(b)[:120]}"]


def _names(spec) -> list[str]:
    """The dataset names a chart's spec refers to, in the order they occur (one entry per reference)."""
    import re

    rest = {k: v for k, v in spec.items() if k != "datasets"} if isinstance(spec, dict) else spec
    return re.findall(r'"(rows-[0-9a-f]{16})"', json.dumps(rest, sort_keys=True))


def _fewer_columns(a: dict, b: dict) -> list[str] | None:
    """The columns B's datasets leave out of A's when the two charts are the same but for that (the spec
    with its dataset names aside, each dataset's rows A's rows with those columns left out), else None."""
    names_a, names_b = _names(a["spec"]), _names(b["spec"])
    if len(names_a) != len(names_b):
        return None
    rename = dict(zip(names_b, names_a))
    if len(rename) != len(set(names_b)) or any(rename[nb] != na for na, nb in zip(names_a, names_b)):
        return None  # B's names do not map one to one onto A's in the same places
    def without(chart, renamed):
        text = json.dumps({k: v for k, v in chart.items() if k != "datasets"}, sort_keys=True)
        for old, new in renamed.items():
            text = text.replace(json.dumps(old), json.dumps(new))
        spec = json.loads(text)
        spec["spec"].pop("datasets", None)
        return spec
    if _diff(without(a, {}), without(b, rename)):
        return None
    dropped = []
    for nb, na in rename.items():
        rows_a, rows_b = a["datasets"].get(na), b["datasets"].get(nb)
        if rows_a is None or rows_b is None or len(rows_a) != len(rows_b):
            return None
        kept = list(rows_b[0]) if rows_b else []
        if any(set(rb) != set(kept) or {k: ra.get(k, ()) for k in kept} != rb for ra, rb in zip(rows_a, rows_b)):
            return None
        if rows_a and not set(kept) <= set(rows_a[0]):
            return None
        dropped += [c for c in (rows_a[0] if rows_a else []) if c not in kept and c not in dropped]
    return dropped


def compare(a_dir: Path, b_dir: Path, columns: bool = False) -> int:
    """Print where B's charts differ from A's and how many are identical; exit status 1 unless all are
    (with `columns`: unless all are identical or the same but for columns B leaves out)."""
    total = same = fewer = 0
    same_cut: dict[tuple, list] = {}
    for a_file in sorted(a_dir.glob("*.json")):
        b_file = b_dir / a_file.name
        if not b_file.exists():
            print(f"{a_file.name}: missing in {b_dir}")
            continue
        a, b = json.loads(a_file.read_text()), json.loads(b_file.read_text())
        for state in sorted(set(a) | set(b)):
            charts_a, charts_b = a.get(state, []), b.get(state, [])
            if len(charts_a) != len(charts_b):
                print(f"{a_file.stem} / {state}: {len(charts_a)} charts != {len(charts_b)}")
            for i, (x, y) in enumerate(zip(charts_a, charts_b)):
                total += 1
                diffs = _diff(x, y)
                same += not diffs
                dropped = _fewer_columns(x, y) if diffs and columns else None
                if dropped is not None:
                    fewer += 1
                    title = str(x["spec"].get("title", ""))[:50]
                    same_cut.setdefault((a_file.stem, i, tuple(dropped)), []).append((state, title))
                    continue
                for d in diffs[:8]:
                    print(f"{a_file.stem} / {state} / chart {i}{d}")
    for (page, i, dropped), where in same_cut.items():  # one line for the chart in every state it is cut alike
        print(f"{page} / chart {i} ({where[0][1]}), {len(where)} state(s): the same but for "
              f"{len(dropped)} columns left out: {', '.join(dropped)}")
    if columns:
        print(f"{same} of {total} charts identical, {fewer} the same but for columns left out, "
              f"{total - same - fewer} different")
        return 0 if same + fewer == total else 1
    print(f"{same} of {total} charts identical")
    return 0 if same == total else 1


def share(page: str, widget: str | None) -> dict[str, float]:
    """CPU of one rerun of `page` (or of the rerun after changing `widget`): the whole run (process CPU,
    as bench/interaction.py), and of it, on the script thread, building charts (calls into a lib.charts
    module from outside lib.charts) and converting them (ui.cache.chart_spec). Timed by wrapping those
    functions (thread CPU), not by a profiler, which inflates Altair's many small calls several-fold."""
    import importlib
    import pkgutil

    import lib.charts
    import ui.cache

    warm_imports()
    spent = {"build": 0.0, "convert": 0.0}
    depth = threading.local()

    def timed(func, bucket):
        @functools.wraps(func)
        def call(*args, **kwargs):
            if getattr(depth, "n", 0):
                return func(*args, **kwargs)
            depth.n, start = 1, time.thread_time()
            try:
                return func(*args, **kwargs)
            finally:
                depth.n = 0
                spent[bucket] += time.thread_time() - start
        return call

    patched = []
    for info in pkgutil.iter_modules(lib.charts.__path__):
        module = importlib.import_module(f"lib.charts.{info.name}")
        for name, value in list(vars(module).items()):
            if callable(value) and getattr(value, "__module__", "") == module.__name__ and not isinstance(value, type):
                patched.append((module, name, value))
                setattr(module, name, timed(value, "build"))
    patched.append((ui.cache, "chart_spec", ui.cache.chart_spec))
    ui.cache.chart_spec = timed(ui.cache.chart_spec, "convert")
    try:  # patched from the start: the memo keys on the function, so the timed run hits as usual
        at = fresh_app()
        at.button(key="sample_home").click().run()
        at.switch_page(PAGES[page][0]).run()
        if widget:
            open_panel(at, widget)
            w = find_widget(at, widget)
            if w is None:
                raise SystemExit(f"no widget {widget!r} on {page}")
            change(w)
        spent.update(build=0.0, convert=0.0)
        start = cpu()
        at.run()
        spent["run"] = cpu() - start
    finally:
        for module, name, value in patched:
            setattr(module, name, value)
    if at.exception:
        raise RuntimeError(f"page raised: {at.exception[0].value}")
    return spent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dump")
    d.add_argument("directory", type=Path)
    d.add_argument("--pages", default=",".join(PAGES))
    c = sub.add_parser("compare")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    c.add_argument("--columns", action="store_true",
                   help="count a chart whose datasets only lost columns (the same rows, spec, names aside) apart")
    s = sub.add_parser("share")
    s.add_argument("page", choices=list(PAGES))
    s.add_argument("--widget")
    s.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args(argv)
    if args.command == "dump":
        dump(args.directory, args.pages.split(","))
        return 0
    if args.command == "compare":
        return compare(args.a, args.b, args.columns)
    runs = [share(args.page, args.widget) for _ in range(args.repeats)]
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print(f"{args.page} {args.widget or 'rerun'}: run {med['run']:.3f} s CPU, charts built {med['build']:.3f} + "
          f"converted {med['convert']:.3f} = {med['build'] + med['convert']:.3f} s (median of {len(runs)}; "
          "runs " + ", ".join(f"{r['run']:.2f}/{r['build'] + r['convert']:.2f}" for r in runs) + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
