"""Time correlation and lift, on hand-worked tables."""

import math

import pandas as pd
import pytest

from lib.crosspage import SERIES, available_series, correlate, lift, series_by_period, suggest_lift


def by_name(name):
    return next(s for s in SERIES if s.name == name)


def test_series_and_correlation_on_shared_periods(ws):
    # Jan: 2 sends, 1000+1000 delivered, 1+3 unsubscribes → 4/2000 = 0.002
    # Feb: 1 send, 500 delivered, 0 unsubscribes → 0; Mar: 3 sends, 3×100, 1 each → 3/300 = 0.01
    csv = ("Title,Send Date,Successful Deliveries,Unique Opens,Unique Clicks,Unsubscribes\n"
           "a,2025-01-05,1000,100,10,1\nb,2025-01-20,1000,100,10,3\nc,2025-02-03,500,50,5,0\n"
           "d,2025-03-01,100,10,1,1\ne,2025-03-02,100,10,1,1\nf,2025-03-31,100,10,1,1\n"
           "g,,100,10,1,0\n")
    ws.load("c.csv", csv.encode())
    names = [s.name for s in available_series(ws)]
    assert "Email unsubscribe rate" in names and "NPS" not in names
    rate = series_by_period(ws.con, by_name("Email unsubscribe rate"), "month", ws.get("email_campaigns").mapping)
    assert rate.frame["value"].round(6).tolist() == [0.002, 0.0, 0.01]
    assert rate.excluded == {"Email unsubscribe rate: no date": 1}
    timed = correlate(ws, by_name("Email sends (campaigns)"), by_name("Email unsubscribe rate"), "month")
    assert timed.joined["Email sends (campaigns)"].tolist() == [2, 1, 3]
    # sends 2,1,3 (mean 2) vs rates .002,0,.01 (mean .004): dx = 0,-1,1; dy = -.002,-.004,.006
    # Σdxdy = .01, Σdx² = 2, Σdy² = .000056 → r = .01/√(2·.000056) = 0.9449
    assert timed.corr.levels.n == 3 and timed.corr.levels.r == pytest.approx(0.9449, abs=1e-4)
    assert math.isnan(timed.corr.levels.low)  # no interval from 3 points
    # changes: sends −1, +2; rates −.002, +.01 → two points, no r
    assert timed.corr.changes.n == 2 and math.isnan(timed.corr.changes.r)
    assert timed.incomplete == () and timed.result.excluded == {"Email sends (campaigns): no date": 1,
                                                              "Email unsubscribe rate: no date": 1}


def test_incomplete_last_period_is_left_out_of_the_correlation(ws):
    # sends on the 10th of Jan–May; the data end on 10 May, so May is a third of a month: left out.
    rows = "\n".join(f"s{m},2025-0{m}-10,{100 * m},10,1,{m}" for m in range(1, 6))
    ws.load("c.csv", ("Title,Send Date,Successful Deliveries,Unique Opens,Unique Clicks,Unsubscribes\n" + rows).encode())
    timed = correlate(ws, by_name("Email sends (campaigns)"), by_name("Emails delivered"), "month")
    assert [p.month for p in timed.joined["period"]] == [1, 2, 3, 4]
    assert timed.incomplete == ("Email sends (campaigns): the last month is left out, the data end on 10 May 2025",
                                "Emails delivered: the last month is left out, the data end on 10 May 2025")


def test_two_trending_series_are_a_shared_trend_not_co_movement(ws):
    # 12 months: sends rise 10, 12, 13, …; deliveries rise too but their monthly changes alternate.
    sends = [10, 12, 13, 15, 16, 18, 19, 21, 22, 24, 25, 27]
    delivered = [100, 104, 116, 118, 131, 133, 146, 147, 160, 162, 175, 176]
    lines = []
    for m, (k, d) in enumerate(zip(sends, delivered), start=1):
        lines += [f"s{m}-{i},2025-{m:02d}-{1 + i:02d},{d if i == 0 else 0},1,1,0" for i in range(k)]
    lines.append("end,2025-12-31,0,0,0,0")
    ws.load("c.csv", ("Title,Send Date,Successful Deliveries,Unique Opens,Unique Clicks,Unsubscribes\n"
                      + "\n".join(lines)).encode())
    timed = correlate(ws, by_name("Email sends (campaigns)"), by_name("Emails delivered"), "month")
    assert timed.corr.levels.n == 12 and timed.corr.levels.r > 0.9
    assert timed.corr.shared_trend_only


def test_lift_with_wilson_intervals(ws):
    # 10 leads attended a webinar, 6 became customers; 20 did not, 4 became customers
    rows = ([("w", 1, "2025-01-01")] * 6 + [("w", 1, "")] * 4 + [("n", 0, "2025-01-01")] * 4 + [("n", 0, "")] * 16)
    frame = pd.DataFrame(rows, columns=["kind", "Webinars attended", "Became a Customer Date"])
    frame.insert(0, "Record ID", range(len(frame)))
    ws.load("leads.csv", frame.to_csv(index=False).encode())
    result, metric = lift(ws.con, "leads", ("webinars_attended", "is at least", 1),
                          ("customer_date", "is yes / not empty", None))
    assert (result.did_n, result.not_n) == (10, 20)
    assert result.did_rate == pytest.approx(0.6) and result.not_rate == pytest.approx(0.2)
    assert result.difference == pytest.approx(0.4) and result.ratio == pytest.approx(3.0)
    assert result.did_low < 0.6 < result.did_high
    # expected customers among the 10 who attended = 10·10/30 = 3.3 < 5, so Fisher's exact test:
    # scipy.stats.fisher_exact([[6, 4], [4, 16]]).pvalue = 0.044858 (the z-test would say 0.0285)
    assert result.p_value == pytest.approx(0.044858, abs=1e-6)
    assert "?" in metric.sql and metric.params[0] == 1.0


def test_suggest_lift_takes_the_first_table_with_a_behaviour_and_an_outcome():
    tables = {"email_campaigns": [("campaign", "VARCHAR"), ("send_date", "TIMESTAMP")],
              "deals_export": [("demo_requested", "VARCHAR"), ("sql_date", "TIMESTAMP"), ("email_clicks", "DOUBLE")],
              "leads": [("webinars_attended", "DOUBLE"), ("customer_date", "TIMESTAMP")]}
    first = suggest_lift(tables)
    # demo_requested ranks above email_clicks; a Yes/No text column is tested as 'yes / not empty'
    assert first == {"table": "deals_export", "behaviour": ("demo_requested", "is yes / not empty", ""),
                     "outcome": ("sql_date", "is yes / not empty", "")}
    assert suggest_lift({"email_campaigns": tables["email_campaigns"]}) is None
