"""Keeps bench/calibration.py from rotting: one null file per area is generated, loaded the way an
upload is, and the report's flags are gathered. No assertion on how many flags (that is what the
benchmark measures); the generators' invariants are checked, since a generator that writes
impossible counts would make every figure of the benchmark meaningless."""

import numpy as np
import pandas as pd
import pytest

from bench import calibration
from bench.calibration_data import END, GENERATORS, PLANTED, Planted, generate
from lib import schemas
from lib.result import SEVERITIES, Flag

SEED = 1


@pytest.fixture(scope="module")
def nulls():
    return {area: generate(area, SEED) for area in GENERATORS}


@pytest.mark.parametrize("area", list(GENERATORS))
def test_null_file_loads_and_flags_gather(area, nulls):
    export = nulls[area]
    assert export.planted == ()
    flags, notes = calibration.area_flags(export)  # raises when the file is not read as its kind
    assert notes == []
    assert all(isinstance(f, Flag) and f.area == area and f.severity in SEVERITIES for f in flags)
    counts = calibration.severity_counts(flags)
    assert counts["all"] == sum(counts[s] for s in SEVERITIES)


def test_every_kind_column_the_flags_need_is_recognised(nulls):
    from lib.datasets import Workspace

    needed = {"email": {"topic", "list_name", "sent", "delivered", "unsubscribes", "spam_complaints"},
              "nps": {"score", "response_date"}, "in_app": {"message_type", "dwell"},
              "funnel": {"created_date", "mql_date", "sql_date", "source", "campaign", "status"},
              "ncvg": {"start_date", "end_date", "amount", "billing_interval"}, "cohorts": {"event_time"}}
    for area, export in nulls.items():
        ws = Workspace()
        try:
            dataset = ws.load(export.file_name, export.data, kinds=[export.kind])
            assert needed[area] <= set(dataset.mapping), (area, dataset.mapping)
            assert not dataset.bad_values, (area, dataset.bad_values)
            assert dataset.rows_read == export.truth["rows"] == len(export.frame)
        finally:
            ws.close()
        assert export.kind in schemas.KINDS


def test_email_counts_are_consistent(nulls):
    f = nulls["email"].frame
    assert (f["Soft Bounces"] + f["Hard Bounces"] == f["Total Bounces"]).all()
    assert (f["Successful Deliveries"] + f["Total Bounces"] == f["Total Recipients"]).all()
    for column in ("Unique Opens", "Unsubscribes", "Abuse Complaints"):
        assert f[column].between(0, f["Successful Deliveries"]).all(), column
    assert f["Unique Clicks"].between(0, f["Unique Opens"]).all()
    rate = f["Open Rate"].str.rstrip("%").astype(float) / 100
    assert rate.between(0, 1).all()
    assert np.allclose(rate, f["Unique Opens"] / f["Successful Deliveries"], atol=0.00005)
    # A/B halves come in pairs sent at the same time to one audience of 300–20,000.
    combo = f[f["Title"].str.contains(r" \| Combo ")]
    assert len(combo) == nulls["email"].truth["ab_rows"] > 0
    pairs = combo.groupby(combo["Title"].str.replace(r" \| Combo [12]$", "", regex=True))
    assert (pairs.size() == 2).all() and (pairs["Send Date"].nunique() == 1).all()
    whole = pd.concat([f[~f.index.isin(combo.index)]["Total Recipients"], pairs["Total Recipients"].sum()])
    assert whole.between(300, 20_000).all()


def test_nps_scores_and_months(nulls):
    export = nulls["nps"]
    f = export.frame
    assert f["Score"].between(0, 10).all() and (f["Score"] == f["Score"].round()).all()
    per_month = export.truth["per_month"]
    assert sum(per_month.values()) == len(f)
    assert min(per_month.values()) >= 2 and max(per_month.values()) <= 450
    months = pd.to_datetime(f["Created"]).dt.strftime("%Y-%m").value_counts().to_dict()
    assert months == {m: n for m, n in per_month.items() if n}
    twin = generate("nps", SEED, twin=True)
    for month in ("2026-07", "2026-08"):  # the planted months hold ~100 responses
        assert 60 <= twin.truth["per_month"][month] <= 140


def test_in_app_outcomes_follow_an_impression(nulls):
    f = nulls["in_app"].frame
    assert set(f["Event"]) <= {"impression", "click", "dismiss", "mute"}
    shown = f[f["Event"] == "impression"]
    acted = f[f["Event"] != "impression"]
    assert shown["Dwell Ms"].notna().all() and acted["Dwell Ms"].isna().all()
    first_seen = shown.groupby(["User ID", "Campaign Name"])["Timestamp"].min()
    seen_at = acted.join(first_seen.rename("seen"), on=["User ID", "Campaign Name"])["seen"]
    assert seen_at.notna().all() and (seen_at <= acted["Timestamp"]).all()
    for event in ("click", "dismiss", "mute"):
        assert 0 <= (acted["Event"] == event).sum() / len(shown) <= 1


def test_funnel_stages_are_in_order(nulls):
    f = nulls["funnel"].frame
    columns = ["Create Date", "Became a Marketing Qualified Lead Date", "Became a Sales Qualified Lead Date",
               "Became an Opportunity Date", "Became a Customer Date"]
    dates = f[columns].replace("", None).apply(pd.to_datetime)
    for earlier, later in zip(columns, columns[1:]):
        both = dates[later].notna()
        assert dates.loc[both, earlier].notna().all(), f"{later} without {earlier}"
        assert (dates.loc[both, earlier] <= dates.loc[both, later]).all()
    counts = list(nulls["funnel"].truth["per_stage"].values())
    assert counts == sorted(counts, reverse=True)
    unqualified = f["Lead Status"] == "Unqualified"
    assert dates.loc[unqualified, columns[2]].isna().all()  # disqualified leads stopped before SQL


def test_subscriptions_and_activity_are_consistent(nulls):
    s = nulls["ncvg"].frame
    start, end = pd.to_datetime(s["Start (UTC)"]), pd.to_datetime(s["Ended At (UTC)"].replace("", None))
    assert ((s["Status"] == "canceled") == end.notna()).all()
    assert (end.dropna() >= start[end.notna()]).all() and (end.dropna() <= END).all()
    a = nulls["cohorts"].frame
    first = a.sort_values("Timestamp", kind="stable").groupby("User ID")["Event"].first()
    assert (first == "signup").all()
    assert sum(nulls["cohorts"].truth["cohort_sizes"].values()) == a["User ID"].nunique()
    assert pd.to_datetime(a["Timestamp"]).max() <= END


def test_planted_rule_matches_area_metric_subject_and_period():
    rule = Planted("nps", "dip", ("NPS",), pd.Timestamp("2026-07-01"), pd.Timestamp("2026-09-01"))

    def flag(area="nps", metric="NPS dip", subject="Jul 2026", period="2026-07-01"):
        return Flag(area, metric, subject, -10, 20, "test", "medium",
                    period=None if period is None else pd.Timestamp(period))
    assert rule.found_by(flag()) and rule.found_by(flag(period="2026-08-31"))
    assert not rule.found_by(flag(period="2026-09-01"))  # the window's end is excluded
    assert not rule.found_by(flag(period=None)) and not rule.found_by(flag(area="email"))
    assert not rule.found_by(flag(metric="Open rate"))
    opens = PLANTED["email"][1]  # 'open rate' is also inside 'click-to-open rate'
    march = pd.Timestamp("2026-03-01")
    assert opens.found_by(Flag("email", "Open rate (own history)", "Mar 2026", .17, .22, "", "high", period=march))
    assert not opens.found_by(Flag("email", "Click-to-open rate", "Mar 2026", .07, .08, "", "high", period=march))
    funnel = PLANTED["funnel"][1]  # no window: matched by subject
    assert funnel.found_by(Flag("funnel", "Disqualification rate", "campaign: Webinar series", .3, .2, "", "high"))
    assert not funnel.found_by(Flag("funnel", "Disqualification rate", "campaign: SEO content", .3, .2, "", "high"))
    for planted in (p for ps in PLANTED.values() for p in ps):
        assert (planted.start is None) == (planted.end is None)
        assert planted.start is None or planted.start < planted.end <= END + pd.Timedelta(days=1)


def test_runner_prints_a_table(capsys):
    calibration.main(["--seeds", "1", "--area", "nps"])
    out = capsys.readouterr().out
    assert "Flags per null file" in out and "| NPS |" in out and "rule: metric ∋ 'NPS'" in out
