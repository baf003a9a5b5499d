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
    Threshold("in_app_dwell_under_1s_max", "Share of impressions under 1 s above", 0.5, "above", "ratio",
              "in_app", "SPEC §2: announcements skimmed in under a second"),
    Threshold("nps_healthy_min", "NPS below", 0.0, "below", "points", "nps",
              "SPEC §3: healthy above 0, good above 20"),
    Threshold("nps_min_responses", "Fewest responses to read an NPS", 30, "below", "count", "nps",
              "Margin of error above ±15 points under ~30 responses"),
    Threshold("baseline_alpha", "Significance level of own-baseline tests", 0.05, "below", "ratio",
              "all", "Two-sided 95% tests against the trailing baseline"),
    Threshold("baseline_periods", "Trailing baseline length (periods)", 8, "below", "count", "all",
              "Eight prior periods: long enough to be stable, short enough to follow seasonality"),
    Threshold("min_group_size", "Smallest group to read", 30, "below", "count", "all",
              "Groups under this many are marked as too small"),
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
