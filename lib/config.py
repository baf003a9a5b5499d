"""Thresholds and other defaults, declared once. Every rule reads `Thresholds`; no page hard-codes a number.

Defaults come from SPEC.md (general industry benchmarks); each carries its source. A consultant can
edit them on any page (the session keeps one Thresholds object) and save/load them as a JSON file.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace

from lib.errors import BoundaryError


@dataclass(frozen=True)
class Threshold:
    key: str
    label: str
    default: float
    direction: str  # "below" flags values under the threshold, "above" over it
    unit: str  # "ratio" values are shown as percentages
    area: str
    source: str


THRESHOLDS: tuple[Threshold, ...] = (
    Threshold("email_delivery_rate_min", "Delivery rate below", 0.95, "below", "ratio", "email",
              "SPEC §1: general deliverability benchmark"),
    Threshold("email_unsubscribe_rate_max", "Unsubscribe rate above", 0.001, "above", "ratio", "email",
              "SPEC §1: general benchmark 0.1%"),
    Threshold("email_open_rate_min", "Open rate below", 0.15, "below", "ratio", "email",
              "SPEC §1: matters most for welcome/education emails"),
    Threshold("email_ctor_min", "Click-to-open rate below", 0.08, "below", "ratio", "email",
              "SPEC §1: varies a lot by topic"),
    Threshold("email_spam_rate_max", "Spam complaint rate above", 0.001, "above", "ratio", "email",
              "SPEC §1: mailbox providers reject bulk senders above 0.3%"),
    Threshold("email_volume_jump", "Sends per period vs trailing average: jump at (×)", 1.5, "above", "times",
              "email", "A period with 50% more sends than the trailing average is a frequency change"),
    Threshold("email_scanner_seconds", "First click/open within this many seconds of delivery is a scanner",
              10, "below", "seconds", "email", "SPEC §9: link scanners act within seconds; people do not"),
    Threshold("in_app_dwell_under_1s_max", "Share of impressions under 1 s above", 0.5, "above", "ratio",
              "in_app", "SPEC §2: announcements skimmed in under a second"),
    Threshold("in_app_frequency_rise_max", "Rise in messages per active user per week above", 0.25, "above",
              "ratio", "in_app", "Boundary default: 25% more in-app messages per user than the own baseline"),
    Threshold("nps_healthy_min", "NPS at or below (not healthy)", 0.0, "below", "points", "nps",
              "SPEC §3: healthy above 0 — an NPS of exactly 0 is not above 0"),
    Threshold("nps_good_min", "Good NPS: above", 20.0, "below", "points", "nps",
              "SPEC §3: good above 20; a reference line on the trend, not a red flag"),
    Threshold("nps_min_responses", "Fewest responses to read an NPS", 30, "below", "count", "nps",
              "Fewer responses are shown with a warning and not tested for dips or segment differences; "
              "the NPS page gives the margin of error at this many and the responses ±15 points needs"),
    Threshold("nps_referral_min_score", "Referral candidates: score at or above", 9, "below", "points", "nps",
              "SPEC §3: promoters (9–10) by default; 7 is a common starting point for tracking referrals"),
    Threshold("nps_campaign_window_days", "Days after a campaign counted as its window", 14, "above", "count",
              "nps", "Two weeks: long enough for a survey answer to follow a send, short enough to attribute"),
    Threshold("baseline_alpha", "Significance level of own-baseline tests", 0.05, "below", "ratio",
              "all", "Two-sided 95% tests against the trailing baseline"),
    Threshold("baseline_periods", "Trailing baseline length (periods)", 8, "below", "count", "all",
              "Eight prior periods: long enough to be stable, short enough to follow seasonality"),
    Threshold("min_group_size", "Smallest group to read", 30, "below", "count", "all",
              "Groups under this many are marked as too small"),
    Threshold("voice_min_period_n", "Fewest texts or deals in a period (or campaign) to test", 10, "below",
              "count", "voice", "The proportion test's normal approximation needs about n·p ≥ 5; "
              "under 10 texts or deals a period is shown but not flagged"),
    # funnel (issue 7)
    Threshold("funnel_conversion_window_days", "Conversion window (days)", 90, "above", "days", "funnel",
              "SPEC §5/§9: conversions count until entry + window, even past the date range; 90 days is a common B2B default"),
    Threshold("funnel_mql_score_min", "MQL score threshold (points)", 40, "below", "points", "funnel",
              "SPEC §5: editable MQL threshold; leads at or above it qualify (check it against conversion by score band)"),
    Threshold("funnel_slow_ratio_max", "Campaign median days to next stage above (× all leads)", 1.5, "above", "times",
              "funnel", "SPEC §5 campaign quality: a campaign whose leads move 1.5× slower than all leads is flagged"),
    Threshold("cohorts_repeat_days", "Repeat purchase: a second order within (days)", 90, "above", "days", "cohorts",
              "Issue #22: the share of customers who order again within 90 days (a quarter) of their first order"),
    # ncvg (issue 6)
    Threshold("ncvg_net_customers_min", "Net customers in the latest complete month below", 0, "below", "count",
              "ncvg", "SPEC §4: the customer base shrinks when more customers leave than join"),
    Threshold("ncvg_net_value_min", "Net value (new − lost) in the latest complete month below", 0, "below",
              "money", "ncvg", "SPEC §4: value lost to churn outweighs value won from new customers"),
    Threshold("ncvg_trial_nonconversion_max", "Share of trials not converting above", 0.6, "above", "ratio",
              "ncvg", "SPEC §4: a starting point — card-up-front trials commonly convert about half; "
              "set it to your own history"),
    Threshold("ncvg_trial_conversion_window_days", "Days after a trial ends in which paying still counts as converting",
              30, "above", "days", "ncvg", "Issue 16: a paid start months after a trial is not that trial's "
              "conversion; 30 days allows one billing cycle of hesitation"),
    Threshold("ncvg_default_trial_days", "Trial length assumed when the file gives no trial end (days)", 14, "above",
              "days", "ncvg", "Assumption: 14 days, the most common length of a SaaS free trial (30 is next); "
              "set your own. A trial row with no trial end is closed then, or at its end date if earlier"),
    Threshold("ncvg_incident_window_days", "Days after an incident in which a loss counts", 60, "above", "days",
              "ncvg", "SPEC §4 churn after an incident: 60 days covers two monthly renewals"),
    Threshold("ncvg_renewal_grace_days", "Days between one subscription's end and the next still counted as a renewal",
              1, "above", "days", "ncvg", "A replacement subscription usually starts the same day; 1 day allows for time zones"),
)
_BY_KEY = {t.key: t for t in THRESHOLDS}


@dataclass(frozen=True)
class Thresholds:
    """The session's threshold values, keyed like THRESHOLDS. Immutable: edits make a new object."""

    values: dict[str, float] = field(default_factory=lambda: {t.key: t.default for t in THRESHOLDS})

    def __getitem__(self, key: str) -> float:
        return self.values[key]

    def with_value(self, key: str, value: float) -> "Thresholds":
        if key not in _BY_KEY:
            raise KeyError(key)
        return Thresholds({**self.values, key: float(value)})

    def to_json(self) -> str:
        return json.dumps(self.values, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, file_name: str = "settings file") -> "Thresholds":
        """Load saved thresholds; unknown keys are refused, missing keys keep their defaults."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BoundaryError(f"{file_name} is not a valid settings file (JSON error at line {exc.lineno}).") from exc
        if not isinstance(data, dict):
            raise BoundaryError(f"{file_name} is not a valid settings file: expected named thresholds.")
        unknown = sorted(set(data) - set(_BY_KEY))
        if unknown:
            raise BoundaryError(f"{file_name} has unknown thresholds: {', '.join(unknown)}.")
        bad = [k for k, v in data.items() if not isinstance(v, (int, float)) or isinstance(v, bool)]
        if bad:
            raise BoundaryError(f"{file_name}: thresholds must be numbers; check {', '.join(bad)}.")
        return cls({**cls().values, **{k: float(v) for k, v in data.items()}})


def threshold(key: str) -> Threshold:
    return _BY_KEY[key]


DEFAULT_FUNNEL_STAGES = ("Lead", "MQL", "SQL", "Opportunity", "Customer")
EMAIL_MPP_START = "2021-09-20"  # Apple Mail Privacy Protection (iOS 15) inflates opens after this
