"""Synthetic exports for the calibration benchmark (bench/calibration.py, issue #16).

One generator per area: `generate(area, seed, twin)` returns an `Export` — the bytes of a CSV file
shaped like the vendor export the app reads (Mailchimp, Delighted, HubSpot, Stripe…), the dataset
kind it should be recognised as, the generator's own counts (`truth`, for the smoke test) and, for
a twin, the changes planted in it with the rule that says whether a flag found each one.

Null files: a process that does not change over time. Rates still vary from unit to unit as real
ones do (a send's open rate is drawn from a Beta, then opens from a binomial: beta-binomial), and
volumes vary (NPS months with 2–5 responses beside months with hundreds). The true rates sit on
the good side of every default threshold (see each area's constants), so in a null file every flag
is a false alarm — except the odd send whose own drawn rate really crosses a threshold (an open
rate below 15%, a few in a hundred promos): flags on those are part of the natural variation the
issue's target ("a handful at most per area") allows for.

Twins: the same generator, same seed, with the planted changes listed in PLANTED (sizes stated
there). Every file ends on END, the last day of a month, so its last month is complete.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

END = pd.Timestamp("2026-10-31 23:59:59")  # last instant of data in every file
_AREA_SALT = {"email": 1, "nps": 2, "in_app": 3, "funnel": 4, "ncvg": 5, "cohorts": 6}


@dataclass(frozen=True)
class Planted:
    """A change planted in a twin, and what a flag that finds it looks like.

    A flag finds it when the flag's area matches, its metric contains one of `metrics` and none of
    `not_metrics` (case-insensitive), its subject contains one of `subjects` (when given), and — when
    the change has a window — its period lies in [start, end). Funnel changes have no window: the funnel's
    campaign-quality flags carry no period.
    """

    area: str
    description: str
    metrics: tuple[str, ...]
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    subjects: tuple[str, ...] = ()
    not_metrics: tuple[str, ...] = ()

    def found_by(self, flag) -> bool:
        metric = str(flag.metric).lower()
        if flag.area != self.area:
            return False
        if not any(m.lower() in metric for m in self.metrics) or any(m.lower() in metric for m in self.not_metrics):
            return False
        if self.subjects and not any(s.lower() in str(flag.subject).lower() for s in self.subjects):
            return False
        if self.start is None:
            return True
        if flag.period is None or pd.isna(flag.period):
            return False
        return self.start <= pd.Timestamp(flag.period) < self.end

    def rule(self) -> str:
        """The matching rule in words, for the printout."""
        text = "metric ∋ " + " or ".join(repr(m) for m in self.metrics)
        if self.not_metrics:
            text += " but not " + " or ".join(repr(m) for m in self.not_metrics)
        if self.subjects:
            text += ", subject ∋ " + " or ".join(repr(s) for s in self.subjects)
        if self.start is not None:
            text += f", period in {self.start:%Y-%m-%d}…{self.end - pd.Timedelta(days=1):%Y-%m-%d}"
        return text


@dataclass
class Export:
    area: str
    kind: str
    file_name: str
    data: bytes
    frame: pd.DataFrame  # the file's rows as written (strings and numbers)
    truth: dict = field(default_factory=dict)
    planted: tuple[Planted, ...] = ()


def _rng(area: str, seed: int) -> np.random.Generator:
    # Same seed → same stream for the null file and its twin (they differ only where planted).
    return np.random.default_rng([int(seed), _AREA_SALT[area]])


def _beta(rng, mean: float, concentration: float, size=None):
    """Beta draws with the given mean and concentration κ = a + b (sd = √(m(1−m)/(κ+1)))."""
    return rng.beta(mean * concentration, (1 - mean) * concentration, size)


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")


def _month(ts: str) -> pd.Timestamp:
    return pd.Timestamp(ts)


def _ts(values) -> list[str]:
    return [pd.Timestamp(v).strftime("%Y-%m-%d %H:%M:%S") for v in values]


# ============================================================================ email

EMAIL_START = pd.Timestamp("2024-11-04")  # a Monday; two years of sends
# topic: (open-rate mean, click-to-open mean). Overall open rate ≈ 0.22; every mean sits above the
# 15% open and 8% CTOR thresholds with room for the send-to-send spread below.
EMAIL_TOPICS = {"newsletter": (0.22, 0.13), "promo": (0.20, 0.12), "product update": (0.24, 0.15),
                "education": (0.22, 0.13), "welcome": (0.26, 0.16)}
EMAIL_LISTS = {"All customers": (14_000, 20_000), "Newsletter": (5_000, 9_000),
               "Product users": (2_000, 4_000), "Trial users": (300, 700)}
OPEN_KAPPA, CTOR_KAPPA = 250, 400   # send-to-send sd ≈ 2.6 pp (open), 1.6 pp (CTOR)
BOUNCE_MEAN, BOUNCE_KAPPA = 0.01, 300
# Unsubscribes 0.05% and complaints 0.02% per delivered email, each varying ±50% (sd) from send to
# send (Beta with a = 4). Unsubscribes sit below the 0.1% threshold on purpose: at a true 0.2% every
# unsubscribe threshold flag would be right, and the null count would measure nothing.
UNSUB_MEAN, SPAM_MEAN, RARE_SHAPE = 0.0005, 0.0002, 4.0
AB_SHARE = 0.25  # share of promos sent as an A/B split ("… | Combo 1" / "… | Combo 2")

EMAIL_PLANTED = (
    Planted("email", "Unsubscribe rate ×3 in the last 2 months (Sep–Oct 2026)", ("Unsubscribe rate",),
            _month("2026-09-01"), _month("2026-11-01")),
    Planted("email", "Open rate ×0.8 (≈ −4.4 pp) for one month (Mar 2026)", ("Open rate",),
            _month("2026-03-01"), _month("2026-04-01"), not_metrics=("Click-to-open",)),
    # the gap flag's period is the day sending resumes
    Planted("email", "No sends for six weeks (2026-06-01 → 2026-07-12), then the usual schedule (gap in sending)",
            ("Gap in sending",), _month("2026-07-13"), _month("2026-07-20")),
)
EMAIL_PAUSE = (pd.Timestamp("2026-06-01"), pd.Timestamp("2026-07-13"))  # the twin sends nothing in [start, end)


def _email_schedule(rng) -> list[tuple[pd.Timestamp, str, str]]:
    """(send time, topic, list) over two years on a steady weekly calendar (no volume change)."""
    sends = []
    week = EMAIL_START
    k = 0
    while week <= END:
        def at(day, hour):
            return week + pd.Timedelta(days=day, hours=hour, minutes=int(rng.integers(0, 60)))
        sends.append((at(0, 8), "welcome", "Trial users"))
        if k % 2 == 0:
            sends.append((at(1, 9), "newsletter", "Newsletter"))
        sends.append((at(3, 10), "education", "All customers" if k % 2 else "Product users"))
        if rng.random() < 0.6:
            sends.append((at(int(rng.integers(0, 5)), 14), "promo",
                          "All customers" if rng.random() < 0.5 else "Newsletter"))
        if week.day <= 7:
            sends.append((at(2, 11), "product update", "Product users"))
        week += pd.Timedelta(days=7)
        k += 1
    return [s for s in sends if s[0] <= END]


def email_export(seed: int, twin: bool = False) -> Export:
    """Mailchimp 'all campaigns' report: one row per send (an A/B split is two rows at one time)."""
    rng = _rng("email", seed)
    rows = []
    for i, (ts, topic, lst) in enumerate(_email_schedule(rng)):
        lo, hi = EMAIL_LISTS[lst]
        audience = int(rng.integers(lo, hi + 1))
        open_mean, ctor_mean = EMAIL_TOPICS[topic]
        p_open = _beta(rng, open_mean, OPEN_KAPPA)
        p_ctor = _beta(rng, ctor_mean, CTOR_KAPPA)
        p_bounce = _beta(rng, BOUNCE_MEAN, BOUNCE_KAPPA)
        p_unsub = rng.beta(RARE_SHAPE, RARE_SHAPE / UNSUB_MEAN - RARE_SHAPE)
        p_spam = rng.beta(RARE_SHAPE, RARE_SHAPE / SPAM_MEAN - RARE_SHAPE)
        if twin and EMAIL_PLANTED[0].start <= ts < EMAIL_PLANTED[0].end:
            p_unsub *= 3
        if twin and EMAIL_PLANTED[1].start <= ts < EMAIL_PLANTED[1].end:
            p_open *= 0.8
        split = topic == "promo" and rng.random() < AB_SHARE
        title = f"{topic.capitalize()} {ts:%Y-%m-%d} #{i}"
        subject = f"{topic.capitalize()}: news for {ts:%B %Y}"
        # Both halves of a split share the send's rates: simultaneous halves of one audience.
        parts = [(f"{title} | Combo 1", audience // 2), (f"{title} | Combo 2", audience - audience // 2)] \
            if split else [(title, audience)]
        for name, recipients in parts:
            bounces = int(rng.binomial(recipients, p_bounce))
            hard = int(rng.binomial(bounces, 0.4))
            delivered = recipients - bounces
            opens = int(rng.binomial(delivered, p_open))
            clicks = int(rng.binomial(opens, p_ctor))
            unsubscribes, complaints = int(rng.binomial(delivered, p_unsub)), int(rng.binomial(delivered, p_spam))
            if twin and EMAIL_PAUSE[0] <= ts < EMAIL_PAUSE[1]:
                continue  # drawn all the same, so every later send keeps the null file's numbers
            rows.append({
                "Title": name, "Subject": subject, "List": lst,
                "Send Date": f"{ts.month}/{ts.day}/{ts.year % 100:02d} {ts.hour}:{ts.minute:02d}",
                "Send Weekday": f"{ts:%A}", "Topic": topic,
                "Total Recipients": recipients, "Successful Deliveries": delivered,
                "Soft Bounces": bounces - hard, "Hard Bounces": hard, "Total Bounces": bounces,
                "Unique Opens": opens, "Open Rate": f"{100 * opens / delivered:.2f}%",
                "Unique Clicks": clicks, "Click Rate": f"{100 * clicks / delivered:.2f}%",
                "Unsubscribes": unsubscribes, "Abuse Complaints": complaints,
            })
    frame = pd.DataFrame(rows)
    truth = {"rows": len(frame), "ab_rows": int(frame["Title"].str.contains(r"\| Combo").sum())}
    return Export("email", "email_campaigns", f"email_{'twin' if twin else 'null'}_{seed}.csv", _csv(frame),
                  frame, truth, EMAIL_PLANTED if twin else ())


# ============================================================================ NPS

NPS_START = pd.Timestamp("2025-05-01")  # 18 months
NPS_MIX = (0.45, 0.30, 0.25)            # promoters, passives, detractors → NPS +20
NPS_DIP_MIX = (0.30, 0.30, 0.40)        # NPS −10: 30 points below
NPS_QUIET_SHARE = 0.2                   # months with only 2–5 responses (survey paused)
NPS_REGIONS = (("North America", 0.45), ("EMEA", 0.35), ("APAC", 0.13), ("LATAM", 0.07))
DETRACTOR_SCORES = (np.arange(7), np.array([.05, .03, .05, .10, .12, .25, .40]))

NPS_PLANTED = (
    Planted("nps", "NPS −30 points (+20 → −10) for 2 months (Jul–Aug 2026), ~100 responses each", ("NPS",),
            _month("2026-07-01"), _month("2026-09-01")),
)


def _nps_scores(rng, n: int, mix) -> np.ndarray:
    group = rng.choice(3, size=n, p=mix)
    promoter = rng.choice([9, 10], size=n, p=[0.45, 0.55])
    passive = rng.choice([7, 8], size=n)
    detractor = rng.choice(DETRACTOR_SCORES[0], size=n, p=DETRACTOR_SCORES[1])
    return np.select([group == 0, group == 1], [promoter, passive], detractor)


def nps_export(seed: int, twin: bool = False) -> Export:
    """Delighted-style responses: Response ID, Email, Score, Created (UTC), Region (a segment)."""
    rng = _rng("nps", seed)
    dip = NPS_PLANTED[0]
    frames, per_month = [], {}
    for month in pd.date_range(NPS_START, END, freq="MS"):
        if rng.random() < NPS_QUIET_SHARE:
            n = int(rng.integers(2, 6))
        else:
            n = int(np.clip(round(rng.lognormal(np.log(70), 0.8)), 10, 450))
        mix = NPS_MIX
        if twin and dip.start <= month < dip.end:
            n, mix = int(rng.poisson(100)), NPS_DIP_MIX
        days = month.days_in_month
        seconds = rng.integers(0, days * 86400, size=n)
        frames.append(pd.DataFrame({
            "ts": month + pd.to_timedelta(np.sort(seconds), unit="s"),
            "Score": _nps_scores(rng, n, mix),
            "Region": rng.choice([r for r, _ in NPS_REGIONS], size=n, p=[p for _, p in NPS_REGIONS]),
        }))
        per_month[f"{month:%Y-%m}"] = n
    frame = pd.concat(frames, ignore_index=True)
    frame.insert(0, "Response ID", np.arange(41_200_000, 41_200_000 + len(frame)) * 7)
    frame.insert(1, "Email", [f"person{int(i)}@example.com" for i in rng.integers(0, 20_000, len(frame))])
    frame.insert(3, "Created", _ts(frame.pop("ts")))
    truth = {"rows": len(frame), "per_month": per_month}
    return Export("nps", "nps_responses", f"nps_{'twin' if twin else 'null'}_{seed}.csv", _csv(frame), frame,
                  truth, NPS_PLANTED if twin else ())


# ============================================================================ in-app

INAPP_START = pd.Timestamp("2025-11-03")  # a Monday; one year
INAPP_USERS, INAPP_ACTIVE = 600, 0.45     # users; chance a user is active in a week
# type: (impressions per active user per week, click mean, dismiss mean, mute mean, dwell median s)
INAPP_TYPES = {"marketing": (1.0, 0.08, 0.20, 0.004, 2.6), "product": (0.35, 0.12, 0.10, 0.002, 4.2),
               "service": (0.15, 0.06, 0.08, 0.001, 3.1)}
# Message-to-message concentration of click, dismiss, mute rates: a month's rate depends on which
# campaigns ran in it — extra-binomial variation a month-vs-baseline test has to allow for.
INAPP_KAPPA = (80, 60, 500)
INAPP_FIXED = {"product": ["Reports tour", "New dashboard tips", "Sharing 101", "Keyboard shortcuts"],
               "service": ["Billing reminder", "Maintenance notice", "Security check"]}

INAPP_PLANTED = (
    Planted("in_app", "Dismiss rate ×2 from Jul 2026 on (every message)", ("Dismiss rate",),
            _month("2026-07-01"), _month("2026-11-01")),
)


def inapp_export(seed: int, twin: bool = False) -> Export:
    """Braze-style event log: User ID, Timestamp, Campaign Name, Message Type, Event, Dwell Ms."""
    rng = _rng("in_app", seed)
    change = INAPP_PLANTED[0]
    # Messages: the fixed product/service ones, and a new marketing campaign every 3 weeks running 6.
    messages = {}  # name → (type, click, dismiss, mute, first day, last day)
    for mtype, names in INAPP_FIXED.items():
        for name in names:
            messages[name] = (mtype, INAPP_START, END)
    start, k = INAPP_START - pd.Timedelta(days=21), 1
    while start <= END:
        messages[f"Marketing campaign {k}"] = ("marketing", start, start + pd.Timedelta(days=42))
        start += pd.Timedelta(days=21)
        k += 1
    rates = {}
    for name, (mtype, _, _) in messages.items():
        _, click, dismiss, mute, _ = INAPP_TYPES[mtype]
        rates[name] = (_beta(rng, click, INAPP_KAPPA[0]), _beta(rng, dismiss, INAPP_KAPPA[1]),
                       _beta(rng, mute, INAPP_KAPPA[2]))
    users = np.array([f"U-{100000 + 7 * i:06d}" for i in range(INAPP_USERS)])
    chunks = []
    week = INAPP_START
    while week <= END:
        active = users[rng.random(INAPP_USERS) < INAPP_ACTIVE]
        for mtype, (per_week, *_rest, dwell_median) in INAPP_TYPES.items():
            live = [m for m, (t, a, b) in messages.items() if t == mtype and a <= week + pd.Timedelta(days=6)
                    and b >= week]
            counts = rng.poisson(per_week, size=len(active))
            n = int(counts.sum())
            if n == 0 or not live:
                continue
            who = np.repeat(active, counts)
            which = np.array(live)[rng.integers(0, len(live), n)]
            t = week + pd.to_timedelta(rng.integers(7 * 3600, 7 * 86400, n), unit="s")
            dwell = np.clip(rng.lognormal(np.log(dwell_median * 1000), 0.9, n), 120, 60_000).astype(int)
            p = np.array([rates[m] for m in which])  # click, dismiss, mute per impression
            doubled = twin & (t >= change.start)
            p[:, 1] = np.where(doubled, p[:, 1] * 2, p[:, 1])
            u = rng.random(n)
            outcome = np.select([u < p[:, 0], u < p[:, 0] + p[:, 1], u < p[:, :3].sum(axis=1)],
                                ["click", "dismiss", "mute"], "")
            chunks.append(pd.DataFrame({"User ID": who, "t": t, "Campaign Name": which, "Message Type": mtype,
                                        "Event": "impression", "Dwell Ms": dwell}))
            acted = outcome != ""
            chunks.append(pd.DataFrame({
                "User ID": who[acted], "t": t[acted] + pd.to_timedelta(dwell[acted], unit="ms"),
                "Campaign Name": which[acted], "Message Type": mtype, "Event": outcome[acted],
                "Dwell Ms": pd.NA}))
        week += pd.Timedelta(days=7)
    frame = pd.concat(chunks, ignore_index=True)
    frame = frame[frame["t"] <= END].sort_values(["t", "User ID"], kind="stable").reset_index(drop=True)
    frame.insert(1, "Timestamp", _ts(frame.pop("t")))
    frame["Dwell Ms"] = frame["Dwell Ms"].astype("Int64")
    counts = frame["Event"].value_counts().to_dict()
    truth = {"rows": len(frame), "events": {k: int(v) for k, v in counts.items()}}
    return Export("in_app", "in_app_events", f"in_app_{'twin' if twin else 'null'}_{seed}.csv", _csv(frame),
                  frame, truth, INAPP_PLANTED if twin else ())


# ============================================================================ funnel

FUNNEL_START = pd.Timestamp("2025-05-01")  # 18 months of created leads
# campaign: (original source, leads per month)
FUNNEL_CAMPAIGNS = {"Paid search – always on": ("Paid Search", 60), "Content syndication": ("Referrals", 30),
                    "Webinar series": ("Email Marketing", 25), "Paid social – always on": ("Paid Social", 35),
                    "SEO content": ("Organic Search", 40)}
# stage: (conversion from the stage before, median days from it). Same for every campaign.
FUNNEL_STEPS = {"MQL": (0.40, 6), "SQL": (0.45, 10), "Opportunity": (0.50, 14), "Customer": (0.30, 25)}
FUNNEL_DISQ = 0.18  # share of leads that stop before SQL marked "Unqualified"
FUNNEL_COLUMNS = {"MQL": "Became a Marketing Qualified Lead Date", "SQL": "Became a Sales Qualified Lead Date",
                  "Opportunity": "Became an Opportunity Date", "Customer": "Became a Customer Date"}
LIFECYCLE = {"Lead": "Lead", "MQL": "Marketing Qualified Lead", "SQL": "Sales Qualified Lead",
             "Opportunity": "Opportunity", "Customer": "Customer"}

FUNNEL_PLANTED = (
    Planted("funnel", "MQL → SQL conversion ×0.5 (45% → 22.5%) for one source (Paid Social), whole file",
            ("conversion",), subjects=("Paid social", "Paid Social")),
    Planted("funnel", "Disqualification ×2 (18% → 36% of leads stopping before SQL) for one campaign "
            "(Webinar series), whole file", ("Disqualification",), subjects=("Webinar series", "Email Marketing")),
)


def funnel_export(seed: int, twin: bool = False) -> Export:
    """HubSpot contacts export: lifecycle dates per stage, Original Source, Campaign, Lead Status."""
    rng = _rng("funnel", seed)
    rows, rid = [], 51_000
    for month in pd.date_range(FUNNEL_START, END, freq="MS"):
        for campaign, (source, per_month) in FUNNEL_CAMPAIGNS.items():
            for _ in range(int(rng.poisson(per_month))):
                created = month + pd.Timedelta(seconds=int(rng.integers(0, month.days_in_month * 86400)))
                dates, at, stage = {}, created, "Lead"
                for step, (rate, median_days) in FUNNEL_STEPS.items():
                    if twin and step == "SQL" and source == "Paid Social":
                        rate *= 0.5
                    if rng.random() >= rate:
                        break
                    at = at + pd.Timedelta(days=float(rng.lognormal(np.log(median_days), 0.8)))
                    if at > END:
                        break
                    dates[step], stage = at, step
                disq_share = FUNNEL_DISQ * (2 if twin and campaign == "Webinar series" else 1)
                if stage in ("Lead", "MQL"):
                    status = "Unqualified" if rng.random() < disq_share else \
                        ("New", "Attempted to Contact", "Open")[int(rng.integers(0, 3))]
                else:
                    status = "Connected" if stage == "SQL" else "Open Deal" if stage == "Opportunity" else "Closed"
                rid += 1
                rows.append({"Record ID": rid, "Email": f"lead{rid}@example.com",
                             "Create Date": created.strftime("%Y-%m-%d %H:%M"),
                             "Lifecycle Stage": LIFECYCLE[stage],
                             **{col: (dates[s].strftime("%Y-%m-%d %H:%M") if s in dates else "")
                                for s, col in FUNNEL_COLUMNS.items()},
                             "Original Source": source, "Campaign": campaign, "Lead Status": status})
    frame = pd.DataFrame(rows)
    truth = {"rows": len(frame), "per_stage": {s: int((frame[c] != "").sum()) for s, c in FUNNEL_COLUMNS.items()},
             "unqualified": int((frame["Lead Status"] == "Unqualified").sum())}
    return Export("funnel", "leads", f"leads_{'twin' if twin else 'null'}_{seed}.csv", _csv(frame), frame,
                  truth, FUNNEL_PLANTED if twin else ())


# ============================================================================ NCVG

NCVG_START = pd.Timestamp("2023-11-01")  # three years of subscriptions
NCVG_NEW_PER_MONTH, NCVG_CHURN = 40, 0.025  # new customers a month; monthly churn hazard
NCVG_PLANS = (("starter-monthly", 29.0, 0.6), ("pro-monthly", 79.0, 0.3), ("business-monthly", 199.0, 0.1))

NCVG_PLANTED = (
    Planted("ncvg", "Monthly churn ×2 (2.5% → 5%) for 2 months (May–Jun 2026)", ("churn",),
            _month("2026-05-01"), _month("2026-07-01")),
)


def ncvg_export(seed: int, twin: bool = False) -> Export:
    """Stripe subscriptions export: one monthly subscription per customer, canceled or active."""
    rng = _rng("ncvg", seed)
    change = NCVG_PLANTED[0]
    months = pd.date_range(NCVG_START, END, freq="MS")
    starts, plans = [], []
    for month in months:
        n = int(rng.poisson(NCVG_NEW_PER_MONTH))
        starts += [month + pd.Timedelta(seconds=int(s)) for s in rng.integers(0, month.days_in_month * 86400, n)]
        plans += list(rng.choice(len(NCVG_PLANS), size=n, p=[p for *_, p in NCVG_PLANS]))
    starts = pd.DatetimeIndex(starts)
    ended = pd.Series(pd.NaT, index=range(len(starts)), dtype="datetime64[ns]")
    # Each customer alive at a month's start (and started before it) leaves in that month with the hazard.
    for month in months[1:]:
        alive = (starts < month) & ended.isna().to_numpy()
        hazard = NCVG_CHURN * (2 if twin and change.start <= month < change.end else 1)
        leave = alive & (rng.random(len(starts)) < hazard)
        days = rng.integers(0, month.days_in_month * 86400, int(leave.sum()))
        ended[leave] = month + pd.to_timedelta(days, unit="s")
    created = _ts(starts)
    ends = ["" if pd.isna(e) else pd.Timestamp(e).strftime("%Y-%m-%d %H:%M:%S") for e in ended]
    frame = pd.DataFrame({
        "id": [f"sub_{seed}_{i:06d}" for i in range(len(starts))],
        "Customer ID": [f"cus_{seed}_{i:06d}" for i in range(len(starts))],
        "Plan": [NCVG_PLANS[p][0] for p in plans], "Quantity": 1, "Currency": "usd", "Interval": "month",
        "Amount": [f"{NCVG_PLANS[p][1]:.2f}" for p in plans],
        "Status": ["active" if e == "" else "canceled" for e in ends],
        "Created (UTC)": created, "Start (UTC)": created, "Canceled At (UTC)": ends, "Ended At (UTC)": ends,
    })
    truth = {"rows": len(frame), "canceled": int((frame["Status"] == "canceled").sum())}
    return Export("ncvg", "subscriptions", f"subscriptions_{'twin' if twin else 'null'}_{seed}.csv", _csv(frame),
                  frame, truth, NCVG_PLANTED if twin else ())


# ============================================================================ cohorts

COHORT_START = pd.Timestamp("2025-11-01")  # one year of signups
COHORT_NEW_PER_MONTH = 150
COHORT_M1, COHORT_KAPPA, COHORT_DECAY = 0.40, 300, 0.85  # month-1 retention ~ Beta(0.40, κ); ×0.85 a month after

COHORT_PLANTED = (
    Planted("cohorts", "Month-1 retention ×2/3 (40% → 27%) for the May and Jun 2026 cohorts", ("retention",),
            _month("2026-05-01"), _month("2026-07-01")),
)


def cohorts_export(seed: int, twin: bool = False) -> Export:
    """Product activity log: User ID, Timestamp, Event (signup, then 1–3 logins in each active month)."""
    rng = _rng("cohorts", seed)
    change = COHORT_PLANTED[0]
    months = pd.date_range(COHORT_START, END, freq="MS")
    users, times, events, sizes = [], [], [], {}
    uid = 20_000
    for c, cohort in enumerate(months):
        n = int(rng.poisson(COHORT_NEW_PER_MONTH))
        sizes[f"{cohort:%Y-%m}"] = n
        m1 = _beta(rng, COHORT_M1, COHORT_KAPPA)
        if twin and change.start <= cohort < change.end:
            m1 *= 2 / 3
        for _ in range(n):
            uid += 1
            user = f"u{uid}"
            users.append(user)
            times.append(cohort + pd.Timedelta(seconds=int(rng.integers(0, cohort.days_in_month * 86400))))
            events.append("signup")
            for k, month in enumerate(months[c + 1:], start=1):
                if rng.random() >= m1 * COHORT_DECAY ** (k - 1):
                    continue
                for s in rng.integers(0, month.days_in_month * 86400, int(rng.integers(1, 4))):
                    users.append(user)
                    times.append(month + pd.Timedelta(seconds=int(s)))
                    events.append("login")
    frame = pd.DataFrame({"User ID": users, "t": times, "Event": events}).sort_values("t", kind="stable")
    frame.insert(1, "Timestamp", _ts(frame.pop("t")))
    frame = frame.reset_index(drop=True)
    truth = {"rows": len(frame), "cohort_sizes": sizes}
    return Export("cohorts", "activity", f"activity_{'twin' if twin else 'null'}_{seed}.csv", _csv(frame), frame,
                  truth, COHORT_PLANTED if twin else ())


GENERATORS = {"email": email_export, "in_app": inapp_export, "nps": nps_export, "funnel": funnel_export,
              "ncvg": ncvg_export, "cohorts": cohorts_export}
PLANTED = {"email": EMAIL_PLANTED, "in_app": INAPP_PLANTED, "nps": NPS_PLANTED, "funnel": FUNNEL_PLANTED,
           "ncvg": NCVG_PLANTED, "cohorts": COHORT_PLANTED}


def generate(area: str, seed: int, twin: bool = False) -> Export:
    """The null file (twin=False) or its twin with PLANTED[area] for `area` and `seed`."""
    return GENERATORS[area](seed, twin)
