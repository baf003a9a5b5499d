"""Capture every (sql, params) the metric functions send to their connection (issue #21).

`RecordingWorkspace` is a Workspace whose `con` records each `execute` (and its cursors' too) with
the lib function that sent it. `AREAS` drives each area's lib functions the way its page and the
report call them, with default parameters, on the session's loaded data; each driver returns the
result frames by name, so the same driver run on DuckDB and on Spark can be compared
(tests/test_spark_conformance.py). Pages are not run: they need Streamlit.
"""

from __future__ import annotations

import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from lib.datasets import Workspace

VERBOSE = bool(os.environ.get("BOUNDARY_SPARK_VERBOSE"))  # print each compared query's Spark time
LIB = str(Path(__file__).resolve().parents[1] / "lib")
ENGINE = str(Path(LIB) / "engine.py")


@dataclass(frozen=True)
class Query:
    sql: str
    params: tuple
    sender: str  # "metrics/cohorts.py:retention_matrix" — the innermost lib function on the stack

    def key(self) -> tuple:
        return (self.sql, repr(self.params))


def sender() -> str:
    frames = [f for f in traceback.extract_stack() if f.filename.startswith(LIB)
              and not f.filename.endswith("engine.py")]
    if not frames:
        return "?"
    return f"{frames[-1].filename[len(LIB) + 1:]}:{frames[-1].name}"


def _from_engine() -> bool:
    caller = traceback.extract_stack()[-3]  # [-1] this function, [-2] execute, [-3] who called it
    return caller.filename == ENGINE


class Recorder:
    """Wraps a connection or cursor (DuckDB's or an Engine): records every execute, then runs it."""

    def __init__(self, con, log: list[Query]):
        self._con, self._log = con, log

    def execute(self, sql, params=None):
        if _from_engine():  # lib.engine's own catalogue query on a raw DuckDB cursor: per engine, not metric SQL
            self._con.execute(sql) if params is None else self._con.execute(sql, params)
            return self
        self._log.append(Query(sql, tuple(params or ()), sender()))
        if params is None:
            self._con.execute(sql)
        else:
            self._con.execute(sql, params)
        return self

    def cursor(self):
        return Recorder(self._con.cursor(), self._log)

    def __getattr__(self, name):
        return getattr(self._con, name)


class RecordingWorkspace(Workspace):
    def __init__(self) -> None:
        super().__init__()
        self.log: list[Query] = []
        self.engine = None  # set: metric functions get this instead of the DuckDB cursor

    @property
    def con(self):
        return Recorder(self.engine if self.engine is not None else Workspace.con.fget(self), self.log)

    def table_columns(self, table: str) -> list[tuple[str, str]]:
        # what Workspace.table_columns should do once a workspace can hold an engine (lib/datasets.py
        # still asks DuckDB's information_schema)
        from lib.engine import table_columns

        return table_columns(self.con, table)


# ------------------------------------------------------------------ drivers, one per area

def _frames(**results) -> dict[str, pd.DataFrame]:
    out = {}
    for name, r in results.items():
        frame = getattr(r, "frame", r)
        out[name] = frame if isinstance(frame, pd.DataFrame) else pd.DataFrame({"value": [frame]})
    return out


def drive_report(ws) -> dict[str, pd.DataFrame]:
    from lib import report

    flags, notes = report.gather_flags(ws)
    out = {"flags": report.flags_summary(flags) if flags else pd.DataFrame(), "notes": pd.DataFrame({"n": notes})}
    for sheet, tables in report.gather_tables(ws).items():
        for name, frame in tables.items():
            out[f"{sheet}/{name}"] = frame
    return out


def drive_cohorts(ws) -> dict[str, pd.DataFrame]:
    from lib.metrics import cohorts as m
    from lib.segments import default_segment

    ds = ws.get("activity")
    con, table, th = ws.con, ds.table, ws.thresholds
    out = {}
    for grain in ("month", "week"):
        opts = m.CohortOptions(grain=grain, mode="calendar", rule="in",
                               cohort_by="signup" if m.has_signup(con, table) else "first_activity")
        out[f"matrix {grain}"] = m.retention_matrix(con, table, opts).frame
    opts = m.CohortOptions(grain="month", mode="rolling", rule="on_or_after", cohort_by="first_activity")
    out["matrix rolling"] = m.retention_matrix(con, table, opts).frame
    out.update(_frames(data_end=m.data_end(con, table), active=m.active_users(con, table),
                       revenue=m.has_revenue(con, table)))
    found = m.group_choices(con, table, ds.extra_columns, int(th["min_group_size"]))
    if found:
        out["groups"] = m.group_retention(con, table, default_segment(found).column, opts, m.MAX_GROUPS, "").frame
    return out


def drive_nps(ws) -> dict[str, pd.DataFrame]:
    from lib.metrics import nps as m
    from lib.segments import default_segment

    ds, cal = ws.get("nps_responses"), ws.get("campaign_calendar")
    con, table, th = ws.con, ds.table, ws.thresholds
    out = _frames(summary=m.nps_summary(con, table), distribution=m.score_distribution(con, table),
                  comments=m.comments(con, table))
    out["others"] = pd.DataFrame({"c": [str(c) for c in m.other_score_columns(con, ds)]})
    for grain in ("week", "month", "quarter"):
        out[f"by {grain}"] = m.nps_by_period(con, table, grain, int(th["baseline_periods"]), th["baseline_alpha"],
                                             int(th["nps_min_responses"])).frame
    found = m.segment_columns(con, ds, int(th["min_group_size"]))
    if found:
        seg = m.nps_by_segment(con, table, default_segment(found).column, int(th["min_group_size"]),
                               th["baseline_alpha"])
        out["segment"] = seg.frame
    if cal is not None:
        calendar = m.campaigns(con, cal.table)
        out["campaigns"] = calendar
        cmp, per = m.campaign_effect(con, table, cal.table, int(th["nps_campaign_window_days"]),
                                     sorted(calendar["channel"].unique()))
        out.update(_frames(effect=cmp, per_campaign=per))
    out["referrals"] = m.referral_candidates(con, table, int(th["nps_referral_min_score"]),
                                             {c.column: c.label for c in found}).frame
    subs = ws.get("subscriptions")
    if subs is not None and "referred_by" in subs.mapping:  # do promoters refer more (referrals after the answer)
        out["referrers by category"] = m.referrals_by_category(con, table, "respondent", subs.table,
                                                               "customer_id").frame
    return out


def drive_in_app(ws) -> dict[str, pd.DataFrame]:
    from lib.metrics import in_app as m

    ds = ws.get("in_app_events")
    con = ws.con
    roles = m.roles_for(ws, ds)
    src = m.in_app_source(con, ds, roles)
    out = _frames(roles=m.event_role_table(con, ds.table, roles), weekly=m.weekly_frequency(con, src),
                  campaigns=m.campaign_table(con, src), changes=m.recent_changes(con, src, 4))
    for grain in ("week", "month"):
        out.update(_frames(**{f"rates {grain}": m.rates_by_period(con, src, grain),
                              f"dwell {grain}": m.dwell_quantiles(con, src, grain),
                              f"types {grain}": m.type_split(con, src, grain)}))
    return out


def drive_email(ws) -> dict[str, pd.DataFrame]:
    from lib.metrics import email as em

    out = {}
    th = ws.thresholds
    for kind in ("email_campaigns", "email_events"):
        ds = ws.get(kind)
        if ds is None:
            continue
        con = ws.con
        data = em.email_data(con, ds.table, th["email_scanner_seconds"])
        f = em.Filters()
        grain = em.default_grain(data.first_send, data.last_send)
        k, alpha = int(th["baseline_periods"]), th["baseline_alpha"]
        out.update({f"{kind} {n}": v for n, v in _frames(
            lists=pd.DataFrame({"c": em.choices(con, data, "list_name")}),
            topics=pd.DataFrame({"c": em.choices(con, data, "topic")}),
            pooled=em.pooled_rates(con, data, f),
            period_tests=em.baseline_tests(con, data, f, grain, k, alpha, "period"),
            campaign_tests=em.baseline_tests(con, data, f, grain, k, alpha, "campaign"),
            periods=em.rates_by_period(con, data, f, grain), mix=em.topic_mix_effect(con, data, f, grain),
            by_topic=em.rates_by_period(con, data, f, grain, by="topic"),
            groups=em.rates_by_group(con, data, f, "topic", min_n=int(th["min_group_size"])),
            growth=em.list_growth(con, data, f, grain),
            changes=em.program_changes(con, data, f, grain, k, th["email_volume_jump"], alpha),
            campaigns=em.campaign_table(con, data, f),
            rows=em.base_rows(con, data)).items()})  # the page's frame of sends (its figures: numpy)
        out[f"{kind} flags"] = pd.DataFrame([x.as_row() for x in em.email_flags(con, data, f, grain, th)])
    return out


def drive_funnel(ws) -> dict[str, pd.DataFrame]:
    from lib.metrics import funnel as fm
    from lib.metrics import lead_scoring as ls
    from lib.segments import default_segment

    leads = ws.get("leads")
    con, th = ws.con, ws.thresholds
    src = fm.source_for(leads, None)
    available = fm.available_stages(con, src)
    stages = fm.default_stages(available)
    window = float(th["funnel_conversion_window_days"])
    lo, hi = fm.entry_range(con, src, stages)
    start, end = lo, hi + pd.Timedelta(days=1)
    out = _frames(stages=fm.funnel_stages(con, src, stages, start, end, window),
                  open=fm.still_in_window(con, src, stages, start, end, window),
                  durations=fm.stage_duration_distribution(con, src, stages, start, end, window),
                  cohorts=fm.funnel_by_cohort(con, src, stages, "month", start, end, window),
                  entries=fm.stage_entries_by_period(con, src, stages, "month", start, end),
                  entry_days=fm.stage_entry_days(con, src, stages, start, end),
                  reopened=fm.reopened_leads(con, src, stages, "month", start, end))
    found = fm.segment_choices(con, src, {**leads.mapping, **leads.extra_columns}, int(th["min_group_size"]))
    if found:
        by = default_segment(found).column
        out["by group"] = fm.funnel_by_group(con, src, stages, by, start, end, window, fm.TOP_GROUPS,
                                             int(th["min_group_size"]), "").frame
    rules = ls.resolve_rules(leads, ls.default_rules(leads))
    threshold = float(th["funnel_mql_score_min"])
    if rules:
        out.update(_frames(scores=ls.lead_scores(con, leads.table, rules, threshold, False),
                           score_distribution=ls.score_distribution(con, leads.table, rules, threshold, False),
                           profile=ls.score_profile(con, leads.table, rules, "month", False, start, end),
                           profile_days=ls.score_profile_days(con, leads.table, rules, False, start, end),
                           # what a window change joins in pandas (the funnel's cohort, scores read once)
                           cohort=fm.cohort_frame(con, src, stages, start, end, window),
                           # what the window's funnel figures count from (each lead's dates; a column's groups)
                           reach=fm.reach_frame(con, src, stages),
                           lead_groups=fm.lead_groups(con, src, stages, "industry"),
                           bands=ls.lead_bands(con, leads.table, rules, False),
                           rule_leads=ls.rule_leads(con, leads.table, rules, threshold)))
        if any(r.kind == "Behaviour" for r in rules):
            out["touches"] = ls.lead_touches(con, leads.table, rules).frame
    costs = ws.get("campaign_costs")
    if costs is not None and "campaign" in {**leads.mapping, **leads.extra_columns}:
        out["cost per mql"] = fm.cost_per_mql(con, src, stages, costs.table, stages[1] if len(stages) > 1 else stages[0],
                                              start, end, window).frame
        out["campaign costs"] = fm.campaign_costs(con, costs.table, start, end).frame  # joined in pandas a window
    for table, column, _ in fm.value_columns(con, [leads]):  # customers' values, read once per money column
        out[f"lead values {column}"] = fm.lead_values(con, table, column)
    return out


def drive_ncvg(ws) -> dict[str, pd.DataFrame]:
    from lib.metrics import ncvg as m

    src = ws.get("value_history") or ws.get("subscriptions")
    con, th = ws.con, ws.thresholds
    columns = frozenset(src.mapping)
    found = m.currencies(con, src.table, columns).frame
    currency = found["currency"].iloc[0] if "currency" in columns and len(found) else None
    as_of = m.data_as_of(con, src.table, columns)
    gaps = "explicit" if src.kind != "value_history" else m.default_gaps(columns)
    cents = src.kind == "value_history" and m.default_cents(columns)
    b = m.make_basis(con, src, currency, m.VALUE_MODES[0], pd.Timestamp(as_of), gaps, cents)
    lo, hi = m.data_range(con, b)
    trial_days = dict(window_days=th["ncvg_trial_conversion_window_days"],
                      default_trial_days=th["ncvg_default_trial_days"])
    out = _frames(currencies=found, totals=m.ncvg_totals(con, b, lo, hi),
                  moves=m.plan_moves(con, b, lo, hi), by_plan=m.value_by_plan(con, b, lo, hi),
                  trials=m.trial_conversion(con, b, **trial_days),
                  renewals=m.renewals(con, b, th["ncvg_renewal_grace_days"]))
    for grain in m.GRAINS:
        out.update(_frames(**{f"by {grain}": m.ncvg_by_period(con, b, grain, lo, hi),
                              f"moves {grain}": m.plan_moves_by_period(con, b, grain, lo, hi),
                              f"trials {grain}": m.trial_conversion(con, b, grain, **trial_days)}))
    out["period moves"] = m.period_moves(con, b)  # what the page groups per period in pandas
    if b.source == "subscriptions":
        out["trial rows"] = m.trial_rows(con, b, **trial_days)
        out["plan move rows"] = m.plan_move_rows(con, b)
    incidents = ws.get("incidents")
    if incidents is not None:
        seed = m.loaded_incidents(con, incidents.table, set(incidents.mapping))
        out["incidents"] = seed
        if len(seed):
            out["incident churn"] = m.incident_churn(con, b, m.store_incidents(con, seed),
                                                     int(th["ncvg_incident_window_days"])).frame
    return out


def drive_voice(ws) -> dict[str, pd.DataFrame]:
    from lib.metrics import deals as dm
    from lib.metrics import voice as vm

    texts, calendar, deals = ws.get("texts"), ws.get("campaign_calendar"), ws.get("deals")
    con, th = ws.con, ws.thresholds
    k = int(th["baseline_periods"])
    out = {}
    if texts is not None:
        out.update(_frames(by_month=vm.sentiment_by_period(con, texts.table, "month", k),
                           posters=vm.poster_matches(con, texts.table, vm.known_customer_sources(ws)),
                           labelled=vm.has_file_labels(con, texts.table), long=vm.long_text_count(con, texts.table),
                           complaints=vm.marketing_complaints(con, texts.table),
                           terms=vm.top_terms(con, texts.table),
                           negative_terms=vm.top_terms(con, texts.table, negative_only=True)))
        if out["labelled"]["value"].iloc[0]:
            out["agreement"] = vm.label_agreement(con, texts.table).frame
        if calendar is not None:
            out["calendar"] = vm.calendar_frame(con, calendar.table)
            out["by campaign"] = vm.negative_by_campaign(con, texts.table, calendar.table, 7,
                                                         vm.default_channels(out["calendar"])).frame
    if deals is not None:
        out.update(_frames(deal_rates=dm.deal_rates_by_period(con, deals.table, "quarter", None, dm.BASES[0], k),
                           deal_types=dm.deal_type_counts(con, deals.table),
                           notes=vm.note_sentiment_by_period(con, deals.table, "quarter", None, k),
                           deal_quality=dm.campaign_deal_quality(con, deals.table)))
    return out


AREAS = {"report": drive_report, "cohorts": drive_cohorts, "nps": drive_nps, "in_app": drive_in_app,
         "email": drive_email, "funnel": drive_funnel, "ncvg": drive_ncvg, "voice": drive_voice}


@dataclass
class Capture:
    queries: list[Query] = field(default_factory=list)  # distinct, in first-sent order
    errors: dict[str, str] = field(default_factory=dict)  # area → the exception a driver raised


def capture(ws: RecordingWorkspace) -> Capture:
    """Run every area's driver on `ws` (samples loaded); the distinct queries they sent."""
    out = Capture()
    for area, drive in AREAS.items():
        try:
            drive(ws)
        except Exception as exc:  # noqa: BLE001 — reported by the lint test with the area's name
            out.errors[area] = f"{type(exc).__name__}: {exc}"
    seen = set()
    for q in ws.log:
        if q.key() not in seen:
            seen.add(q.key())
            out.queries.append(q)
    return out


# ------------------------------------------------------------------ the same queries on a second engine

@dataclass
class Outcome:
    query: Query
    status: str  # "same", "different", "spark error", "transpile error", "not compared" (writes)
    detail: str = ""
    seconds: float = 0.0  # Spark's time for it


class Mirror(Recorder):
    """A Recorder that also runs every statement on a second engine (Spark) and compares each
    query's rows with DuckDB's. The caller gets DuckDB's result, so the drivers behave as on DuckDB."""

    def __init__(self, con, log: list[Query], other, outcomes: list[Outcome], compared: set | None = None):
        super().__init__(con, log)
        self._other, self._outcomes = other, outcomes
        self._compared = compared if compared is not None else set()

    def execute(self, sql, params=None):
        if _from_engine():
            self._con.execute(sql) if params is None else self._con.execute(sql, params)
            return self
        super().execute(sql, params)
        query = self._log[-1]
        try:
            from lib.engine import SparkEngine

            SparkEngine.transpile(sql)
        except Exception as exc:  # noqa: BLE001
            self._outcomes.append(Outcome(query, "transpile error", _short(exc)))
            return self
        reads = sql.lstrip().split(None, 1)[0].upper() in ("SELECT", "WITH", "DESCRIBE")
        if reads and query.key() in self._compared:
            return self  # the same query with the same values: compared once
        if reads:
            self._compared.add(query.key())
        started = time.perf_counter()
        try:
            other = self._other.execute(sql, params)
            got = other.df() if reads else None
        except Exception as exc:  # noqa: BLE001
            self._outcomes.append(Outcome(query, "spark error", _short(exc), time.perf_counter() - started))
            return self
        seconds = time.perf_counter() - started
        if not reads:
            self._outcomes.append(Outcome(query, "not compared", "", seconds))
            return self
        # DuckDB's rows on the same cursor (a TEMP table is only visible there), then the statement
        # once more so that the caller still has a result to read
        want = (self._con.execute(sql, params) if params is not None else self._con.execute(sql)).df()
        self._con.execute(sql, params) if params is not None else self._con.execute(sql)
        problem = frame_difference(want, got, ordered=_ordered(sql), by_position=True)
        self._outcomes.append(Outcome(query, "different" if problem else "same", problem or "", seconds))
        if VERBOSE:
            print(f"{seconds:6.1f}s {self._outcomes[-1].status:12} {query.sender}", flush=True)
        return self

    def cursor(self):
        return Mirror(self._con.cursor(), self._log, self._other.cursor(), self._outcomes, self._compared)

    def register(self, name, frame):
        self._con.register(name, frame)
        self._other.register(name, frame)

    def unregister(self, name):
        self._con.unregister(name)
        self._other.unregister(name)


def _short(exc: Exception) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())[:300]


def _ordered(sql: str) -> bool:
    import sqlglot

    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except Exception:  # noqa: BLE001
        return False
    return tree.args.get("order") is not None


def frame_difference(want: pd.DataFrame, got: pd.DataFrame, ordered: bool = False, by_position: bool = False,
                     tolerance: float = 1e-9) -> str | None:
    """None when the frames hold the same values (types normalised, numbers within `tolerance`
    relative or absolute, rows in any order unless `ordered`), else what differs first."""
    from lib.engine import normalise

    if want.shape != got.shape:
        return f"shape {want.shape} on DuckDB, {got.shape} on Spark"
    if not by_position and list(want.columns) != list(got.columns):
        return f"columns {list(want.columns)} on DuckDB, {list(got.columns)} on Spark"
    a, b = normalise(want), normalise(got)
    a.columns = b.columns = range(a.shape[1])
    a, b = a.reset_index(drop=True), b.reset_index(drop=True)
    if not ordered and len(a):
        a, b = _sorted(a), _sorted(b)
    for i in range(a.shape[1]):
        x, y = a[i], b[i]
        name = want.columns[i]
        numeric = [pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype) for s in (x, y)]
        if all(numeric):
            xv, yv = x.astype("float64").to_numpy(), y.astype("float64").to_numpy()
            ok = np.isclose(xv, yv, rtol=tolerance, atol=tolerance, equal_nan=True)
        else:
            ok = np.array([_same(p, q) for p, q in zip(x, y)], dtype=bool)
        if not ok.all():
            row = int(np.argmin(ok))
            return f"column {name!r} row {row}: {x.iloc[row]!r} on DuckDB, {y.iloc[row]!r} on Spark"
    return None


def _same(p, q) -> bool:
    if _blank(p) and _blank(q):
        return True
    if _blank(p) or _blank(q):
        return False
    if isinstance(p, (list, tuple, np.ndarray)) or isinstance(q, (list, tuple, np.ndarray)):
        return len(p) == len(q) and all(_same(u, v) for u, v in zip(p, q))
    if isinstance(p, (float, int, np.number)) and isinstance(q, (float, int, np.number)):
        return bool(np.isclose(float(p), float(q), rtol=1e-9, atol=1e-9))
    return p == q


def _blank(v) -> bool:
    try:
        return v is None or bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    keys = frame.map(lambda v: "" if _blank(v) else (f"{float(v):.9g}" if isinstance(v, (int, float, np.number))
                                                      and not isinstance(v, bool) else str(v)))
    order = sorted(range(len(frame)), key=lambda i: tuple(keys.iloc[i]))
    return frame.iloc[order].reset_index(drop=True)


class MirrorWorkspace(RecordingWorkspace):
    """Every statement runs on DuckDB (whose result the caller gets) and on `other` (compared)."""

    def __init__(self, other) -> None:
        super().__init__()
        self.other = other
        self.outcomes: list[Outcome] = []
        self.compared: set = set()

    @property
    def con(self):
        return Mirror(Workspace.con.fget(self), self.log, self.other, self.outcomes, self.compared)


def copy_tables(ws: Workspace, engine) -> None:
    """The workspace's dataset tables, as Arrow, into `engine` under the same names."""
    for dataset in ws.datasets.values():
        with Workspace.con.fget(ws).cursor() as cur:
            engine.put_frame(dataset.table, cur.sql(f'SELECT * FROM "{dataset.table}"').to_arrow_table())


_SPARK = None


def local_spark():
    """One local Spark engine per test run (starting one takes ~20 s). Skips the calling test when
    pyspark or Java is missing — except under CI=true, where it must run and so fails instead."""
    global _SPARK
    if _SPARK is None:
        import os
        import shutil

        import pytest

        missing = None
        try:
            import pyspark  # noqa: F401
            import sqlglot  # noqa: F401
        except ImportError as exc:
            missing = f"{exc.name} is not installed (pip install -r requirements-dev.txt)"
        if missing is None and shutil.which("java") is None:
            missing = "Java is not installed (scripts/test.sh installs Debian's headless JRE as root)"
        if missing:
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(f"Spark tests cannot run: {missing}", pytrace=False)
            pytest.skip(f"Spark tests skipped: {missing}")
        from lib.engine import SparkEngine

        _SPARK = SparkEngine.local(2)
    return _SPARK


# ------------------------------------------------------------------ the lint's own checks

# DuckDB functions with no Spark twin that sqlglot passes through unchanged (Spark then fails)
_DUCKDB_ONLY_FUNCTIONS = {"TO_DAYS", "TO_MONTHS", "TO_MICROSECONDS", "TO_HOURS", "TO_MINUTES", "TO_SECONDS",
                          "TO_YEARS", "TO_WEEKS", "RANGE", "GENERATE_SERIES", "DUCKDB_TABLES", "DUCKDB_COLUMNS"}


def duckdb_only_idioms(sql: str) -> list[str]:
    """DuckDB idioms in `sql` that sqlglot transpiles without complaint but that fail or mean
    something else on Spark (issue #21), each named."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError as exc:
        return [f"sqlglot cannot read it ({' '.join(str(exc).split())[:120]})"]
    found = []
    for select in tree.find_all(exp.Select):
        if sum(1 for e in select.expressions if e.find(exp.Explode, exp.Unnest)) > 1:
            found.append("paired unnest in one SELECT (a cross product on Spark): use lib.sql.values_cte")
    if any(j.args.get("method") and str(j.args["method"]).upper() == "ASOF" for j in tree.find_all(exp.Join)):
        found.append("ASOF join (Spark has none): a window over the union, or a range join")
    for agg in tree.find_all(exp.AggFunc):
        # string_agg(… ORDER BY …) becomes Spark's LISTAGG … WITHIN GROUP, which keeps the order
        if isinstance(agg.this, exp.Order) and not isinstance(agg, exp.GroupConcat):
            found.append(f"ordered aggregate {agg.key}(… ORDER BY …) (Spark drops the order): "
                         "arg_min/arg_max or a window")
    for fn in tree.find_all(exp.Least, exp.Greatest):
        if not fn.expressions:
            found.append(f"one-argument {fn.key}() (an error on Spark): use the value itself")
    if any(True for _ in tree.find_all(exp.Bracket)):
        found.append("list indexing [ … ][i] (from 1 on DuckDB, from 0 on Spark): a CASE")
    for star in tree.find_all(exp.Star):
        if star.args.get("replace"):  # (* EXCLUDE becomes Spark 4's * EXCEPT)
            found.append("SELECT * REPLACE (not Spark SQL): list the columns")
    for table in tree.find_all(exp.Table):
        if table.db and table.db.lower() in ("information_schema", "pg_catalog"):
            found.append("catalogue query (information_schema): use lib.engine.table_columns")
    for fn in tree.find_all(exp.Func):
        name = (fn.name if isinstance(fn, exp.Anonymous) else fn.sql_name()).upper()
        if name in _DUCKDB_ONLY_FUNCTIONS:
            if name.startswith("DUCKDB_"):
                found.append(f"catalogue function {name.lower()}(): use lib.engine.table_names")
            elif name in ("RANGE", "GENERATE_SERIES"):
                found.append("range()/generate_series() (a table function Spark lacks): lib.periods.period_starts + lib.sql.values_cte")
            else:
                found.append(f"{name.lower()}() (DuckDB only): n * INTERVAL 1 DAY, or the unit's own arithmetic")
    return list(dict.fromkeys(found))


def main() -> None:
    """Every captured query on DuckDB and on Spark local, one by one: how many transpile, how many
    give the same rows, and what differs (python -m tests.spark_capture [area …])."""
    import collections
    import sys

    from lib.engine import SparkEngine
    from lib.sample import load_samples

    spark = SparkEngine.local(2)
    ws = MirrorWorkspace(spark)
    load_samples(ws)
    copy_tables(ws, spark)
    for area in sys.argv[1:] or list(AREAS):
        try:
            AREAS[area](ws)
        except Exception as exc:  # noqa: BLE001 — reported, the other areas still run
            print(f"{area}: the driver stopped: {_short(exc)}")
    first: dict[tuple, Outcome] = {}
    for outcome in ws.outcomes:
        first.setdefault(outcome.query.key(), outcome)
    counts = collections.Counter(o.status for o in first.values())
    print(f"{len(first)} distinct statements: " + ", ".join(f"{n} {s}" for s, n in counts.most_common()))
    for o in first.values():
        if o.status not in ("same", "not compared"):
            print(f"[{o.status}] {o.query.sender}: {o.detail[:300]}")


if __name__ == "__main__":
    main()
