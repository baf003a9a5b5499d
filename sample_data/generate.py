"""Generate Boundary's bundled sample exports — one realistic file per dataset kind.

    python sample_data/generate.py [OUT_DIR]        (default: the folder this script is in)

Every file is shaped like the vendor export it imitates (Mailchimp, Delighted, Stripe, HubSpot…),
so the app recognises it from its headers. All files share one invented company and one calendar
(below), so the stories line up across pages. Output is deterministic: one seed, no clock, no hash
ordering — running twice writes identical CSV bytes.

Stories (dates inclusive):
- Email: "Spring promo blitz" 2026-03-02 → 2026-04-26 (8 weeks): sends jump from ~2/week to 6/week;
  delivery < 95%, unsubscribes > 0.1%, complaints > 0.1%. The list "Webinar leads 2026" is
  added on 2026-02-16, just before. Open rate drifts down over two years, mostly because promos
  (lower opens) grow from ~18% to ~48% of sends. 3 welcome sends open < 15%; 2 promos CTOR < 8%.
  Appended rows (issue #22, own stream): two pilot sends in September 2024, then four weeks of silence until the program
  starts (a gap in sending); two A/B tests on Fridays in 2025 — a subject test with a clear
  winner (Combo 1) and a send-time test (9:00 vs 15:00, same subject).
- Email events: campaign "Trial nurture 3 – Reports" (2026-03-10) has a security-scanner burst:
  every @northwind-logistics.com recipient "opens" and "clicks" 1–4 s after delivery.
- In-app: from 2026-09-03 ("Autumn feature push") marketing messages per active user per week
  double; clicks fall, dismissals and mutes rise, more impressions are dwelt on < 1 s.
- NPS: dips in the month after the blitz (2026-04-27 → 2026-05-31); detractors complain about
  emails/spam/notifications. 8 invalid scores (blank, "ten", 6.5, 11).
- Subscriptions: upgrades, downgrades, reactivations, non-converting trials, EUR rows, one cancel
  scheduled for the future. incidents.csv: 3 incidents (60 customers); those hit churn more
  within 60 days.
- Leads: "Spring giveaway" (2026-03-16 → 2026-05-10) brings ~550 leads that disqualify more and
  move slower. campaign_costs.csv gives program cost per month.
- Activity: onboarding-webinar attendees retain better (month-3 ≈ 45% vs ≈ 25%); data ends
  2026-10-15, so October 2026 is partial.
- Community: negative posts about marketing spike during/after the blitz and the autumn push.
- Deals: expansion deals created in Q2 2026 win less, take longer, and carry negative notes.
"""

from __future__ import annotations

import sys
from bisect import bisect_right
from itertools import accumulate
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20261125

# ---- One calendar for every file -------------------------------------------------------------
END = pd.Timestamp("2026-10-15 18:00")              # most recent data point in any file
EMAIL_START = pd.Timestamp("2024-10-14")            # Monday; ~2 years of email campaigns
WEBINAR_LIST_ADDED = pd.Timestamp("2026-02-16")     # new list, just before the decline
BLITZ_START, BLITZ_END = pd.Timestamp("2026-03-02"), pd.Timestamp("2026-04-26 23:59")
NPS_DIP_START, NPS_DIP_END = pd.Timestamp("2026-04-27"), pd.Timestamp("2026-05-31 23:59")
INAPP_START = pd.Timestamp("2026-04-16")
PUSH_START = pd.Timestamp("2026-09-03")             # "Autumn feature push" (in-app)
GIVEAWAY_START, GIVEAWAY_END = pd.Timestamp("2026-03-16"), pd.Timestamp("2026-05-10 23:59")
SUBS_START = pd.Timestamp("2023-10-15")             # ~3 years of subscriptions
SURVEY_START = pd.Timestamp("2025-04-15")           # 18 months of NPS, leads, community posts
DEALS_START = pd.Timestamp("2024-10-15")
BAD_QUARTER_START, BAD_QUARTER_END = pd.Timestamp("2026-04-01"), pd.Timestamp("2026-06-30 23:59")
ACTIVITY_START = pd.Timestamp("2025-10-16")

FILES = [
    "campaign_calendar.csv", "email_campaigns.csv", "email_events.csv", "in_app_events.csv",
    "subscriptions.csv", "incidents.csv", "nps_responses.xlsx", "leads.xlsx", "campaign_costs.csv",
    "activity_events.csv", "community_posts.csv", "deals.csv",
]

FIRST = ("Emma Liam Olivia Noah Ava Lucas Mia Ethan Sofia Mateo Amelia Leo Chloe Ben Grace Jonas "
         "Hannah Omar Zoe Daniel Lea Samuel Nora Arjun Priya Tom Julia Marco Elena Felix Ines Hugo "
         "Laura Kenji Yuki Fatima Ali Sara David Anna Paul Maria Lukas Clara Diego Rosa Max Ruth "
         "Ivan Chen Wei Aisha Tariq Nina Oscar Maya Jack Lily Sean Eva").split()
LAST = ("Smith Johnson Garcia Müller Schmidt Rossi Dubois Martin Nguyen Kim Patel Khan Silva Santos "
        "Novak Kowalski Jensen Larsen Brown Wilson Taylor Davies Evans Moore Clark Lewis Walker Young "
        "Hall Allen King Wright Scott Green Baker Adams Nelson Hill Campbell Mitchell Roberts Carter "
        "Phillips Turner Torres Parker Collins Edwards Stewart Morris Murphy Cook Rogers Bauer Weber "
        "Fischer Becker Hoffmann Tanaka Sato Ito Haddad Costa Ferreira").split()
CO_A = ("North Blue Bright Silver Green Swift Clear Iron Red Open Summit Pine Harbor Atlas Nova "
        "Cedar Lumen Polar Vivid Solid Maple Echo Stone Falcon Orbit Crest Prime Apex River").split()
CO_B = ("wind peak path leaf line forge works labs point field bay gate stack loop signal wave "
        "craft nest rock bridge").split()
CO_SUFFIX = ["Inc", "GmbH", "Ltd", "Co", "BV", "SAS", "LLC", "AB"]
FREEMAIL = ["gmail.com", "outlook.com", "yahoo.com", "icloud.com", "gmx.de", "hotmail.com"]


# ---- small helpers ---------------------------------------------------------------------------
def _pick(rng, items, p=None):
    """One item of a list, optionally with (unnormalised) weights p."""
    if p is None:
        return items[int(rng.integers(len(items)))]
    cum = list(accumulate(p))
    return items[bisect_right(cum, rng.random() * cum[-1])]


def _rand_id(rng, n, alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"):
    return "".join(alphabet[i] for i in rng.integers(0, len(alphabet), n))


def _ascii(text):
    return (text.lower().replace("ü", "ue").replace("ö", "oe").replace("ä", "ae")
            .replace(" ", "").replace("'", ""))


def _frac(ts, start, end):
    return float((ts - start) / (end - start))


def _rand_time(rng, day, hours=(8, 19)):
    """A time on `day` during (roughly) working hours."""
    return (pd.Timestamp(day).normalize() + pd.Timedelta(hours=int(rng.integers(*hours)))
            + pd.Timedelta(seconds=int(rng.integers(0, 3600))))


def _fmt(ts, fmt="%Y-%m-%d %H:%M"):
    return "" if ts is None or pd.isna(ts) else pd.Timestamp(ts).strftime(fmt)


def _sentence(rng, *parts):
    """Join one random choice from each fragment list (skipping empty choices)."""
    out = [_pick(rng, part) for part in parts]
    return " ".join(s for s in out if s).strip()


def _write_csv(df, path):
    df.to_csv(path, index=False, lineterminator="\n")


class People:
    """The invented company's customers: names, emails, regions — shared by several files."""

    def __init__(self, rng, n):
        self.companies = _companies(rng, 320)
        seen: set[str] = set()
        rows = []
        for i in range(n):
            first, last = _pick(rng, FIRST), _pick(rng, LAST)
            company = self.companies[int(rng.integers(len(self.companies)))]
            domain = company[1] if rng.random() < 0.7 else _pick(rng, FREEMAIL)
            local = f"{_ascii(first)}.{_ascii(last)}"
            email = f"{local}@{domain}"
            k = 2
            while email in seen:
                email = f"{local}{k}@{domain}"
                k += 1
            seen.add(email)
            region = _pick(rng, ["North America", "EMEA", "APAC", "LATAM"], [0.45, 0.35, 0.13, 0.07])
            rows.append({"customer_id": "cus_" + _rand_id(rng, 14), "name": f"{first} {last}",
                         "email": email, "region": region, "company": company[0]})
        self.df = pd.DataFrame(rows)


def _companies(rng, n):
    out, seen = [], set()
    while len(out) < n:
        a, b = _pick(rng, CO_A), _pick(rng, CO_B)
        name = f"{a}{b}"
        if name in seen:
            continue
        seen.add(name)
        out.append((f"{name} {_pick(rng, CO_SUFFIX)}", f"{name.lower()}.com"))
    return out


# ---- campaign calendar -----------------------------------------------------------------------
CALENDAR = [
    # campaign, channel, start, end
    ("Black Friday 2023", "email", "2023-11-20", "2023-11-27"),
    ("Year-end renewal push", "email", "2023-12-04", "2023-12-22"),
    ("Onboarding webinar series Q1 2024", "webinar", "2024-01-16", "2024-02-27"),
    ("Pro upgrade banner Q1 2024", "in-app", "2024-02-05", "2024-03-31"),
    ("Webinar: Q1 2024 product roadmap", "webinar", "2024-03-14", "2024-03-14"),
    ("Customer summit 2024", "event", "2024-04-17", "2024-04-18"),
    ("Spring sale 2024", "email", "2024-04-29", "2024-05-10"),
    ("Trade show: SaaS Europe 2024", "event", "2024-06-04", "2024-06-05"),
    ("Dashboard 2.0 launch", "in-app", "2024-06-03", "2024-06-30"),
    ("Summer referral program 2024", "email", "2024-07-01", "2024-08-31"),
    ("Webinar: Retention playbook", "webinar", "2024-09-12", "2024-09-12"),
    ("Annual plan discount Q4 2024", "email", "2024-10-07", "2024-10-31"),
    ("Black Friday 2024", "email", "2024-11-25", "2024-12-02"),
    ("Holiday in-app tips", "in-app", "2024-12-09", "2024-12-31"),
    ("Onboarding webinar series Q1 2025", "webinar", "2025-01-14", "2025-03-25"),
    ("Pro trial upsell", "in-app", "2025-02-03", "2025-03-16"),
    ("Pricing change announcement", "email", "2025-03-03", "2025-03-14"),
    ("Customer summit 2025", "event", "2025-04-23", "2025-04-24"),
    ("Spring sale 2025", "email", "2025-05-05", "2025-05-16"),
    ("Webinar: Email deliverability basics", "webinar", "2025-06-12", "2025-06-12"),
    ("Refer a friend 2025", "in-app", "2025-06-16", "2025-08-15"),
    ("Summer product tour", "email", "2025-07-07", "2025-07-25"),
    ("Webinar: Cohort analysis for marketers", "webinar", "2025-09-18", "2025-09-18"),
    ("Annual plan discount Q4 2025", "email", "2025-10-06", "2025-10-31"),
    ("Onboarding webinar (monthly)", "webinar", "2025-10-16", "2026-10-15"),
    ("Trade show: MarTech Europe", "event", "2025-10-21", "2025-10-22"),
    ("Mobile app launch", "in-app", "2025-11-03", "2025-11-30"),
    ("Black Friday 2025", "email", "2025-11-24", "2025-12-01"),
    ("Year-end review in-app", "in-app", "2025-12-08", "2025-12-31"),
    ("Webinar: Customer marketing 101", "webinar", "2026-01-20", "2026-02-10"),
    ("Webinar: Product roadmap 2026", "webinar", "2026-01-29", "2026-01-29"),
    ("Spring promo blitz", "email", "2026-03-02", "2026-04-26"),       # STORY: email burst
    ("Spring giveaway", "event", "2026-03-16", "2026-05-10"),          # STORY: low-quality leads
    ("Customer summit 2026", "event", "2026-04-22", "2026-04-23"),
    ("Upgrade to Pro banner", "in-app", "2026-04-16", "2026-10-15"),
    ("Win-back campaign", "email", "2026-06-08", "2026-06-26"),
    ("Summer referral 2026", "in-app", "2026-06-15", "2026-08-14"),
    ("Webinar: Reducing churn", "webinar", "2026-07-16", "2026-07-16"),
    ("Annual plan push (in-app)", "in-app", "2026-07-20", "2026-08-09"),
    ("Renewal reminder series 2026", "email", "2026-08-17", "2026-09-30"),
    ("Autumn feature push", "in-app", "2026-09-03", "2026-10-15"),     # STORY: in-app burst
    ("Autumn newsletter relaunch", "email", "2026-09-08", "2026-09-08"),
]


def campaign_calendar(rng, out):
    """campaign_calendar.csv — the marketing calendar every story is dated against."""
    df = pd.DataFrame(CALENDAR, columns=["Campaign", "Channel", "Start Date", "End Date"])
    df = df.sort_values(["Start Date", "Campaign"], kind="stable")
    _write_csv(df, out / "campaign_calendar.csv")
    return df


# ---- email campaigns (Mailchimp "all campaigns" report) --------------------------------------
LISTS = {  # name: (size at start, size at end, first used)
    "All customers": (7800, 12600, EMAIL_START),
    "Newsletter": (5200, 9400, EMAIL_START),
    "Trial users": (1400, 3100, EMAIL_START),
    "Webinar leads 2026": (6240, 5650, WEBINAR_LIST_ADDED),   # STORY: added just before decline
}
TOPIC_OPEN = {"newsletter": 0.36, "promo": 0.245, "welcome": 0.52, "education": 0.40,
              "product update": 0.44}
TOPIC_CTOR = {"newsletter": 0.13, "promo": 0.11, "welcome": 0.22, "education": 0.16,
              "product update": 0.14}
OFFERS = ["20% off annual plans", "Spring sale", "Upgrade to Pro", "Last chance: 20% off",
          "Add seats, save 15%", "Free month of Business", "Bundle: reports + exports",
          "Flash sale: 48 hours", "Members-only pricing"]
LESSONS = ["Segment your customers", "Build a retention dashboard", "Write better subject lines",
           "Measure NPS the right way", "Automate weekly reports", "Cohorts in 5 minutes",
           "Clean up your lists", "Find your power users"]
FEATURES = ["Scheduled exports", "New dashboard editor", "Team spaces", "Faster reports",
            "Slack alerts", "Custom fields", "Mobile app", "SSO for Business"]
SUBJECT_PARTS = {
    "newsletter": (["Your", "This month's", "The"], ["customer marketing digest", "product roundup",
                   "monthly notes", "team newsletter"], ["", "📬", "– what's new"]),
    "promo": (["🔥", "Ends Sunday:", "Don't miss:", "Just for you:", "Last call:"], OFFERS, [""]),
    "welcome": (["Welcome to Acme Insights,", "Hi there,", "Glad you're here,"],
                ["let's get you set up", "your first report in 3 steps", "start here"], [""]),
    "education": (["How to", "Guide:", "5 tips to"], [s.lower() for s in LESSONS], [""]),
    "product update": (["New:", "Just shipped:", "Now live:"], FEATURES, ["", "✨"]),
}


def _list_size(rng, name, ts):
    first_size, last_size, added = LISTS[name]
    f = min(max(_frac(ts, added, END), 0.0), 1.0)
    return int(first_size + (last_size - first_size) * f + rng.normal(0, 40))


def _email_schedule(rng):
    """(timestamp, topic, list) of every send: ~2/week, 6/week during the blitz."""
    sends = []
    monday = EMAIL_START
    while monday <= END:
        in_blitz = BLITZ_START <= monday <= BLITZ_END
        if in_blitz:                                  # STORY: frequency triples for 8 weeks
            days = list(range(6))                     # Mon–Sat
        else:
            n = int(rng.choice([1, 2, 2, 2, 3]))
            days = sorted(int(d) for d in rng.choice([1, 2, 3], n, replace=False))  # Tue–Thu
        for i, d in enumerate(days):
            ts = monday + pd.Timedelta(days=d, hours=int(rng.integers(8, 12)),
                                       minutes=int(rng.integers(0, 60)))
            if ts > END:
                continue
            f = _frac(ts, EMAIL_START, END)
            # STORY: promo share grows over time (and dominates the blitz)
            p_promo = 0.70 if in_blitz else 0.18 + 0.30 * f
            others = ["newsletter", "education", "product update", "welcome"]
            weights = np.array([0.38, 0.22, 0.18, 0.22]) * (1 - p_promo)
            topic = _pick(rng, ["promo", *others], [p_promo, *weights])
            if topic == "newsletter":
                lst = "Newsletter"
            elif topic == "promo":
                pool = ["All customers", "Newsletter"]
                w = [0.55, 0.45]
                if ts >= WEBINAR_LIST_ADDED:
                    pool, w = pool + ["Webinar leads 2026"], [0.4, 0.3, 0.3]
                lst = _pick(rng, pool, w)
            elif topic == "welcome":
                lst = "Trial users"
            elif topic == "education":
                lst = _pick(rng, ["Trial users", "All customers"], [0.6, 0.4])
            else:
                lst = "All customers"
            # STORY: the new list gets a welcome email the week it is imported
            if monday == WEBINAR_LIST_ADDED and i == 0:
                topic, lst = "welcome", "Webinar leads 2026"
            sends.append((ts, topic, lst, in_blitz))
        monday += pd.Timedelta(days=7)
    return sends


def email_campaigns(rng, out):
    """email_campaigns.csv — Mailchimp 'all campaigns' report, one row per send."""
    sends = _email_schedule(rng)
    # STORY: 3 welcome sends with very low opens (template landed in Promotions/spam),
    # and 2 promos with CTOR < 8% (broken link / weak offer). Picked outside the blitz.
    welcome_idx = [i for i, s in enumerate(sends) if s[1] == "welcome" and not s[3]
                   and s[2] == "Trial users"]
    promo_idx = [i for i, s in enumerate(sends) if s[1] == "promo" and not s[3]]
    low_open = {int(i) for i in rng.choice(welcome_idx, 3, replace=False)}
    low_ctor = {int(i) for i in rng.choice(promo_idx, 2, replace=False)}

    rows, titles = [], set()
    counters = {}
    for i, (ts, topic, lst, in_blitz) in enumerate(sends):
        f = _frac(ts, EMAIL_START, END)
        size = _list_size(rng, lst, ts)
        if topic == "welcome" and lst == "Trial users":
            recipients = int(rng.integers(180, 520))          # new sign-ups since last welcome
        else:
            recipients = size
        new_list = lst == "Webinar leads 2026"
        # delivery: ~99% normally; the blitz trips throttling (soft bounces) everywhere
        bounce = rng.uniform(0.006, 0.013)
        if new_list:
            bounce = rng.uniform(0.025, 0.035)
        if in_blitz:
            bounce = rng.uniform(0.055, 0.075) + (0.03 if new_list else 0.0)
        # opens: by topic, a slight within-topic drift (-2% relative over 2 years)
        p_open = TOPIC_OPEN[topic] * (1 - 0.02 * f) + rng.normal(0, 0.015)
        if new_list:
            p_open *= 0.72
        if in_blitz:
            p_open *= 0.92
        if i in low_open:
            p_open = rng.uniform(0.10, 0.135)
        ctor = TOPIC_CTOR[topic] + rng.normal(0, 0.008)
        if in_blitz:
            ctor *= 0.9
        if i in low_ctor:
            ctor = rng.uniform(0.045, 0.065)
        ctor = max(ctor, 0.085) if i not in low_ctor else ctor     # only the planted ones < 8%
        # unsubscribes and complaints: well under 0.1% normally; far above during the blitz
        p_unsub = rng.uniform(0.0003, 0.0007) * (1.3 if topic == "promo" else 1.0)
        p_spam = rng.uniform(0.00003, 0.00015)
        if in_blitz:
            p_unsub = rng.uniform(0.0018, 0.0032) * (1.4 if new_list else 1.0)
            p_spam = rng.uniform(0.0011, 0.0022) * (1.4 if new_list else 1.0)

        bounces = int(rng.binomial(recipients, bounce))
        hard = int(rng.binomial(bounces, 0.2 if in_blitz else 0.4))
        delivered = recipients - bounces
        opens = int(rng.binomial(delivered, min(max(p_open, 0.02), 0.95)))
        if i in low_open:
            opens = round(delivered * p_open)        # keep the planted ones below 15%
        clicks = int(rng.binomial(opens, ctor))
        unsubs = int(rng.binomial(delivered, p_unsub))
        spam = int(rng.binomial(delivered, p_spam))

        counters[topic] = counters.get(topic, 0) + 1
        title = {
            "newsletter": f"{ts:%B %Y} Newsletter",
            "promo": f"Promo – {_pick(rng, OFFERS)}",
            "welcome": f"Welcome – {lst}",
            "education": f"Tips: {_pick(rng, LESSONS)}",
            "product update": f"Product update – {_pick(rng, FEATURES)}",
        }[topic] + f" ({ts:%b %d %Y})"
        if in_blitz and topic == "promo":
            title = f"Spring promo blitz – {_pick(rng, OFFERS)} ({ts:%b %d %Y})"
        while title in titles:
            title += " b"
        titles.add(title)
        rows.append({
            "Title": title,
            "Subject": _sentence(rng, *SUBJECT_PARTS[topic]),
            "List": lst,
            "Send Date": f"{ts.month}/{ts.day}/{ts.year % 100:02d} {ts.hour}:{ts.minute:02d}",
            "Send Weekday": f"{ts:%A}",
            "Topic": topic,
            "Total Recipients": recipients,
            "Successful Deliveries": delivered,
            "Soft Bounces": bounces - hard,
            "Hard Bounces": hard,
            "Total Bounces": bounces,
            "Times Forwarded": int(rng.binomial(opens, 0.002)),
            "Unique Opens": opens,
            "Open Rate": f"{100 * opens / delivered:.2f}%",
            "Total Opens": opens + int(rng.binomial(opens, 0.6)),
            "Unique Clicks": clicks,
            "Click Rate": f"{100 * clicks / delivered:.2f}%",
            "Total Clicks": clicks + int(rng.binomial(clicks, 0.35)),
            "Unsubscribes": unsubs,
            "Abuse Complaints": spam,
        })
    df = pd.concat([pd.DataFrame(rows), _email_extras(np.random.default_rng(EMAIL_EXTRAS_SEED))], ignore_index=True)
    _write_csv(df, out / "email_campaigns.csv")
    return df


EMAIL_EXTRAS_SEED = SEED + 23  # its own stream: the rows written before keep every value
# (send time, title, subject, list, topic, recipients, open rate, CTOR) — appended after the program's rows
EMAIL_EXTRAS = [
    # STORY: one-off pilot sends, then four weeks of silence before the program starts (gap in sending)
    ("2024-09-17 10:15", "Pilot newsletter (Sep 17 2024)", "Say hello to our newsletter", "Newsletter",
     "newsletter", 4900, 0.36, 0.13),
    ("2024-09-19 10:40", "Pilot – product tour (Sep 19 2024)", "A 2-minute tour of Acme Insights",
     "All customers", "product update", 7600, 0.44, 0.14),
    # STORY: subject-line A/B test, Combo 1 clearly wins on opens
    ("2025-06-13 14:00", "Promo – Upgrade to Pro | Combo 1", "Upgrade to Pro: 20% off this week",
     "All customers", "promo", 4900, 0.27, 0.11),
    ("2025-06-13 14:00", "Promo – Upgrade to Pro | Combo 2", "Your team is ready for Pro", "All customers",
     "promo", 4900, 0.22, 0.11),
    # STORY: send-time A/B test (same subject, 9:00 vs 15:00)
    ("2025-09-19 09:00", "Tips: Cohorts in 5 minutes | Combo 1", "Guide: cohorts in 5 minutes", "Trial users",
     "education", 1250, 0.40, 0.16),
    ("2025-09-19 15:00", "Tips: Cohorts in 5 minutes | Combo 2", "Guide: cohorts in 5 minutes", "Trial users",
     "education", 1250, 0.41, 0.16),
]


def _email_extras(rng) -> pd.DataFrame:
    """The appended email rows (EMAIL_EXTRAS), counts drawn like the program's ordinary sends."""
    rows = []
    for when, title, subject, lst, topic, recipients, p_open, ctor in EMAIL_EXTRAS:
        ts = pd.Timestamp(when)
        bounces = int(rng.binomial(recipients, 0.009))
        hard = int(rng.binomial(bounces, 0.4))
        delivered = recipients - bounces
        opens = int(rng.binomial(delivered, p_open))
        clicks = int(rng.binomial(opens, ctor))
        rows.append({
            "Title": title, "Subject": subject, "List": lst,
            "Send Date": f"{ts.month}/{ts.day}/{ts.year % 100:02d} {ts.hour}:{ts.minute:02d}",
            "Send Weekday": f"{ts:%A}", "Topic": topic, "Total Recipients": recipients,
            "Successful Deliveries": delivered, "Soft Bounces": bounces - hard, "Hard Bounces": hard,
            "Total Bounces": bounces, "Times Forwarded": int(rng.binomial(opens, 0.002)), "Unique Opens": opens,
            "Open Rate": f"{100 * opens / delivered:.2f}%", "Total Opens": opens + int(rng.binomial(opens, 0.6)),
            "Unique Clicks": clicks, "Click Rate": f"{100 * clicks / delivered:.2f}%",
            "Total Clicks": clicks + int(rng.binomial(clicks, 0.35)),
            "Unsubscribes": int(rng.binomial(delivered, 0.0005)),
            "Abuse Complaints": int(rng.binomial(delivered, 0.00008)),
        })
    return pd.DataFrame(rows)


# ---- email events (ESP event log) ------------------------------------------------------------
UA_PEOPLE = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
    "Microsoft Outlook 16.0.17328; Microsoft Outlook 16.0.17328",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36",
]
UA_SCANNER = "Mozilla/5.0 (compatible; Barracuda-LinkProtect/2.1; +https://www.barracuda.com/)"
SCANNED_DOMAIN = "northwind-logistics.com"


def email_events(rng, people, out):
    """email_events.csv — recipient-level log for 5 'Trial nurture' sends (Europe/Berlin time)."""
    campaigns = [("Trial nurture 1 – Getting started", "2026-02-10 09:30"),
                 ("Trial nurture 2 – Your first dashboard", "2026-02-24 09:30"),
                 ("Trial nurture 3 – Reports", "2026-03-10 09:30"),       # STORY: scanner burst
                 ("Trial nurture 4 – Invite your team", "2026-04-07 09:30"),  # after DST (+02:00)
                 ("Trial nurture 5 – Upgrade", "2026-04-21 09:30")]
    pool = list(people.df["email"].iloc[:330])
    scanned = [f"{_ascii(_pick(rng, FIRST))}.{_ascii(_pick(rng, LAST))}{k}@{SCANNED_DOMAIN}"
               for k in range(40)]
    rows = []
    for name, start in campaigns:
        t0 = pd.Timestamp(start).tz_localize("Europe/Berlin")
        recipients = [pool[int(i)] for i in rng.choice(len(pool), 215, replace=False)]
        if "Reports" in name:
            recipients += scanned
        for k, email in enumerate(recipients):
            sent = t0 + pd.Timedelta(milliseconds=int(400 * k + rng.integers(0, 400)))
            rows.append((email, name, "sent", sent, ""))
            if rng.random() < 0.025 and not email.endswith(SCANNED_DOMAIN):
                rows.append((email, name, "bounce", sent + pd.Timedelta(seconds=int(rng.integers(1, 30))), ""))
                continue
            delivered = sent + pd.Timedelta(seconds=int(rng.integers(1, 20)))
            rows.append((email, name, "delivered", delivered, ""))
            if email.endswith(SCANNED_DOMAIN):
                # STORY: link scanner opens and clicks every link within seconds of delivery
                t = delivered + pd.Timedelta(seconds=int(rng.integers(1, 3)))
                rows.append((email, name, "open", t, UA_SCANNER))
                for _ in range(int(rng.integers(2, 4))):
                    t = t + pd.Timedelta(milliseconds=int(rng.integers(200, 1500)))
                    rows.append((email, name, "click", t, UA_SCANNER))
                continue
            if rng.random() < 0.44:
                ua = _pick(rng, UA_PEOPLE, [0.35, 0.25, 0.15, 0.12, 0.08, 0.05])
                t = delivered + pd.Timedelta(minutes=float(rng.lognormal(4.5, 1.3)))
                rows.append((email, name, "open", t, ua))
                if rng.random() < 0.25:
                    rows.append((email, name, "open", t + pd.Timedelta(hours=float(rng.exponential(20))), ua))
                if rng.random() < 0.27:
                    rows.append((email, name, "click", t + pd.Timedelta(seconds=int(rng.integers(5, 300))), ua))
                if rng.random() < 0.012:
                    rows.append((email, name, "unsubscribe", t + pd.Timedelta(seconds=int(rng.integers(5, 120))), ua))
            if rng.random() < 0.003:
                rows.append((email, name, "spam", delivered + pd.Timedelta(hours=float(rng.exponential(10))), ""))
    df = pd.DataFrame(rows, columns=["Email", "Campaign", "Event", "ts", "User Agent"])
    df = df.sort_values(["ts", "Email", "Event"], kind="stable")
    df.insert(3, "Timestamp", [t.floor("s").isoformat() for t in df["ts"]])
    df = df.drop(columns="ts")
    _write_csv(df, out / "email_events.csv")
    return df


# ---- in-app message events -------------------------------------------------------------------
INAPP_MARKETING = [  # campaign, start, end (calendar windows)
    ("Upgrade to Pro banner", "2026-04-16", "2026-10-15"),
    ("Customer summit 2026", "2026-04-16", "2026-04-23"),
    ("Summer referral 2026", "2026-06-15", "2026-08-14"),
    ("Annual plan push (in-app)", "2026-07-20", "2026-08-09"),
    ("Autumn feature push", "2026-09-03", "2026-10-15"),
]
INAPP_PRODUCT = ["New dashboard tour", "Release notes", "Scheduled reports tip"]
INAPP_SERVICE = ["Scheduled maintenance", "Billing reminder", "Security notice"]


def in_app_events(rng, out):
    """in_app_events.csv — impressions, clicks, dismissals, mutes with dwell time, 6 months."""
    users = [f"U-{100000 + 7 * i:06d}" for i in range(500)]
    rows = []
    week = INAPP_START - pd.Timedelta(days=INAPP_START.day_of_week)     # Monday-aligned weeks
    while week <= END:
        push = week >= PUSH_START - pd.Timedelta(days=PUSH_START.day_of_week)
        active = [u for u in users if rng.random() < 0.46]
        live = [c for c, s, e in INAPP_MARKETING
                if pd.Timestamp(s) <= week + pd.Timedelta(days=6) and pd.Timestamp(e) >= week]
        for user in active:
            # STORY: marketing messages per active user per week roughly double during the push
            n_mkt = rng.poisson(2.5 if push else 1.0)
            n_prod, n_serv = rng.poisson(0.35), rng.poisson(0.15)
            msgs = ([("marketing", _pick(rng, live, [3.0 if c == "Autumn feature push" else 1.0 for c in live]))
                     for _ in range(n_mkt)]
                    + [("product", _pick(rng, INAPP_PRODUCT)) for _ in range(n_prod)]
                    + [("service", _pick(rng, INAPP_SERVICE)) for _ in range(n_serv)])
            for mtype, campaign in msgs:
                t = _rand_time(rng, week + pd.Timedelta(days=int(rng.integers(0, 7))), (7, 22))
                if t > END or t < INAPP_START:
                    continue
                # dwell in ms: STORY: during the push more marketing impressions are skimmed (< 1 s)
                median = {"marketing": 1250 if push else 2600, "product": 4200, "service": 3100}[mtype]
                dwell = int(np.clip(rng.lognormal(np.log(median), 0.9), 120, 60000))
                # outcome: STORY: marketing clicks fall, dismissals and mutes rise during the push
                p = {"marketing": ([0.045, 0.38, 0.022] if push else [0.09, 0.22, 0.004]),
                     "product": [0.12, 0.10, 0.002], "service": [0.06, 0.08, 0.001]}[mtype]
                outcome = _pick(rng, ["click", "dismiss", "mute", None], [*p, 1 - sum(p)])
                rows.append((user, t, campaign, mtype, "impression", dwell))
                if outcome:
                    rows.append((user, t + pd.Timedelta(milliseconds=dwell), campaign, mtype, outcome, None))
        week += pd.Timedelta(days=7)
    df = pd.DataFrame(rows, columns=["User ID", "ts", "Campaign Name", "Message Type", "Event", "Dwell Ms"])
    df = df.sort_values(["ts", "User ID"], kind="stable")
    df.insert(1, "Timestamp", [_fmt(t, "%Y-%m-%d %H:%M:%S") for t in df["ts"]])
    df = df.drop(columns="ts")
    df["Dwell Ms"] = df["Dwell Ms"].astype("Int64")
    _write_csv(df, out / "in_app_events.csv")
    return df


# ---- subscriptions (Stripe export) + incidents -----------------------------------------------
PLANS = {  # tier: (monthly USD, annual USD)
    "Starter": (29, 290), "Pro": (79, 790), "Business": (199, 1990),
}
EUR = {"Starter": (27, 270), "Pro": (75, 750), "Business": (189, 1890)}
TIERS = ["Starter", "Pro", "Business"]
INCIDENTS = [  # date, description, customers hit
    ("2024-11-12", "EU data centre outage – dashboards unavailable for 6 hours", 20),
    ("2025-09-23", "Billing error – customers charged twice for September", 15),
    ("2026-06-09", "Sync failures – data imports delayed up to 3 days", 25),
]


def _add_months(ts, k):
    return ts + pd.DateOffset(months=int(k))


def subscriptions(rng, people, out):
    """subscriptions.csv (Stripe subscriptions export) and incidents.csv."""
    cust = people.df
    n = len(cust)
    # sign-ups grow over time (density rises linearly)
    span_days = (END - SUBS_START).days
    offsets = np.sqrt(rng.uniform(0.04, 1.0, n)) * span_days
    created = sorted(SUBS_START + pd.Timedelta(days=float(d)) for d in offsets)
    lives = []   # per customer: dict describing the lifetime before plan changes
    for i in range(n):
        c0 = created[i].floor("min") + pd.Timedelta(hours=int(rng.integers(7, 20)))
        tier = _pick(rng, TIERS, [0.5, 0.35, 0.15])
        interval = "year" if rng.random() < 0.28 else "month"
        trial = rng.random() < 0.6
        paid_from = c0 + pd.Timedelta(days=14) if trial else c0
        converts = (not trial) or rng.random() < 0.62
        if not converts:
            end = paid_from                              # STORY: trial that did not convert
        elif interval == "month":
            end = _add_months(paid_from, rng.geometric(0.032))
        else:
            end = _add_months(paid_from, 12 * rng.geometric(0.2))
        lives.append(dict(cid=cust.customer_id[i], email=cust.email[i], created=c0, tier=tier,
                          interval=interval, trial=trial, paid_from=paid_from, converts=converts,
                          end=end, eur=cust.region[i] == "EMEA" and rng.random() < 0.3,
                          qty=int(rng.choice([1, 1, 1, 1, 2, 3, 5])) if tier == "Business" else 1))

    # STORY: customers hit by an incident churn more often within 60 days
    incident_rows = []
    taken = set()
    for date, desc, k in INCIDENTS:
        day = pd.Timestamp(date)
        eligible = [j for j, L in enumerate(lives) if L["converts"] and L["paid_from"] < day
                    and L["end"] > day and j not in taken]
        for j in sorted(int(x) for x in rng.choice(eligible, k, replace=False)):
            taken.add(j)
            incident_rows.append({"Customer ID": lives[j]["cid"], "Incident Date": date,
                                  "Description": desc})
            if rng.random() < 0.4:
                lives[j]["end"] = min(lives[j]["end"], day + pd.Timedelta(days=int(rng.integers(6, 58))))

    rows = []

    def add(L, tier, start, end, trial_end=None, canceled=None, status=None):
        cur = "eur" if L["eur"] else "usd"
        price = (EUR if L["eur"] else PLANS)[tier][0 if L["interval"] == "month" else 1]
        if status is None:
            if trial_end is not None and trial_end > END and (end is None or end >= trial_end):
                status = "trialing"
            elif end is not None and end <= END:
                status = "canceled"
            else:
                status = "past_due" if rng.random() < 0.03 else "active"
        ended = end if end is not None and end <= END else None
        if status == "canceled" and canceled is None:
            canceled = end - pd.Timedelta(days=int(rng.integers(0, 20)))
            canceled = max(canceled, start)
        rows.append({
            "id": "sub_" + _rand_id(rng, 24),
            "Customer ID": L["cid"], "Customer Email": L["email"],
            "Plan": f"{tier.lower()}-{'monthly' if L['interval'] == 'month' else 'annual'}",
            "Product": f"Acme Insights {tier}",
            "Quantity": L["qty"], "Currency": cur, "Interval": L["interval"],
            "Amount": f"{price:.2f}", "Status": status,
            "Created (UTC)": start, "Start (UTC)": start,
            "Trial Start (UTC)": start if trial_end is not None else None,
            "Trial End (UTC)": trial_end,
            "Canceled At (UTC)": canceled if status == "canceled" else None,
            "Ended At (UTC)": ended,
        })

    reactivate = 0
    for L in lives:
        trial_end = L["paid_from"] if L["trial"] else None
        if not L["converts"]:
            if L["end"] <= END:
                add(L, L["tier"], L["created"], L["end"], trial_end, canceled=L["end"], status="canceled")
            else:
                add(L, L["tier"], L["created"], None, trial_end, status="trialing")
            continue
        end = L["end"]
        horizon = min(end, END)
        change_day = None
        if (horizon - L["paid_from"]).days > 75:
            u = rng.random()
            # STORY: upgrades (new subscription on a higher plan replaces the first) and downgrades
            if u < 0.12 and L["tier"] != "Business":
                new_tier = TIERS[TIERS.index(L["tier"]) + 1]
            elif u < 0.16 and L["tier"] != "Starter":
                new_tier = TIERS[TIERS.index(L["tier"]) - 1]
            else:
                new_tier = None
            if new_tier:
                days = int(rng.integers(45, (horizon - L["paid_from"]).days - 15))
                change_day = (L["paid_from"] + pd.Timedelta(days=days)).floor("D") + pd.Timedelta(hours=int(rng.integers(8, 18)))
        if change_day is not None:
            add(L, L["tier"], L["created"], change_day, trial_end, canceled=change_day)
            add(L, new_tier, change_day, end if end <= END else None)
        else:
            add(L, L["tier"], L["created"], end if end <= END else None, trial_end)
        # STORY: a few churned customers come back a few months later
        if (reactivate < 3 and end <= END - pd.Timedelta(days=240) and L["interval"] == "month"
                and rng.random() < 0.05):
            back = end + pd.Timedelta(days=int(rng.integers(60, 180)))
            add(L, L["tier"], back, None)
            reactivate += 1

    df = pd.DataFrame(rows)
    # STORY: one cancellation scheduled for the future (cancel at period end, ends after END)
    j = df.index[(df["Status"] == "active") & (df["Interval"] == "month")][7]
    df.loc[j, "Canceled At (UTC)"] = pd.Timestamp("2026-10-03 16:41")
    df.loc[j, "Ended At (UTC)"] = pd.Timestamp("2026-11-14 00:00")
    df = df.sort_values(["Created (UTC)", "id"], kind="stable")
    for col in [c for c in df.columns if c.endswith("(UTC)")]:
        df[col] = [_fmt(t) for t in df[col]]
    _write_csv(df, out / "subscriptions.csv")
    inc = pd.DataFrame(incident_rows)
    _write_csv(inc, out / "incidents.csv")
    return df, inc


# ---- NPS responses (Delighted export) --------------------------------------------------------
PROMO_PRAISE = ["the dashboards are fantastic", "scheduled reports save me hours every week",
                "cohort charts are exactly what we needed", "the new dashboard editor is so fast",
                "support answered within minutes", "Slack alerts keep the whole team in the loop",
                "exports just work", "onboarding was painless", "team spaces made sharing easy",
                "best reporting tool we have tried"]
PROMO_OPEN = ["Love it —", "Great product:", "Really happy,", "Honestly,", "", "Five stars,"]
PROMO_CLOSE = ["", "Keep it up!", "Recommended it to two colleagues already.", "Thanks team!"]
DETRACT_MKT = ["too many emails", "you send way too many emails", "your marketing emails feel like spam",
               "the promo emails never stop", "so many notifications in the app",
               "constant upsell notifications", "I get spam from you every day",
               "I unsubscribed and still get emails"]
DETRACT_PRODUCT = ["reports are slow", "the price went up again", "exports keep failing",
                   "support took a week to reply", "the mobile app crashes", "missing integrations",
                   "data sync was broken for days", "too expensive for what it does"]
DETRACT_OPEN = ["Honestly", "Frankly,", "Meh.", "Disappointed:", "", "Lately"]
DETRACT_CLOSE = ["", "Thinking about switching.", "Please fix this.", "Not impressed.",
                 "It's getting annoying."]
PASSIVE = ["Good tool but {x}.", "Does the job, although {x}.", "Solid, but {x}.",
           "Mostly fine; {x}.", "Useful reports, {x}."]
PASSIVE_X = ["a bit pricey", "the UI could be simpler", "I'd like more templates",
             "too many emails lately", "setup took a while", "notifications are a bit much",
             "exports could be faster"]


def _nps_comment(rng, score, ts):
    in_dip = NPS_DIP_START <= ts <= NPS_DIP_END
    in_push = ts >= PUSH_START
    if rng.random() < 0.3:
        return None
    if score >= 9:
        return _sentence(rng, PROMO_OPEN, PROMO_PRAISE, PROMO_CLOSE).capitalize()
    if score >= 7:
        return _pick(rng, PASSIVE).format(x=_pick(rng, PASSIVE_X))
    # STORY: detractor comments mention emails/spam/notifications, most of all after the blitz
    p_mkt = 0.75 if in_dip else (0.5 if in_push else 0.3)
    body = _pick(rng, DETRACT_MKT) if rng.random() < p_mkt else _pick(rng, DETRACT_PRODUCT)
    text = _sentence(rng, DETRACT_OPEN, [body], DETRACT_CLOSE)
    return text[0].upper() + text[1:]


def nps_responses(rng, people, subs, out):
    """nps_responses.xlsx — Delighted export, 18 months, with a dip after the email blitz."""
    plans = (subs.drop_duplicates("Customer ID", keep="last")
             .set_index("Customer ID")["Product"].str.replace("Acme Insights ", "", regex=False))
    days = pd.date_range(SURVEY_START, END.normalize(), freq="D")
    rows = []
    rid = 41_200_000
    for day in days:
        in_dip = NPS_DIP_START <= day <= NPS_DIP_END
        n = rng.poisson(4.2 if in_dip else 2.65)       # angry customers answer more
        for _ in range(n):
            ts = _rand_time(rng, day, (6, 22))
            if ts > END:
                continue
            c = people.df.iloc[int(rng.integers(len(people.df)))]
            # STORY: NPS ≈ +30 normally, about −20 in the month after the blitz, ~+18 during the push
            if in_dip:
                p = [0.27, 0.25, 0.48]
            elif day >= PUSH_START:
                p = [0.44, 0.30, 0.26]
            else:
                p = [0.50, 0.30, 0.20]
            cls = _pick(rng, ["promoter", "passive", "detractor"], p)
            score = {"promoter": lambda: int(rng.choice([9, 10], p=[0.45, 0.55])),
                     "passive": lambda: int(rng.choice([7, 8])),
                     "detractor": lambda: int(rng.choice(7, p=[.05, .03, .05, .1, .12, .25, .4]))}[cls]()
            rid += int(rng.integers(3, 40))
            rows.append({"Response ID": rid, "Email": c.email, "Name": c["name"], "Score": score,
                         "Comment": _nps_comment(rng, score, ts), "ts": ts,
                         "Plan": plans.get(c.customer_id, "Starter"), "Region": c.region})
    df = pd.DataFrame(rows)
    # Validation story: a handful of invalid scores (blank, text, decimal, out of range)
    bad = [int(i) for i in rng.choice(len(df), 8, replace=False)]
    df["Score"] = df["Score"].astype(object)
    for i, value in zip(bad, [None, None, None, "ten", "ten", 6.5, 6.5, 11]):
        df.loc[i, "Score"] = value
    # Delighted writes local time with the offset (account in US Pacific time)
    local = pd.to_datetime(df["ts"]).dt.tz_localize("UTC").dt.tz_convert("America/Los_Angeles")
    df.insert(5, "Created", [t.strftime("%Y-%m-%d %H:%M:%S %z") for t in local])
    df = df.drop(columns="ts")
    df.to_excel(out / "nps_responses.xlsx", index=False, sheet_name="Responses", engine="openpyxl")
    return df


# ---- leads (HubSpot contacts export) + campaign costs ----------------------------------------
LEAD_PROGRAMS = [  # campaign, start, end, original source, leads, monthly cost
    ("Paid search – always on", "2025-04-15", "2026-10-15", "Paid Search", 520, 6000),
    ("Content syndication", "2025-04-15", "2026-10-15", "Referrals", 300, 2500),
    ("Webinar: Email deliverability basics", "2025-05-20", "2025-06-15", "Email Marketing", 130, 4000),
    ("Refer a friend 2025", "2025-06-16", "2025-08-15", "Referrals", 110, 1500),
    ("Webinar: Cohort analysis for marketers", "2025-08-25", "2025-09-20", "Email Marketing", 140, 4000),
    ("Trade show: MarTech Europe", "2025-10-21", "2025-10-31", "Offline Sources", 150, 22000),
    ("Webinar: Customer marketing 101", "2026-01-05", "2026-02-10", "Email Marketing", 170, 4500),
    ("Spring giveaway", "2026-03-16", "2026-05-10", "Paid Social", 550, 12000),   # STORY
    ("Customer summit 2026", "2026-04-01", "2026-04-23", "Offline Sources", 90, 15000),
    ("Summer referral 2026", "2026-06-15", "2026-08-14", "Referrals", 100, 1500),
    ("Webinar: Reducing churn", "2026-06-25", "2026-07-16", "Email Marketing", 120, 4000),
]
INDUSTRIES = ["Computer Software", "Marketing & Advertising", "Retail", "Financial Services",
              "Hospital & Health Care", "Education Management", "E-Learning", "Consumer Goods",
              "Information Technology & Services", "Hospitality"]
TITLES = ["Marketing Manager", "CRM Manager", "Head of Growth", "Lifecycle Marketing Lead",
          "Customer Success Manager", "Marketing Director", "Data Analyst", "VP Marketing",
          "Email Marketing Specialist", "Founder", "Product Marketing Manager", "CMO"]
GIVEAWAY_TITLES = ["Student", "Freelancer", "Intern", "", "Designer", "Marketing Assistant"]


def leads(rng, out):
    """leads.xlsx (HubSpot contacts export) and campaign_costs.csv."""
    plan = []  # (create ts, program or None)
    for name, s, e, src, k, _cost in LEAD_PROGRAMS:
        s, e = pd.Timestamp(s), pd.Timestamp(e)
        for d in rng.uniform(0, (e - s).days + 1, k):
            plan.append((s + pd.Timedelta(days=float(d)), name, src))
    # organic / direct leads with no campaign
    for d in rng.uniform(0, (END - SURVEY_START).days, 720):
        plan.append((SURVEY_START + pd.Timedelta(days=float(d)), "",
                     _pick(rng, ["Organic Search", "Direct Traffic", "Social Media"], [0.6, 0.3, 0.1])))
    plan.sort(key=lambda x: (x[0], x[1]))

    rows = []
    rec = 51_000
    for created, campaign, source in plan:
        created = created.floor("min")
        if created > END:
            continue
        give = campaign == "Spring giveaway"
        rec += int(rng.integers(1, 9))
        first, last = _pick(rng, FIRST), _pick(rng, LAST)
        domain = (_pick(rng, FREEMAIL) if give and rng.random() < 0.7 else
                  f"{_pick(rng, CO_A).lower()}{_pick(rng, CO_B)}.com")
        # STORY: giveaway leads qualify less and move slower at every step
        p = [0.28, 0.30, 0.45, 0.22] if give else [0.45, 0.52, 0.58, 0.36]
        slow = 2.3 if give else 1.0
        medians = [9, 6, 12, 28]
        dates, t = [], created
        for step in range(4):
            if rng.random() >= p[step]:
                break
            t = (t + pd.Timedelta(days=float(rng.lognormal(np.log(medians[step] * slow), 0.7)))).floor("min")
            if t > END:
                break
            dates.append(t)
        reached = len(dates)           # 0 lead, 1 MQL, 2 SQL, 3 opportunity, 4 customer
        mql, sql, opp, cus = (dates + [None] * 4)[:4]
        # data quality: skipped SQL stage (deal created straight from MQL) and out-of-order dates
        if opp is not None and rng.random() < 0.07:
            sql = None
        if sql is not None and rng.random() < 0.008:
            mql, sql = sql, mql
        if cus is not None and rng.random() < 0.03:
            cus = opp - pd.Timedelta(days=int(rng.integers(1, 6)))
        stalled = reached < 4
        unq_p = (0.65 if give else 0.2) if reached <= 1 else (0.35 if give else 0.1)
        if reached == 4:
            status = ""
        elif stalled and rng.random() < unq_p:
            status = "Unqualified"
        elif reached == 3:
            status = "Open Deal"
        elif reached == 2:
            status = _pick(rng, ["Connected", "In Progress"])
        elif reached == 1:
            status = _pick(rng, ["Open", "In Progress", "Attempted to Contact"])
        else:
            status = _pick(rng, ["New", "Attempted to Contact", "Bad Timing"], [0.6, 0.3, 0.1])
        stage = ["Lead", "Marketing Qualified Lead", "Sales Qualified Lead", "Opportunity",
                 "Customer"][reached]
        if status == "Unqualified" and rng.random() < 0.5:
            stage = "Other"
        engage = 0.3 if give else 1.0
        opens = int(rng.poisson((3 + 4 * reached) * engage))
        clicks = int(rng.binomial(opens, 0.25 + 0.05 * reached))
        views = int(rng.poisson((4 + 5 * reached) * engage))
        webinars = int(rng.poisson(1.2 if "Webinar" in campaign else 0.2 + 0.2 * reached))
        demo = reached >= 2 and rng.random() < 0.6 or rng.random() < 0.03
        employees = int(np.clip(rng.lognormal(np.log(3 if give else 60), 1.4), 1, 20000))
        title = _pick(rng, GIVEAWAY_TITLES) if give and rng.random() < 0.6 else _pick(rng, TITLES)
        score = min(100, opens + 3 * clicks + views // 2 + 8 * webinars + 20 * demo
                    + (10 if employees >= 50 else 0) + (5 if title in TITLES[:9] else 0))
        became_lead = created + pd.Timedelta(minutes=int(rng.integers(0, 3)))
        if rng.random() < 0.04:
            became_lead = None        # created as a subscriber; lead date never recorded
        rows.append({
            "Record ID": rec, "First Name": first, "Last Name": last,
            "Email": f"{_ascii(first)}.{_ascii(last)}{rec % 97}@{domain}",
            "Create Date": created, "Lifecycle Stage": stage,
            "Became a Lead Date": became_lead,
            "Became a Marketing Qualified Lead Date": mql,
            "Became a Sales Qualified Lead Date": sql,
            "Became an Opportunity Date": opp,
            "Became a Customer Date": cus,
            "Original Source": source, "Campaign": campaign, "HubSpot Score": score,
            "Lead Status": status, "Number of Employees": employees,
            "Industry": _pick(rng, INDUSTRIES) if rng.random() < 0.85 else "",
            "Job Title": title, "Email opens": opens, "Email clicks": clicks,
            "Page views": views, "Webinars attended": webinars,
            "Demo requested": "Yes" if demo else "No",
        })
    df = pd.DataFrame(rows)
    for col in [c for c in df.columns if "Date" in c]:
        df[col] = pd.to_datetime(df[col])
    _lead_trials_and_revenue(df)
    df.to_excel(out / "leads.xlsx", index=False, sheet_name="Contacts", engine="openpyxl")

    # Costs per program and month (spend varies a little month to month)
    cost_rows = []
    for name, s, e, _src, _k, monthly in LEAD_PROGRAMS:
        for m in pd.period_range(pd.Timestamp(s), pd.Timestamp(e), freq="M"):
            cost_rows.append({"Campaign": name, "Month": f"{m.start_time:%Y-%m-%d}",
                              "Cost": f"{monthly * rng.uniform(0.85, 1.15):.2f}"})
    costs = pd.DataFrame(cost_rows)
    _write_csv(costs, out / "campaign_costs.csv")
    return df, costs


def _lead_trials_and_revenue(df):
    """Issue 22: 'Trial started' and 'Total Revenue' columns, from their own random stream so every
    other value of the leads file stays as it was.

    STORY: a free trial only ever starts once a lead is deep in the sales process and already far past
    the MQL bar (behaviour points ≥ 60 under Boundary's default rules), so the default "Trial started"
    rule (+25) never changes who qualifies — the funnel page lists it as a rule with no impact.
    Customers carry their first-year revenue (HubSpot's contact property "Total revenue"); giveaway
    customers buy the small plan."""
    rng = np.random.default_rng(2022_12_05)
    behaviour = (df["Email opens"].clip(upper=10) + 3 * df["Email clicks"].clip(upper=10)
                 + df["Page views"].clip(upper=10) + 8 * df["Webinars attended"].clip(upper=3)
                 + 20 * (df["Demo requested"] == "Yes"))
    deep = df["Became an Opportunity Date"].notna() | df["Became a Customer Date"].notna()
    draws = rng.random(len(df))
    df["Trial started"] = np.where(deep & (behaviour >= 60) & (draws < 0.6), "Yes", "No")
    size = np.where(df["Campaign"] == "Spring giveaway", 1200.0, 9000.0)
    revenue = np.round(size * rng.lognormal(0.0, 0.45, len(df)), -1)
    df["Total Revenue"] = np.where(df["Became a Customer Date"].notna(), revenue, np.nan)


# ---- activity events (product analytics) -----------------------------------------------------
ACTIVITY_EVENTS = ["login", "report_viewed", "dashboard_created", "export", "invite_sent"]


def activity_events(rng, out):
    """activity_events.csv — 12 months of product activity; webinar attendees retain better."""
    rows = []
    n_users = 1900
    span = (END.normalize() - ACTIVITY_START).days
    last_month = END.to_period("M")
    for u in range(n_users):
        uid = f"u{20000 + u}"
        signup = _rand_time(rng, ACTIVITY_START + pd.Timedelta(days=int(rng.integers(0, span))))
        # STORY: users who signed up during the spring blitz came for the promo, and onboarding
        # webinars were paused then: those cohorts attend rarely and retain clearly worse.
        blitz_signup = BLITZ_START <= signup <= BLITZ_START + pd.Timedelta(days=56)
        webinar = rng.random() < (0.05 if blitz_signup else 0.35)
        plan = _pick(rng, ["Free", "Starter", "Pro"], [0.6, 0.25, 0.15])
        price = {"Free": 0, "Starter": 29, "Pro": 79}[plan]
        # STORY: monthly survival 0.81 with the webinar vs 0.665 without; active 85% of alive months
        survive = 0.81 if webinar else (0.45 if blitz_signup else 0.665)
        start_month = signup.to_period("M")
        months = (last_month - start_month).n
        attrs = (signup.strftime("%Y-%m-%d"), "yes" if webinar else "no", plan)
        rows.append((uid, signup, "signup", None, *attrs))
        for _ in range(int(rng.poisson(2))):
            t = signup + pd.Timedelta(minutes=float(rng.exponential(60 * 24 * 5)))
            if t.to_period("M") == start_month and t <= END:
                rows.append((uid, t, _pick(rng, ACTIVITY_EVENTS, [.45, .3, .1, .08, .07]), None, *attrs))
        for m in range(1, months + 1):
            if rng.random() > survive:
                break
            month_start = (start_month + m).start_time
            if price:      # paying users are billed every month they stay
                t = month_start + pd.Timedelta(days=int(min(signup.day, 28)) - 1, hours=3)
                if t <= END:
                    rows.append((uid, t, "payment", f"{price:.2f}", *attrs))
            elif rng.random() > 0.85:
                continue
            days_in = (start_month + m).days_in_month
            for _ in range(1 + int(rng.poisson(1.6))):
                t = _rand_time(rng, month_start + pd.Timedelta(days=int(rng.integers(0, days_in))))
                if t <= END:     # data ends mid-month: the last month is partial
                    rows.append((uid, t, _pick(rng, ACTIVITY_EVENTS, [.45, .3, .1, .08, .07]), None, *attrs))
    df = pd.DataFrame(rows, columns=["User ID", "ts", "Event", "Revenue", "Signup Date",
                                     "Attended Onboarding Webinar", "Plan"])
    df = df.sort_values(["ts", "User ID"], kind="stable")
    df.insert(1, "Timestamp", [_fmt(t, "%Y-%m-%d %H:%M:%S") for t in df["ts"]])
    df = df.drop(columns="ts")
    _write_csv(df, out / "activity_events.csv")
    return df


# ---- community posts, reviews, support tickets -----------------------------------------------
POS = ["Love the new dashboard editor.", "Scheduled reports saved our team hours.",
       "Cohort charts are brilliant.", "Support sorted my issue in ten minutes.",
       "Best analytics tool we've used.", "Onboarding webinar was really helpful.",
       "Team spaces make sharing so easy.", "Exports finally work with our BI tool."]
NEG_PRODUCT = ["Reports have been slow all week.", "Export to Excel fails on big files.",
               "The price increase is hard to justify.", "Mobile app crashes on login.",
               "Data sync was broken for three days.", "Still no Salesforce integration?"]
NEG_MKT = ["Too many emails from you lately.", "Please stop spamming my inbox.",
           "So many notifications in the app, I can't work.", "Unsubscribe doesn't work, still getting promos.",
           "Five promo emails this week. Seriously?", "Turned off all notifications, way too many pop-ups.",
           "Your marketing emails feel like spam now.", "I get an upsell banner every time I log in."]
NEUTRAL = ["How do I add a second workspace?", "Is there an API for exports?",
           "Can I change the billing email?", "Where do I find the retention report?",
           "Does the Pro plan include SSO?", "Looking for a template for weekly KPIs."]
TAILS = ["", "", "Thanks.", "Any ideas?", "Please help.", "Cheers!", "Not happy.", "🙏"]
HANDLES = ["dataWrangler", "growth_gal", "kpi_kid", "churnbuster", "metricsmike", "crm_ninja",
           "funnelfox", "cohortqueen", "analytix", "mktops_joe"]


def community_posts(rng, people, nps, out):
    """community_posts.csv — forum posts, reviews, support tickets; marketing complaints spike."""
    # known people: customers, with NPS respondents over-represented so some authors match both
    nps_emails = list(dict.fromkeys(nps["Email"]))
    rows = []
    day = SURVEY_START
    while day <= END:
        blitz = BLITZ_START + pd.Timedelta(days=7) <= day <= NPS_DIP_END
        push = day >= PUSH_START + pd.Timedelta(days=7)
        # STORY: more posts, and many more marketing complaints, after the blitz and the push
        n = rng.poisson(2.3 if blitz else (2.0 if push else 1.25))
        p_mkt = 0.5 if blitz else (0.4 if push else 0.07)
        for _ in range(n):
            ts = _rand_time(rng, day, (6, 23))
            if ts > END:
                continue
            kind = _pick(rng, ["mkt", "pos", "neg", "neu"],
                         [p_mkt, (1 - p_mkt) * 0.42, (1 - p_mkt) * 0.28, (1 - p_mkt) * 0.30])
            text = {"mkt": NEG_MKT, "pos": POS, "neg": NEG_PRODUCT, "neu": NEUTRAL}[kind]
            body = _pick(rng, text)
            extra = _pick(rng, {"mkt": NEG_MKT + NEG_PRODUCT, "pos": POS, "neg": NEG_PRODUCT,
                                "neu": NEUTRAL}[kind])
            body = body if rng.random() < 0.6 or extra == body else f"{body} {extra}"
            body = f"{body} {_pick(rng, TAILS)}".strip()
            source = _pick(rng, ["forum", "review", "support ticket"], [0.45, 0.25, 0.30])
            r = rng.random()
            if source == "support ticket" or r < 0.45:
                if rng.random() < 0.5:
                    email = nps_emails[int(rng.integers(len(nps_emails)))]
                    name = people.df.set_index("email").loc[email, "name"]
                else:
                    c = people.df.iloc[int(rng.integers(len(people.df)))]
                    email, name = c.email, c["name"]
                author = name
            else:
                author, email = f"{_pick(rng, HANDLES)}{int(rng.integers(1, 99))}", ""
            rating = ""
            if source == "review":
                rating = str(int({"pos": rng.choice([4, 5], p=[0.3, 0.7]), "neu": 3,
                                  "neg": rng.choice([1, 2, 3]), "mkt": rng.choice([1, 2])}[kind]))
            rows.append({"Date": _fmt(ts), "Author": author, "Email": email, "Source": source,
                         "Text": body, "Rating": rating})
        day += pd.Timedelta(days=1)
    df = pd.DataFrame(rows)
    _write_csv(df, out / "community_posts.csv")
    return df


# ---- deals (HubSpot deals export) ------------------------------------------------------------
OPEN_STAGES = ["appointmentscheduled", "qualifiedtobuy", "presentationscheduled",
               "decisionmakerboughtin", "contractsent"]
NOTES_GOOD = ["Champion keen to add seats for the support team.", "Budget approved, waiting on legal.",
              "Happy with reporting, wants Business features.", "Great call, strong fit.",
              "Exploring SSO and team spaces.",
              "Positive demo; procurement next week.", ""]
NOTES_BAD = ["Customer annoyed by the number of marketing emails.",
             "Frustrated with notification volume; asked to be removed from promos.",
             "Pushback: 'you keep spamming our team'.", "Champion frustrated, expansion on hold.",
             "Complained about constant upsell emails, not ready to expand.",
             "Annoyed that unsubscribe didn't work; wants fewer emails before talking seats."]
NOTES_LOST = ["Went with a competitor.", "No budget this quarter.", "Went dark after demo.",
              "Not a fit – too small.", "Timing not right."]


def deals(rng, people, out):
    """deals.csv — HubSpot deals; expansion deals created in Q2 2026 go badly."""
    companies = people.companies[:260]
    company_ids = [int(x) for x in rng.integers(8_000_000_000, 9_999_999_999, len(companies))]
    rows = []
    rec = 17_300_000_000
    span = (END - DEALS_START).days
    for d in sorted(rng.uniform(0, span, 600)):
        created = (DEALS_START + pd.Timedelta(days=float(d))).floor("min")
        dtype = _pick(rng, ["newbusiness", "existingbusiness", "renewal"], [0.5, 0.35, 0.15])
        ci = int(rng.integers(len(companies)))
        company = companies[ci][0]
        campaign = ""
        live = [c for c in CALENDAR if pd.Timestamp(c[2]) - pd.Timedelta(days=7) <= created
                <= pd.Timestamp(c[3]) + pd.Timedelta(days=21) and c[1] in ("email", "event", "webinar")]
        if live and rng.random() < 0.55:
            campaign = _pick(rng, [c[0] for c in live])
        bad = dtype == "existingbusiness" and BAD_QUARTER_START <= created <= BAD_QUARTER_END
        give = campaign == "Spring giveaway"
        # base rates: qualified, win-if-qualified, median cycle days
        q, win, cycle = {"newbusiness": (0.72, 0.38, 45), "existingbusiness": (0.9, 0.66, 24),
                         "renewal": (0.97, 0.86, 18)}[dtype]
        if bad:                          # STORY: expansion deals of Q2 2026
            q, win, cycle = 0.6, 0.3, 68
        if give:                         # STORY: giveaway-sourced deals disqualify and drag
            q, win, cycle = 0.35, 0.2, cycle * 1.8
        qualified = rng.random() < q
        won = qualified and rng.random() < win
        close = created + pd.Timedelta(days=float(rng.lognormal(np.log(cycle), 0.5)))
        if close > END:
            stage, close_s = _pick(rng, OPEN_STAGES), ""
        else:
            stage, close_s = ("closedwon" if won else "closedlost"), _fmt(close.floor("min"))
        if bad and rng.random() < 0.65:
            note = _pick(rng, NOTES_BAD)
        elif rng.random() < 0.05:
            note = _pick(rng, NOTES_BAD)
        elif stage == "closedlost":
            note = _pick(rng, NOTES_LOST)
        elif dtype == "renewal":
            note = _pick(rng, ["Renewal straightforward, no concerns.", "Renewing, asked for an invoice.", ""])
        else:
            note = _pick(rng, NOTES_GOOD)
        median_amount = {"newbusiness": 9000, "existingbusiness": 4200, "renewal": 12000}[dtype]
        amount = round(float(rng.lognormal(np.log(median_amount), 0.6)), -1)
        label = {"newbusiness": "New business", "existingbusiness": "Expansion",
                 "renewal": "Renewal"}[dtype]
        rec += int(rng.integers(1000, 90000))
        rows.append({"Record ID": rec, "Deal Name": f"{company} – {label}", "Deal Type": dtype,
                     "Deal Stage": stage, "Create Date": _fmt(created), "Close Date": close_s,
                     "Amount": f"{amount:.2f}", "Qualified": "yes" if qualified else "no",
                     "Source Campaign": campaign, "Notes": note, "Company ID": company_ids[ci]})
    df = pd.DataFrame(rows)
    _write_csv(df, out / "deals.csv")
    return df


# ---- NPS linked to subscriptions (issue #22) -------------------------------------------------
NPS_LINKS_SEED = SEED + 22   # its own stream: the files written before keep every value


def nps_links(rng, people, subs, nps, out):
    """Issue #22 stories, added after every other file is written so none of their values change:
    - nps_responses.xlsx gains answers of customers some weeks before they churned (mostly
      detractors) or upgraded (mostly promoters): "do detractors leave?" has something to find;
    - subscriptions.csv gains a "Referred By" column (the referrer's email) for some customers who
      started after the survey began, promoters being the likeliest referrers (CX KPI 3)."""
    s = subs.copy()
    s["start"] = pd.to_datetime(s["Start (UTC)"])
    s["end"] = pd.to_datetime(s["Ended At (UTC)"])
    s["paid"] = pd.to_datetime(s["Trial End (UTC)"]).fillna(s["start"])
    tier = {"Starter": 0, "Pro": 1, "Business": 2}
    s["tier"] = s["Product"].str.replace("Acme Insights ", "", regex=False).map(tier)
    by_email = people.df.set_index("email")
    rows, rid = [], 49_000_000

    def answer(email, day, p, plan):
        nonlocal rid
        ts = _rand_time(rng, day, (6, 22))
        cls = _pick(rng, ["promoter", "passive", "detractor"], p)
        score = {"promoter": lambda: int(rng.choice([9, 10])), "passive": lambda: int(rng.choice([7, 8])),
                 "detractor": lambda: int(rng.choice(7, p=[.05, .05, .08, .12, .15, .25, .3]))}[cls]()
        rid += int(rng.integers(3, 40))
        local = pd.Timestamp(ts).tz_localize("UTC").tz_convert("America/Los_Angeles")
        rows.append({"Response ID": rid, "Email": email, "Name": by_email.loc[email, "name"], "Score": score,
                     "Comment": _nps_comment(rng, score, ts), "Created": local.strftime("%Y-%m-%d %H:%M:%S %z"),
                     "Plan": plan, "Region": by_email.loc[email, "region"]})

    # STORY: customers who left answered 10–75 days before, mostly as detractors
    last = s.sort_values("start").groupby("Customer ID").agg(email=("Customer Email", "first"), end=("end", "last"),
                                                            paid=("paid", "first"), product=("Product", "last"))
    lost = last[last["end"].notna() & (last["end"] > SURVEY_START + pd.Timedelta(days=90))
                & (last["end"] - last["paid"] > pd.Timedelta(days=40))]
    for cid in sorted(rng.choice(lost.index, min(80, len(lost)), replace=False)):
        row = lost.loc[cid]
        day = (row["end"] - pd.Timedelta(days=int(rng.integers(10, 76)))).normalize()
        answer(row["email"], day, [0.15, 0.27, 0.58], row["product"].replace("Acme Insights ", ""))
    # STORY: customers who moved up a plan answered 10–80 days before, mostly as promoters
    firsts = s.sort_values("start").groupby("Customer ID")
    ups = [(cid, g) for cid, g in firsts if len(g) == 2 and g["tier"].iloc[1] > g["tier"].iloc[0]
           and g["start"].iloc[1] > SURVEY_START + pd.Timedelta(days=90)]
    for cid, g in ups:
        day = (g["start"].iloc[1] - pd.Timedelta(days=int(rng.integers(10, 81)))).normalize()
        if day > g["paid"].iloc[0]:
            answer(g["Customer Email"].iloc[0], day, [0.6, 0.3, 0.1],
                   g["Product"].iloc[0].replace("Acme Insights ", ""))
    extra = pd.DataFrame(rows)
    extra = extra[pd.to_datetime(extra["Created"].str[:19]) <= END]
    all_nps = pd.concat([nps, extra], ignore_index=True)

    # STORY: promoters refer new customers far more often than others
    answers = all_nps.assign(score=pd.to_numeric(all_nps["Score"], errors="coerce"),
                             when=pd.to_datetime(all_nps["Created"].str[:19]))
    answers = answers[answers["score"].between(0, 10)].sort_values("when")
    weight = {True: 5.0, False: 1.0}
    referred = {}
    starts = s.groupby("Customer ID").agg(start=("start", "min"), email=("Customer Email", "first"))
    for cid, row in starts[starts["start"] >= SURVEY_START + pd.Timedelta(days=30)].iterrows():
        if rng.random() >= 0.2:
            continue
        before = answers[(answers["when"] < row["start"]) & (answers["Email"] != row["email"])]
        latest = before.drop_duplicates("Email", keep="last")
        w = np.array([weight[sc >= 9] for sc in latest["score"]])
        referred[cid] = latest["Email"].iloc[int(rng.choice(len(latest), p=w / w.sum()))]
    subs = subs.assign(**{"Referred By": subs["Customer ID"].map(referred)})
    _write_csv(subs, out / "subscriptions.csv")
    _nps_invitations(np.random.default_rng(NPS_LINKS_SEED + 1), people, s, all_nps, out)


def _nps_invitations(rng, people, s, answered, out):
    """nps_responses.xlsx with a "Sent" column (each answer's invitation, 1–72 hours before it) and the
    invitations nobody answered (a sent date, no score): the response rate per period. STORY: during
    the spring blitz more invitations go unanswered (~43% answered vs ~52% otherwise)."""
    def local(ts):
        return pd.Timestamp(ts).tz_localize("UTC").tz_convert("America/Los_Angeles").strftime("%Y-%m-%d %H:%M:%S %z")

    created = pd.to_datetime(answered["Created"], format="%Y-%m-%d %H:%M:%S %z", utc=True).dt.tz_localize(None)
    lags = pd.to_timedelta(rng.integers(60, 72 * 60, len(answered)), unit="min")
    answered = answered.assign(Sent=[local(t) for t in created - lags])
    plans = s.sort_values("start").groupby("Customer Email")["Product"].last().str.replace("Acme Insights ", "", regex=False)
    rows = []
    for day in pd.date_range(SURVEY_START, END.normalize(), freq="D"):
        busy = BLITZ_START <= day <= NPS_DIP_END
        for _ in range(rng.poisson(5.5 if busy else 2.4)):
            ts = _rand_time(rng, day, (6, 22))
            if ts > END:
                continue
            c = people.df.iloc[int(rng.integers(len(people.df)))]
            rows.append({"Email": c.email, "Name": c["name"], "Plan": plans.get(c.email, "Starter"),
                         "Region": c.region, "Sent": local(ts)})
    invitations = pd.concat([answered, pd.DataFrame(rows)], ignore_index=True)
    invitations["Response ID"] = invitations["Response ID"].astype("Int64")  # whole numbers, blank when unanswered
    invitations.to_excel(out / "nps_responses.xlsx", index=False, sheet_name="Responses", engine="openpyxl")


# ---- main ------------------------------------------------------------------------------------
def main(out_dir: str | Path | None = None) -> Path:
    out = Path(out_dir) if out_dir else Path(__file__).resolve().parent
    out.mkdir(parents=True, exist_ok=True)
    rngs = np.random.default_rng(SEED).spawn(11)   # one independent stream per generator
    people = People(rngs[0], 1050)
    campaign_calendar(rngs[1], out)
    email_campaigns(rngs[2], out)
    email_events(rngs[3], people, out)
    in_app_events(rngs[4], out)
    subs, _ = subscriptions(rngs[5], people, out)
    nps = nps_responses(rngs[6], people, subs, out)
    leads(rngs[7], out)
    activity_events(rngs[8], out)
    community_posts(rngs[9], people, nps, out)
    deals(rngs[10], people, out)
    nps_links(np.random.default_rng(NPS_LINKS_SEED), people, subs, nps, out)
    return out


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
