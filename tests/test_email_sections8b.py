"""The email page's display frames made with fewer pandas steps (session 8b, issue #20): for_display,
history_display and campaign_display give the same frames, dtypes and Arrow bytes as the code before
(6fa8ae9), kept here verbatim as the oracle."""

import pandas as pd
import pytest

from lib.config import Thresholds
from lib.metrics import email as em


def old_for_display(frame: pd.DataFrame) -> pd.DataFrame:
    """lib.metrics.email.for_display before this change (6fa8ae9), verbatim."""
    out = frame.copy(deep=False)  # copy-on-write: the columns set below never reach `frame`
    for col, dtype in frame.dtypes.items():
        if pd.api.types.is_datetime64_any_dtype(dtype):
            values = out[col].dropna()
            if len(values) and (values == values.dt.normalize()).all():
                out[col] = out[col].dt.date
    return out


def same_display(new: pd.DataFrame, old: pd.DataFrame) -> None:
    from streamlit.dataframe_util import convert_anything_to_arrow_bytes

    assert list(new.columns) == list(old.columns) and list(new.dtypes) == list(old.dtypes)
    pd.testing.assert_frame_equal(new, old, check_exact=True)
    assert convert_anything_to_arrow_bytes(new) == convert_anything_to_arrow_bytes(old)


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_for_display_same_as_before(unit):
    midnights = ["2026-01-01", None, "1969-12-31", "1901-03-04"]  # before 1970: negative ticks
    cases = {
        "midnights": midnights, "one second": ["2026-01-01", "2026-01-02 00:00:01", None, None],
        "before 1970 at noon": ["1969-12-31 12:00", "1969-12-30", None, None],
        "a millisecond": ["2026-01-01 00:00:00.001", "2026-01-02", None, None] if unit != "s" else midnights,
        "blank": [None, None, None, None], "one": ["2030-05-05", None, None, None]}
    frame = pd.DataFrame({k: pd.Series(pd.to_datetime(v, format="ISO8601"), dtype=f"datetime64[{unit}]") for k, v in cases.items()})
    frame["n"] = [1, 2, 3, 4]
    frame["zoned"] = pd.to_datetime(["2026-01-01", "2026-01-02", None, "2026-01-04"]).tz_localize("Europe/Paris")
    frame["text"] = ["a", "b", None, "d"]
    for part in (frame, frame.iloc[:0], frame.iloc[[1]], frame.iloc[::-1]):
        out = em.for_display(part)
        same_display(out, old_for_display(part))
        assert part["midnights"].dtype.kind == "M"  # the frame passed in is left as it was
    converted = em.for_display(frame)
    dates = ["midnights", *(["a millisecond"] if unit == "s" else []), "one", "zoned"]
    assert [c for c in frame if converted[c].dtype == object and frame[c].dtype != object] == dates


def test_for_display_page_frames_same_as_before(sample_ws):
    for kind in em.KINDS:
        data = em.email_data(sample_ws.con, sample_ws.get(kind).table)
        rows = em.base_rows(sample_ws.con, data)
        for grain in ("week", "month"):
            f = em.Filters()
            frames = [em.campaign_table(sample_ws.con, data, f, rows=rows).frame,
                      em.rates_by_period(sample_ws.con, data, f, grain, rows=rows).frame,
                      em.program_changes(sample_ws.con, data, f, grain, 4, 2.0, 0.05, rows=rows).frame,
                      em.send_days(sample_ws.con, data, f, rows=rows).frame]
            for frame in frames + [em.campaign_display(frames[0])]:
                same_display(em.for_display(frame), old_for_display(frame))


def old_history_display(limits: pd.DataFrame) -> pd.DataFrame:
    """lib.metrics.email.history_display before this change (2d420b0), verbatim."""
    cols = {"period": "Period", "x": "Numerator", "n": "Denominator (n)", "rate": "Rate",
            "baseline": "Baseline", "base_n": "Baseline n", "low": "Band low", "high": "Band high",
            "z": "z", "sigma_z": "σz", "p_value": "p (one-sided)", "p_adjusted": "p (BH)", "status": "Verdict"}
    out = limits[[c for c in cols if c in limits]].rename(columns=cols)
    out["Period"] = pd.to_datetime(out["Period"]).dt.date
    return out


def old_campaign_display(campaigns: pd.DataFrame) -> pd.DataFrame:
    """lib.metrics.email.campaign_display before this change (2d420b0), verbatim."""
    names = {"send_date": "Sent", "campaign": "Campaign", "topic": "Topic", "list_name": "List",
             "sent": "Sent to", "delivered": "Delivered", "opens": "Unique opens", "clicks": "Unique clicks",
             "unsubscribes": "Unsubscribes", "complaints": "Spam complaints",
             **{r.key: r.label for r in em.RATES + em.HUMAN_RATES},
             "vendor_open_rate": "Vendor open rate", "vendor_click_rate": "Vendor click rate",
             "vendor_note": "Vendor vs counts", "scanner_clicks": "Scanner-like clicks", "_row": "File row"}
    present = [c for c in names if c in campaigns]
    filled = campaigns[present].notna().any().to_numpy()  # one frame-wide check, not a Series a column
    return campaigns[[c for c, some in zip(present, filled) if some]].rename(columns=names)


def test_history_and_campaign_display_same_as_before(sample_ws):
    th = Thresholds()
    compared = 0
    for kind in em.KINDS:
        data = em.email_data(sample_ws.con, sample_ws.get(kind).table)
        rows = em.base_rows(sample_ws.con, data)
        start, end = em.period_range(data.first_send, data.last_send)
        lists = em.choices(sample_ws.con, data, "list_name")
        for f in (em.Filters(), em.Filters(start + (end - start) / 2, end, (lists[0],))):
            campaigns = em.campaign_table(sample_ws.con, data, f, rows=rows).frame
            for frame in (campaigns, campaigns.iloc[:0], campaigns.assign(topic=None) if "topic" in campaigns else campaigns):
                same_display(em.campaign_display(frame), old_campaign_display(frame))
                compared += 1
            for grain in ("week", "quarter"):
                tests = em.baseline_tests(sample_ws.con, data, f, grain, int(th["baseline_periods"]),
                                          th["baseline_alpha"], "period", rows=rows).frame
                for rate in data.usable_rates():
                    if rate.key in {x.key for x in em.RATES}:
                        limits = em.baseline_limits(tests, rate.key, th["baseline_alpha"])
                        same_display(em.history_display(limits), old_history_display(limits))
                        compared += 1
    assert compared > 30
