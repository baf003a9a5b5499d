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
