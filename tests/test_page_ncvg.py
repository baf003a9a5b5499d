"""The NCVG page with the sample data and with the real RavenStack customer file (AppTest)."""

import pandas as pd
import streamlit as st
from streamlit.testing.v1 import AppTest

from lib.datasets import Workspace
from lib.metrics import ncvg as m
from lib.sample import load_samples
from tests.apptest import APP, fresh_app, sample_page
from tests.conftest import real_file

LABELS = ["New customers", "Lost customers", "Net customers", "New value", "Lost value", "Net value"]


def tiles(at: AppTest) -> dict[str, str]:
    return {t.label: str(t.value) for t in at.metric}


def number(text: str) -> float:
    return float(text.replace("$", "").replace("€", "").replace(",", "").replace("−", "-").replace("+", ""))


def expected_totals(currency: str, value: str) -> pd.Series:
    """The same figures straight from lib on the sample files, for the page's wiring."""
    ws = Workspace()
    try:
        load_samples(ws, ["subscriptions"])
        b = m.make_basis(ws.con, ws.get("subscriptions"), currency, value)
        return m.ncvg_totals(ws.con, b).frame.iloc[0]
    finally:
        ws.close()


def test_sample_tiles_currency_and_arr_switch():
    at = sample_page("app_pages/ncvg.py")
    shown = tiles(at)
    assert all(label in shown for label in LABELS)
    assert not at.error
    t = expected_totals("USD", "mrr")
    assert number(shown["New customers"]) == t.new_customers
    assert number(shown["Lost customers"]) == t.lost_customers
    assert number(shown["Net customers"]) == number(shown["New customers"]) - number(shown["Lost customers"])
    assert shown["New value"] == f"${t.new_value:,.0f}" and shown["Lost value"] == f"${t.lost_value:,.0f}"
    assert shown["Net value"] == f"+${t.net_value:,.0f}"
    assert "New-customer trials that did not convert" in shown and "Expansion trials that did not convert" in shown
    assert shown["Cancellations scheduled after the as-of date"] in ("1", "1.0")
    # ended without renewal is per subscription; customers lost stands beside it, per customer
    assert "Subscriptions ended without renewal" in shown and "Customers lost, whole file" in shown
    captions = " ".join(c.value for c in at.caption)
    assert "in EUR (another currency" in captions  # the other currency is reported, not summed
    # periods in which campaigns ran are shaded on the customers and value charts
    assert at.checkbox(key="campaigns_ncvg").value
    assert sum('"Campaigns running"' in c.proto.spec for c in at.get("vega_lite_chart")) == 2
    sentences = " ".join(md.value for md in at.markdown)
    assert "we gained" in sentences and "MRR" in sentences

    at.selectbox(key="ncvg_currency_subscriptions").set_value("EUR").run()
    assert not at.exception
    eur = expected_totals("EUR", "mrr")
    shown = tiles(at)
    assert shown["New value"] == f"€{eur.new_value:,.0f}" and number(shown["New customers"]) == eur.new_customers

    at.radio(key="ncvg_value").set_value("arr").run()
    assert not at.exception
    eur_arr = expected_totals("EUR", "arr")
    assert tiles(at)["New value"] == f"€{eur_arr.new_value:,.0f}"
    assert eur_arr.new_value == eur.new_value * 12

    at.radio(key="ncvg_grain").set_value("quarter").run()
    assert not at.exception
    assert any("In Q" in md.value for md in at.markdown)


def test_customer_file_alone_counts_only():
    st.cache_data.clear()
    path = real_file("ravenstack_accounts.csv")
    ws = Workspace()
    ws.load(path.name, path.read_bytes(), kinds=["subscriptions", "customers"])
    at = AppTest.from_file(APP, default_timeout=90)
    at.session_state["workspace"] = ws
    at.run()
    at.switch_page("app_pages/ncvg.py").run()
    assert not at.exception, at.exception
    raw = pd.read_csv(path)
    shown = tiles(at)
    assert number(shown["New customers"]) == len(raw)
    assert number(shown["Lost customers"]) == raw["churn_flag"].sum()
    assert number(shown["Net customers"]) == len(raw) - raw["churn_flag"].sum()
    assert any("carries no recurring value" in i.value for i in at.info)


def test_value_history_drives_the_waterfall_and_the_source_can_be_switched():
    from tests.test_metrics_ncvg import MOVEMENTS_CSV

    st.cache_data.clear()
    ws = Workspace()
    load_samples(ws, ["subscriptions"])
    ws.load("mrr_movements.csv", MOVEMENTS_CSV.encode(), kinds=["subscriptions", "value_history", "customers"])
    at = AppTest.from_file(APP, default_timeout=90)
    at.session_state["workspace"] = ws
    at.run()
    at.switch_page("app_pages/ncvg.py").run()
    assert not at.exception, at.exception
    assert at.radio(key="ncvg_source").value == "value_history"
    assert any("mrr_movements.csv" in c.value.replace("\\", "") for c in at.caption)  # markdown may escape _
    # the test file's amounts are money, not ChartMogul's cents
    at.checkbox(key="ncvg_cents_" + ws.get("value_history").digest[:8]).uncheck().run()
    shown = tiles(at)
    # hand-worked in tests/test_metrics_ncvg.py: new 5 worth $530, lost 1 worth $80, net +4 / +$450
    assert (shown["New customers"], shown["Lost customers"], shown["Net customers"]) == ("5", "1", "+4")
    assert (shown["New value"], shown["Lost value"], shown["Net value"]) == ("$530", "$80", "+$450")
    assert any("need a subscriptions export" in i.value for i in at.info)
    bridge = [c.proto for c in at.get("vega_lite_chart") if "Value bridge" in c.proto.spec]
    # the bar labels in the chart's Arrow data: start 0, new business +440, reactivation +90, expansion +50,
    # contraction −80, churn −80, end 420
    assert bridge and b"+440+90+50-80-80420" in bridge[0].datasets[0].data.data
    at.radio(key="ncvg_gaps_" + ws.get("value_history").digest[:8]).set_value("snapshots").run()
    assert not at.exception
    at.radio(key="ncvg_source").set_value("subscriptions").run()
    assert not at.exception
    t = expected_totals("USD", "mrr")
    assert tiles(at)["New value"] == f"${t.new_value:,.0f}"
    assert "New-customer trials that did not convert" in tiles(at)


def test_chartmogul_movements_are_read_as_cents_by_default():
    from tests.test_metrics_ncvg import MOVEMENTS_CSV

    at = fresh_app()
    at.switch_page("app_pages/ncvg.py").run()
    at.file_uploader(key="upload_ncvg").set_value(("mrr_movements.csv", MOVEMENTS_CSV.encode(), "text/csv")).run()
    assert not at.exception, at.exception
    box = next(c for c in at.checkbox if c.label.startswith("Amounts in cents"))
    assert box.value  # ChartMogul's movement types: cents
    assert tiles(at)["New value"] == "$5" and tiles(at)["Net value"] == "+$5"  # 530 and 450 cents
    box.uncheck().run()
    assert tiles(at)["New value"] == "$530" and tiles(at)["Net value"] == "+$450"


def test_a_hundred_industries_show_the_largest_plus_other_and_a_search():
    from tests.test_metrics_ncvg import many_industries_files

    st.cache_data.clear()
    accounts_csv, subs_csv = many_industries_files()
    ws = Workspace()
    ws.load("subs.csv", subs_csv, kinds=["subscriptions"])
    ws.load("accounts.csv", accounts_csv, kinds=["customers"])
    at = AppTest.from_file(APP, default_timeout=90)
    at.session_state["workspace"] = ws
    at.run()
    at.switch_page("app_pages/ncvg.py").run()
    assert not at.exception, at.exception
    box = at.selectbox(key="ncvg_segment")
    assert box.value == "segment" and box.options == ["Industry (100 values)", "Country (3 values)"]

    def segment_table():
        return next(d.value for d in at.dataframe if "Industry" in d.value.columns or "Country" in d.value.columns)

    table = segment_table()
    # the 15 groups worth most, then one row for the other 85, and the customers add up to the file's 400
    assert len(table) == 16 and table["Industry"].iloc[-1] == "Other (85 groups)"
    assert table["customers_in_file"].sum() == 400
    at.text_input(key="ncvg_segment_search").set_value("industry 5").run()
    table = segment_table()
    assert all("Industry 5" in s for s in table["Industry"].iloc[:-1]) and table["Industry"].iloc[-1] == "Other (90 groups)"
    assert table["customers_in_file"].sum() == 400
    at.text_input(key="ncvg_segment_search").set_value("").run()
    at.selectbox(key="ncvg_segment").set_value("country").run()
    assert not at.exception
    table = segment_table()
    assert sorted(table["Country"]) == ["DE", "FR", "US"] and table["customers_in_file"].sum() == 400


def test_the_bridge_caption_reconciles_the_net_value_tile_with_the_waterfall():
    import re

    at = sample_page("app_pages/ncvg.py")
    caption = next(c.value for c in at.caption if c.value.startswith("The tiles' net value"))
    money = r"([+−]?[$€]?[\d,]+)"
    tile, expansion, contraction, start, end, ncvg, moved = (number(x) for x in re.findall(money, caption)[:7])
    assert tile == ncvg == round(expected_totals("USD", "mrr")["net_value"])
    # start + NCVG + expansion − contraction = end, to the dollar (the figures are rounded to whole units)
    assert abs(start + ncvg + expansion - contraction - end) <= 2 and abs(moved - (expansion - contraction)) <= 1
