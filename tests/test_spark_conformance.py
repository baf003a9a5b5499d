"""The metric SQL means the same on DuckDB and on Spark (issue #21).

- Lint (sqlglot only, no Java): every query the metric functions send while the pages' functions
  run on the sample data (tests/spark_capture.py) transpiles DuckDB → Spark at sqlglot's strictest
  level, and uses none of the DuckDB idioms that transpile but mean something else on Spark.
- Conformance (Spark local[2], UTC, one session per run): each area's functions run with a Spark
  engine as their connection give the same frames as on DuckDB (types normalised, numbers within
  1e-9, rows in any order), on the sample data and on a few nasty variants.

Skipped when pyspark or Java is missing, except under CI=true, where they must run.
`BOUNDARY_SPARK_VERBOSE=1 python -m tests.spark_capture` compares every query one by one.
"""

import pandas as pd
import pytest

from lib.errors import BoundaryError
from lib.sample import load_samples
from tests.spark_capture import (AREAS, RecordingWorkspace, capture, copy_tables, duckdb_only_idioms,
                                 frame_difference, local_spark)

# Functions whose SQL does not yet mean the same on Spark: sender → why. The test fails when one of
# them starts to pass (take it off the list) or another one fails.
KNOWN_LINT: dict[str, str] = {}
KNOWN_AREAS: dict[str, str] = {}


def _sqlglot():
    try:
        import sqlglot  # noqa: F401
    except ImportError:
        import os

        message = "sqlglot is not installed (pip install -r requirements-dev.txt)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


@pytest.fixture(scope="module")
def captured():
    _sqlglot()
    ws = RecordingWorkspace()
    load_samples(ws)
    try:
        yield capture(ws)
    finally:
        ws.close()


def test_capture_runs_every_area(captured):
    assert captured.errors == {}
    senders = {q.sender.split(":")[0] for q in captured.queries}
    for module in ("cohorts", "email", "email_events", "funnel", "in_app", "lead_scoring", "ncvg", "nps",
                   "voice", "deals"):
        assert f"metrics/{module}.py" in senders, module
    assert len(captured.queries) > 150


def test_every_captured_query_transpiles_to_spark(captured):
    from lib.engine import SparkEngine

    problems: dict[str, str] = {}
    for q in captured.queries:
        try:
            SparkEngine.transpile(q.sql)
            idioms = duckdb_only_idioms(q.sql)
        except Exception as exc:  # noqa: BLE001 — the message names the query's function
            idioms = [" ".join(f"{type(exc).__name__}: {exc}".split())[:200]]
        if idioms:
            problems.setdefault(q.sender, "; ".join(idioms))
    unexpected = {s: p for s, p in problems.items() if s not in KNOWN_LINT}
    assert not unexpected, "queries that do not mean the same on Spark:\n" + "\n".join(
        f"  {s}: {p}" for s, p in sorted(unexpected.items()))
    fixed = sorted(set(KNOWN_LINT) - set(problems))
    assert not fixed, f"now transpile cleanly, take them off KNOWN_LINT: {fixed}"


@pytest.mark.parametrize("sql, idiom", [
    ("SELECT unnest(CAST(? AS VARCHAR[])) AS a, unnest(CAST(? AS VARCHAR[])) AS b", "paired unnest"),
    ("SELECT unnest(?::VARCHAR[]) AS a", "cannot read"),
    ("SELECT * FROM o ASOF LEFT JOIN i ON o.u = i.u AND o.t >= i.t", "ASOF"),
    ("SELECT list(x ORDER BY y) FROM t", "ordered aggregate"),
    ("SELECT any_value(x ORDER BY y) FROM t", "ordered aggregate"),
    ("SELECT least(x) FROM t", "one-argument"),
    ("SELECT * REPLACE (x + 1 AS x) FROM t", "REPLACE"),
    ("SELECT t - to_days(3) FROM t", "to_days"),
    ("SELECT * FROM range(0, 5) g(n)", "range"),
    ("SELECT column_name FROM information_schema.columns", "catalogue"),
    ("SELECT * FROM duckdb_tables()", "catalogue"),
])
def test_lint_names_each_duckdb_only_idiom(sql, idiom):
    _sqlglot()
    found = duckdb_only_idioms(sql)
    assert any(idiom in f for f in found), found


def test_lint_passes_portable_sql():
    _sqlglot()
    assert duckdb_only_idioms("WITH roles(event, role) AS (VALUES (?, ?)) SELECT least(a, b), "
                              "last_value(x IGNORE NULLS) OVER (ORDER BY t) FROM roles") == []
    # Spark 4 has both: LISTAGG … WITHIN GROUP and * EXCEPT
    assert duckdb_only_idioms("SELECT string_agg(x, ', ' ORDER BY x), * EXCLUDE (y) FROM t GROUP BY ALL") == []


# ------------------------------------------------------------------ both engines

@pytest.fixture(scope="module")
def spark():
    return local_spark()


def _run_both(spark, load) -> tuple:
    """A DuckDB workspace and a Spark one holding the same tables (`load(ws)` fills a workspace)."""
    duck, other = RecordingWorkspace(), RecordingWorkspace()
    load(duck)
    load(other)
    copy_tables(other, spark)
    other.engine = spark
    return duck, other


@pytest.fixture(scope="module")
def samples(spark):
    duck, other = _run_both(spark, load_samples)
    yield duck, other
    duck.close()
    other.close()


def _outcome(drive, ws):
    try:
        return drive(ws), None
    except BoundaryError as exc:
        return None, str(exc)


def _differences(duck_frames: dict, spark_frames: dict) -> list[str]:
    out = []
    if set(duck_frames) != set(spark_frames):
        out.append(f"frames {sorted(duck_frames)} on DuckDB, {sorted(spark_frames)} on Spark")
    for name in sorted(set(duck_frames) & set(spark_frames)):
        problem = frame_difference(duck_frames[name], spark_frames[name])
        if problem:
            out.append(f"{name}: {problem}")
    return out


@pytest.mark.parametrize("area", list(AREAS))
def test_area_gives_the_same_frames_on_spark(samples, area):
    duck, other = samples
    want, duck_error = _outcome(AREAS[area], duck)
    assert duck_error is None, duck_error
    try:
        got, error = _outcome(AREAS[area], other)
    except Exception as exc:  # noqa: BLE001 — which function sent the failing query
        sent = other.log[-1]
        got, error = None, f"{sent.sender} failed on Spark: {' '.join(str(exc).split())[:300]}"
    problems = [error] if error else _differences(want, got)
    if area in KNOWN_AREAS:
        assert problems, f"{area} now gives the same frames on Spark: take it off KNOWN_AREAS"
        pytest.xfail(KNOWN_AREAS[area])
    assert not problems, f"{area} differs on Spark:\n" + "\n".join(problems)


# ------------------------------------------------------------------ nasty variants

def _csv_loader(kind: str, text: str):
    def load(ws):
        ws.load(f"{kind}.csv", text.encode(), kind=kind)
    return load


NASTY = {
    # blanks in every column the cohorts read, a user whose only rows are blank times
    "cohorts with blanks": ("cohorts", "activity", "user_id,event_time,revenue,plan\n"
                            "u1,2025-01-05 10:00,10,Pro\nu1,2025-02-07 11:00,,Pro\nu2,2025-01-20 09:00,5,\n"
                            ",2025-01-21 09:00,3,Free\nu3,,2,Free\nu2,2025-03-02 08:00,-4,\n"),
    # one response only
    "nps single row": ("nps", "nps_responses", "response_date,score,respondent,comment\n2025-03-01,9,a@x.io,good\n"),
    # unicode names and text, with a blank score
    "nps unicode": ("nps", "nps_responses", "response_date,score,respondent,segment,comment\n"
                    "2025-03-01,10,zoë@exämple.io,Café Ünïcode,très bien 👍\n"
                    "2025-03-09,3,李@例子.cn,東京,遅い\n2025-04-02,,ø@x.no,Café Ünïcode,\n"
                    "2025-04-03,7,o'brien@x.ie,\"Quote \"\"this\"\"\",ok\n"),
}


@pytest.mark.parametrize("name", list(NASTY))
def test_nasty_variant_gives_the_same_frames_on_spark(spark, name):
    area, kind, text = NASTY[name]
    duck, other = _run_both(spark, _csv_loader(kind, text))
    try:
        want, duck_error = _outcome(AREAS[area], duck)
        got, spark_error = _outcome(AREAS[area], other)
        assert duck_error == spark_error  # the same plain message, or none on both
        if want is not None:
            assert not _differences(want, got), _differences(want, got)
    finally:
        duck.close()
        other.close()


def test_frame_difference_is_strict_where_it_matters():
    a = pd.DataFrame({"k": ["x", "y"], "v": [0.1, 0.2]})
    assert frame_difference(a, a.iloc[::-1]) is None  # rows in any order
    assert frame_difference(a, a.iloc[::-1], ordered=True) is not None
    assert frame_difference(a, a.assign(v=[0.1, 0.2 + 1e-6])) is not None  # Spark's 6-digit decimals
    assert frame_difference(a, a.assign(v=[0.1, 0.2 + 1e-12])) is None
    assert frame_difference(a, a.rename(columns={"v": "w"})) is not None
    assert frame_difference(a, pd.concat([a, a])) is not None  # a cross product shows in the shape
