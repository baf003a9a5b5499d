"""Tables on every page get readable headers without renaming the frame."""

import pandas as pd
import streamlit as st
from hypothesis import given
from hypothesis import strategies as st_

from lib.result import column_format, column_label
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
    assert seen["placeholder"] == "—"  # a blank cell shows a dash, not Streamlit's "None"
    common.show_table(frame, placeholder="")  # a caller may choose its own
    assert seen["placeholder"] == ""

_names = st_.lists(st_.sampled_from(["share", "rate", "value", "days", "pct", "id", "n", "mrr", "x"]),
                   min_size=1, max_size=3).map("_".join)


@given(name=_names, values=st_.lists(st_.floats(-1e7, 1e7, allow_nan=False), min_size=1, max_size=20))
def test_column_format_never_shows_a_value_wrongly(name, values):
    fmt = column_format(name, pd.Series(values, dtype="float64"))
    if fmt == "percent":  # a ratio: only when every value is within ±1
        assert max(abs(v) for v in values) <= 1.0
    if fmt == "%,d":  # whole-number display only when nothing would be rounded away
        assert all(float(v).is_integer() for v in values)
    assert fmt is None or "id" not in name.split("_")
    assert column_label(name).strip() and "_" not in column_label(name)


def _flags_page():
    import pandas as pd
    import streamlit as st

    from lib.result import Flag
    from ui.common import flags_table

    flags = [Flag("email", "Open rate", "Mar 2025", 0.12, 0.15, "below 15%", "high", period=pd.Timestamp("2025-03-01")),
             Flag("nps", "NPS", "Q1 2025", 12.0, 20.0, "below 20", "low", period=pd.Timestamp("2025-01-01"))]
    flags_table(flags[:1] if st.session_state.get("fewer") else flags, key="t")


def test_flags_table_shows_the_flags_frame_made_once_per_flags(monkeypatch):
    from streamlit.testing.v1 import AppTest

    from lib.result import flags_frame

    made = []

    def counting(*args, **kwargs):
        made.append(args[0])
        return flags_frame(*args, **kwargs)

    monkeypatch.setattr(common, "flags_frame", counting)
    at = AppTest.from_function(_flags_page).run()
    assert not at.exception, at.exception
    expected = flags_frame(made[0], formatted=True)  # the table as flags_table made it before the memo
    pd.testing.assert_frame_equal(at.dataframe[0].value, expected)
    at.run()
    assert len(made) == 1  # the same flags on a rerun: the table is not made again
    pd.testing.assert_frame_equal(at.dataframe[0].value, expected)
    at.session_state["fewer"] = True
    at.run()  # other flags: made again
    assert len(made) == 2 and list(at.dataframe[0].value["Metric"]) == ["Open rate"]


def _drawn_before_its_editor():
    import streamlit as st

    from ui.common import threshold_editor, workspace

    st.markdown(f"line {workspace().thresholds['nps_referral_min_score']:g}")  # a figure drawn before the editor
    panel = st.expander("Thresholds", key="t_thresholds", on_change="rerun")
    if panel.open:
        with panel:
            threshold_editor("nps", "t")


def test_a_threshold_change_reaches_figures_drawn_before_the_editor_on_the_same_run():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_drawn_before_its_editor).run()
    assert not at.number_input  # the panel is built only when open
    at.session_state["t_thresholds"] = True
    at.run()
    box = at.number_input(key="th_t_nps_referral_min_score")
    assert at.markdown[0].value == f"line {box.value:g}"
    box.set_value(7.0).run()  # applied in the input's callback, before the page runs
    assert at.markdown[0].value == "line 7"
    assert at.session_state["workspace"].thresholds["nps_referral_min_score"] == 7.0


def _column_format_pandas(name, values):
    """column_format as it was, on pandas' dropna/abs/round: the oracle of the array version."""
    if not pd.api.types.is_float_dtype(values):
        return None
    words = set(str(name).lower().replace(" ", "_").split("_"))
    finite = values.dropna()
    if finite.empty or words & {"id", "year"}:
        return None
    top = float(finite.abs().max())
    if words & {"share", "rate", "retention", "conversion", "grr", "nrr"} and top <= 1.0:
        return "percent"
    in_points = "%" in str(name) or bool(words & {"pct", "percent"})
    if (finite == finite.round()).all() and not in_points:
        return "%,d"
    average = bool(words & {"per", "avg", "average", "mean", "median"})
    return "%,.2f" if top >= 10 or in_points or average else None


@given(name=_names | st_.sampled_from(["Detractors %", "emails_per_recipient_week", "year", "mean gap"]),
       values=st_.lists(st_.one_of(st_.floats(-1e7, 1e7), st_.sampled_from([float("nan"), float("inf"), 0.5, 3.0])),
                        max_size=12),
       dtype=st_.sampled_from(["float64", "Float64", "float32"]))
def test_column_format_on_arrays_equals_the_pandas_form(name, values, dtype):
    series = pd.Series(values, dtype="float64").astype(dtype)
    if dtype == "Float64":  # the nullable dtype: blanks are pd.NA
        series[series.isna()] = pd.NA
    assert column_format(name, series) == _column_format_pandas(name, series)


def test_column_format_of_non_float_columns_is_none():
    for values in (pd.Series([1, 2]), pd.Series(["a", None]), pd.Series([True, False]),
                   pd.Series(pd.to_datetime(["2024-01-01", None]))):
        assert column_format("rate", values) is None


def test_campaigns_on_keeps_the_chosen_channels_rows_and_numbers():
    calendar = pd.DataFrame({"campaign": pd.Series(["A", "B", "C"], dtype="string"),
                             "channel": pd.Series(["email", "in-app", "email"], dtype="string")})
    picked = common.campaigns_on(calendar, ("email",))
    assert picked["campaign"].tolist() == ["A", "C"] and picked.index.tolist() == [0, 2]
    assert common.campaigns_on(calendar, ()).empty
