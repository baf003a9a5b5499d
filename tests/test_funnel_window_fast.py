"""A window change reads no ledger (issue #20, session 7): lead scoring's figures that join the funnel —
conversion by score band, rule impact, touches to close — count in pandas from the funnel's cohort
(`funnel.cohort_frame`, one query per window and range) and per-lead frames read once per rules
(`lead_scoring.lead_bands`, `rule_leads`, `lead_touches`). Each must give exactly the frame, SQL, parameters
and rows left out of the query it stands for, over the sample, the real Olist MQL + closed-deals files and
a nasty variant (blank, padded and repeated IDs, unreadable counts, blank dates and scores), for windows
0, 1, 7, 30, 90 and 10000 days, no window, two ranges and every target stage. (The grain reaches none of
these figures.)"""

import io

import pandas as pd
import pytest

from lib.datasets import Workspace
from lib.metrics import funnel as fm
from lib.metrics import lead_scoring as ls
from tests.conftest import ROOT, real_file

WINDOWS = (0, 1, 7, 30, 90, 10000, None)


def _sample_bytes() -> bytes:
    return (ROOT / "sample_data" / "leads.xlsx").read_bytes()


def _nasty_csv() -> bytes:
    frame = pd.read_excel(io.BytesIO(_sample_bytes()), engine="openpyxl").head(600).copy()
    frame["Record ID"] = frame["Record ID"].astype(str)
    frame.loc[0:9, "Record ID"] = ""                                   # no lead ID
    frame.loc[10:19, "Record ID"] = "  " + frame.loc[10:19, "Record ID"] + " "  # padded IDs
    frame.loc[20:39, "Record ID"] = frame.loc[40:59, "Record ID"].to_numpy()    # repeated IDs
    frame["Email opens"] = frame["Email opens"].astype(object)
    frame.loc[60:79, "Email opens"] = "lots"                            # not a count
    frame.loc[80:99, "Create Date"] = pd.NaT                            # blank dates
    frame.loc[100:119, "HubSpot Score"] = None                          # blank file scores
    frame.loc[120:129, "Became a Customer Date"] = frame.loc[120:129, "Create Date"] - pd.Timedelta(days=3)
    return frame.to_csv(index=False).encode()


OLIST_RULES = pd.DataFrame([
    ["Organic", "Fit", "origin", "is one of", "organic_search, direct_traffic", 30, None],
    ["Paid", "Fit", "origin", "contains any", "paid", 15, None],
    ["Landing page", "Behaviour", "landing_page_id", "once", "", 10, None],  # not a count: scores 0, counted
], columns=ls.RULE_COLUMNS)


def _case(ws, name):
    if name == "olist":
        leads = ws.load("olist_marketing_qualified_leads_dataset.csv",
                        real_file("olist_marketing_qualified_leads_dataset.csv").read_bytes(),
                        kinds=["leads", "lead_stages"])
        closed = fm.attach_closed_deals(ws, "olist_closed_deals_dataset.csv",
                                        real_file("olist_closed_deals_dataset.csv").read_bytes())
        return leads, fm.source_for(leads, closed), ls.resolve_rules(leads, OLIST_RULES)
    data = _sample_bytes() if name == "sample" else _nasty_csv()
    leads = ws.load("leads.xlsx" if name == "sample" else "contacts.csv", data, kinds=["leads", "lead_stages"])
    return leads, fm.source_for(leads), ls.resolve_rules(leads, ls.default_rules(leads))


def _same(a, b):
    pd.testing.assert_frame_equal(a.frame, b.frame, check_exact=True)
    assert (a.sql, a.params, a.excluded) == (b.sql, b.params, b.excluded)


@pytest.mark.parametrize("name", ["sample", "olist", "nasty"])
def test_window_figures_equal_their_queries(name):
    ws = Workspace()
    try:
        leads, src, rules = _case(ws, name)
        con = ws.con
        stages = fm.default_stages(fm.available_stages(con, src))
        assert len(stages) > 1
        lo, hi = fm.entry_range(con, src, stages)
        ranges = [(None, None), (lo + (hi - lo) / 3, hi - (hi - lo) / 4)]
        behaviour = any(r.kind == "Behaviour" for r in rules)
        for file_score in ([False, True] if "lead_score" in leads.mapping else [False]):
            bands = ls.lead_bands(con, leads.table, rules, file_score)
            for threshold in (20, 45):
                per = ls.rule_leads(con, leads.table, rules, threshold)
                for start, end in ranges:
                    for window in WINDOWS:
                        cte = fm.cohort_sql(src, stages, start, end, window)
                        cohort = fm.cohort_frame(con, src, stages, start, end, window)
                        for k in range(1, len(stages)):
                            _same(ls.conversion_by_score_band(con, cte, leads.table, rules, k, threshold, file_score,
                                                              cohort=cohort, bands=bands),
                                  ls.conversion_by_score_band(con, cte, leads.table, rules, k, threshold, file_score))
                            if file_score:
                                continue  # rule impact and touches never read the file's score
                            _same(ls.rule_impact(con, cte, leads.table, rules, k, threshold, 0.05, 30,
                                                 cohort=cohort, per=per),
                                  ls.rule_impact(con, cte, leads.table, rules, k, threshold, 0.05, 30))
                            if behaviour and threshold == 20:
                                _same(ls.touches_to_close(con, cte, leads.table, rules, k, cohort=cohort,
                                                          touches=ls.lead_touches(con, leads.table, rules)),
                                      ls.touches_to_close(con, cte, leads.table, rules, k))
    finally:
        ws.close()


def test_an_empty_cohort_and_no_band():
    """A range no lead entered in: every band empty, no funnel lead without a score, no touches."""
    ws = Workspace()
    try:
        leads, src, rules = _case(ws, "sample")
        con, stages = ws.con, ["Lead", "Customer"]
        start, end = pd.Timestamp("1990-01-01"), pd.Timestamp("1990-02-01")
        cte, cohort = fm.cohort_sql(src, stages, start, end, 30), fm.cohort_frame(con, src, stages, start, end, 30)
        assert len(cohort) == 0
        fast = ls.conversion_by_score_band(con, cte, leads.table, rules, 1, 40, cohort=cohort,
                                           bands=ls.lead_bands(con, leads.table, rules))
        slow = ls.conversion_by_score_band(con, cte, leads.table, rules, 1, 40)
        assert len(slow.frame) == 0 and fast.excluded == slow.excluded == {}
        pd.testing.assert_frame_equal(fast.frame, slow.frame, check_dtype=False, check_index_type=False)
        _same(ls.rule_impact(con, cte, leads.table, rules, 1, 40, cohort=cohort,
                             per=ls.rule_leads(con, leads.table, rules, 40)),
              ls.rule_impact(con, cte, leads.table, rules, 1, 40))
        _same(fm.funnel_by_cohort(con, src, stages, "month", start, end, 30, cohort=cohort),
              fm.funnel_by_cohort(con, src, stages, "month", start, end, 30))
        assert fm.still_in_window(con, src, stages, start, end, 30, cohort=cohort) == 0
    finally:
        ws.close()


@pytest.mark.parametrize("name", ["sample", "olist", "nasty"])
def test_figures_given_the_rows_left_out_and_the_data_end_are_the_same(name):
    """The page reads the rows left out and the data's end once per source and stages and hands them to
    the window's figures (`excluded=`, `last=`), and counts the cohorts and the leads still in their window
    from the funnel's cohort (`cohort=`): the same results as each figure's own queries, every grain."""
    ws = Workspace()
    try:
        _, src, _ = _case(ws, name)
        con = ws.con
        stages = fm.default_stages(fm.available_stages(con, src))
        lo, hi = fm.entry_range(con, src, stages)
        excluded, last = fm.exclusions(con, src, stages), fm.data_end(con, src, stages)
        assert excluded == fm._exclusions(con, src, stages)
        by = "campaign" if "campaign" in src.columns else "source"
        for start, end in [(None, None), (lo + (hi - lo) / 3, hi - (hi - lo) / 4)]:
            for window in WINDOWS:
                args = (con, src, stages, start, end, window)
                cohort = fm.cohort_frame(*args)
                _same(fm.funnel_stages(*args, excluded=excluded), fm.funnel_stages(*args))
                _same(fm.funnel_by_group(con, src, stages, by, start, end, window, excluded=excluded),
                      fm.funnel_by_group(con, src, stages, by, start, end, window))
                for grain in ("day", "week", "month", "quarter", "year"):
                    _same(fm.funnel_by_cohort(con, src, stages, grain, start, end, window, excluded=excluded,
                                              last=last, cohort=cohort),
                          fm.funnel_by_cohort(con, src, stages, grain, start, end, window))
                assert (fm.still_in_window(*args, last=last, cohort=cohort) == fm.still_in_window(*args))
                _same(fm.campaign_quality(con, src, stages, by, start, end, window, excluded=excluded),
                      fm.campaign_quality(con, src, stages, by, start, end, window))
                if "campaign" in src.columns:
                    _same(fm.program_comparison(con, src, stages, stages[1], None, start, end, window,
                                                excluded=excluded),
                          fm.program_comparison(con, src, stages, stages[1], None, start, end, window))
    finally:
        ws.close()
