"""The email calibration twin's planted pause (issue #22): the gap flag finds it, the null file has none."""

import pandas as pd

from bench import calibration
from bench.calibration_data import EMAIL_PAUSE, PLANTED, generate


def test_twin_pause_keeps_every_other_send_and_is_found_by_the_gap_flag():
    null, twin = generate("email", 1), generate("email", 1, twin=True)
    when = lambda f: pd.to_datetime(f["Send Date"], format="%m/%d/%y %H:%M")  # noqa: E731
    paused = (when(null.frame) >= EMAIL_PAUSE[0]) & (when(null.frame) < EMAIL_PAUSE[1])
    assert paused.sum() > 10 and not ((when(twin.frame) >= EMAIL_PAUSE[0]) & (when(twin.frame) < EMAIL_PAUSE[1])).any()
    # sends outside the pause and the other planted windows keep the null file's numbers
    quiet = ~paused & (when(null.frame) < pd.Timestamp("2026-03-01"))
    kept = twin.frame[when(twin.frame) < pd.Timestamp("2026-03-01")].reset_index(drop=True)
    pd.testing.assert_frame_equal(null.frame[quiet].reset_index(drop=True), kept)
    gap_rule = PLANTED["email"][2]
    twin_flags, _ = calibration.area_flags(twin)
    null_flags, _ = calibration.area_flags(null)
    assert any(gap_rule.found_by(f) for f in twin_flags)
    assert not any(f.metric == "Gap in sending" for f in null_flags)
