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
    per_topic: bool = False  # an email rate threshold that can be set per topic/type (see Thresholds)


THRESHOLDS: tuple[Threshold, ...] = (
    Threshold("email_delivery_rate_min", "Delivery rate below", 0.95, "below", "ratio", "email",
              "SPEC §1: general deliverability benchmark", True),
    Threshold("email_unsubscribe_rate_max", "Unsubscribe rate above", 0.001, "above", "ratio", "email",
              "SPEC §1: general benchmark 0.1%", True),
    Threshold("email_open_rate_min", "Open rate below", 0.15, "below", "ratio", "email",
              "SPEC §1: matters most for welcome/education emails", True),
    Threshold("email_ctor_min", "Click-to-open rate below", 0.08, "below", "ratio", "email",
              "SPEC §1: varies a lot by topic", True),
    Threshold("email_click_rate_min", "Click rate below", 0.017, "below", "ratio", "email",
              "Issue #22: B2B click rate benchmark about 1.7% (unique clicks ÷ delivered); varies by topic", True),
    Threshold("email_spam_rate_max", "Spam complaint rate above", 0.001, "above", "ratio", "email",
              "SPEC §1: mailbox providers reject bulk senders above 0.3%", True),
    Threshold("email_gap_multiple", "Gap in sending: silence longer than this × the usual interval", 4, "above",
              "times", "email", "Issue #22 'be consistent': the usual interval is the median days between send "
              "days; four times it is a break no regular schedule has (a weekly sender silent for over 4 weeks)"),
    Threshold("email_gap_min_days", "Gap in sending: at least this many days", 14, "above", "days", "email",
              "Boundary default: a daily sender's quiet long weekend is not a break in the program"),
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
    Threshold("nps_outcome_window_days", "Days after an NPS answer in which churn, downgrade or expansion counts",
              90, "above", "days", "nps", "Issue #22 'do detractors leave?': 90 days covers a quarter, three "
              "monthly renewals; an answer counts only once its window has ended"),
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


TOPIC_SEP = "@"  # a per-topic value is stored as "<threshold key>@<topic>": "email_open_rate_min@welcome"


def topic_key(key: str, topic: str) -> str:
    """The `values` key of `key`'s override for one topic/type."""
    return f"{key}{TOPIC_SEP}{topic}"


@dataclass(frozen=True)
class Thresholds:
    """The session's threshold values, keyed like THRESHOLDS. Immutable: edits make a new object.

    Per-topic values of the email rate thresholds (`Threshold.per_topic`) live in the same flat
    `values` dict under "<key>@<topic>", so they travel wherever `values`, `to_json` and `from_json`
    go (the settings file, a saved workspace); a topic without its own value uses the general one.
    """

    values: dict[str, float] = field(default_factory=lambda: {t.key: t.default for t in THRESHOLDS})

    def __getitem__(self, key: str) -> float:
        return self.values[key]

    def with_value(self, key: str, value: float) -> "Thresholds":
        if key not in _BY_KEY:
            raise KeyError(key)
        return Thresholds({**self.values, key: float(value)})

    def for_topic(self, key: str, topic: str | None) -> float:
        """`key`'s value for one topic: its own when set, else the general value."""
        if topic is not None:
            own = self.values.get(topic_key(key, topic))
            if own is not None:
                return own
        return self.values[key]

    def topic_values(self, key: str) -> dict[str, float]:
        """{topic: value} of the topics that have their own value of `key`."""
        prefix = key + TOPIC_SEP
        return {k[len(prefix):]: v for k, v in self.values.items() if k.startswith(prefix)}

    def with_topic_value(self, key: str, topic: str, value: float | None) -> "Thresholds":
        """Set `key` for one topic (None: back to the general value)."""
        if key not in _BY_KEY or not _BY_KEY[key].per_topic:
            raise KeyError(key)
        values = {k: v for k, v in self.values.items() if k != topic_key(key, topic)}
        if value is not None:
            values[topic_key(key, topic)] = float(value)
        return Thresholds(values)

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
        unknown = sorted(k for k in data if not _known_key(k))
        if unknown:
            raise BoundaryError(f"{file_name} has unknown thresholds: {', '.join(unknown)}.")
        bad = [k for k, v in data.items() if not isinstance(v, (int, float)) or isinstance(v, bool)]
        if bad:
            raise BoundaryError(f"{file_name}: thresholds must be numbers; check {', '.join(bad)}.")
        return cls({**cls().values, **{k: float(v) for k, v in data.items()}})


def _known_key(key: str) -> bool:
    """A threshold key, or "<per-topic key>@<non-empty topic>"."""
    if key in _BY_KEY:
        return True
    base, sep, topic = key.partition(TOPIC_SEP)
    return bool(sep and topic) and base in _BY_KEY and _BY_KEY[base].per_topic


def threshold(key: str) -> Threshold:
    return _BY_KEY[key]


DEFAULT_FUNNEL_STAGES = ("Lead", "MQL", "SQL", "Opportunity", "Customer")
EMAIL_MPP_START = "2021-09-20"  # Apple Mail Privacy Protection (iOS 15) inflates opens after this
# Rows of a cluster table read for figures scored row by row in Python (VADER sentiment of texts and deal
# notes, lib.remote.SAMPLED_KINDS): the first this many rows, materialised on the cluster; the page says so.
REMOTE_SAMPLE_ROWS = 50_000
