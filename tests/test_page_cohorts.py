"""The Cohorts page with the sample data (AppTest): tiles equal an independent pandas computation."""

import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from lib.sample import SAMPLE_DIR, SAMPLE_FILES
from tests.apptest import APP, sample_page


@pytest.fixture(scope="module")
def at():
    return sample_page("app_pages/cohorts.py")


def tiles(app) -> dict[str, str]:
    return {m.label: m.value for m in app.metric}


def expected_tiles(grain: str = "M", later: int = 3) -> dict[str, str]:
    """Plain pandas on the sample CSV: calendar cohorts by first activity, the chained average curve."""
    events = pd.read_csv(SAMPLE_DIR / SAMPLE_FILES["activity"], usecols=["User ID", "Timestamp"])
    when = pd.to_datetime(events["Timestamp"])
    period = when.dt.to_period(grain)
    first = period.groupby(events["User ID"]).transform("min")
    n = (period - first).map(lambda d: d.n)
    active = pd.DataFrame({"user": events["User ID"], "cohort": first, "n": n}).drop_duplicates()
    sizes = active.loc[active["n"] == 0].groupby("cohort").size()
    data_end = when.max().normalize()

    def rate(k):
        # chained: Π over steps j = 1..k of (users active in j ÷ users active in j − 1) over the cohorts whose
        # period j ends (last day) on or before the data's last day; period 0 of every cohort is 100 %
        level = 1.0
        for j in range(1, k + 1):
            ok = [c for c in sizes.index if (c + j).end_time.normalize() <= data_end]
            now = active.loc[(active["n"] == j) & active["cohort"].isin(ok)]
            before = active.loc[(active["n"] == j - 1) & active["cohort"].isin(ok)]
            level *= len(now) / len(before)
        return f"{level:.1%}"

    unit = "Month" if grain == "M" else "Week"
    return {"Users": f"{events['User ID'].nunique():,}", "Cohorts": f"{len(sizes):,}",
            f"{unit} 1 retention": rate(1), f"{unit} {later} retention": rate(later)}


def test_monthly_tiles_match_pandas(at):
    shown = tiles(at)
    assert {k: shown[k] for k in ("Users", "Cohorts", "Month 1 retention", "Month 3 retention")} == expected_tiles()
    assert shown["Users"] == "1,900"  # the sample has 1,900 users (sample_data/generate.py n_users)
    captions = " ".join(c.value for c in at.caption)
    assert "incomplete" in captions  # October 2026 is partial and says so
    assert "no user's value changes" in captions


def test_weekly_tiles_and_other_definitions(at):
    at.radio(key="coh_grain").set_value("week").run()
    assert not at.exception
    shown = tiles(at)
    want = expected_tiles("W-SUN", 4)
    assert {k: shown[k] for k in want} == want
    for key, value in (("coh_mode", "rolling"), ("coh_rule", "on_or_after"), ("coh_by", "signup")):
        at.radio(key=key).set_value(value).run()
        assert not at.exception, (key, at.exception)
    assert "Week 4 retention" in tiles(at)
    at.selectbox(key="coh_group").set_value("plan").run()
    assert not at.exception


def test_active_users_show_the_campaign_calendar(at):
    overlaid = lambda: sum('"Campaign channel"' in c.proto.spec for c in at.get("vega_lite_chart"))  # noqa: E731
    assert at.checkbox(key="campaigns_cohorts").value and overlaid() == 1  # DAU/WAU/MAU
    at.checkbox(key="campaigns_cohorts").uncheck().run()
    assert not at.exception and overlaid() == 0


def test_a_hundred_companies_show_the_largest_plus_other_and_a_search():
    from lib.datasets import Workspace
    from tests.test_metrics_cohorts import many_companies_csv

    st.cache_data.clear()
    ws = Workspace()
    ws.load("companies.csv", many_companies_csv(), kinds=["activity"])
    at = AppTest.from_file(APP, default_timeout=90)
    at.session_state["workspace"] = ws
    at.run()
    at.switch_page("app_pages/cohorts.py").run()
    assert not at.exception, at.exception
    box = at.selectbox(key="coh_group")
    assert box.options == ["Company (100 values)", "Plan (3 values)"]

    def group_table():
        return next(d.value for d in at.dataframe if d.value.columns[0] in ("Company", "Plan"))

    # the plans (3 values, every group readable) are offered first
    assert box.value == "plan" and sorted(group_table()["Plan"]) == ["Free", "Pro", "Team"]
    at.selectbox(key="coh_group").set_value("company").run()
    table = group_table()
    # the 8 largest companies, then one row for the other 92, and the users add up to the file's 600
    assert len(table) == 9 and table["Company"].iloc[-1] == "Other (92 groups)" and table["Users"].sum() == 600
    at.number_input(key="coh_group_top").set_value(20).run()
    assert len(group_table()) == 21
    at.text_input(key="coh_group_search").set_value("company 5").run()
    table = group_table()
    assert all(g.startswith("Company 5") for g in table["Company"].iloc[:-1]) and len(table) == 11
    assert table["Users"].sum() == 600 and not at.exception


def test_repeat_purchase_tile_matches_pandas(at):
    """The sample's payments are its orders (no order ID): a customer's second payment within 90 days of the
    first, over customers whose first payment is at least 90 days before the last event."""
    events = pd.read_csv(SAMPLE_DIR / SAMPLE_FILES["activity"], usecols=["User ID", "Timestamp", "Revenue"])
    events["t"] = pd.to_datetime(events["Timestamp"])
    end = events["t"].max()
    paid = events[events["Revenue"] > 0].drop_duplicates(["User ID", "t"]).sort_values("t")
    first = paid.groupby("User ID")["t"].nth(0).set_axis(paid.groupby("User ID").head(1)["User ID"])
    second = paid.groupby("User ID")["t"].nth(1)
    second.index = paid.groupby("User ID").nth(1)["User ID"]
    eligible = first[first <= end - pd.Timedelta(days=90)]
    gap = (second.reindex(eligible.index) - eligible).dt.total_seconds() / 86400
    repeaters = int((gap <= 90).sum())
    at.run()
    assert tiles(at)["Repeat purchase within 90 days"] == f"{repeaters / len(eligible):.1%}"
    captions = " ".join(c.value for c in at.caption)
    assert f"{repeaters:,} of {len(eligible):,} customers" in captions
    assert f"{len(first) - len(eligible):,} customers whose first order is less than 90 days" in captions
    at.number_input(key="th_cohorts_cohorts_repeat_days").set_value(30).run()
    assert not at.exception and "Repeat purchase within 30 days" in tiles(at)
