"""Charts of the email page's send-time and consistency sections (issue #22), checked on their spec."""

import json

import pandas as pd

from lib.charts.email import gaps_chart, send_time_chart


def test_send_time_chart_titles_its_units_and_keeps_weekday_order():
    rates = pd.DataFrame({"weekday": ["Monday", "Tuesday", "Friday"], "sends": [2, 3, 1], "x": [70, 90, 40],
                          "n": [2000, 3000, 1000], "rate": [0.035, 0.03, 0.04], "low": [0.025, 0.02, 0.029],
                          "high": [0.045, 0.04, 0.054]})
    spec = send_time_chart(rates, "weekday", "Open rate", "open_rate").to_dict()
    assert spec["title"] == "Open rate by weekday (%, with 95% intervals by send)"
    bars, whiskers = spec["layer"]
    assert bars["encoding"]["x"]["sort"] == ["Monday", "Tuesday", "Friday"]  # calendar order, not alphabetical
    assert bars["encoding"]["y"]["title"] == "Open rate (%)" and bars["encoding"]["y"]["axis"]["format"] == ".1%"
    assert whiskers["encoding"]["y"]["field"] == "low" and whiskers["encoding"]["y2"]["field"] == "high"
    hours = send_time_chart(rates.rename(columns={"weekday": "hour"}).assign(hour=[9, 10, 14]), "hour",
                            "Unsubscribe rate", "unsubscribe_rate").to_dict()
    assert hours["title"] == "Unsubscribe rate by hour of send (%, with 95% intervals by send)"
    assert hours["layer"][0]["encoding"]["y"]["axis"]["format"] == ".2%"  # rare rates get two decimals


def test_gaps_chart_shades_each_break():
    days = pd.DataFrame({"day": pd.to_datetime(["2026-01-05", "2026-01-12", "2026-03-16"]), "sends": [1, 1, 3]})
    gaps = pd.DataFrame({"last_send": pd.to_datetime(["2026-01-12"]), "resumed": pd.to_datetime(["2026-03-16"]),
                         "gap_days": [63], "sends_after": [3]})
    spec = gaps_chart(days, gaps).to_dict()
    assert len(spec["layer"]) == 2 and spec["layer"][0]["mark"]["type"] == "rect"
    assert '"x2": {"field": "resumed"' in json.dumps(spec)
    assert len(gaps_chart(days, gaps.iloc[0:0]).to_dict()["layer"]) == 1  # no break: send days only
