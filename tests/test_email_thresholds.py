"""Email thresholds per topic/type (issue #22): storage, save/load, and the flags that use them."""

import json

import pandas as pd
import pytest

from lib.config import Thresholds, threshold
from lib.errors import BoundaryError
from lib.metrics import email as em


def test_click_rate_benchmark_is_an_editable_threshold_with_its_source():
    spec = threshold("email_click_rate_min")
    assert spec.default == 0.017 and spec.direction == "below" and spec.unit == "ratio" and spec.per_topic
    assert "1.7%" in spec.source
    assert em.RATE_BY_KEY["click_rate"].threshold_key == "email_click_rate_min"


def test_topic_value_overrides_the_general_one_and_round_trips():
    t = Thresholds().with_topic_value("email_open_rate_min", "welcome", 0.30)
    assert t.for_topic("email_open_rate_min", "welcome") == 0.30
    assert t.for_topic("email_open_rate_min", "promo") == 0.15      # no own value: the general one
    assert t["email_open_rate_min"] == 0.15
    assert t.topic_values("email_open_rate_min") == {"welcome": 0.30}
    # the overrides live in `values` (what the workspace saves) and survive to_json/from_json
    assert t.values["email_open_rate_min@welcome"] == 0.30
    assert Thresholds.from_json(t.to_json()) == t
    assert Thresholds.from_json(json.dumps(dict(t.values))) == t
    # None puts the topic back on the general value
    assert t.with_topic_value("email_open_rate_min", "welcome", None) == Thresholds()


def test_topic_values_only_for_email_rate_thresholds():
    with pytest.raises(KeyError):
        Thresholds().with_topic_value("baseline_alpha", "welcome", 0.1)
    with pytest.raises(BoundaryError, match="unknown thresholds: baseline_alpha@x"):
        Thresholds.from_json('{"baseline_alpha@x": 0.1}', "s.json")
    with pytest.raises(BoundaryError, match="unknown thresholds: email_open_rate_min@"):
        Thresholds.from_json('{"email_open_rate_min@": 0.1}', "s.json")
    # a topic name may itself contain the separator: only the first one splits
    t = Thresholds.from_json('{"email_ctor_min@a@b": 0.2}')
    assert t.for_topic("email_ctor_min", "a@b") == 0.2


def test_workspace_save_and_restore_keeps_topic_values():
    from lib.datasets import Workspace
    ws = Workspace()
    try:
        ws.thresholds = ws.thresholds.with_topic_value("email_click_rate_min", "promo", 0.01)
        snap = ws.snapshot()
        other = Workspace()
        try:
            other.restore(snap)
            assert other.thresholds.for_topic("email_click_rate_min", "promo") == 0.01
            assert other.state_key() == ws.state_key()
        finally:
            other.close()
    finally:
        ws.close()


def _sends(rows):
    frame = pd.DataFrame(rows, columns=["campaign", "send_date", "topic", "open_rate_x", "open_rate_n"])
    frame["send_date"] = pd.to_datetime(frame["send_date"])
    frame["period"] = frame["send_date"].dt.to_period("M").dt.to_timestamp()
    frame["open_rate"] = frame["open_rate_x"] / frame["open_rate_n"]
    return frame


def test_sends_use_their_topics_value_and_periods_the_mix():
    # welcome: 240 opens of 1,000 = 24 % (exact 95 % CI 21.4 %–26.8 %: clear under a 30 % welcome line,
    # clear over the general 15 %); promo: 540 of 3,000 = 18 %, above the general 15 %.
    sends = _sends([("Welcome", "2026-03-02", "welcome", 240, 1000), ("Promo", "2026-03-03", "promo", 540, 3000)])
    periods = pd.DataFrame({"period": [pd.Timestamp("2026-03-01")], "subject": ["Mar 2026"],
                            "open_rate_x": [780], "open_rate_n": [4000], "open_rate": [780 / 4000]})
    general = Thresholds()
    assert em.threshold_flags(sends, "campaign", "send_date", general, (em.RATE_BY_KEY["open_rate"],), False,
                              "send") == []
    own = general.with_topic_value("email_open_rate_min", "welcome", 0.30)
    s, p = em.with_topic_limits(sends, periods, own, (em.RATE_BY_KEY["open_rate"],))
    assert s["open_rate_limit"].tolist() == [0.30, 0.15]
    # the month is held to its mix: (1000·0.30 + 3000·0.15) / 4000 = 0.1875; its 19.5 % is above that
    assert p["open_rate_limit"].tolist() == [pytest.approx(0.1875)]
    flags = em.threshold_flags(s, "campaign", "send_date", own, (em.RATE_BY_KEY["open_rate"],), False, "send")
    assert [(f.subject, f.reference) for f in flags] == [("Welcome", 0.30)]
    assert "this topic's own" in flags[0].test
