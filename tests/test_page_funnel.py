"""AppTest of the Funnel page: sample data from the home page, the real Olist exports (with the closed
deals joined on lead ID), and a threshold edit. Expected numbers are worked out with pandas, apart
from the page's own code path."""

from pathlib import Path

import pandas as pd
import pytest

from tests.apptest import fresh_app, sample_page
from tests.conftest import real_file

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "leads.xlsx"
TILES = ["Leads", "MQLs", "SQLs", "Opportunities", "Customers", "Lead → Customer"]


def tiles(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


@pytest.mark.skipif(not SAMPLE.exists(), reason="sample data not generated yet")
def test_sample_data_tiles():
    at = sample_page("app_pages/funnel.py")
    shown = tiles(at)
    assert all(label in shown for label in TILES)
    assert "Leads at or above the MQL threshold" in shown  # the sample has behaviours to score
    frame = pd.read_excel(SAMPLE)
    # Every sample contact has a Create Date, so every one is a lead
    assert shown["Leads"] == f"{frame['Record ID'].nunique():,}"
    # Customers within the 90-day window: first recorded stage date → earliest customer-or-later date
    dates = frame[[c for c in frame.columns if c.startswith("Became a") and "Lead Date" not in c
                   or c == "Create Date"]].apply(pd.to_datetime)
    entered = dates.min(axis=1)
    won = pd.to_datetime(frame["Became a Customer Date"])
    customers = int(((won - entered).dt.total_seconds() <= 90 * 86400).sum())
    assert shown["Customers"] == f"{customers:,}"
    assert shown["Lead → Customer"] == f"{customers / frame['Record ID'].nunique():.1%}"
    assert not at.error
    captions = " ".join(c.value for c in at.caption)
    assert "Scores here are today's" in captions  # conversion by score band reads today's behaviour counts
    # the sample cost sheet is monthly (every date the 1st): the rule under cost per MQL says how months count
    assert "covering its whole calendar month" in captions and "in proportion to its days inside the range" in captions
    # Raising the MQL score threshold can only shrink the qualifying leads
    before = int(shown["Leads at or above the MQL threshold"].replace(",", ""))
    at.session_state["funnel_thresholds"] = True  # the thresholds panel is built only when open
    at.run()
    at.number_input(key="th_funnel_funnel_mql_score_min").set_value(90).run()
    after = int(tiles(at)["Leads at or above the MQL threshold"].replace(",", ""))
    assert after < before
    assert at.session_state["workspace"].thresholds["funnel_mql_score_min"] == 90
    at.run()  # the edit survives the next rerun
    assert tiles(at)["Leads at or above the MQL threshold"] == f"{after:,}"
    # the campaign calendar is drawn on new leads / MQLs per period; unticking removes it
    overlaid = lambda: sum('"Campaign channel"' in c.proto.spec for c in at.get("vega_lite_chart"))  # noqa: E731
    assert at.checkbox(key="campaigns_funnel").value and overlaid() == 1
    at.checkbox(key="campaigns_funnel").uncheck().run()
    assert not at.exception and overlaid() == 0


def test_real_olist_files_with_closed_deals_joined():
    at = fresh_app()
    at.switch_page("app_pages/funnel.py").run()
    mql_path = real_file("olist_marketing_qualified_leads_dataset.csv")
    won_path = real_file("olist_closed_deals_dataset.csv")
    at.file_uploader(key="upload_funnel").set_value((mql_path.name, mql_path.read_bytes(), "text/csv")).run()
    assert not at.exception, at.exception
    assert tiles(at)["Leads"] == "8,000" and tiles(at)["Customers"] == "—"
    # one dated stage: the page says so and opens the join panel
    assert any("dates for one stage only (Lead)" in i.value for i in at.info)
    assert any(i.value.startswith("No scoring rules yet") for i in at.info)  # no behaviour or profile columns
    assert "Leads at or above the MQL threshold" not in tiles(at)
    assert next(e for e in at.expander if e.label.startswith("Join a second file")).proto.expanded
    at.file_uploader(key="upload_funnel_closed").set_value((won_path.name, won_path.read_bytes(), "text/csv")).run()
    assert not at.exception, at.exception
    mql = pd.read_csv(mql_path, parse_dates=["first_contact_date"])
    won = pd.read_csv(won_path, parse_dates=["won_date"]).merge(mql, on="mql_id")
    days = (won["won_date"] - won[["first_contact_date", "won_date"]].min(axis=1)).dt.total_seconds() / 86400
    expected = int((days <= 90).sum())
    shown = tiles(at)
    assert shown["Leads"] == "8,000"
    assert shown["Customers"] == f"{expected:,}"
    assert shown["Lead → Customer"] == f"{expected / 8000:.1%}"
    assert shown["MQLs"] == "—"
    assert not at.error and not any("one stage only" in i.value for i in at.info)


def test_a_hundred_companies_show_the_largest_plus_other_and_a_search():
    from tests.test_metrics_funnel import many_companies_leads_csv

    at = fresh_app()
    at.switch_page("app_pages/funnel.py").run()
    at.file_uploader(key="upload_funnel").set_value(("leads.csv", many_companies_leads_csv(), "text/csv")).run()
    assert not at.exception, at.exception
    box = at.selectbox(key="funnel_by")
    assert box.value == "source" and box.options == ["Source (3 values)", "Company (100 values)"]

    def group_table():
        return next(d.value for d in at.dataframe if "conversion" in d.value.columns and "group" in d.value.columns)

    assert sorted(group_table()["group"]) == ["Ads", "Email", "Web"]
    box.set_value("company").run()
    table = group_table()
    # the 10 companies with most leads, then one row for the other 90; leads add up to the file's 1,000
    assert len(table) == 11 and table["group"].iloc[-1] == "Other (90 groups)" and table["Lead"].sum() == 1000
    at.text_input(key="funnel_by_search").set_value("company 9").run()
    table = group_table()
    assert all(g.startswith("Company 9") for g in table["group"].iloc[:-1]) and table["Lead"].sum() == 1000
    assert not at.exception


def _table_with(at, column):
    return next(d.value for d in at.dataframe if column in d.value.columns)


@pytest.mark.skipif(not SAMPLE.exists(), reason="sample data not generated yet")
def test_rule_impact_touches_and_programs_on_the_sample():
    at = sample_page("app_pages/funnel.py")
    assert not at.exception and not at.error
    frame = pd.read_excel(SAMPLE)
    # The sample's story: a trial only starts once a lead is far past the MQL bar, so the default
    # "Trial started" rule (+25) never changes who qualifies — and the page says so.
    assert any("never change who qualifies" in w.value and "Trial started" in w.value for w in at.warning)
    impact = _table_with(at, "mql_changed").set_index("rule")
    trials = int((frame["Trial started"] == "Yes").sum())
    assert impact.loc["Trial started", "fired"] == trials and impact.loc["Trial started", "no_impact"]
    assert impact.loc["Demo requested", "fired"] == int((frame["Demo requested"] == "Yes").sum())
    assert not impact.loc["Demo requested", "no_impact"]
    # Touches: the sum of the behaviour columns per lead that became a customer within the 90-day window
    dates = frame[[c for c in frame.columns if c.startswith("Became a") and "Lead Date" not in c
                   or c == "Create Date"]].apply(pd.to_datetime)
    won = (pd.to_datetime(frame["Became a Customer Date"]) - dates.min(axis=1)).dt.total_seconds() <= 90 * 86400
    touches = (frame[["Email opens", "Email clicks", "Page views", "Webinars attended"]].sum(axis=1)
               + (frame["Demo requested"] == "Yes") + (frame["Trial started"] == "Yes"))
    shown = tiles(at)
    assert shown["Median touches to Customer"] == f"{touches[won].median():g}"
    assert shown["Median of leads not reaching Customer"] == f"{touches[~won].median():g}"
    # Programs: one row per campaign plus "(no program)", adding up to the funnel's leads; MQL rate per program
    programs = _table_with(at, "program").set_index("program")
    assert programs["leads"].sum() == frame["Record ID"].nunique()
    give = frame["Campaign"] == "Spring giveaway"
    assert programs.loc["Spring giveaway", "leads"] == int(give.sum())
    assert programs.loc["(no program)", "leads"] == int(frame["Campaign"].isna().sum())
    # customer value from the sample's Total Revenue column: the giveaway's customers are worth least
    assert programs["value_per_customer"].idxmin() == "Spring giveaway"
    assert programs.loc["Spring giveaway", "customer_value"] == pytest.approx(
        frame.loc[give & won, "Total Revenue"].sum())


def test_olist_programs_value_from_the_joined_closed_deals():
    at = fresh_app()
    at.switch_page("app_pages/funnel.py").run()
    mql_path = real_file("olist_marketing_qualified_leads_dataset.csv")
    won_path = real_file("olist_closed_deals_dataset.csv")
    at.file_uploader(key="upload_funnel").set_value((mql_path.name, mql_path.read_bytes(), "text/csv")).run()
    at.file_uploader(key="upload_funnel_closed").set_value((won_path.name, won_path.read_bytes(), "text/csv")).run()
    assert not at.exception, at.exception
    assert at.selectbox(key="funnel_value_col").value == "olist_closed_deals_dataset.csv: declared_monthly_revenue"
    programs = _table_with(at, "program")
    assert programs["leads"].sum() == 8000  # every Olist MQL sits in one landing-page program or "(no program)"
    mql = pd.read_csv(mql_path, parse_dates=["first_contact_date"])
    won = pd.read_csv(won_path, parse_dates=["won_date"]).merge(mql, on="mql_id")
    days = (won["won_date"] - won[["first_contact_date", "won_date"]].min(axis=1)).dt.total_seconds() / 86400
    inside = won[days <= 90]
    # Olist has no MQL stage, so the programs' "MQL" is Customer and the table names it so, once
    assert programs["Customers"].sum() == len(inside) and list(programs.columns).count("Customers") == 1
    assert programs["customer_value"].sum() == pytest.approx(inside["declared_monthly_revenue"].sum())
