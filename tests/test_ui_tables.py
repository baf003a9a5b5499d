"""Tables on every page get readable headers without renaming the frame."""

import pandas as pd
import streamlit as st

from ui import common


def test_show_table_labels_snake_case_columns_and_keeps_the_callers_labels(monkeypatch):
    seen = {}
    monkeypatch.setattr(st, "dataframe", lambda frame, **kw: seen.update(frame=frame, **kw))
    frame = pd.DataFrame({"pct_of_start": ["50%"], "Campaign": ["A"], "p25_days": [3.0], "value_change": [1.0],
                          "share_of_value": [0.25], "Revenue": [1234.5]})
    common.show_table(frame, column_config={"value_change": st.column_config.NumberColumn(format="%.2f"),
                                            "p25_days": "Quickest quarter (days)"})
    config = seen["column_config"]
    assert config["pct_of_start"] == "% of start" and "Campaign" not in config
    assert config["p25_days"] == "Quickest quarter (days)"  # the caller's label wins
    assert config["value_change"]["label"] == "Value change" and config["value_change"]["type_config"]["format"] == "%.2f"
    assert config["share_of_value"]["label"] == "Share of value"
    assert config["share_of_value"]["type_config"]["format"] == "percent"
    assert config["Revenue"]["label"] is None and config["Revenue"]["type_config"]["format"] == "%,.2f"
    assert list(seen["frame"].columns) == list(frame.columns) and seen["hide_index"] is True
