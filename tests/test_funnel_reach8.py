"""A window click runs no funnel query (issue #20, session 8): the stages, the time between stages, the
breakdowns by source, campaign or another column, the conversion tests, campaign quality, nurture programs,
cost per MQL and the funnel's cohort are counted in pandas from each lead's stage and reach dates
(`funnel.reach_frame`, read once per source and stages; `lead_groups` once per column; `lead_values` once
per money column; `campaign_costs` once per cost table and range) instead of a query per window. Each must
give exactly the frame, SQL, parameters and rows left out of the query it stands for (the query stays the
oracle and is what "Show SQL" shows), over the sample, the real Olist MQL + closed-deals files, the Olist
MQL file alone (no closed deals: a one-stage funnel) and nasty files (blank dates, leads reaching a later
stage before an earlier one, odd seconds, one lead), for windows 0, 1, 7, 30, 90 and 10000 days and none,
the whole range, a middle one and an empty one. A part-day window keeps the query."""

import io

import numpy as np
import pandas as pd
import pytest

from lib.datasets import Workspace
from lib.metrics import funnel as fm
from lib.metrics import lead_scoring as ls
from tests.conftest import ROOT, real_file

WINDOWS = (0, 1, 7, 30, 90, 10000, None)


def _sample_bytes() -> bytes:
    return (ROOT / "sample_data" / "leads.xlsx").read_bytes()


def _nasty_csv(rows: int = 400) -> bytes:
    frame = pd.read_excel(io.BytesIO(_sample_bytes()), engine="openpyxl").head(rows).copy()
    if rows > 100:
        frame.loc[0:19, "Create Date"] = pd.NaT                                   # blank entry dates
        frame.loc[20:29, ["Create Date", "Became a Marketing Qualified Lead Date"]] = pd.NaT  # blank, first SQL
        # a later stage before an earlier one: customers and SQLs dated before their MQL / creation
        frame.loc[30:49, "Became a Customer Date"] = frame.loc[30:49, "Create Date"] - pd.Timedelta(days=3)
        frame.loc[50:69, "Became a Sales Qualified Lead Date"] = (frame.loc[50:69, "Create Date"]
                                                                 + pd.Timedelta(hours=5, seconds=17))
        frame.loc[70:99, "Create Date"] = frame.loc[70:99, "Create Date"] + pd.Timedelta(seconds=59)
        frame.loc[100:109, "Lead Source"] = "  "                                  # blank groups
        frame.loc[110:119, "Campaign"] = " Spring Launch "                        # padded names
    return frame.to_csv(index=False).encode()


def _case(ws, name):
    """(leads dataset, source) of a named case."""
    if name.startswith("olist"):
        leads = ws.load("olist_marketing_qualified_leads_dataset.csv",
                        real_file("olist_marketing_qualified_leads_dataset.csv").read_bytes(),
                        kinds=["leads", "lead_stages"])
        if name == "olist_alone":
            return leads, fm.source_for(leads)
        closed = fm.attach_closed_deals(ws, "olist_closed_deals_dataset.csv",
                                        real_file("olist_closed_deals_dataset.csv").read_bytes())
        return leads, fm.source_for(leads, closed)
    data = {"sample": _sample_bytes, "nasty": _nasty_csv, "one_lead": lambda: _nasty_csv(1)}[name]()
    leads = ws.load("leads.xlsx" if name == "sample" else "contacts.csv", data, kinds=["leads", "lead_stages"])
    return leads, fm.source_for(leads)


def _same(a, b):
    pd.testing.assert_frame_equal(a.frame, b.frame, check_exact=True)
    assert (a.sql, a.params, a.excluded) == (b.sql, b.params, b.excluded)


def _close(a, b):
    pd.testing.assert_frame_equal(a.frame, b.frame, check_exact=False, rtol=1e-12)
    assert (a.sql, a.params, a.excluded) == (b.sql, b.params, b.excluded)


def _ranges(con, src, stages):
    lo, hi = fm.entry_range(con, src, stages)
    return [(None, None), (lo + (hi - lo) / 3, hi - (hi - lo) / 4 + pd.Timedelta(nanoseconds=1)),
            (pd.Timestamp("1990-01-01"), pd.Timestamp("1990-02-01"))]


@pytest.mark.filterwarnings("ignore:Discarding nonzero nanoseconds")  # range_sql binds whole microseconds
@pytest.mark.parametrize("name", ["sample", "olist", "olist_alone", "nasty", "one_lead"])
def test_figures_from_the_reach_frame_equal_their_queries(name):
    ws = Workspace()
    try:
        leads, src = _case(ws, name)
        con = ws.con
        stages = fm.default_stages(fm.available_stages(con, src))
        reach = fm.reach_frame(con, src, stages)
        ex = fm.exclusions(con, src, stages)  # both sides given the rows left out (session 7 proved them the same)
        assert fm.funnel_stages(con, src, stages, reach=reach).excluded == ex
        assert reach["lead_id"].is_unique and list(reach["lead_id"]) == sorted(reach["lead_id"])
        bys = [g for g in fm.GROUPINGS if g in src.columns]
        others = [c for c in ("industry", "origin") if c in {**leads.mapping, **leads.extra_columns}][:1]
        groups = {by: fm.lead_groups(con, src, stages, by) for by in others}
        costs = None
        if name in ("sample", "nasty"):  # the sample's cost sheet (monthly rows, a few blank or unmatched)
            costs = ws.load("campaign_costs.csv", (ROOT / "sample_data" / "campaign_costs.csv").read_bytes(),
                            kinds=["campaign_costs"]).table
        # customer values: the file's own money column (whole numbers: counted in pandas), and a column of
        # fractions (summed by the query: the order of adding them is DuckDB's)
        found = fm.value_columns(con, [leads])
        values = [None] + [(t, c) for t, c, _ in found] + ([(leads.table, "_cents")] if found else [])
        if found:
            con.execute(f"ALTER TABLE {leads.table} ADD COLUMN _cents DOUBLE")
            con.execute(f"UPDATE {leads.table} SET _cents = TRY_CAST(CAST({found[0][1]} AS VARCHAR) AS DOUBLE) / 7")
        for r, (start, end) in enumerate(_ranges(con, src, stages)):
            for window in WINDOWS:
                args = (con, src, stages, start, end, window)
                every = r == 0 and window == 30  # the other group limits once: the queries are slow
                _same(fm.funnel_stages(*args, ex, reach), fm.funnel_stages(*args, ex))
                _same(fm.stage_duration_distribution(*args, reach), fm.stage_duration_distribution(*args))
                cohort = fm.cohort_frame(*args, reach)
                query = fm.cohort_frame(*args)
                pd.testing.assert_frame_equal(cohort, query.sort_values("lead_id", ignore_index=True),
                                              check_exact=True)
                for by in bys + (others if r < 2 else []):
                    _same(fm.funnel_by_group(con, src, stages, by, start, end, window, excluded=ex, reach=reach,
                                             groups=groups.get(by)),
                          fm.funnel_by_group(con, src, stages, by, start, end, window, excluded=ex))
                for by in bys:
                    for top in (fm.TOP_GROUPS, 2) if every else (fm.TOP_GROUPS,):
                        _same(fm.campaign_quality(con, src, stages, by, start, end, window, top_n=top, excluded=ex,
                                                  reach=reach),
                              fm.campaign_quality(con, src, stages, by, start, end, window, top_n=top, excluded=ex))
                if "campaign" in src.columns and len(stages) > 1:
                    for value in values if every else values[:2]:
                        # fractions: the query itself sums in the order its threads meet the rows, so two runs of
                        # it can differ in the last bit; the pandas path leaves them to it
                        (_same if value is None or value[1] != "_cents" else _close)(fm.program_comparison(con, src, stages, stages[1], None, start, end, window, value,
                                                    excluded=ex, reach=reach,
                                                    values=fm.lead_values(con, *value) if value else None),
                              fm.program_comparison(con, src, stages, stages[1], None, start, end, window, value,
                                                    excluded=ex))
                if costs:
                    rows = fm.campaign_costs(con, costs, start, end)
                    for mql in (stages[1], stages[-1]):
                        _same(fm.cost_per_mql(*args[:3], costs, mql, start, end, window, reach, rows),
                              fm.cost_per_mql(*args[:3], costs, mql, start, end, window))
                if len(stages) > 1 and bys and (r == 0 or window in (0, 30, None)):  # two breakdowns' queries each
                    for min_group in (30, 1) if every else (30,):
                        pd.testing.assert_frame_equal(
                            fm.conversion_tests(con, src, stages, bys, start, end, window, 0.05, min_group,
                                                reach=reach),
                            fm.conversion_tests(con, src, stages, bys, start, end, window, 0.05, min_group),
                            check_exact=True)
    finally:
        ws.close()


def test_the_page_cohort_gives_the_same_cohorts_and_scoring_figures():
    """The cohort counted from the reach frame (lead ID order) gives the cohorts of every grain, the leads still
    in their window and lead scoring's three figures exactly as their own queries."""
    ws = Workspace()
    try:
        leads, src = _case(ws, "sample")
        con = ws.con
        stages = fm.default_stages(fm.available_stages(con, src))
        reach, last = fm.reach_frame(con, src, stages), fm.data_end(con, src, stages)
        rules = ls.resolve_rules(leads, ls.default_rules(leads))
        bands, per = ls.lead_bands(con, leads.table, rules), ls.rule_leads(con, leads.table, rules, 40)
        touches = ls.lead_touches(con, leads.table, rules)
        for start, end in _ranges(con, src, stages)[:2]:
            for window in (0, 30, None):
                args = (con, src, stages, start, end, window)
                cohort = fm.cohort_frame(*args, reach)
                for grain in ("day", "week", "month", "quarter", "year"):
                    _same(fm.funnel_by_cohort(con, src, stages, grain, start, end, window, last=last, cohort=cohort),
                          fm.funnel_by_cohort(con, src, stages, grain, start, end, window))
                assert fm.still_in_window(*args, last=last, cohort=cohort) == fm.still_in_window(*args)
                cte = fm.cohort_sql(src, stages, start, end, window)
                for k in (1, len(stages) - 1):
                    _same(ls.conversion_by_score_band(con, cte, leads.table, rules, k, 40, cohort=cohort, bands=bands),
                          ls.conversion_by_score_band(con, cte, leads.table, rules, k, 40))
                    _same(ls.rule_impact(con, cte, leads.table, rules, k, 40, 0.05, 30, cohort=cohort, per=per),
                          ls.rule_impact(con, cte, leads.table, rules, k, 40, 0.05, 30))
                    _same(ls.touches_to_close(con, cte, leads.table, rules, k, cohort=cohort, touches=touches),
                          ls.touches_to_close(con, cte, leads.table, rules, k))
    finally:
        ws.close()


def test_exact_sums():
    assert fm._exact_sums(pd.Series([9550.0, None, -3.0]))
    assert not fm._exact_sums(pd.Series([0.1, 2.0]))
    assert not fm._exact_sums(pd.Series([2.0 ** 53, 1.0]))


def test_a_part_day_window_keeps_the_query(monkeypatch):
    """A window of part of a day is not counted from the reach frame (its interval arithmetic stays DuckDB's)."""
    ws = Workspace()
    try:
        _, src = _case(ws, "sample")
        con = ws.con
        stages = fm.default_stages(fm.available_stages(con, src))
        reach = fm.reach_frame(con, src, stages)
        monkeypatch.setattr(fm, "_cohort_rows", lambda *a, **k: pytest.fail("counted from the reach frame"))
        _same(fm.funnel_stages(con, src, stages, None, None, 0.5, reach=reach),
              fm.funnel_stages(con, src, stages, None, None, 0.5))
        def by_lead(frame):  # one row per lead, in the order DuckDB's threads return them
            return frame.sort_values("lead_id").reset_index(drop=True)

        assert by_lead(fm.cohort_frame(con, src, stages, None, None, 2.25, reach)).equals(
            by_lead(fm.cohort_frame(con, src, stages, None, None, 2.25)))
    finally:
        ws.close()


def test_quantiles_are_duckdbs_to_the_last_bit():
    """`_quantile_cont` against DuckDB's quantile_cont on random numbers (many interpolate between two values,
    where a different rounding shows in the last bit), ties, one value and none."""
    import duckdb

    rng = np.random.default_rng(20)
    samples = [rng.random(int(rng.integers(1, 40))) * rng.choice([1.0, 30.0, 1e4]) for _ in range(150)]
    samples += [np.array([2.0, 2.0, 2.0]), np.array([7.5]), np.array([1.0, np.nan, 3.0])]
    with duckdb.connect() as con:
        for values in samples:
            for q in (0.25, 0.5, 0.75, 0.9):
                want = con.execute(f"SELECT quantile_cont(x, {q}) FROM (SELECT unnest(?) AS x)",
                                   [[None if np.isnan(v) else float(v) for v in values]]).fetchall()[0][0]
                assert fm._quantile_cont(values, q) == want
    assert np.isnan(fm._quantile_cont(np.array([]), 0.5))
