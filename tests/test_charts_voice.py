"""Voice charts: the shapes the page relies on (Altair specs, not pixels)."""

import pandas as pd

from lib.charts.voice import rate_with_baseline


def test_rate_axis_uses_the_themes_time_labels():
    # four months: Vega-Lite puts ticks every week or two, and a fixed "%b %Y" format labelled them
    # "Jan 2015, Jan 2015, Jan 2015…"; the theme labels weeks as dates and months with their year
    frame = pd.DataFrame({"period": pd.date_range("2015-01-01", periods=4, freq="MS"), "label": ["a"] * 4,
                          "share_negative": [0.4] * 4, "lo": [0.3] * 4, "hi": [0.5] * 4, "base": [0.4] * 4,
                          "texts": [10] * 4})
    spec = rate_with_baseline(frame, "share_negative", "lo", "hi", "base", "t", "Share").to_dict()
    for layer in spec["layer"]:
        assert "format" not in (layer["encoding"]["x"].get("axis") or {})
