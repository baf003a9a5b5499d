"""Email chart builders: what the reader sees, checked on the chart's spec."""

import json

import pandas as pd

from lib.charts.email import frequency_chart


def test_frequency_line_leaves_out_the_part_period():
    # the last week has 2 days of data: its emails per recipient per week (scaled ×3.5) is drawn as a
    # hollow grey point beside the line, which joins the complete weeks only
    frame = pd.DataFrame({"period": pd.date_range("2026-01-05", periods=3, freq="7D"), "sends": [4, 5, 2],
                          "emails_per_recipient_week": [1.2, 1.3, 5.3], "incomplete": [False, False, True]})
    spec = frequency_chart(frame).to_dict()
    text = json.dumps(spec)
    assert '"filled": false' in text
    assert "(datum.status === 'complete')" in text and "(datum.status !== 'complete')" in text


def test_topic_share_bars_span_their_period():
    """Each bar runs from its period's start to the next period's (the last one by the usual gap), so
    monthly bars fill their month instead of drawing as hairlines on a time axis."""
    import pandas as pd

    from lib.charts.email import topic_share_chart

    frame = pd.DataFrame({"period": pd.to_datetime(["2026-01-01", "2026-01-01", "2026-02-01", "2026-03-01"]),
                          "topic": ["a", "b", "a", "b"], "delivered": [10, 20, 30, 40], "open_rate": [.1, .2, .3, .4]})
    chart = topic_share_chart(frame)
    assert chart.to_dict()["encoding"]["x2"] == {"field": "period_end"}
    ends = dict(zip(chart.data["period"], chart.data["period_end"]))
    # Jan → Feb 1, Feb → Mar 1, Mar → Mar 1 + the median gap (31 and 28 days → 29.5 days)
    assert ends[pd.Timestamp("2026-01-01")] == pd.Timestamp("2026-02-01")
    assert ends[pd.Timestamp("2026-02-01")] == pd.Timestamp("2026-03-01")
    assert ends[pd.Timestamp("2026-03-01")] == pd.Timestamp("2026-03-01") + pd.Timedelta(days=29.5)
    assert topic_share_chart(frame.iloc[:0]).to_dict()  # no sends: an empty chart, no error
