"""Bundled sample data: every file is recognised as its kind, the generator is deterministic, and
the stories the app's pages are meant to reveal are really in the data."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lib.schemas import recognise

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"

EXPECTED_KIND = {
    "email_campaigns.csv": "email_campaigns",
    "email_events.csv": "email_events",
    "in_app_events.csv": "in_app_events",
    "nps_responses.xlsx": "nps_responses",
    "subscriptions.csv": "subscriptions",
    "incidents.csv": "incidents",
    "leads.xlsx": "leads",
    "campaign_costs.csv": "campaign_costs",
    "activity_events.csv": "activity",
    "community_posts.csv": "texts",
    "deals.csv": "deals",
    "campaign_calendar.csv": "campaign_calendar",
}
LAST_DAY = pd.Timestamp("2026-10-15 23:59:59")


def _generator():
    spec = importlib.util.spec_from_file_location("sample_generate", SAMPLE / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _read(name: str, **kw) -> pd.DataFrame:
    path = SAMPLE / name
    if name.endswith(".xlsx"):
        return pd.read_excel(path, engine="openpyxl", **kw)
    return pd.read_csv(path, **kw)


# ---- (a) files exist and are recognised ------------------------------------------------------
@pytest.mark.parametrize("name, kind", sorted(EXPECTED_KIND.items()))
def test_file_recognised_as_its_kind(name, kind):
    assert (SAMPLE / name).exists(), f"{name} missing — run sample_data/generate.py"
    headers = [str(c) for c in _read(name, nrows=0).columns]
    rec = recognise(headers)
    assert rec.kind == kind, (name, rec.kind, rec.mapping)
    assert rec.complete, (name, rec.missing)


def test_generator_lists_every_file():
    assert sorted(_generator().FILES) == sorted(EXPECTED_KIND)


def test_total_size_is_small():
    total = sum((SAMPLE / n).stat().st_size for n in EXPECTED_KIND)
    assert total < 3.6 * 1024 * 1024, total


def test_no_data_after_the_common_end_date():
    checks = {"in_app_events.csv": "Timestamp",
              "activity_events.csv": "Timestamp", "community_posts.csv": "Date",
              "deals.csv": "Create Date", "subscriptions.csv": "Created (UTC)"}
    for name, col in checks.items():
        times = pd.to_datetime(_read(name)[col], utc=True, format="mixed").dt.tz_localize(None)
        assert times.max() <= LAST_DAY, name
        assert times.max() >= pd.Timestamp("2026-10-01"), name
    # the event log sample covers five sends in Feb–Apr 2026 (both sides of the DST switch)
    times = pd.to_datetime(_read("email_events.csv")["Timestamp"], utc=True)
    assert times.min() >= pd.Timestamp("2026-02-01", tz="UTC")
    assert times.max() <= pd.Timestamp("2026-05-01", tz="UTC")


# ---- (b) determinism -------------------------------------------------------------------------
def test_generator_is_deterministic(tmp_path):
    gen = _generator()
    a, b = tmp_path / "a", tmp_path / "b"
    gen.main(a)
    gen.main(b)
    for name in EXPECTED_KIND:
        if name.endswith(".csv"):
            assert (a / name).read_bytes() == (b / name).read_bytes(), name
        else:  # xlsx zips carry a timestamp; compare the cells
            pd.testing.assert_frame_equal(pd.read_excel(a / name, engine="openpyxl"),
                                          pd.read_excel(b / name, engine="openpyxl"))
    # and the committed files are what the generator writes
    for name in EXPECTED_KIND:
        if name.endswith(".csv"):
            assert (a / name).read_bytes() == (SAMPLE / name).read_bytes(), f"{name} is stale"


# ---- (c) stories -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def email():
    df = _read("email_campaigns.csv")
    df["ts"] = pd.to_datetime(df["Send Date"], format="%m/%d/%y %H:%M")
    return df


def _pooled(df, num):
    return df[num].sum() / df["Successful Deliveries"].sum()


def test_email_counts_and_rates_are_consistent(email):
    assert (email["Total Recipients"] - email["Total Bounces"] == email["Successful Deliveries"]).all()
    assert (email["Soft Bounces"] + email["Hard Bounces"] == email["Total Bounces"]).all()
    assert (email["Unique Clicks"] <= email["Unique Opens"]).all()
    assert (email["Total Opens"] >= email["Unique Opens"]).all()
    open_rate = (100 * email["Unique Opens"] / email["Successful Deliveries"]).map("{:.2f}%".format)
    assert (open_rate == email["Open Rate"]).all()


def test_email_blitz_story(email):
    blitz = email[(email.ts >= "2026-03-02") & (email.ts < "2026-04-27")]
    before = email[email.ts < "2026-03-02"]
    assert len(blitz) / 8 >= 5.5 and len(before) / ((before.ts.max() - before.ts.min()).days / 7) < 2.5
    assert _pooled(blitz, "Unsubscribes") > 0.001 > _pooled(before, "Unsubscribes")
    assert _pooled(blitz, "Abuse Complaints") > 0.001 > _pooled(before, "Abuse Complaints")
    assert (blitz["Successful Deliveries"].sum() / blitz["Total Recipients"].sum() < 0.95
            < before["Successful Deliveries"].sum() / before["Total Recipients"].sum())
    # the new list first appears shortly before the decline
    first = email.loc[email["List"] == "Webinar leads 2026", "ts"].min()
    assert pd.Timestamp("2026-02-09") <= first < pd.Timestamp("2026-03-02")


def test_email_open_decline_is_mostly_topic_mix(email):
    email = email.assign(year=email.ts.dt.year,
                         open=email["Unique Opens"] / email["Successful Deliveries"])
    by_year = email.groupby("year")["open"].mean()
    assert by_year[2026] < by_year[2024] - 0.04
    promo_share = email.groupby("year")["Topic"].apply(lambda t: (t == "promo").mean())
    assert promo_share[2026] > promo_share[2024] + 0.2
    newsletter = email[email.Topic == "newsletter"].groupby("year")["open"].mean()
    assert abs(newsletter[2026] - newsletter[2024]) < 0.02
    assert ((email["Unique Clicks"] / email["Unique Opens"]) < 0.08).sum() >= 2
    assert ((email.Topic == "welcome") & (email.open < 0.15)).sum() >= 2


def test_email_events_scanner_burst():
    ev = _read("email_events.csv")
    ev["t"] = pd.to_datetime(ev["Timestamp"], utc=True)
    assert 2500 <= len(ev) <= 3500
    assert set(ev["Timestamp"].str[-6:]) == {"+01:00", "+02:00"}
    delivered = ev[ev.Event == "delivered"].set_index(["Email", "Campaign"])["t"]
    clicks = ev[ev.Event == "click"].join(delivered.rename("delivered"), on=["Email", "Campaign"])
    fast = clicks[(clicks.t - clicks.delivered).dt.total_seconds() < 10]
    assert len(fast) >= 60
    assert fast["User Agent"].str.contains("Barracuda").all()


def test_in_app_fatigue_story():
    ev = _read("in_app_events.csv")
    ev["ts"] = pd.to_datetime(ev["Timestamp"])
    ev["week"] = ev.ts.dt.to_period("W")
    push = ev.ts >= "2026-08-31"
    stats = {}
    for label, part in [("before", ev[~push]), ("push", ev[push])]:
        mkt = part[part["Message Type"] == "marketing"]
        imp = mkt[mkt.Event == "impression"]
        user_weeks = part.groupby("week")["User ID"].nunique().sum()
        stats[label] = dict(freq=len(imp) / user_weeks,
                            ctr=(mkt.Event == "click").sum() / len(imp),
                            dismiss=(mkt.Event == "dismiss").sum() / len(imp),
                            mute=(mkt.Event == "mute").sum() / len(imp),
                            short=(imp["Dwell Ms"] < 1000).mean())
    b, p = stats["before"], stats["push"]
    assert p["freq"] > 1.6 * b["freq"]
    assert p["ctr"] < 0.7 * b["ctr"]
    assert p["dismiss"] > b["dismiss"] + 0.08 and p["mute"] > 2 * b["mute"]
    assert p["short"] > b["short"] + 0.1


def _nps(scores):
    return 100 * ((scores >= 9).mean() - (scores <= 6).mean())


def test_nps_invalid_scores_and_dip():
    df = _read("nps_responses.xlsx")
    df = df[df["Created"].notna()]  # answers; the rest are invitations nobody answered (issue #22, response rate)
    assert 1300 <= len(df) <= 1700
    score = pd.to_numeric(df["Score"], errors="coerce")
    valid = score.notna() & (score == score.round()) & score.between(0, 10)
    assert (~valid).sum() == 8
    df = df[valid].assign(score=score[valid], month=df["Created"].str[:7])
    by_month = df.groupby("month")["score"].apply(_nps)
    baseline = _nps(df.loc[df.month < "2026-03", "score"])
    assert by_month["2026-05"] < baseline - 20
    detractors = df[(df.score <= 6) & (df.month == "2026-05")]["Comment"].dropna()
    assert detractors.str.contains("email|spam|notification", case=False).mean() > 0.5


def test_subscriptions_story():
    subs = _read("subscriptions.csv")
    assert 1000 <= len(subs) <= 1400
    assert {"active", "canceled", "trialing", "past_due"} <= set(subs["Status"])
    assert {"usd", "eur"} == set(subs["Currency"])
    per_customer = subs.groupby("Customer ID")["Product"].nunique()
    assert (per_customer > 1).sum() >= 40                      # upgrades and downgrades
    future = pd.to_datetime(subs["Ended At (UTC)"]) > LAST_DAY
    assert future.sum() == 1 and subs.loc[future, "Canceled At (UTC)"].notna().all()
    trials = subs[subs["Trial End (UTC)"].notna()]
    assert (trials["Ended At (UTC)"] == trials["Trial End (UTC)"]).sum() >= 100   # not converted

    # customers hit by an incident leave within 60 days more often than others active that day
    inc = _read("incidents.csv")
    assert inc["Customer ID"].nunique() == 60
    subs["start"] = pd.to_datetime(subs["Start (UTC)"])
    subs["end"] = pd.to_datetime(subs["Ended At (UTC)"]).fillna(pd.Timestamp("2100-01-01"))
    cust = subs.groupby("Customer ID").agg(start=("start", "min"), end=("end", "max"))
    hit, base = [], []
    for day, group in inc.groupby("Incident Date"):
        day = pd.Timestamp(day)
        alive = cust[(cust.start < day) & (cust.end > day)]
        left = (alive.end - day).dt.days <= 60
        hit.append(left[alive.index.isin(group["Customer ID"])])
        base.append(left[~alive.index.isin(group["Customer ID"])])
    assert pd.concat(hit).mean() > 2 * pd.concat(base).mean()


def test_leads_story():
    leads = _read("leads.xlsx")
    assert 2700 <= len(leads) <= 3300
    give = leads["Campaign"] == "Spring giveaway"
    unq = (leads["Lead Status"] == "Unqualified").groupby(give).mean()
    assert unq[True] > 2 * unq[False]
    to_mql = (leads["Became a Marketing Qualified Lead Date"] - leads["Create Date"]).dt.days
    assert to_mql[give].median() > 1.5 * to_mql[~give].median()
    skipped = leads["Became an Opportunity Date"].notna() & leads["Became a Sales Qualified Lead Date"].isna()
    assert skipped.sum() >= 5
    out_of_order = (leads["Became a Sales Qualified Lead Date"]
                    < leads["Became a Marketing Qualified Lead Date"]).sum()
    assert out_of_order >= 1
    costs = _read("campaign_costs.csv")
    assert "Spring giveaway" in set(costs["Campaign"])
    assert set(leads["Campaign"].dropna()) - {""} <= set(costs["Campaign"])


def test_activity_webinar_retention():
    ev = _read("activity_events.csv")
    ev["month"] = pd.to_datetime(ev["Timestamp"]).dt.to_period("M")
    ev["cohort"] = pd.to_datetime(ev["Signup Date"]).dt.to_period("M")
    ev["k"] = (ev["month"] - ev["cohort"]).map(lambda d: d.n)
    users = ev.groupby("User ID").agg(cohort=("cohort", "first"),
                                      webinar=("Attended Onboarding Webinar", "first"))
    users = users[users.cohort <= pd.Period("2026-06", "M")]          # month 3 fully observed
    active3 = ev[ev.k == 3].groupby("User ID").size().reindex(users.index).notna()
    retention = active3.groupby(users.webinar).mean()
    assert retention["yes"] > retention["no"] + 0.1
    assert 0.35 <= retention["yes"] <= 0.55 and 0.15 <= retention["no"] <= 0.35
    assert pd.to_datetime(ev["Timestamp"]).max().date() == pd.Timestamp("2026-10-15").date()


def test_community_complaints_spike_after_bursts():
    posts = _read("community_posts.csv")
    posts["month"] = posts["Date"].str[:7]
    marketing = posts["Text"].str.contains("too many|spam|notification|pop-up|upsell|unsubscribe|promo",
                                           case=False)
    share = marketing.groupby(posts["month"]).mean()
    baseline = marketing[posts["month"] < "2026-03"].mean()
    assert share[["2026-03", "2026-04", "2026-05"]].mean() > 3 * baseline
    assert share["2026-09"] > 3 * baseline
    subs = _read("subscriptions.csv")
    assert posts["Email"].isin(subs["Customer Email"]).sum() >= 100


def test_deals_expansion_dip():
    deals = _read("deals.csv")
    deals["created"] = pd.to_datetime(deals["Create Date"])
    deals["cycle"] = (pd.to_datetime(deals["Close Date"]) - deals["created"]).dt.days
    exp = deals[(deals["Deal Type"] == "existingbusiness")
                & deals["Deal Stage"].isin(["closedwon", "closedlost"])]
    bad = exp["created"].between("2026-04-01", "2026-06-30 23:59")
    win = (exp["Deal Stage"] == "closedwon").groupby(bad).mean()
    assert win[True] < win[False] - 0.2
    assert exp.loc[bad, "cycle"].median() > 1.8 * exp.loc[~bad, "cycle"].median()
    neg = deals["Notes"].fillna("").str.contains("annoyed|frustrated|spamming", case=False)
    assert neg[deals["created"].between("2026-04-01", "2026-06-30 23:59")
               & (deals["Deal Type"] == "existingbusiness")].mean() > 0.4


def test_calendar_covers_the_stories():
    cal = _read("campaign_calendar.csv")
    assert 35 <= len(cal) <= 45
    names = set(cal["Campaign"])
    assert {"Spring promo blitz", "Spring giveaway", "Autumn feature push"} <= names
    in_app = set(_read("in_app_events.csv", usecols=["Campaign Name"])["Campaign Name"])
    marketing = in_app - {"New dashboard tour", "Release notes", "Scheduled reports tip",
                          "Scheduled maintenance", "Billing reminder", "Security notice"}
    assert marketing <= names
    assert np.all(pd.to_datetime(cal["End Date"]) >= pd.to_datetime(cal["Start Date"]))


def test_sample_digests_look_at_the_files_at_most_once_a_second(monkeypatch):
    import lib.sample as sample

    looked = []
    real = sample._look_at_files
    monkeypatch.setattr(sample, "_look_at_files", lambda: looked.append(1) or real())
    clock = [1000.0]
    monkeypatch.setattr(sample.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(sample, "_LAST", [float("-inf"), {}])
    first = sample.sample_digests()
    assert first["email_campaigns"][0] == "email_campaigns.csv" and len(looked) == 1
    clock[0] += 0.5
    again = sample.sample_digests()
    assert again == first and len(looked) == 1  # within the second: what was found
    again["email_campaigns"] = ("changed by a caller", "")
    assert sample.sample_digests() == first  # a caller's copy, not the kept one
    clock[0] += 1.0
    sample.sample_digests()
    assert len(looked) == 2  # a file changed on disk is seen a second later at most
