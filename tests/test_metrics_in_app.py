"""In-app metrics: hand-worked numbers on small vendor-shaped files, roles, dwell units, properties."""

from __future__ import annotations

import math

import duckdb
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lib.config import Thresholds
from lib.errors import BoundaryError
from lib.metrics import in_app as m

# ------------------------------------------------------------------------------------------ files

# Braze-shaped event log, two calendar months. Working for every figure is beside the rows.
BRAZE_HEADER = "external_user_id,time,campaign_name,event_type,message_type,dwell_ms"
BRAZE_ROWS = [
    # February 2026 — 4 impressions
    "u1,2026-02-02 10:00:00,A,impression,Marketing,500",     # < 1 s
    "u1,2026-02-02 10:00:05,A,click,Marketing,",             # → u1's Feb impression clicked
    "u2,2026-02-03 11:00:00,A,impression,Marketing,3000",
    "u2,2026-02-03 11:00:03,A,close,Marketing,",             # → dismissed
    "u3,2026-02-10 09:00:00,B,impression,product,2000",
    "u4,2026-02-27 09:00:00,B,impression,product,800",       # < 1 s
    # March 2026 — 5 impressions
    "u1,2026-03-02 09:00:00,A,impression,marketing,400",     # < 1 s
    "u1,2026-03-02 09:00:01,A,click,marketing,",             # two clicks on one impression
    "u1,2026-03-02 09:00:02,A,click,marketing,",             # … count once
    "u1,2026-03-02 12:00:00,A,impression,marketing,600",     # < 1 s
    "u1,2026-03-02 12:00:01,A,mute,marketing,",              # → muted
    "u2,2026-03-03 08:00:00,A,impression,marketing,200",     # < 1 s
    "u2,2026-03-03 08:00:01,A,close,marketing,",             # → dismissed
    "u3,2026-03-04 15:00:00,C,impression,Service,5000",
    "u5,2026-03-05 10:00:00,A,click,marketing,",             # no earlier impression → left out
    ",2026-03-06 10:00:00,A,impression,marketing,700",        # user blank → left out
    "u2,2026-03-31 18:00:00,A,impression,marketing,abc",     # dwell unreadable: impression without dwell
]
# Feb: engagement 1/4 = 25%, dismiss 1/4 = 25%, mute 0/4 = 0%, dwell < 1 s 2/4 = 50% (0.5, 0.8),
#      median dwell of 0.5, 0.8, 2.0, 3.0 s = (0.8 + 2.0)/2 = 1.4 s, marketing 2/4 = 50%.
# Mar: engagement 1/5 = 20%, dismiss 1/5 = 20%, mute 1/5 = 20%, dwell < 1 s 3/4 = 75% (0.4, 0.6, 0.2 of
#      0.4, 0.6, 0.2, 5.0), median dwell (0.4 + 0.6)/2 = 0.5 s, marketing 4/5 = 80% (A ×4, C ×1).


def csv(header: str, rows: list[str]) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


# Braze campaign analytics-shaped daily aggregate.
AGG_HEADER = ("Date,Campaign Name,Total Impressions,Unique Impressions,Total Clicks,Closes,Opt Outs,"
              "Message Type,Median Time on Message")
AGG_ROWS = [
    "2026-02-02,A,100,90,10,5,1,marketing,2.0",
    "2026-02-03,B,300,250,30,15,0,product,4.0",
    "2026-03-02,A,200,150,10,40,4,marketing,0.8",
    "2026-03-03,A,200,160,,20,2,marketing,1.2",   # clicks blank: left out of engagement's denominator
    "2026-03-31,B,100,90,10,5,1,product,3.0",
    ",A,50,50,5,5,0,marketing,1.0",                # date blank → left out
]
# Feb: 400 impressions; engagement 40/400 = 10%; dismiss 20/400 = 5%; mute 1/400 = 0.25%;
#      weighted median of (2.0 ×100, 4.0 ×300): half = 200, cumulative 100, 400 → 4.0 s; marketing 100/400.
# Mar: 500 impressions; engagement (10 + 10)/(200 + 100) = 6.667%; dismiss 65/500 = 13%; mute 7/500 = 1.4%;
#      weighted median of (0.8 ×200, 1.2 ×200, 3.0 ×100): half = 250, cumulative 200, 400 → 1.2 s;
#      marketing 400/500 = 80%; reach 150 + 160 + 90 = 400; dwell under 1 s not available.


def load(ws, name, data, kinds=("in_app_events", "in_app_messages")):
    dataset = ws.load(name, data, kinds=list(kinds))
    assert dataset.ready, dataset.missing
    return dataset, m.in_app_source(ws.con, dataset)


# ------------------------------------------------------------------------------------------ roles

@pytest.mark.parametrize("name,role", [
    ("impression", "impression"), ("click", "click"), ("close", "dismiss"),                     # Braze
    ("users.messages.inappmessage.Impression", "impression"),
    ("users.messages.inappmessage.Click", "click"),
    ("appcues:flow_started", "impression"), ("step_interacted", "click"),                       # Appcues
    ("flow_skipped", "dismiss"), ("flow_dismissed", "dismiss"),
    ("guideSeen", "impression"), ("guideActivity", "click"), ("guideDismissed", "dismiss"),    # Pendo
    ("guideSnoozed", "mute"),
    ("seen", "impression"), ("clicked", "click"), ("dismissed", "dismiss"),                    # Intercom
    ("Shown", "impression"), ("TAP", "click"), ("CTA", "click"), ("Opt-Out", "mute"),          # generic
    ("unsubscribe", "mute"), ("In-App Message Viewed", "impression"),
    ("flow_completed", "other"), ("page_view_ended", "other"), ("", "other"),
])
def test_default_role(name, role):
    assert m.default_role(name) == role


@pytest.mark.parametrize("names,expected", [
    # Appcues logs flow_started once and step_seen per step: only the flow is an impression
    (["flow_started", "step_seen"], {"flow_started": "impression", "step_seen": "other"}),
    (["step_seen", "step_interacted"], {"step_seen": "impression", "step_interacted": "click"}),
    # Intercom: received then seen — seen is the impression; received alone stands in for it
    (["received", "seen", "clicked"], {"received": "other", "seen": "impression", "clicked": "click"}),
    (["received", "clicked"], {"received": "impression", "clicked": "click"}),
])
def test_default_roles_avoid_double_counting(names, expected):
    assert m.default_roles(names) == expected


def test_role_table_lists_events_with_counts_and_user_choice(ws):
    dataset, _ = load(ws, "braze.csv", csv(BRAZE_HEADER, BRAZE_ROWS))
    table = m.event_role_table(ws.con, dataset.table, {"close": "mute"}).frame
    # impressions 4 + 6 = 10, clicks 1 + 3 = 4, close 2, mute 1
    assert dict(zip(table["event"], table["rows"])) == {"impression": 10, "click": 4, "close": 2, "mute": 1}
    assert dict(zip(table["event"], table["role"]))["close"] == "mute"


def test_no_impression_event_is_a_plain_error_naming_the_events(ws):
    rows = ["u1,2026-02-02 10:00:00,A,popup_rendered,marketing,500", "u1,2026-02-02 10:00:05,A,click,marketing,"]
    dataset = ws.load("odd.csv", csv(BRAZE_HEADER, rows), kinds=["in_app_events"])
    with pytest.raises(BoundaryError) as err:
        m.in_app_source(ws.con, dataset)
    assert str(err.value).startswith("odd.csv: no event is counted as an impression")
    assert "popup_rendered" in str(err.value) and "Event roles" in str(err.value)
    # the user's mapping fixes it
    src = m.in_app_source(ws.con, dataset, {"popup_rendered": "impression"})
    assert m.totals(ws.con, src).frame["engagement_rate"].iloc[0] == 1.0  # 1 clicked / 1 impression


def test_unknown_role_is_refused(ws):
    dataset, _ = load(ws, "braze.csv", csv(BRAZE_HEADER, BRAZE_ROWS))
    with pytest.raises(BoundaryError, match="Unknown event role"):
        m.in_app_source(ws.con, dataset, {"click": "like"})


# ------------------------------------------------------------------------------------------ dwell units

@pytest.mark.parametrize("header,values,unit", [
    ("Dwell Ms", [1.5, 2.0, 3.0], "ms"),              # the name wins over small values
    ("time_on_screen_millis", [1.5, 2.0], "ms"),
    ("Dwell Seconds", [900, 1200], "s"),              # the name wins over large values
    ("Time on Message", [800, 1500, 2500], "ms"),     # no hint: median 1500 > 120 → ms
    ("Time on Message", [0.8, 1.5, 2.5], "s"),        # no hint: median 1.5 → s
    ("Time on Message", [100, 120, 500], "s"),        # median exactly 120 is still seconds
])
def test_dwell_unit(header, values, unit):
    con = duckdb.connect()
    con.execute("CREATE TABLE t (dwell DOUBLE)")
    con.executemany("INSERT INTO t VALUES (?)", [[v] for v in values])
    got = m.dwell_unit(con, "t", "dwell", header)
    assert got.unit == unit
    assert got.scale == (0.001 if unit == "ms" else 1.0)


# ------------------------------------------------------------------------------------------ events, by hand

@pytest.fixture
def braze(ws):
    return load(ws, "braze_currents.csv", csv(BRAZE_HEADER, BRAZE_ROWS))


def test_events_file_is_recognised_as_events(braze):
    dataset, src = braze
    assert dataset.kind == "in_app_events"
    assert src.dwell.unit == "ms"
    assert dataset.bad_values["dwell"].count == 1  # 'abc'


def test_rates_by_month_by_hand(ws, braze):
    _, src = braze
    result = m.rates_by_period(ws.con, src, "month")
    f = result.frame.set_index("label")
    assert list(f.index) == ["Feb 2026", "Mar 2026"]
    assert list(f["impressions"]) == [4, 5]
    assert f.loc["Feb 2026", "engagement_rate"] == pytest.approx(0.25)
    assert f.loc["Feb 2026", "dismiss_rate"] == pytest.approx(0.25)
    assert f.loc["Feb 2026", "mute_rate"] == 0
    assert f.loc["Feb 2026", "dwell_under_1s"] == pytest.approx(0.5)
    assert f.loc["Feb 2026", "median_dwell"] == pytest.approx(1.4)
    assert f.loc["Feb 2026", "marketing_share"] == pytest.approx(0.5)
    assert f.loc["Mar 2026", "engagement_rate"] == pytest.approx(0.2)
    assert f.loc["Mar 2026", "dismiss_rate"] == pytest.approx(0.2)
    assert f.loc["Mar 2026", "mute_rate"] == pytest.approx(0.2)
    assert f.loc["Mar 2026", "dwell_under_1s"] == pytest.approx(0.75)
    assert f.loc["Mar 2026", "dwell_known"] == 4
    assert f.loc["Mar 2026", "median_dwell"] == pytest.approx(0.5)
    assert f.loc["Mar 2026", "marketing_share"] == pytest.approx(0.8)
    assert f.loc["Mar 2026", "reach"] == 3  # u1, u2, u3
    assert f["incomplete"].tolist() == [True, False]  # data starts 2 Feb: February only partly covered
    assert result.excluded == {
        "user blank": 1, "click/dismiss/mute with no earlier impression of that message by that user": 1}
    assert "?" in result.sql and "last_value" in result.sql  # outcome → latest impression, in SQL


def test_tiles_by_hand(ws, braze):
    _, src = braze
    tiles, caption = m.tiles(m.rates_by_period(ws.con, src, "month").frame)
    got = {t.label: (t.value, t.delta) for t in tiles}
    assert got == {
        "Engagement rate": ("20.0%", "-5.0 pp"),   # 20% − 25%
        "Dismiss rate": ("20.0%", "-5.0 pp"),      # 20% − 25%
        "Mute rate": ("20.0%", "+20.0 pp"),        # 20% − 0%
        "Dwell under 1s": ("75.0%", "+25.0 pp"),   # 75% − 50%
        "Median dwell": ("0.5 s", "-0.9 s"),       # 0.5 − 1.4
        "Marketing share": ("80.0%", "+30.0 pp"),  # 80% − 50%
    }
    assert caption == "Tiles: Mar 2026, change against Feb 2026."
    assert all("Mar 2026: n = 5 impressions." in t.help for t in tiles)
    assert all("÷" in t.help for t in tiles if t.label != "Median dwell")


def test_weekly_frequency_by_hand(ws, braze):
    _, src = braze
    f = m.weekly_frequency(ws.con, src).frame.set_index("week")
    week = f.loc[pd.Timestamp("2026-03-02")]
    # active: u1, u2, u3 and u5 (an orphan click is still activity); impressions u1 ×2, u2, u3 = 4
    assert week["active_users"] == 4 and week["impressions"] == 4
    assert week["messages_per_user"] == pytest.approx(1.0)
    assert week["marketing_per_user"] == pytest.approx(0.75)  # 3 marketing / 4 users
    assert week["service_per_user"] == pytest.approx(0.25)
    assert week["engagement_rate"] == pytest.approx(0.25)     # 1 clicked impression / 4
    first = f.loc[pd.Timestamp("2026-02-02")]
    assert (first["active_users"], first["impressions"]) == (2, 2)
    assert f.loc[pd.Timestamp("2026-03-30"), "incomplete"]  # data ends Tue 31 Mar


def test_campaign_table_by_hand(ws, braze):
    _, src = braze
    f = m.campaign_table(ws.con, src).frame.set_index("message")
    # A: Feb u1, u2 + Mar u1 ×2, u2 ×2 = 6 impressions; clicked 2 (u1 Feb, u1 Mar 09:00); dismissed 2; muted 1
    assert f.loc["A", "impressions"] == 6 and f.loc["A", "reach"] == 2
    assert f.loc["A", "engagement_rate"] == pytest.approx(2 / 6)
    assert f.loc["A", "dismiss_rate"] == pytest.approx(2 / 6)
    assert f.loc["A", "mute_rate"] == pytest.approx(1 / 6)
    assert f.loc["A", "message_type"] == "marketing"
    assert f.loc["C", "message_type"] == "service"
    assert f["impressions"].sum() == 9


def test_dwell_quantiles_by_hand(ws, braze):
    _, src = braze
    result = m.dwell_quantiles(ws.con, src, "month")
    mar = result.frame.set_index("label").loc["Mar 2026"]
    # dwell 0.2, 0.4, 0.6, 5.0 s: p25 = 0.2 + 0.75·0.2 = 0.35; p50 = 0.5; p75 = 0.6 + 0.25·4.4 = 1.7
    assert (mar["n"], mar["p25"], mar["p50"], mar["p75"]) == (4, pytest.approx(0.35), pytest.approx(0.5),
                                                             pytest.approx(1.7))
    assert result.excluded["impressions without a dwell value"] == 1


def test_dwell_logged_on_the_close_event_is_used(ws):
    header = "User ID,Timestamp,Message,Event,Dwell Seconds"
    rows = ["u1,2026-01-05 10:00:00,A,shown,", "u1,2026-01-05 10:00:02,A,dismissed,0.4",
            "u2,2026-01-05 10:00:00,A,shown,2.5"]
    _, src = load(ws, "intercom.csv", csv(header, rows))
    total = m.totals(ws.con, src).frame.iloc[0]
    assert total["dwell_known"] == 2 and total["under_1s"] == 1  # 0.4 s from the close, 2.5 s own
    assert math.isnan(total["marketing_share"])  # no type column: not available, not 0%


def test_type_split_keeps_untyped_rows_so_shares_add_up(ws):
    rows = ["u1,2026-02-02 10:00:00,A,impression,promo,500", "u2,2026-02-02 10:00:00,B,impression,,500",
            "u3,2026-02-02 10:00:00,C,impression,Banner,500", "u4,2026-02-02 10:00:00,D,impression,Release,500"]
    _, src = load(ws, "types.csv", csv(BRAZE_HEADER, rows))
    f = m.type_split(ws.con, src, "month").frame
    assert dict(zip(f["message_type"], f["share"])) == {
        "(no type)": 0.25, "banner": 0.25, "marketing": 0.25, "product": 0.25}
    # marketing share = 1 marketing / 3 typed impressions
    assert m.totals(ws.con, src).frame["marketing_share"].iloc[0] == pytest.approx(1 / 3)


def test_recent_changes(ws):
    rows = [f"u{i},2026-0{1 + i // 4}-0{1 + i % 4} 10:00:00,Old,impression,marketing,900" for i in range(8)]
    rows += ["u1,2026-03-02 10:00:00,Fresh,impression,survey,900", "u1,2026-03-09 10:00:00,Old,impression,marketing,900"]
    _, src = load(ws, "changes.csv", csv(BRAZE_HEADER, rows))
    f = m.recent_changes(ws.con, src, weeks=2).frame.set_index("message")
    # last event Mon 9 Mar → window = weeks of 2 Mar and 9 Mar; 'Fresh' and its type 'survey' are new
    assert f.loc["Fresh", "change"] == "new campaign, new message type (survey)"
    assert f.loc["Fresh", "cut"] == pd.Timestamp("2026-03-02")


# ------------------------------------------------------------------------------------------ aggregates, by hand

def test_daily_aggregate_by_hand(ws):
    dataset, src = load(ws, "braze_campaign_analytics.csv", csv(AGG_HEADER, AGG_ROWS))
    assert dataset.kind == "in_app_messages" and src.dwell.unit == "s"
    result = m.rates_by_period(ws.con, src, "month")
    f = result.frame.set_index("label")
    assert list(f["impressions"]) == [400, 500]
    assert f.loc["Feb 2026", "engagement_rate"] == pytest.approx(0.10)
    assert f.loc["Feb 2026", "median_dwell"] == pytest.approx(4.0)
    assert f.loc["Mar 2026", "engagement_rate"] == pytest.approx(20 / 300)
    assert f.loc["Mar 2026", "dismiss_rate"] == pytest.approx(0.13)
    assert f.loc["Mar 2026", "mute_rate"] == pytest.approx(0.014)
    assert f.loc["Mar 2026", "median_dwell"] == pytest.approx(1.2)
    assert f.loc["Mar 2026", "marketing_share"] == pytest.approx(0.8)
    assert f.loc["Mar 2026", "reach"] == 400
    assert f["dwell_under_1s"].isna().all()
    assert result.excluded == {"date blank or unreadable": 1}
    tiles = {t.label: t for t in m.tiles(result.frame)[0]}
    assert (tiles["Engagement rate"].value, tiles["Engagement rate"].delta) == ("6.7%", "-3.3 pp")
    assert (tiles["Dwell under 1s"].value, tiles["Dwell under 1s"].delta) == ("—", None)
    assert (tiles["Median dwell"].value, tiles["Median dwell"].delta) == ("1.2 s", "-2.8 s")
    assert m.weekly_frequency(ws.con, src).frame.empty  # no users in aggregates
    assert m.dwell_quantiles(ws.con, src).frame.empty


def test_aggregate_with_text_in_number_columns(ws):
    rows = ["2026-02-02,A,1 000,900,n/a,5,,marketing,2", "2026-02-03,A,lots,1,1,1,0,marketing,2"]
    dataset, src = load(ws, "nasty.csv", csv(AGG_HEADER, rows))
    assert dataset.bad_values["impressions"].count == 1
    result = m.rates_by_period(ws.con, src, "month")
    f = result.frame.iloc[0]
    assert f["impressions"] == 1000 and math.isnan(f["engagement_rate"]) and f["dismiss_rate"] == 0.005
    assert result.excluded == {"impressions blank or negative": 1}


# ------------------------------------------------------------------------------------------ flags

def _periods(rows):
    frame = pd.DataFrame(rows, columns=["period", "impressions", "clicks", "under_1s"])
    frame["period"] = pd.to_datetime(frame["period"])
    frame["label"] = frame["period"].dt.strftime("%b %Y")
    frame["click_base"] = frame["dwell_known"] = frame["impressions"]
    frame["dismissals"] = frame["mutes"] = 0
    frame["dismiss_base"] = frame["mute_base"] = frame["impressions"]
    for rate, num, den in [("engagement_rate", "clicks", "click_base"), ("dismiss_rate", "dismissals", "dismiss_base"),
                           ("mute_rate", "mutes", "mute_base"), ("dwell_under_1s", "under_1s", "dwell_known")]:
        frame[rate] = frame[num] / frame[den]
    frame["incomplete"] = False
    return frame


def test_trend_flags_against_own_baseline():
    periods = _periods([("2026-01-01", 1000, 100, 100), ("2026-02-01", 1000, 100, 100),
                        ("2026-03-01", 1000, 100, 100), ("2026-04-01", 1000, 50, 600)])
    t = m.trend_flags(periods, Thresholds())
    eng = t[t["metric"] == "Engagement rate"].set_index("label")
    # Mar has only 2 earlier periods: no baseline. Apr: 50/1000 vs 300/3000; pooled 350/4000 = 0.0875,
    # se = √(0.0875·0.9125·(1/1000 + 1/3000)) = 0.010318, z = −0.05/0.010318 = −4.846 → p ≈ 1.3e-6
    assert math.isnan(eng.loc["Mar 2026", "baseline"])
    assert eng.loc["Apr 2026", "baseline"] == pytest.approx(0.1)
    assert eng.loc["Apr 2026", "p_value"] == pytest.approx(1.26e-6, rel=0.02)
    assert eng["flagged"].tolist() == [False, False, False, True]
    dwell = t[t["metric"] == "Dwell under 1s"].set_index("label").loc["Apr 2026"]
    assert dwell["flagged"] and dwell["reason"] == "above own baseline, above threshold"  # 60% > 50%
    # with a 70% threshold only the baseline test remains
    t2 = m.trend_flags(periods, Thresholds().with_value("in_app_dwell_under_1s_max", 0.7))
    assert t2[t2["metric"] == "Dwell under 1s"]["reason"].tolist()[-1] == "above own baseline"


def test_spread_of_the_baseline_widens_the_test():
    # Jan–May engagement 50/1000, 70/1100, 40/900, 65/1000, 55/1050 (φ = 1.4966, see test_stats), Jun 80/1000:
    # plain z-test p = 0.0027 would flag; against how much months differ (stats.baseline_rate_test doctest)
    # z = 2.4513 on t with 4 df, p = 0.07035 — and Jun is *higher*, so engagement is not worse: no flag.
    rows = [("2026-01-01", 1000, 50, 0), ("2026-02-01", 1100, 70, 0), ("2026-03-01", 900, 40, 0),
            ("2026-04-01", 1000, 65, 0), ("2026-05-01", 1050, 55, 0), ("2026-06-01", 1000, 80, 0)]
    t = m.trend_flags(_periods(rows), Thresholds())
    jun = t[(t["metric"] == "Engagement rate") & (t["label"] == "Jun 2026")].iloc[0]
    assert jun["p_value"] == pytest.approx(0.07035, abs=1e-5) and not jun["flagged"]


def test_a_lasting_drop_stays_flagged_and_noise_is_adjusted_for_many_periods():
    # 12 steady months at 100/1000, then 3 months at 50/1000: each low month is held against the steady
    # months only (a flagged month stays out of later baselines), so all three are flagged.
    rows = [(f"2025-{k:02d}-01", 1000, 100, 0) for k in range(1, 13)]
    rows += [("2026-01-01", 1000, 50, 0), ("2026-02-01", 1000, 50, 0), ("2026-03-01", 1000, 50, 0)]
    t = m.trend_flags(_periods(rows), Thresholds())
    eng = t[t["metric"] == "Engagement rate"]
    assert eng["flagged"].tolist() == [False] * 12 + [True] * 3
    assert (eng["baseline"].tail(3) == 0.1).all()
    # BH over the 12 months tested: Mar's p is multiplied by at most 12/rank
    assert (eng["p_adjusted"].dropna() >= eng["p_value"].dropna()).all()


def test_small_period_is_not_flagged():
    periods = _periods([("2026-01-01", 1000, 100, 100)] * 0 + [
        ("2026-01-01", 1000, 100, 100), ("2026-02-01", 1000, 100, 100), ("2026-03-01", 1000, 100, 100),
        ("2026-04-01", 20, 0, 0)])  # 0/20 is far below 10% but 20 < 30 impressions
    t = m.trend_flags(periods, Thresholds())
    assert not t["flagged"].any()


def _weekly(values, incomplete_last=False):
    weeks = pd.date_range("2026-01-05", periods=len(values), freq="7D")
    frame = pd.DataFrame({"week": weeks, "messages_per_user": values, "impressions": 1000, "clicks": 100})
    frame["incomplete"] = False
    if incomplete_last:
        frame.loc[frame.index[-1], "incomplete"] = True
    return frame


def test_frequency_change_by_hand():
    weekly = _weekly([2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 0.5], incomplete_last=True)
    c = m.frequency_change(weekly, 0.05)
    # before mean 2.5, sd = √(8·0.25/7) = 0.53452; recent 4.0; change 1.5 (+60%);
    # se = 0.53452·√(1/4 + 1/8) = 0.32733; z = 4.5826. The partial last week (0.5) is left out.
    assert (c.before, c.recent, c.change) == (2.5, 4.0, 1.5)
    assert c.relative == pytest.approx(0.6)
    assert c.z == pytest.approx(4.5826, abs=1e-3)
    assert c.beyond_noise and (c.recent_weeks, c.before_weeks) == (4, 8)
    assert "+60%" in c.sentence() and "beyond" in c.sentence()
    assert m.frequency_change(_weekly([2, 2, 2, 2, 2, 2]), 0.05) is None  # fewer than 4 + 3 weeks


def test_frequency_relevance_both_wrong():
    weekly = _weekly([2.0] * 8 + [3.0])
    weekly.loc[8, "clicks"] = 50  # 5% vs 10% baseline on 1000 impressions
    f = m.frequency_relevance(weekly, Thresholds())
    last = f.iloc[-1]
    assert last["frequency_baseline"] == 2.0 and last["too_frequent"]  # 3.0 > 2.0 × 1.25
    assert last["less_relevant"] and last["both_wrong"]
    assert not f.iloc[:-1]["both_wrong"].any()
    # a higher rise threshold: frequency no longer "too high", so not both
    assert not m.frequency_relevance(weekly, Thresholds().with_value("in_app_frequency_rise_max", 0.6))[
        "both_wrong"].any()


def test_area_flags_and_tables(ws):
    assert m.area_flags(ws) == [] and m.area_tables(ws) == {}
    load(ws, "braze.csv", csv(BRAZE_HEADER, BRAZE_ROWS))
    assert set(m.area_tables(ws)) == {"In-app by month", "In-app campaigns", "In-app message types",
                                      "In-app weekly frequency"}
    # two months: no baseline yet; March's 75% under 1 s is above 50% but on 4 impressions (< 30)
    assert m.area_flags(ws) == []
    ws.thresholds = ws.thresholds.with_value("min_group_size", 4)
    # 3 of 4 under 1 s: Wilson 95 % interval 30.1 %–95.4 % (statsmodels proportion_confint(3, 4,
    # method="wilson")) does not clear 50 %: four impressions cannot tell
    assert m.area_flags(ws) == []
    ws.thresholds = ws.thresholds.with_value("in_app_dwell_under_1s_max", 0.25)
    (flag,) = m.area_flags(ws)
    assert (flag.metric, flag.subject, flag.value, flag.reference, flag.test) == (
        "Dwell under 1s", "Mar 2026", 0.75, 0.25, "95% interval above the threshold, n=4")


def test_user_roles_reach_area_flags(ws):
    dataset, _ = load(ws, "braze.csv", csv(BRAZE_HEADER, BRAZE_ROWS))
    m.remember_roles(ws, dataset, {"close": "mute"})
    assert m.roles_for(ws, dataset) == {"close": "mute"}
    tables = m.area_tables(ws)
    assert tables["In-app by month"]["mutes"].tolist() == [1, 2]  # Feb close; Mar mute + close


# ------------------------------------------------------------------------------------------ properties

EVENT_NAMES = ["impression", "click", "close", "mute", "hover"]
TYPES = ["marketing", "product", None, "banner"]


@st.composite
def event_logs(draw):
    n = draw(st.integers(1, 40))
    rows = []
    for i in range(n):
        rows.append({
            "_row": i + 2,
            "user_id": draw(st.sampled_from(["u1", "u2", "u3"])),
            "event_time": pd.Timestamp("2026-01-01") + pd.Timedelta(minutes=draw(st.integers(0, 60 * 24 * 90))),
            "message": draw(st.sampled_from(["A", "B"])),
            "event": draw(st.sampled_from(EVENT_NAMES)),
            "message_type": draw(st.sampled_from(TYPES)),
            "dwell": draw(st.one_of(st.none(), st.floats(0, 20000, allow_nan=False))),
        })
    return pd.DataFrame(rows)


def _source(con, frame):
    con.register("_f", frame)
    con.execute("CREATE OR REPLACE TABLE in_app_events AS SELECT * FROM _f")
    con.unregister("_f")
    roles = tuple((e, m.default_role(e)) for e in EVENT_NAMES)
    return m.InAppSource("in_app_events", m.EVENTS, "p.csv", frozenset(
        ["user_id", "event_time", "message", "event", "message_type", "dwell"]), roles, m.DwellUnit("ms", 0.001, ""))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event_logs(), st.sampled_from(["week", "month"]))
def test_properties_shares_in_unit_interval_and_totals_add_up(frame, grain):
    con = duckdb.connect()
    src = _source(con, frame)
    if not (frame["event"] == "impression").any():
        return
    periods = m.rates_by_period(con, src, grain).frame
    for rate in ("engagement_rate", "dismiss_rate", "mute_rate", "dwell_under_1s", "marketing_share"):
        values = periods[rate].dropna()
        assert ((values >= 0) & (values <= 1)).all(), rate
    assert periods["impressions"].sum() == (frame["event"] == "impression").sum()
    campaigns = m.campaign_table(con, src).frame
    assert campaigns["impressions"].sum() == periods["impressions"].sum()
    assert campaigns["clicks"].sum() == periods["clicks"].sum()
    split = m.type_split(con, src, grain).frame
    assert split.groupby("period")["share"].sum().round(9).eq(1).all()
    weekly = m.weekly_frequency(con, src).frame
    parts = weekly[["marketing_per_user", "product_per_user", "service_per_user", "other_per_user"]].sum(axis=1)
    assert (parts - weekly["messages_per_user"]).abs().max() < 1e-9
    assert weekly["impressions"].sum() == periods["impressions"].sum()


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event_logs())
def test_properties_dwell_quantiles_ordered(frame):
    con = duckdb.connect()
    src = _source(con, frame)
    q = m.dwell_quantiles(con, src, "month").frame
    for _, row in q.iterrows():
        assert row["p10"] <= row["p25"] <= row["p50"] <= row["p75"] <= row["p90"]
        assert 0 <= row["dwell_under_1s"] <= 1
    periods = m.rates_by_period(con, src, "month").frame if (frame["event"] == "impression").any() else None
    if periods is not None and not q.empty:
        merged = periods.merge(q, on="period")
        assert (merged["median_dwell"] - merged["p50"]).abs().max() < 1e-9  # tile median = quantile median


# ------------------------------------------------------------------------------------------ trend per type (issue 22)

TYPED_HEADER = "Date,Campaign Name,Total Impressions,Total Clicks,Message Type"
TYPED_ROWS = [f"2026-0{mo}-01,Promo,1000,{100 if mo < 5 else 50},marketing" for mo in range(1, 6)] + \
             [f"2026-0{mo}-01,What's new,200,20,Announcement" for mo in range(1, 6)]
# marketing: 100/1000 = 10% in Jan–Apr, 50/1000 = 5% in May; announcement: 20/200 = 10% every month.
# Rows on the 1st: January is whole (the data starts on its first day); May, where the data ends, is partial but
# still tested. A month is tested once 3 earlier complete months exist: April (vs Jan–Mar) and May (vs Jan–Apr).
# Marketing May: 50/1000 vs 400/4000, the baselines do not vary (φ = 1) → pooled z-test,
# statsmodels proportions_ztest([50, 400], [1000, 4000]) = z −4.941662, p 7.745937e-07.
# Engagement is one family over both types: May marketing, April marketing (p = 1), April and May
# announcement (p = 1) → 4 tests; BH gives the smallest 4 × 7.745937e-07 = 3.098375e-06.


def test_type_trends_by_hand(ws):
    _, src = load(ws, "braze_typed.csv", csv(TYPED_HEADER, TYPED_ROWS))
    t = m.type_trends(ws.con, src, Thresholds()).frame
    eng = t[t["metric"] == "Engagement rate"].set_index(["message_type", "label"])
    assert set(t["message_type"]) == {"marketing", "announcement"}  # the file's own word is kept
    may = eng.loc[("marketing", "May 2026")]
    assert (may["value"], may["baseline"], may["n"]) == (pytest.approx(0.05), pytest.approx(0.10), 1000)
    assert may["p_value"] == pytest.approx(7.745937e-07, rel=1e-5)
    assert may["p_adjusted"] == pytest.approx(3.098375e-06, rel=1e-5)
    assert may["flagged"] and may["reason"] == "below own baseline"
    # statsmodels proportion_confint(50, 1000, method='wilson') = (0.038130, 0.065314)
    assert (may["low"], may["high"]) == pytest.approx((0.038130, 0.065314), abs=1e-6)
    assert not eng.loc["announcement"]["flagged"].any()
    assert eng.loc[("announcement", "Apr 2026"), "p_adjusted"] == pytest.approx(1.0)
    assert eng["p_value"].notna().sum() == 4  # Jan–Mar of each type have no baseline yet
    # no clicks-free rates here: dismiss, mute and dwell have no denominator, so no rows
    assert set(t["metric"]) == {"Engagement rate"}


def test_type_trends_need_a_type_column(ws):
    _, src = load(ws, "untyped.csv", csv("Date,Campaign Name,Total Impressions,Total Clicks",
                                         ["2026-01-15,Promo,100,10"]))
    with pytest.raises(BoundaryError, match="needs a message type column"):
        m.type_trends(ws.con, src, Thresholds())


def test_type_trends_split_data_and_tests(ws):
    # the page keeps the data's part (type_periods, one query per grain) and reruns only the tests on a
    # threshold change: the two steps give type_trends' figures, and a threshold reaches only the tests
    _, src = load(ws, "braze_typed.csv", csv(TYPED_HEADER, TYPED_ROWS))
    periods = m.type_periods(ws.con, src)
    assert set(periods.frame["message_type"]) == {"marketing", "announcement"} and len(periods.frame) == 10
    pd.testing.assert_frame_equal(m.type_trends_from(periods, Thresholds()).frame,
                                  m.type_trends(ws.con, src, Thresholds()).frame)
    # alpha 1e-7: May marketing's BH-adjusted p 3.098e-06 (test_type_trends_by_hand) is no longer below it
    strict = m.type_trends_from(periods, Thresholds().with_value("baseline_alpha", 1e-7)).frame
    assert not strict["flagged"].any()
    with pytest.raises(BoundaryError, match="needs a message type column"):
        m.type_periods(ws.con, load(ws, "untyped.csv", csv("Date,Campaign Name,Total Impressions,Total Clicks",
                                                           ["2026-01-15,Promo,100,10"]))[1])


def test_frequency_relevance_blank_clicks_count_as_none():
    # a week with blank clicks adds its impressions but no clicks to the baseline (as pandas' sum):
    # week 4 baseline = (100 + 0 + 100) / 3000 = 0.066667; messages per user 2.0 in every baseline week
    weekly = _weekly([2.0, 2.0, 2.0, 2.0])
    weekly["clicks"] = weekly["clicks"].astype(float)
    weekly.loc[1, "clicks"] = float("nan")
    f = m.frequency_relevance(weekly, Thresholds())
    assert f.loc[3, "engagement_baseline"] == pytest.approx(200 / 3000)
    assert f.loc[3, "frequency_baseline"] == 2.0 and f.loc[:2, "frequency_baseline"].isna().all()


def test_flags_from_reuses_the_pages_trend_and_weekly_figures(ws):
    # the page passes its own trend_flags / frequency_relevance frames: the same flags as computing them here
    _, src = load(ws, "braze.csv", csv(BRAZE_HEADER, BRAZE_ROWS))
    periods, weekly = m.rates_by_period(ws.con, src).frame, m.weekly_frequency(ws.con, src).frame
    th = Thresholds().with_value("in_app_dwell_under_1s_max", 0.1).with_value("min_group_size", 1)
    given = m.flags_from(periods, weekly, th, trend=m.trend_flags(periods, th),
                         both=m.frequency_relevance(weekly, th) if len(weekly) else None)
    assert given == m.flags_from(periods, weekly, th) and given  # the 75%-under-1 s month is flagged
    # a trend frame with nothing flagged gives no trend flags: the frame given is the one used
    assert m.flags_from(periods, weekly, th, trend=m.trend_flags(periods, th).iloc[0:0],
                        both=m.frequency_relevance(weekly, th) if len(weekly) else None) == []


@pytest.mark.parametrize("kind", ["in_app_events", "in_app_messages"])
def test_figures_given_the_pages_data_facts_equal_those_reading_them_themselves(kind):
    # issue #20: the page reads span and exclusions once (data_facts) and hands them to every figure;
    # each figure must come out exactly as when it reads them itself (the sample's event log; a daily
    # aggregate export, with a blank date and text in number columns so exclusions are not empty)
    from lib.datasets import Workspace
    from lib.sample import load_samples

    ws = Workspace()
    try:
        if kind == "in_app_events":
            load_samples(ws)
            dataset = ws.get(kind)
            src = m.in_app_source(ws.con, dataset, m.roles_for(ws, dataset))
        else:
            rows = [*AGG_ROWS, "2026-02-02,A,1 000,900,n/a,5,,marketing,2", "2026-02-03,A,lots,1,1,1,0,marketing,2"]
            dataset, src = load(ws, "braze_campaign_analytics.csv", csv(AGG_HEADER, rows))
            assert dataset.kind == kind
        facts = m.data_facts(ws.con, src)
        assert kind == "in_app_events" or facts[1], "the aggregate's exclusions must be handed over too"
        assert facts == (m._data_span(ws.con, src), m._exclusions(ws.con, src))
        calls = [(f, (grain,)) for f in (m.rates_by_period, m.dwell_quantiles, m.type_split, m.type_periods)
                 for grain in ("week", "month")] + [(m.recent_changes, (weeks,)) for weeks in (2, 8, 30)]
        for func, args in calls:
            own, given = func(ws.con, src, *args), func(ws.con, src, *args, facts=facts)
            pd.testing.assert_frame_equal(given.frame, own.frame, check_exact=True)
            assert (given.sql, given.params, given.excluded) == (own.sql, own.params, own.excluded), func.__name__
        for grain in ("week", "month"):  # type_periods read off type_split's frame: the same query
            own, split = m.type_periods(ws.con, src, grain), m.type_split(ws.con, src, grain, facts)
            given = m.type_periods(ws.con, src, grain, facts, split)
            pd.testing.assert_frame_equal(given.frame, own.frame, check_exact=True)
            assert (given.sql, given.params, given.excluded) == (own.sql, own.params, own.excluded)
    finally:
        ws.close()


def test_trend_flags_in_batches_equal_one_scalar_test_per_period(monkeypatch):
    # issue #20: trend_flags runs each metric's tests in array batches, guessing that every complete
    # period joins the baseline; a clearly worse period (planted ×3 rates) breaks the guess and the
    # periods after it are tested again on their real baseline. The same frame as testing each period
    # alone with the scalar baseline_rate_test (as before), over synthetic series and thresholds.
    import numpy as np

    from lib import stats

    def one_by_one(xs, ns, pxs, pns):
        tests = [stats.baseline_rate_test(x, n, px, pn) for x, n, px, pn in zip(xs, ns, pxs, pns)]
        return tuple(np.array([getattr(t, f) for t in tests], dtype=float) for f in ("rate", "baseline", "z", "p_value"))

    rng = np.random.default_rng(3)
    frames = []
    for _ in range(15):
        m_ = int(rng.integers(4, 30))
        period = pd.date_range("2024-01-01", periods=m_, freq="W-MON")
        imps = rng.integers(0, int(rng.choice([30, 500, 20000])), m_).astype(float)
        f = pd.DataFrame({"period": period, "label": [str(p.date()) for p in period],
                          "incomplete": rng.random(m_) < 0.1})
        for _, rate, num, den, _ in m.TREND_METRICS:
            r = rng.uniform(0.001, 0.2) * np.exp(rng.normal(0, 0.4, m_))
            r[rng.random(m_) < 0.15] *= 3
            f[den], f[num] = imps, rng.binomial(imps.astype(int), np.clip(r, 0, 1)).astype(float)
            f[rate] = f[num] / f[den].where(f[den] > 0)
        frames.append(f)
    for changes in ({}, {"baseline_periods": 3}, {"baseline_alpha": 0.2}, {"min_group_size": 5000}):
        thresholds = Thresholds()
        for key, value in changes.items():
            thresholds = thresholds.with_value(key, value)
        batched = [m.trend_flags(f, thresholds) for f in frames]
        with monkeypatch.context() as patch:
            patch.setattr(m, "baseline_rate_test_arrays", one_by_one)
            for f, got in zip(frames, batched):
                pd.testing.assert_frame_equal(got, m.trend_flags(f, thresholds), check_exact=True)


def test_frequency_relevance_reads_only_its_listed_thresholds():
    # the page keys frequency_relevance on FREQUENCY_THRESHOLDS alone (a dwell-threshold click keeps its
    # memo): given only those values it must give the same frame, for defaults and changed values
    import numpy as np

    rng = np.random.default_rng(8)
    weeks = pd.date_range("2025-01-06", periods=30, freq="W-MON")
    impressions = rng.integers(200, 3000, 30).astype(float)
    weekly = pd.DataFrame({"week": weeks, "active_users": rng.integers(50, 400, 30), "impressions": impressions,
                           "clicks": rng.binomial(impressions.astype(int), 0.08).astype(float),
                           "incomplete": [True] + [False] * 28 + [True]})
    weekly["messages_per_user"] = weekly["impressions"] / weekly["active_users"]
    weekly["engagement_rate"] = weekly["clicks"] / weekly["impressions"]
    for changes in ({}, {"baseline_periods": 4, "in_app_frequency_rise_max": 0.1}, {"baseline_alpha": 0.2}):
        full = Thresholds()
        for key, value in changes.items():
            full = full.with_value(key, value)
        only = Thresholds({k: full[k] for k in m.FREQUENCY_THRESHOLDS})
        pd.testing.assert_frame_equal(m.frequency_relevance(weekly, only), m.frequency_relevance(weekly, full),
                                      check_exact=True)
