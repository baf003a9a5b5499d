"""Net customer value growth (SPEC §4): customers gained and lost, in whole numbers and in money.

Input: the ``subscriptions`` table (``customer_id``, ``start_date`` and optionally ``end_date``,
``status``, ``plan``, ``mrr``, ``arr``, ``amount``, ``billing_interval``, ``quantity``,
``currency``, ``is_trial``, ``trial_end``, ``auto_renew``); optionally ``customers`` (segments) and
``incidents`` (customer, incident date). A ``customers`` table alone gives counts only.

Definitions (said on the page next to the numbers):

- **Value of a subscription** (monthly recurring value, *MRR*) = the ``mrr`` column when the file
  has it; else ``amount × quantity × monthly factor of billing_interval`` (month/monthly 1,
  year/annual/yearly ÷12, quarter ÷3, week ×52/12, day ×365/12; blank quantity = 1; no interval
  column = monthly); else ``arr ÷ 12``. *ARR* = the ``arr`` column, else MRR × 12. A row whose
  value cannot be read counts as a customer with value 0 and is reported.
- **As-of date** = the latest start date in the file, or the latest end date of a subscription
  that has ended (by its status; without a status column, by the clock), whichever is later
  (the user may set it). An end date after the
  as-of date is a *scheduled* cancellation: that subscription is not lost yet.
- **Paying subscription**: pays from its start, or from its trial end when it has one; a row
  flagged as a trial with no trial end is a trial only, never paying. It must start paying on or
  before the as-of date and end (if it ended) after it started paying.
- **Customer movements** (per customer and day, all subscriptions of one currency together):
  the number of paying subscriptions and their summed value before and after the day give
  *new* (0 → some, first time), *reactivation* (0 → some, after all earlier ones ended),
  *churn* (some → 0; the customer is **lost**), *expansion* / *contraction* (value up / down while
  subscribed). A plan change that ends one subscription and starts another the same day is an
  expansion or contraction, not a loss.
- **New customers** = new + reactivated customers of the range; **Lost customers** = churned;
  **Net customers** = new − lost = the change in paying customers over the range.
  **New value** = value of new and reactivated customers on their first day; **Lost value** =
  value of churned customers on their last day; **Net value** = new value − lost value (expansion
  and contraction of existing customers are in the waterfall, not in net value).
- **GRR** = Σ min(value at start, value at end) / Σ value at start, over the customers paying at
  the start (a customer who expands and then churns in the range loses only its starting value);
  **NRR** = Σ value at end / Σ value at start over the same customers (their expansion −
  contraction − churn); both blank when the value at start is 0. "Value at end" is the value of
  the run that was going at the start: a customer who churns and comes back inside the range is
  lost for GRR/NRR and counted as reactivation.
- **Currencies are never summed**: every figure is for one currency; rows in other currencies are
  counted as left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from lib import segments
from lib.errors import BoundaryError
from lib.periods import is_incomplete, period_label, period_sql, period_start, period_start_column, period_starts
from lib.questions import questions_for
from lib.result import Flag, MetricResult
from lib.engine import table_columns
from lib.sql import quote_ident, values_cte
from lib.stats import adjust_family, cmh_test, rate_clears_threshold, two_proportion_test

AREA = "ncvg"
GRAINS = ("month", "quarter", "year")
VALUE_MODES = ("mrr", "arr")
# Billing interval word → monthly factor. Chargebee/Stripe use month/year/week/day; CRMs "Annual".
INTERVAL_FACTORS: tuple[tuple[str, float], ...] = (
    ("month", 1.0), ("monthly", 1.0), ("months", 1.0), ("mo", 1.0), ("mon", 1.0),
    ("year", 1 / 12), ("yearly", 1 / 12), ("annual", 1 / 12), ("annually", 1 / 12), ("years", 1 / 12),
    ("yr", 1 / 12),
    ("quarter", 1 / 3), ("quarterly", 1 / 3), ("quarters", 1 / 3),
    ("semiannual", 1 / 6), ("semi-annual", 1 / 6), ("half-yearly", 1 / 6), ("half year", 1 / 6),
    ("week", 52 / 12), ("weekly", 52 / 12), ("weeks", 52 / 12),
    ("day", 365 / 12), ("daily", 365 / 12), ("days", 365 / 12),
)
ENDED_STATUSES = ["canceled", "cancelled", "ended", "expired", "churned", "inactive",
                  "incomplete_expired", "terminated", "closed", "lost"]
CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹"}
NO_CURRENCY = ""
MOVEMENTS = ("new", "reactivation", "expansion", "contraction", "churn")
# How a value history says a customer stopped paying (see `_history_ctes`).
GAP_RULES = ("explicit", "snapshots")
GAP_LABELS = {"explicit": "a row says MRR 0 (movement logs)",
              "snapshots": "they are missing from the next date in the file (snapshots)"}


# ------------------------------------------------------------------------------------------ basis

@dataclass(frozen=True)
class Basis:
    """What every NCVG figure is computed on: one subscriptions table, one currency, one value
    mode and one as-of date. Build it with `make_basis`."""

    table: str
    columns: frozenset[str]  # canonical columns present in the table
    currency: str | None  # None: the file has no currency column (all rows together)
    value: str  # 'mrr' or 'arr'
    as_of: pd.Timestamp
    source: str = "subscriptions"  # or 'value_history' (see `_history_ctes`)
    gaps: str = "explicit"  # value history only: 'explicit' (a 0 row ends a customer) or 'snapshots'
    cents: bool = False  # value history only: the file's amounts are in cents (ChartMogul), ÷ 100

    @property
    def has_value(self) -> bool:
        return bool({"mrr", "arr", "amount"} & self.columns)

    @property
    def value_label(self) -> str:
        return self.value.upper()

    def money(self, amount: float, signed: bool = False, compact: bool = False) -> str:
        """'$31,200', '€1,250', '1,250 CHF'; signed adds + or −; compact writes millions and
        billions short ('$1.37M'), for tiles that have room for a few characters only."""
        sign = ("+" if amount > 0 else "−" if amount < 0 else "") if signed else ("−" if amount < 0 else "")
        size = abs(amount)
        if compact and size >= 1e9:
            number = f"{size / 1e9:.2f}B"
        elif compact and size >= 1e6:
            number = f"{size / 1e6:.2f}M"
        else:
            number = f"{size:,.0f}"
        code = (self.currency or "").upper()
        if code in CURRENCY_SYMBOLS:
            return f"{sign}{CURRENCY_SYMBOLS[code]}{number}"
        return f"{sign}{number} {code}".rstrip()


def _col(b_columns: frozenset[str], name: str, sql_type: str, alias: str = "s") -> str:
    return f"{alias}.{quote_ident(name)}" if name in b_columns else f"CAST(NULL AS {sql_type})"


def _currency_sql(columns: frozenset[str]) -> str:
    if "currency" not in columns:
        return "''"
    return "COALESCE(NULLIF(upper(trim(s.\"currency\")), ''), '(blank)')"


def default_gaps(columns) -> str:
    """How to read a value history's stops by default: a file with the vendor's movement types
    (ChartMogul MRR movements) writes an explicit 0 at churn → 'explicit'; any other (snapshot
    tables, MRR-by-customer sheets, which drop churned customers) → 'snapshots'."""
    return "explicit" if "movement_type" in set(columns) else "snapshots"


def default_cents(columns) -> bool:
    """Whether a value history's amounts are cents by default: ChartMogul (the files with its
    movement types, from its destinations or API) writes MRR in cents; other files in money."""
    return "movement_type" in set(columns)


def subscription_rules(b: Basis) -> str:
    """The subscription counting rules in plain words (markdown bullets) for the page."""
    return f"""- {value_rule(b.columns, b.value)} Amounts in other currencies are never added in.
- A customer is **new** in the period their first paying subscription starts (after any trial), **lost** in the
  period their last one ends, and **returning** (reactivation) when they start again after all had ended.
  New customers include returning ones, so **net customers = new − lost** = the change in paying customers.
- **New value** = value of new and returning customers on their first day; **lost value** = value of lost
  customers on their last day; **net value** = new − lost. Up- and downgrades are in the waterfall.
- An end date after the as-of date ({b.as_of:%d %b %Y}) is a **scheduled cancellation**: not lost yet.
- Trials count from their trial end; a trial that never converted is not a customer (see *Trials*)."""


def history_rules(b: Basis) -> str:
    """The value-history counting rules in plain words (markdown bullets) for the page."""
    stop = ("a row with MRR 0; a customer whose rows simply stop keeps their last value"
            if b.gaps == "explicit" else
            "no row on the next snapshot date of the file (the file's dates are read as snapshots; the "
            "latest one implies nothing), or a row with MRR 0")
    return f"""- Value = the MRR on each dated row ({'× 12 for ARR, ' if b.value == 'arr' else ''}the customer's total on \
that date); between rows a customer keeps their last value. Amounts in other currencies are never added in.
- Each change of a customer's value is a movement: 0 → more is **new** (never paid before) or **reactivation**;
  more → 0 is **churn** (the customer is **lost**); up is **expansion**, down **contraction**.
- A customer stops when the file shows {stop}.
- As for subscriptions: **new customers** include returning ones, **net customers = new − lost**; **new value** =
  value of new and returning customers on their first day, **lost value** = value of lost customers on their
  last day, **net value** = new − lost. Up- and downgrades are in the waterfall.
- Customers on the file's first date count as new on that date (the file holds no earlier history).
- Several rows of one customer on one day: the one later in the file is used (the earlier are counted as left out).
- {"Amounts were read as cents and divided by 100 (ChartMogul writes MRR in cents)." if b.cents else
   "Amounts are read as money; ChartMogul files write MRR in cents — tick “Amounts in cents” above."}"""


def value_rule(columns: frozenset[str] | set[str], value: str = "mrr") -> str:
    """The value rule in force for a file with these canonical columns, in one plain sentence."""
    if value not in VALUE_MODES:
        raise BoundaryError(f"Unknown value '{value}'. Choose MRR or ARR.")
    columns = frozenset(columns)
    if "mrr" in columns:
        monthly = "the file's MRR column"
    elif "amount" in columns:
        qty = " × quantity (blank = 1)" if "quantity" in columns else ""
        per = ("normalised to a month by billing interval (year ÷12, quarter ÷3, week ×52/12, "
               "day ×365/12)") if "billing_interval" in columns else "taken as monthly (no billing interval column)"
        monthly = f"price per interval{qty}, {per}"
    elif "arr" in columns:
        monthly = "the file's ARR column ÷ 12"
    else:
        return "The file has no value column (MRR, ARR or price): customers are counted, value is not."
    if value == "mrr":
        return f"Value = MRR: {monthly}."
    if "arr" in columns:
        return "Value = ARR: the file's ARR column (MRR × 12 where it is blank)."
    return f"Value = ARR = MRR × 12, with MRR = {monthly}."


def _value_sql(columns: frozenset[str], value: str) -> str:
    """SQL for one row's value (monthly, or annual for 'arr'); NULL when unreadable."""
    monthly = []
    if "mrr" in columns:
        monthly.append('s."mrr"')
    if "amount" in columns:
        qty = 'COALESCE(s."quantity", 1)' if "quantity" in columns else "1"
        factor = "f.factor" if "billing_interval" in columns else "1"
        monthly.append(f's."amount" * {qty} * {factor}')
    if "arr" in columns:
        monthly.append('s."arr" / 12.0')
    if not monthly:
        return "CAST(NULL AS DOUBLE)"
    mrr = f"COALESCE({', '.join(monthly)})" if len(monthly) > 1 else monthly[0]
    if value == "mrr":
        return mrr
    return f'COALESCE(s."arr", 12 * {mrr})' if "arr" in columns else f"12 * {mrr}"


def data_as_of(con, table: str, columns: frozenset[str] | set[str],
               today: pd.Timestamp | None = None) -> pd.Timestamp | None:
    """The date the export describes: the latest start date, or the latest end date of a
    subscription that has ended, whichever is later. With a status column, "has ended" is what the
    status says (canceled, ended, expired…); without one, an end date up to `today` (default: the
    clock) has happened and a later one is scheduled."""
    columns = frozenset(columns)
    if "start_date" not in columns and "date" in columns:  # a value history: its latest date
        rows = con.execute(f'SELECT MAX(CAST(s."date" AS DATE)) FROM {quote_ident(table)} s').fetchall()
        return None if not rows or rows[0][0] is None else pd.Timestamp(rows[0][0])
    params: list = []
    if {"status", "end_date"} <= columns:
        ended = 'MAX(CASE WHEN list_contains(?, lower(trim(s."status"))) THEN CAST(s."end_date" AS DATE) END)'
        params.append(ENDED_STATUSES)
    elif "end_date" in columns:
        ended = 'MAX(CASE WHEN CAST(s."end_date" AS DATE) <= CAST(? AS DATE) THEN CAST(s."end_date" AS DATE) END)'
        params.append((pd.Timestamp(today) if today is not None else pd.Timestamp.now()).date())
    else:
        ended = "CAST(NULL AS DATE)"
    rows = con.execute(f'SELECT GREATEST(MAX(CAST(s."start_date" AS DATE)), {ended}) FROM {quote_ident(table)} s',
                       params).fetchall()
    return None if not rows or rows[0][0] is None else pd.Timestamp(rows[0][0])


def currencies(con, table: str, columns: frozenset[str] | set[str]) -> MetricResult:
    """Rows and customers per currency (upper-cased code; '(blank)' where the cell is empty).

    Largest first; a file without a currency column gives one row with currency ''.
    """
    columns = frozenset(columns)
    sql = (f"SELECT {_currency_sql(columns)} AS currency, COUNT(*) AS rows, "
           f'COUNT(DISTINCT s."customer_id") AS customers FROM {quote_ident(table)} s '
           "GROUP BY 1 ORDER BY rows DESC, currency")
    return MetricResult(con.execute(sql).df(), sql)


def make_basis(con, dataset, currency: str | None = None, value: str = "mrr",
               as_of: pd.Timestamp | None = None, gaps: str = "explicit", cents: bool = False) -> Basis:
    """The Basis for a loaded subscriptions or value_history dataset: currency defaults to the one
    with most rows, as-of to `data_as_of`; `gaps` (value history only) is how a customer's stop is
    read, see `_history_ctes`; `cents` (value history only) divides its amounts by 100.
    Raises BoundaryError for an unknown currency, value mode or gaps."""
    if value not in VALUE_MODES:
        raise BoundaryError(f"Unknown value '{value}'. Choose MRR or ARR.")
    if gaps not in GAP_RULES:
        raise BoundaryError(f"Unknown rule for missing dates '{gaps}'. Choose one of: {', '.join(GAP_RULES)}.")
    columns = frozenset(dataset.mapping)
    found = currencies(con, dataset.table, columns).frame
    if "currency" in columns:
        codes = found["currency"].tolist()
        if currency is None:
            currency = codes[0] if codes else NO_CURRENCY
        elif currency not in codes:
            raise BoundaryError(f"{dataset.file_name}: no rows in currency '{currency}'. "
                                f"Currencies in the file: {', '.join(codes)}.")
    else:
        currency = None
    if as_of is None:
        as_of = data_as_of(con, dataset.table, columns)
    if as_of is None:
        raise BoundaryError(f"{dataset.file_name}: no readable start dates, so there is nothing to count. "
                            "Check the Start date column under “Columns”.")
    source = "value_history" if dataset.kind == "value_history" else "subscriptions"
    return Basis(dataset.table, columns, currency, value, pd.Timestamp(as_of).normalize(), source, gaps,
                 cents and source == "value_history")


def counts_basis(b: Basis) -> Basis:
    """The basis a figure that reads no value is computed on: a subscriptions basis with its value
    mode set to MRR. Which subscriptions pay and when (``paying``), who churns (``n_after`` = 0), the
    first movement's day, the rows left out (a row's ARR is blank exactly when its MRR is: ARR =
    ``arr``, else 12 × MRR, and MRR falls back on ``arr`` ÷ 12) and every trial, renewal and incident
    count are the same for MRR and ARR, so `data_range`, `basis_facts`, `excluded_rows`, the trials,
    renewals and incident churn run the MRR basis's SQL for both (one query for the two value modes;
    tests/test_ncvg_counts_basis.py). A value history keeps its own: rounding 12 × MRR to 6 decimals
    may tell a change apart that MRR's rounding does not."""
    return replace(b, value="mrr") if b.source == "subscriptions" else b


# ------------------------------------------------------------------------------------------- SQL

def _ctes(b: Basis) -> tuple[str, list]:
    """The shared CTE chain: knobs → factors → src → checked → spans → paying → points → moves.

    ``moves`` has one row per customer and day on which the customer's paying subscriptions
    changed: n_before/n_after (paying subscriptions), value_before/value_after, movement,
    customers_change (+1/−1/0), value_change (signed), episode_start (first day of the
    customer's current run of paying days). A value-history basis gets the same ``knobs``,
    ``checked`` and ``moves`` from `_history_ctes`.
    """
    if b.source == "value_history":
        return _history_ctes(b)
    c = b.columns
    factors, factor_params = values_cte("factors", ["word", "factor"], list(INTERVAL_FACTORS))
    params: list = [b.as_of.date(), b.currency, *factor_params, ENDED_STATUSES]
    join = ('LEFT JOIN factors f ON f.word = lower(trim(s."billing_interval"))'
            if {"billing_interval", "amount"} <= c else "")
    value_known = "TRUE" if not b.has_value else f"({_value_sql(c, b.value)}) IS NOT NULL"
    sql = f"""WITH knobs AS (SELECT CAST(? AS DATE) AS as_of, CAST(? AS VARCHAR) AS currency),
{factors},
src AS (
  SELECT s."_row" AS _row,
         NULLIF(trim(CAST(s."customer_id" AS VARCHAR)), '') AS customer_id,
         s."start_date" AS start_date,
         {_col(c, "end_date", "TIMESTAMP")} AS end_date,
         lower(trim({_col(c, "status", "VARCHAR")})) AS status,
         NULLIF(trim({_col(c, "plan", "VARCHAR")}), '') AS plan,
         {_currency_sql(c)} AS currency,
         {_value_sql(c, b.value)} AS value,
         {value_known} AS value_known,
         {_col(c, "quantity", "DOUBLE")} AS quantity,
         {_col(c, "is_trial", "BOOLEAN")} AS is_trial,
         {_col(c, "trial_end", "TIMESTAMP")} AS trial_end,
         {_col(c, "auto_renew", "BOOLEAN")} AS auto_renew
  FROM {quote_ident(b.table)} s {join}),
checked AS (
  SELECT *, CASE
      WHEN customer_id IS NULL THEN 'customer blank'
      WHEN start_date IS NULL THEN 'start date blank or unreadable'
      WHEN end_date < start_date THEN 'end date before start date'
      WHEN end_date IS NULL AND list_contains(?, status) THEN 'status says ended but no end date'
    END AS problem
  FROM src),
spans AS (
  SELECT c.*,
         CAST(CASE WHEN c.trial_end > c.start_date THEN c.trial_end
                   WHEN c.is_trial IS TRUE AND c.trial_end IS NULL THEN NULL
                   ELSE c.start_date END AS DATE) AS paid_day,
         CASE WHEN CAST(c.end_date AS DATE) <= k.as_of THEN CAST(c.end_date AS DATE) END AS end_day,
         COALESCE(CAST(c.end_date AS DATE) > k.as_of, FALSE) AS scheduled_end
  FROM checked c, knobs k
  WHERE c.problem IS NULL AND (k.currency IS NULL OR c.currency = k.currency)),
paying AS (
  SELECT s.* FROM spans s, knobs k
  WHERE s.paid_day IS NOT NULL AND s.paid_day <= k.as_of AND (s.end_day IS NULL OR s.end_day > s.paid_day)),
events AS (
  SELECT customer_id, paid_day AS day, 1 AS dn, COALESCE(value, 0) AS dv FROM paying
  UNION ALL
  SELECT customer_id, end_day, -1, -COALESCE(value, 0) FROM paying WHERE end_day IS NOT NULL),
points AS (SELECT customer_id, day, SUM(dn) AS dn, SUM(dv) AS dv FROM events GROUP BY customer_id, day),
running AS (
  SELECT customer_id, day, dn, dv,
         SUM(dn) OVER w AS n_after, SUM(dv) OVER w AS v_after, ROW_NUMBER() OVER w AS k
  FROM points WINDOW w AS (PARTITION BY customer_id ORDER BY day ROWS UNBOUNDED PRECEDING)),
states AS (
  SELECT customer_id, day, k, n_after - dn AS n_before, n_after,
         CASE WHEN n_after - dn = 0 THEN 0 ELSE ROUND(v_after - dv, 6) END AS value_before,
         CASE WHEN n_after = 0 THEN 0 ELSE ROUND(v_after, 6) END AS value_after
  FROM running),
moves AS (
  SELECT customer_id, day, n_before, n_after, value_before, value_after,
         CASE WHEN n_before = 0 THEN CASE WHEN k = 1 THEN 'new' ELSE 'reactivation' END
              WHEN n_after = 0 THEN 'churn'
              WHEN value_after > value_before THEN 'expansion'
              WHEN value_after < value_before THEN 'contraction'
              ELSE 'no change' END AS movement,
         CASE WHEN n_before = 0 THEN 1 WHEN n_after = 0 THEN -1 ELSE 0 END AS customers_change,
         value_after - value_before AS value_change,
         MAX(CASE WHEN n_before = 0 THEN day END)
             OVER (PARTITION BY customer_id ORDER BY day ROWS UNBOUNDED PRECEDING) AS episode_start
  FROM states)"""
    return sql, params


def _subscription_ctes(b: Basis) -> tuple[str, list]:
    """`_ctes` for figures that need subscription rows (plans, trials, renewals, incidents)."""
    if b.source != "subscriptions":
        raise BoundaryError("Plan moves, trials, renewals and churn after incidents need a subscriptions "
                            "export (start and end dates per subscription); a value history has none.")
    return _ctes(b)


def _history_ctes(b: Basis) -> tuple[str, list]:
    """The CTE chain for a value history: one row per customer and date with the customer's MRR then.

    knobs → src → checked (rows left out, by reason) → ok → daily (one value per customer and day)
    → points (plus implied 0s, see below) → states → moves, with the columns of `_ctes`' ``moves``.

    - A row is left out when its customer, date or MRR is blank or unreadable, its MRR is negative,
      it is dated after the as-of date, or another row of the same customer, day and currency
      comes later in the file (the later row gives the day's value; a file whose dates run newest
      first is read bottom-up, so the later *event* still wins).
    - A customer *pays* on a day when their latest value on or before it is > 0. Each day their
      value changes is a movement: 0 → >0 is *new* when they never had a value > 0 before, else
      *reactivation*; >0 → 0 is *churn*; a rise while > 0 is *expansion*, a fall *contraction*.
    - How a stop is read (``gaps``): 'explicit' — only a row with MRR 0 ends a customer (ChartMogul
      movements write one at churn); a customer whose rows stop keeps their last value.
      'snapshots' — the file's distinct dates are snapshot dates; a customer with a value > 0 on
      one snapshot and no row on the next is read as 0 on that next snapshot (CRM snapshot tables
      and MRR-by-customer sheets drop churned customers). The last snapshot implies nothing.
    - Value = the MRR cell (ARR = 12 × MRR; ÷ 100 when the basis says cents). Customers on the
      file's first date count as new then.
    """
    c = b.columns
    value = 's."mrr"' if b.value == "mrr" else '12 * s."mrr"'
    if b.cents:
        value = f"({value}) / 100.0"
    params: list = [b.as_of.date(), b.currency, b.gaps == "snapshots"]
    sql = f"""WITH knobs AS (SELECT CAST(? AS DATE) AS as_of, CAST(? AS VARCHAR) AS currency, CAST(? AS BOOLEAN) AS snapshots),
src AS (
  SELECT s."_row" AS _row, NULLIF(trim(CAST(s."customer_id" AS VARCHAR)), '') AS customer_id,
         CAST(s."date" AS DATE) AS day, {_currency_sql(c)} AS currency, CAST({value} AS DOUBLE) AS value,
         TRUE AS value_known
  FROM {quote_ident(b.table)} s),
file_order AS (SELECT CASE WHEN arg_min(day, _row) > arg_max(day, _row) THEN -1 ELSE 1 END AS dir
               FROM src WHERE day IS NOT NULL),
first_check AS (
  SELECT src.*, f.dir, CASE WHEN customer_id IS NULL THEN 'customer blank'
      WHEN day IS NULL THEN 'date blank or unreadable'
      WHEN value IS NULL THEN 'MRR blank or unreadable'
      WHEN value < 0 THEN 'MRR negative'
      WHEN day > k.as_of THEN 'dated after the as-of date' END AS problem
  FROM src, knobs k, file_order f),
checked AS (
  SELECT * REPLACE (CASE WHEN problem IS NULL AND ROW_NUMBER() OVER (
      PARTITION BY customer_id, day, currency, problem IS NULL ORDER BY _row * dir DESC) > 1
    THEN 'another row of the same customer and day comes later (that row is used)' ELSE problem END AS problem)
  FROM first_check),
ok AS (SELECT c.* FROM checked c, knobs k
       WHERE c.problem IS NULL AND (k.currency IS NULL OR c.currency = k.currency)),
daily AS (SELECT customer_id, day, value FROM ok),
grid AS (SELECT day, ROW_NUMBER() OVER (ORDER BY day) AS g FROM (SELECT DISTINCT day FROM daily)),
ranked AS (SELECT d.customer_id, d.day, d.value, g.g,
                  LEAD(g.g) OVER (PARTITION BY d.customer_id ORDER BY d.day) AS next_g
           FROM daily d JOIN grid g USING (day)),
points AS (
  SELECT customer_id, day, value FROM daily
  UNION ALL
  SELECT r.customer_id, g.day, 0 FROM ranked r JOIN grid g ON g.g = r.g + 1, knobs k
  WHERE k.snapshots AND r.value > 0 AND (r.next_g IS NULL OR r.next_g > r.g + 1)),
states AS (
  SELECT customer_id, day, ROUND(value, 6) AS value_after,
         ROUND(COALESCE(LAG(value) OVER (PARTITION BY customer_id ORDER BY day), 0), 6) AS value_before,
         COALESCE(MAX(CASE WHEN value > 0 THEN 1 ELSE 0 END) OVER (PARTITION BY customer_id ORDER BY day
                  ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS seen
  FROM points),
changes AS (
  SELECT customer_id, day, CASE WHEN value_before > 0 THEN 1 ELSE 0 END AS n_before,
         CASE WHEN value_after > 0 THEN 1 ELSE 0 END AS n_after, value_before, value_after, seen
  FROM states WHERE value_after <> value_before),
moves AS (
  SELECT customer_id, day, n_before, n_after, value_before, value_after,
         CASE WHEN n_before = 0 THEN CASE WHEN seen = 0 THEN 'new' ELSE 'reactivation' END
              WHEN n_after = 0 THEN 'churn'
              WHEN value_after > value_before THEN 'expansion'
              ELSE 'contraction' END AS movement,
         n_after - n_before AS customers_change,
         value_after - value_before AS value_change,
         MAX(CASE WHEN n_before = 0 THEN day END)
             OVER (PARTITION BY customer_id ORDER BY day ROWS UNBOUNDED PRECEDING) AS episode_start
  FROM changes)"""
    return sql, params


def _run(con, sql: str, params: list) -> pd.DataFrame:
    return con.execute(sql, params).df()


def excluded_rows(con, b: Basis) -> dict[str, int]:
    """Rows left out of every NCVG figure, by reason (including rows in other currencies), and
    rows kept whose value could not be read (counted as customers with value 0)."""
    ctes, params = _ctes(counts_basis(b))
    sql = ctes + """
SELECT reason, COUNT(*) AS n FROM (
  SELECT CASE WHEN c.problem IS NOT NULL THEN c.problem
              WHEN k.currency IS NOT NULL AND c.currency <> k.currency
                   THEN 'in ' || c.currency || ' (another currency: pick it above to see them)'
              WHEN NOT c.value_known THEN 'value blank or unreadable (counted as customers with value 0)'
         END AS reason
  FROM checked c, knobs k) WHERE reason IS NOT NULL GROUP BY reason ORDER BY n DESC, reason"""
    frame = _run(con, sql, params)
    return {str(r): int(n) for r, n in zip(frame["reason"], frame["n"])}


def movements(con, b: Basis) -> MetricResult:
    """One row per customer and day on which the customer's recurring value changed.

    movement ∈ new, reactivation, expansion, contraction, churn ('no change' when a plan swap kept
    the value); customers_change is +1 (new, reactivation), −1 (churn) or 0; value_change is
    value_after − value_before (money per month for MRR, per year for ARR).
    """
    ctes, params = _ctes(b)
    sql = ctes + "\nSELECT * FROM moves ORDER BY customer_id, day"
    return MetricResult(_run(con, sql, params), sql, params, excluded_rows(con, b))


_AGG = """COUNT(*) FILTER (WHERE movement IN ('new', 'reactivation')) AS new_customers,
  COUNT(*) FILTER (WHERE movement = 'reactivation') AS returning_customers,
  COUNT(*) FILTER (WHERE movement = 'churn') AS lost_customers,
  COALESCE(SUM(value_change) FILTER (WHERE movement = 'new'), 0) AS new_business_value,
  COALESCE(SUM(value_change) FILTER (WHERE movement = 'reactivation'), 0) AS reactivation_value,
  COALESCE(SUM(value_change) FILTER (WHERE movement = 'expansion'), 0) AS expansion_value,
  COALESCE(-SUM(value_change) FILTER (WHERE movement = 'contraction'), 0) AS contraction_value,
  COALESCE(-SUM(value_change) FILTER (WHERE movement = 'churn'), 0) AS churn_value"""

# Retention looks at each customer paying at the start of the range on its own: its value at the end
# of the range minus its value at the start (`net`, over moves of the run that was going at the start;
# a churn-and-return inside the range starts a new run and is not counted). A customer who expands and
# then churns inside the range loses its starting value, not the expanded one, so GRR stays ≥ 0.
_EXISTING = """SELECT {key}COALESCE(SUM(net), 0) AS existing_net,
  COALESCE(SUM(GREATEST(0, -net)), 0) AS existing_loss
FROM (SELECT {key}customer_id, SUM(value_change) AS net FROM {moves}
      WHERE episode_start < {start} GROUP BY ALL)
GROUP BY ALL"""

_DERIVED = """new_customers - lost_customers AS net_customers,
  new_business_value + reactivation_value AS new_value,
  churn_value AS lost_value,
  new_business_value + reactivation_value - churn_value AS net_value"""

_RETENTION = """CASE WHEN value_start > 0 THEN (value_start - existing_loss) / value_start END AS grr,
  CASE WHEN value_start > 0 THEN (value_start + existing_net) / value_start END AS nrr"""


def basis_facts(con, b: Basis) -> tuple:
    """(first, excluded): the first movement's day (NaT when none) and the rows left out by reason
    (`excluded_rows`) — what `ncvg_by_period` and `ncvg_totals` read besides their own query, which
    depends on the basis alone. The page reads it once and hands it to both (``facts=``), so a period
    change runs one query for the periods instead of three. The same for MRR and ARR (`counts_basis`)."""
    b = counts_basis(b)
    ctes, params = _ctes(b)
    first = _run(con, ctes + "\nSELECT MIN(day) AS first FROM moves", params)["first"].iloc[0]
    return first, excluded_rows(con, b)


def ncvg_by_period(con, b: Basis, grain: str = "month", start: pd.Timestamp | None = None,
                   end: pd.Timestamp | None = None, facts: tuple | None = None,
                   moves: pd.DataFrame | None = None) -> MetricResult:
    """New, lost and net customers and value per calendar month/quarter/year.

    Per period p (every period from the first movement to the as-of date, empty ones as 0):
    new_customers = customers whose paying run starts in p (first time or returning);
    lost_customers = customers whose paying run ends in p; net_customers = new − lost;
    new_value / lost_value / net_value likewise in money (MRR or ARR of the basis);
    customers_start/value_start = paying customers / value before p (running sums of the nets and
    of every value movement); customers_end = customers_start + net_customers;
    value_end = value_start + new_value + expansion − contraction − lost_value;
    grr, nrr over the customers paying at the start of p (blank when value_start is 0);
    incomplete = the as-of date ends before the period does.
    Periods outside [start, end] are dropped after the running sums, so the sums stay right.
    ``facts``: the page's ``basis_facts(con, b)`` (read here when not given). ``moves``: the basis's
    ``period_moves(con, b)``; the periods are then grouped from it in pandas without a query — the same
    frame (up to the last bits of a float sum's order); the SQL returned is the per-period query either
    way, what the page shows and what reproduces the table.
    """
    if grain not in GRAINS:
        raise BoundaryError(f"Unknown period '{grain}'. Choose one of: {', '.join(GRAINS)}.")
    ctes, params = _ctes(b)
    per = period_sql("day", grain)
    # every period from the first movement's to the as-of date's, empty ones included
    first, excluded = basis_facts(con, b) if facts is None else facts
    days = period_starts(pd.Timestamp(first), b.as_of, grain) if pd.notna(first) else []
    periods, period_params = values_cte("periods", ["period"], [(d.date(),) for d in days], ["DATE"])
    sql = ctes + f""",
{periods},
dated AS (SELECT *, {per} AS period FROM moves),
agg AS (SELECT period, {_AGG} FROM dated GROUP BY period),
existing AS ({_EXISTING.format(key="period, ", moves="dated", start="period")}),
filled AS (
  SELECT p.period, {", ".join(f"COALESCE(a.{c}, 0) AS {c}" for c in _AGG_COLUMNS)},
    COALESCE(e.existing_net, 0) AS existing_net, COALESCE(e.existing_loss, 0) AS existing_loss
  FROM periods p LEFT JOIN agg a USING (period) LEFT JOIN existing e USING (period)),
derived AS (SELECT *, {_DERIVED},
  new_business_value + reactivation_value + expansion_value - contraction_value - churn_value AS value_movement
  FROM filled),
cumulative AS (
  SELECT *,
    COALESCE(SUM(net_customers) OVER before, 0) AS customers_start,
    ROUND(COALESCE(SUM(value_movement) OVER before, 0), 6) AS value_start
  FROM derived WINDOW before AS (ORDER BY period ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING))
SELECT period, new_customers, returning_customers, lost_customers, net_customers,
  new_value, lost_value, net_value, new_business_value, reactivation_value, expansion_value,
  contraction_value, churn_value,
  customers_start, customers_start + net_customers AS customers_end,
  value_start, ROUND(value_start + value_movement, 6) AS value_end,
  {_RETENTION}
FROM cumulative
WHERE period >= COALESCE(CAST(? AS DATE), period) AND period <= COALESCE(CAST(? AS DATE), period)
ORDER BY period"""
    lo = period_start(start, grain).date() if start is not None else None
    hi = pd.Timestamp(end).date() if end is not None else None
    params = params + period_params + [lo, hi]
    if moves is not None and days:
        frame = _periods_from_moves(moves, grain, days, lo, hi)
    else:
        frame = _run(con, sql, params)
        frame["period"] = pd.to_datetime(frame["period"])
    frame.insert(1, "label", [period_label(p, grain) for p in frame["period"]])
    frame["incomplete"] = [is_incomplete(p, grain, b.as_of) for p in frame["period"]]
    return MetricResult(frame, sql, params, dict(excluded))


_AGG_COLUMNS = ("new_customers", "returning_customers", "lost_customers", "new_business_value",
                "reactivation_value", "expansion_value", "contraction_value", "churn_value")


def _period_of(days: pd.Series, grain: str) -> pd.Series:
    """Each day's period start (month, quarter or year), vectorised: lib.periods.period_start_column,
    as period_sql cuts it (NaT stays NaT)."""
    if grain not in GRAINS:
        raise BoundaryError(f"Unknown period '{grain}'. Choose one of: {', '.join(GRAINS)}.")
    return period_start_column(days, grain)


def period_moves(con, b: Basis) -> pd.DataFrame:
    """The basis's movements (customer_id, day, movement, value_change, episode_start; one row per
    customer and day, as ``moves`` in `_ctes`): what `ncvg_by_period` groups per period for every
    grain (``moves=``), read once per basis so a change of grain runs no query. A subscriptions basis
    with a plan column also says which rows are plan moves (up, from_plan, to_plan; blank on the
    others, as `plan_move_rows` has them): `plan_rows` takes them from this frame without a query."""
    ctes, params = _ctes(b)
    if b.source == "subscriptions" and "plan" in b.columns:
        sql = ctes + _PLAN_CTES + """
SELECT m.customer_id, m.day, m.movement, m.value_change, m.episode_start, p.tier > p.prev_tier AS up,
       p.from_plan, p.top_plan AS to_plan
FROM moves m LEFT JOIN plan_moves p ON p.customer_id = m.customer_id AND p.day = m.day
ORDER BY m.customer_id, m.day"""
    else:
        sql = ctes + "\nSELECT customer_id, day, movement, value_change, episode_start FROM moves ORDER BY customer_id, day"
    frame = _run(con, sql, params)
    for column in ("day", "episode_start"):
        frame[column] = pd.to_datetime(frame[column])
    return frame


def plan_rows(moves: pd.DataFrame) -> pd.DataFrame:
    """`plan_move_rows` from a `period_moves` frame that has the plan columns: the same rows and
    columns (customer_id, day, up, change = value_change, from_plan, to_plan), no query."""
    rows = moves[moves["from_plan"].notna()]
    return pd.DataFrame({"customer_id": rows["customer_id"], "day": rows["day"], "up": rows["up"].astype(bool),
                         "change": rows["value_change"], "from_plan": rows["from_plan"],
                         "to_plan": rows["to_plan"]}).reset_index(drop=True)


def _periods_from_moves(moves: pd.DataFrame, grain: str, days: list, lo, hi) -> pd.DataFrame:
    """`ncvg_by_period`'s query done in pandas on `period_moves`, step for step (the SQL's CTE names
    in the comments); `days` = the calendar of period starts, lo/hi the range's bounds (dates or None)."""
    calendar = pd.DatetimeIndex(days).astype(moves["day"].dtype)
    at = calendar.get_indexer(_period_of(moves["day"], grain))
    keep = at >= 0  # periods LEFT JOIN: moves outside the calendar unread
    at, n = at[keep], len(calendar)
    kind = moves["movement"].to_numpy(dtype=object)[keep]
    change = moves["value_change"].to_numpy(dtype="float64")[keep]

    def count(mask):
        return np.bincount(at[mask], minlength=n).astype("int64")

    def total(mask):  # an empty period's sum is 0 (COALESCE)
        return np.bincount(at[mask], weights=change[mask], minlength=n).astype("float64")  # int when empty

    f = pd.DataFrame({  # agg
        "new_customers": count((kind == "new") | (kind == "reactivation")),
        "returning_customers": count(kind == "reactivation"),
        "lost_customers": count(kind == "churn"),
        "new_business_value": total(kind == "new"),
        "reactivation_value": total(kind == "reactivation"),
        "expansion_value": total(kind == "expansion"),
        "contraction_value": 0.0 - total(kind == "contraction"),
        "churn_value": 0.0 - total(kind == "churn")}, index=pd.Index(calendar, name="period"))
    # existing: each customer's net over the moves of a run that began before the period
    older = (moves["episode_start"].to_numpy()[keep] < calendar.to_numpy()[at])
    customer = pd.factorize(moves["customer_id"].to_numpy(dtype=object)[keep][older])[0]
    pairs, which = np.unique(at[older].astype("int64") * (customer.max(initial=0) + 1) + customer, return_inverse=True)
    net = np.bincount(which, weights=change[older], minlength=len(pairs))
    pair_period = pairs // (customer.max(initial=0) + 1)
    f["existing_net"] = np.bincount(pair_period, weights=net, minlength=n).astype("float64")
    f["existing_loss"] = np.bincount(pair_period, weights=np.maximum(0.0, -net), minlength=n).astype("float64")
    # derived
    f["net_customers"] = f["new_customers"] - f["lost_customers"]
    f["new_value"] = f["new_business_value"] + f["reactivation_value"]
    f["lost_value"] = f["churn_value"]
    f["net_value"] = f["new_business_value"] + f["reactivation_value"] - f["churn_value"]
    movement = (f["new_business_value"] + f["reactivation_value"] + f["expansion_value"] - f["contraction_value"]
                - f["churn_value"])
    # cumulative: sums over the periods before each one
    # float, as DuckDB hands a SUM of integers (HUGEINT) to pandas
    f["customers_start"] = f["net_customers"].cumsum().shift(1, fill_value=0).astype("float64")
    f["customers_end"] = f["customers_start"] + f["net_customers"]
    f["value_start"] = movement.cumsum().shift(1, fill_value=0.0).round(6)
    f["value_end"] = (f["value_start"] + movement).round(6)
    paid = f["value_start"].where(f["value_start"] > 0)
    f["grr"] = (paid - f["existing_loss"]) / paid
    f["nrr"] = (paid + f["existing_net"]) / paid
    f = f.reset_index()
    if lo is not None:
        f = f[f["period"] >= pd.Timestamp(lo)]
    if hi is not None:
        f = f[f["period"] <= pd.Timestamp(hi)]
    return f[_PERIOD_COLUMNS].reset_index(drop=True)


_PERIOD_COLUMNS = ["period", "new_customers", "returning_customers", "lost_customers", "net_customers",
                   "new_value", "lost_value", "net_value", "new_business_value", "reactivation_value",
                   "expansion_value", "contraction_value", "churn_value", "customers_start", "customers_end",
                   "value_start", "value_end", "grr", "nrr"]


def ncvg_totals(con, b: Basis, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None,
                facts: tuple | None = None, moves: pd.DataFrame | None = None) -> MetricResult:
    """The headline numbers over the days start..end (inclusive; default: all data to the as-of date).

    One row: new_customers, returning_customers, lost_customers, net_customers = new − lost;
    new_value, lost_value, net_value = new_value − lost_value; the waterfall parts
    (new_business_value, reactivation_value, expansion_value, contraction_value, churn_value);
    customers_start/value_start (paying before `start`), customers_end/value_end (after `end`);
    grr and nrr over the customers paying at `start` (blank when value_start is 0).
    ``moves``: the basis's ``period_moves(con, b)``; the totals are then summed from it in pandas without
    a query — the same frame (up to the last bits of a float sum's order); the SQL returned is the query
    either way.
    """
    ctes, params = _ctes(b)
    sql = ctes + f""",
r AS (SELECT COALESCE(CAST(? AS DATE), (SELECT MIN(day) FROM moves)) AS lo,
             COALESCE(CAST(? AS DATE), k.as_of) AS hi FROM knobs k),
in_range AS (SELECT moves.*, r.lo FROM moves, r WHERE day BETWEEN r.lo AND r.hi),
inside AS (SELECT {_AGG} FROM in_range),
existing AS ({_EXISTING.format(key="", moves="in_range", start="lo")}),
before AS (SELECT COALESCE(SUM(customers_change), 0) AS customers_start,
                  ROUND(COALESCE(SUM(value_change), 0), 6) AS value_start
           FROM moves, r WHERE day < r.lo)
SELECT *, {_DERIVED},
  customers_start + new_customers - lost_customers AS customers_end,
  ROUND(value_start + new_business_value + reactivation_value + expansion_value - contraction_value - churn_value, 6) AS value_end,
  {_RETENTION}
FROM inside, before, existing"""
    params = params + [pd.Timestamp(start).date() if start is not None else None,
                       pd.Timestamp(end).date() if end is not None else None]
    excluded = excluded_rows(con, b) if facts is None else dict(facts[1])  # facts: the page's basis_facts
    if moves is not None and len(moves):
        frame = _totals_from_moves(moves, params[-2] or moves["day"].min(), params[-1] or b.as_of)
    else:
        frame = _run(con, sql, params)
    return MetricResult(frame, sql, params, excluded)


def _totals_from_moves(moves: pd.DataFrame, lo, hi) -> pd.DataFrame:
    """`ncvg_totals`' query done in pandas on `period_moves`, step for step (its CTE names in the
    comments); lo/hi the range's first and last day. Sums of money are exact (math.fsum: the double
    nearest the true sum, whatever the rows' order), as DuckDB's SUM is whenever its order rounds well;
    a naive sum in another order could move a tile's last digit at a half (4.4999… vs 4.5000…1)."""
    lo, hi = pd.Timestamp(lo), pd.Timestamp(hi)
    day = moves["day"]
    kind = moves["movement"].to_numpy(dtype=object)
    change = moves["value_change"].to_numpy(dtype="float64")
    inside = ((day >= lo) & (day <= hi)).to_numpy()  # in_range

    def count(mask):
        return int(np.count_nonzero(inside & mask))

    def total(mask, sign=1.0):  # COALESCE(±SUM(…), 0): no row gives 0
        rows = inside & mask
        return sign * math.fsum(change[rows]) if rows.any() else 0.0

    new, back, churn = kind == "new", kind == "reactivation", kind == "churn"
    row = {"new_customers": count(new | back), "returning_customers": count(back), "lost_customers": count(churn),
           "new_business_value": total(new), "reactivation_value": total(back),
           "expansion_value": total(kind == "expansion"), "contraction_value": total(kind == "contraction", -1.0),
           "churn_value": total(churn, -1.0)}
    # before: customers_change is +1 for new and reactivation, −1 for churn (`_ctes`' moves)
    earlier = (day < lo).to_numpy()
    row["customers_start"] = float(np.count_nonzero(earlier & (new | back)) - np.count_nonzero(earlier & churn))
    row["value_start"] = float(np.round(math.fsum(change[earlier]), 6)) if earlier.any() else 0.0
    # existing: each customer's net over the range's moves of a run that began before it
    older = np.flatnonzero(inside & (moves["episode_start"] < lo).to_numpy())
    if len(older):
        who = pd.factorize(moves["customer_id"].to_numpy(dtype=object)[older])[0]
        net = np.bincount(who, weights=change[older])  # each customer's, in the rows' order (by day)
        row["existing_net"], row["existing_loss"] = math.fsum(net), math.fsum(np.maximum(0.0, -net))
    else:
        row["existing_net"] = row["existing_loss"] = 0.0
    f = pd.DataFrame([row])
    f["net_customers"] = f["new_customers"] - f["lost_customers"]
    f["new_value"] = f["new_business_value"] + f["reactivation_value"]
    f["lost_value"] = f["churn_value"]
    f["net_value"] = f["new_business_value"] + f["reactivation_value"] - f["churn_value"]
    f["customers_end"] = f["customers_start"] + f["new_customers"] - f["lost_customers"]
    f["value_end"] = (f["value_start"] + f["new_business_value"] + f["reactivation_value"] + f["expansion_value"]
                      - f["contraction_value"] - f["churn_value"]).round(6)
    paid = f["value_start"].where(f["value_start"] > 0)
    f["grr"] = (paid - f["existing_loss"]) / paid
    f["nrr"] = (paid + f["existing_net"]) / paid
    return f


def data_range(con, b: Basis) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """First movement day and the as-of date; None when no subscription ever paid (the same for MRR
    and ARR: `counts_basis`)."""
    ctes, params = _ctes(counts_basis(b))
    rows = con.execute(ctes + "\nSELECT MIN(day) FROM moves", params).fetchall()
    if not rows or rows[0][0] is None:
        return None
    return pd.Timestamp(rows[0][0]), b.as_of


def waterfall_steps(totals: pd.Series | dict) -> pd.DataFrame:
    """Value bridge from start to end: Start, New, Reactivation, Expansion, Contraction, Churn, End.

    Each step has amount (signed), and bar bottom/top; End = Start + Σ movements.
    >>> waterfall_steps({'value_start': 100, 'new_business_value': 30, 'reactivation_value': 5,
    ...   'expansion_value': 10, 'contraction_value': 4, 'churn_value': 20})['top'].tolist()
    [100.0, 130.0, 135.0, 145.0, 145.0, 141.0, 121.0]
    """
    t = dict(totals)
    steps = [("New", t["new_business_value"]), ("Reactivation", t["reactivation_value"]),
             ("Expansion", t["expansion_value"]), ("Contraction", -t["contraction_value"]),
             ("Churn", -t["churn_value"])]
    level = float(t["value_start"])
    rows = [{"step": "Start", "amount": level, "bottom": 0.0, "top": level, "kind": "level"}]
    for name, amount in steps:
        amount = float(amount) + 0.0  # + 0.0 turns −0.0 (no contraction) into 0, labelled "+0" not "-0"
        rows.append({"step": name, "amount": amount, "bottom": min(level, level + amount),
                     "top": max(level, level + amount), "kind": "gain" if amount >= 0 else "loss"})
        level += amount
    rows.append({"step": "End", "amount": level, "bottom": 0.0, "top": level, "kind": "level"})
    frame = pd.DataFrame(rows)
    # bar labels: whole amounts; in millions for all bars once one reaches a million, so they fit
    scale, unit = (1e6, "M") if frame["amount"].abs().max() >= 1e6 else (1.0, "")
    digits = 2 if unit else 0
    frame["label"] = [f"{a / scale:,.{digits}f}{unit}" if k == "level" else f"{a / scale:+,.{digits}f}{unit}"
                      for a, k in zip(frame["amount"], frame["kind"])]
    frame["order"] = range(len(frame))
    return frame


def first_row(frame: pd.DataFrame) -> dict:
    """The first row as a dict keeping each column's type (counts stay whole numbers)."""
    return {column: values.iloc[0] for column, values in frame.items()}


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def executive_sentences(frame: pd.DataFrame, b: Basis, grain: str = "month") -> list[str]:
    """One sentence per period an executive can read aloud, newest first, e.g.
    'In Q3 2026 we gained 42 customers worth $31,200 MRR and lost 17 worth $9,500: net +25
    customers and +$21,700 MRR.' Incomplete periods say 'So far in … (data to <as-of>)'."""
    out = []
    for row in frame.sort_values("period", ascending=False).itertuples():
        label = period_label(row.period, grain)
        lead = (f"So far in {label} (data to {b.as_of:%d %b %Y})" if row.incomplete else f"In {label}")
        new, lost, net = int(row.new_customers), int(row.lost_customers), int(row.net_customers)
        returning = f" ({row.returning_customers:,} of them returning)" if row.returning_customers else ""
        if b.has_value:
            text = (f"{lead} we gained {_plural(new, 'customer')}{returning} worth "
                    f"{b.money(row.new_value)} {b.value_label} and lost {lost:,} worth "
                    f"{b.money(row.lost_value)}: net {net:+,} customers and "
                    f"{b.money(row.net_value, signed=True)} {b.value_label}.")
        else:
            text = f"{lead} we gained {_plural(new, 'customer')}{returning} and lost {lost:,}: net {net:+,}."
        out.append(text)
    return out


# ---------------------------------------------------------------------------- plans and segments

_PLAN_CTES = """,
plan_rank AS (
  SELECT plan, unit_value, ROW_NUMBER() OVER (ORDER BY unit_value NULLS FIRST, plan) AS tier FROM (
    SELECT plan, MEDIAN(value / NULLIF(COALESCE(quantity, 1), 0)) AS unit_value
    FROM paying WHERE plan IS NOT NULL GROUP BY plan)),
tier_at AS (
  SELECT m.customer_id, m.day, m.n_before, m.n_after, m.value_before, m.value_after,
         MAX(r.tier) AS tier, arg_max(r.plan, r.tier) AS top_plan
  FROM moves m
  JOIN paying p ON p.customer_id = m.customer_id AND p.paid_day <= m.day AND (p.end_day IS NULL OR p.end_day > m.day)
  JOIN plan_rank r ON r.plan = p.plan
  GROUP BY ALL),
plan_moves AS (
  SELECT * FROM (
    SELECT *, LAG(tier) OVER w AS prev_tier, LAG(top_plan) OVER w AS from_plan
    FROM tier_at WINDOW w AS (PARTITION BY customer_id ORDER BY day))
  WHERE n_before > 0 AND n_after > 0 AND prev_tier IS NOT NULL AND tier <> prev_tier)"""


def _range_params(start, end) -> list:
    return [pd.Timestamp(start).date() if start is not None else None,
            pd.Timestamp(end).date() if end is not None else None]


_IN_RANGE = "day BETWEEN COALESCE(CAST(? AS DATE), day) AND COALESCE(CAST(? AS DATE), day)"


def plan_moves(con, b: Basis, start=None, end=None, rows: pd.DataFrame | None = None) -> MetricResult:
    """Customers who moved up or down a plan tier while staying a customer, by from → to plan.

    Tier order: plans ranked by their median value per unit (value ÷ quantity) — the cheapest
    plan is tier 1. A customer's plan on a day is the highest-tier plan among their paying
    subscriptions; a move is a change of that plan between two days of one paying run.
    Columns: from_plan, to_plan, direction (up/down), customers (distinct), moves (a customer may
    make the same move twice), value_change (signed sum of value_after − value_before on the day
    of the move).
    ``rows``: the basis's ``plan_move_rows(con, b)``; the moves are then counted from it in pandas
    without a query — the same frame; the SQL returned is the query either way.
    """
    ctes, params = _subscription_ctes(b)
    sql = ctes + _PLAN_CTES + f"""
SELECT from_plan, top_plan AS to_plan, CASE WHEN tier > prev_tier THEN 'up' ELSE 'down' END AS direction,
       COUNT(DISTINCT customer_id) AS customers, COUNT(*) AS moves,
       ROUND(SUM(value_after - value_before), 6) AS value_change
FROM plan_moves WHERE {_IN_RANGE}
GROUP BY ALL ORDER BY direction DESC, moves DESC, from_plan, to_plan"""
    params = params + _range_params(start, end)
    lo, hi = _range_params(start, end)
    if rows is not None:
        rows = rows[(rows["day"] >= pd.Timestamp(lo if lo is not None else rows["day"].min()))
                    & (rows["day"] <= pd.Timestamp(hi if hi is not None else rows["day"].max()))]
    if rows is None or not len(rows):  # none in the range: the query's own empty frame
        return MetricResult(_run(con, sql, params), sql, params)
    groups: dict[tuple, list] = {}  # (from, to, up) → customers, moves, changes; a few hundred rows: plain Python
    for customer, up, change, old, new in zip(rows["customer_id"], rows["up"], rows["change"], rows["from_plan"],
                                              rows["to_plan"]):
        g = groups.setdefault((old, new, bool(up)), [set(), 0, []])
        g[0].add(customer)
        g[1] += 1
        g[2].append(change)
    # ORDER BY direction DESC ('up' first), moves DESC, from_plan, to_plan
    keys = sorted(groups, key=lambda k: (not k[2], -groups[k][1], k[0], k[1]))
    text = pd.StringDtype(na_value=np.nan)
    frame = pd.DataFrame({
        "from_plan": pd.array([k[0] for k in keys], dtype=text), "to_plan": pd.array([k[1] for k in keys], dtype=text),
        "direction": pd.array(["up" if k[2] else "down" for k in keys], dtype=text),
        "customers": np.array([len(groups[k][0]) for k in keys], dtype="int64"),
        "moves": np.array([groups[k][1] for k in keys], dtype="int64"),
        "value_change": np.round(np.array([math.fsum(groups[k][2]) for k in keys], dtype="float64"), 6)})
    return MetricResult(frame, sql, params)


def plan_moves_by_period(con, b: Basis, grain: str = "month", start=None, end=None,
                         rows: pd.DataFrame | None = None) -> MetricResult:
    """Moves up and down a plan tier per period: period, moved_up, moved_down (distinct customers),
    up_value, down_value (signed sums of value changes on the day of the move).

    ``rows``: the basis's ``plan_move_rows(con, b)``; the periods are then counted from it in pandas
    without a query — the same frame; the SQL returned is the per-period query either way."""
    if grain not in GRAINS:
        raise BoundaryError(f"Unknown period '{grain}'. Choose one of: {', '.join(GRAINS)}.")
    ctes, params = _subscription_ctes(b)
    sql = ctes + _PLAN_CTES + f"""
SELECT {period_sql("day", grain)} AS period,
       COUNT(DISTINCT customer_id) FILTER (WHERE tier > prev_tier) AS moved_up,
       COUNT(DISTINCT customer_id) FILTER (WHERE tier < prev_tier) AS moved_down,
       COALESCE(ROUND(SUM(value_after - value_before) FILTER (WHERE tier > prev_tier), 6), 0) AS up_value,
       COALESCE(ROUND(SUM(value_after - value_before) FILTER (WHERE tier < prev_tier), 6), 0) AS down_value
FROM plan_moves WHERE {_IN_RANGE} GROUP BY 1 ORDER BY 1"""
    params = params + _range_params(start, end)
    lo, hi = _range_params(start, end)
    if rows is not None:
        rows = rows[(rows["day"] >= pd.Timestamp(lo if lo is not None else rows["day"].min()))
                    & (rows["day"] <= pd.Timestamp(hi if hi is not None else rows["day"].max()))]
    if rows is not None and len(rows):
        period = _period_of(rows["day"], grain)
        groups: dict = {}  # period → customers up, down; changes up, down (a few hundred rows: plain Python)
        for at, customer, up, change in zip(period, rows["customer_id"], rows["up"], rows["change"]):
            g = groups.setdefault(at, ([set(), set()], [[], []]))
            g[0][0 if up else 1].add(customer)
            g[1][0 if up else 1].append(change)
        keys = sorted(groups)
        frame = pd.DataFrame({"period": pd.Series(keys, dtype="datetime64[ns]").astype(period.dtype)})
        for i, side in enumerate(("up", "down")):
            frame[f"moved_{side}"] = np.array([len(groups[k][0][i]) for k in keys], dtype="int64")
        for i, side in enumerate(("up", "down")):  # COALESCE(ROUND(SUM(…), 6), 0); exact sums
            frame[f"{side}_value"] = np.round(np.array([math.fsum(groups[k][1][i]) for k in keys], dtype="float64"), 6)
    else:
        frame = _run(con, sql, params)
        frame["period"] = pd.to_datetime(frame["period"])
    frame.insert(1, "label", [period_label(p, grain) for p in frame["period"]])
    return MetricResult(frame, sql, params)


def plan_move_rows(con, b: Basis) -> pd.DataFrame:
    """Every plan move of the basis (customer_id, day, up: a move to a higher tier, change = value_after
    − value_before, from_plan, to_plan), as `plan_moves_by_period` and `plan_moves` count them: read once
    per basis, so a change of grain or range runs no query (``rows=``)."""
    ctes, params = _subscription_ctes(b)
    frame = _run(con, ctes + _PLAN_CTES + """
SELECT customer_id, day, tier > prev_tier AS up, value_after - value_before AS change, from_plan, top_plan AS to_plan
FROM plan_moves ORDER BY customer_id, day""", params)
    frame["day"] = pd.to_datetime(frame["day"])
    return frame


def value_by_plan(con, b: Basis, start=None, end=None) -> MetricResult:
    """Value per plan on the as-of date and lost in the range, in tier order.

    Columns: plan ('(no plan)' when blank), tier (1 = cheapest per unit), unit_value (median
    value per unit), active_subscriptions and value (paying on the as-of date), share_of_value
    (value ÷ all value), customers (customers whose highest-tier plan it is on the as-of date),
    lost_subscriptions and lost_value (subscriptions ending on the day their customer was lost,
    within the range). Every column except tier/unit_value sums to the total.
    """
    ctes, params = _subscription_ctes(b)
    sql = ctes + _PLAN_CTES + f""",
now AS (SELECT COALESCE(plan, '(no plan)') AS plan, COUNT(*) AS active_subscriptions,
               ROUND(SUM(COALESCE(value, 0)), 6) AS value
        FROM paying WHERE end_day IS NULL GROUP BY 1),
tops AS (SELECT p.customer_id, COALESCE(arg_max(r.plan, r.tier), '(no plan)') AS plan
         FROM paying p LEFT JOIN plan_rank r USING (plan) WHERE p.end_day IS NULL GROUP BY p.customer_id),
top_count AS (SELECT plan, COUNT(*) AS customers FROM tops GROUP BY plan),
lost AS (SELECT COALESCE(p.plan, '(no plan)') AS plan, COUNT(*) AS lost_subscriptions,
                ROUND(SUM(COALESCE(p.value, 0)), 6) AS lost_value
         FROM moves m JOIN paying p ON p.customer_id = m.customer_id AND p.end_day = m.day
         WHERE m.movement = 'churn' AND m.{_IN_RANGE} GROUP BY 1),
all_plans AS (SELECT plan FROM plan_rank UNION SELECT plan FROM now UNION SELECT plan FROM top_count
              UNION SELECT plan FROM lost)
SELECT plan, r.tier, r.unit_value, COALESCE(active_subscriptions, 0) AS active_subscriptions,
       COALESCE(value, 0) AS value,
       COALESCE(value, 0) / NULLIF(SUM(COALESCE(value, 0)) OVER (), 0) AS share_of_value,
       COALESCE(customers, 0) AS customers,
       COALESCE(lost_subscriptions, 0) AS lost_subscriptions, COALESCE(lost_value, 0) AS lost_value
FROM all_plans LEFT JOIN now USING (plan) LEFT JOIN top_count USING (plan) LEFT JOIN lost USING (plan)
LEFT JOIN plan_rank r USING (plan)
ORDER BY r.tier NULLS LAST, plan"""
    params = params + _range_params(start, end)
    return MetricResult(_run(con, sql, params), sql, params)


def value_by_segment(con, b: Basis, customers_table: str, segment_column: str = "segment",
                     start=None, end=None) -> MetricResult:
    """Customers and value per customer segment, joining a customers table on customer_id.

    Columns: segment ('(blank)' when the customer's cell is empty, '(not in customer file)' for
    paying customers missing from it), customers_in_file, active_customers and value (paying on
    the as-of date), share_of_value, value_per_customer = value ÷ active_customers,
    lost_customers and lost_value (lost within the range). Rows sum to the totals.
    """
    if segment_column not in group_columns(con, customers_table):
        raise BoundaryError(f"'{segment_column}' is not a text column of the customer file. "
                            f"Pick one of: {', '.join(group_columns(con, customers_table))}.")
    ctes, params = _ctes(b)
    seg = quote_ident(segment_column)
    sql = ctes + f""",
seg AS (SELECT NULLIF(trim(CAST("customer_id" AS VARCHAR)), '') AS customer_id,
               COALESCE(NULLIF(trim(CAST(arg_max({seg}, {seg} IS NOT NULL) AS VARCHAR)), ''), '(blank)') AS segment
        FROM {quote_ident(customers_table)} WHERE "customer_id" IS NOT NULL GROUP BY 1),
cust_now AS (SELECT customer_id, arg_max(value_after, day) AS value_now, arg_max(n_after, day) AS n_now
             FROM moves GROUP BY customer_id),
lost AS (SELECT customer_id, COUNT(*) AS lost_times, -SUM(value_change) AS lost_value
         FROM moves WHERE movement = 'churn' AND {_IN_RANGE} GROUP BY customer_id),
per_customer AS (
  SELECT COALESCE(s.segment, '(not in customer file)') AS segment, n.customer_id,
         COALESCE(n.n_now, 0) > 0 AS active, COALESCE(n.value_now, 0) AS value_now,
         COALESCE(l.lost_times, 0) AS lost_times, COALESCE(l.lost_value, 0) AS lost_value,
         s.customer_id IS NOT NULL AS in_file
  FROM seg s FULL JOIN cust_now n USING (customer_id) LEFT JOIN lost l USING (customer_id))
SELECT segment, COUNT(*) FILTER (WHERE in_file) AS customers_in_file,
       COUNT(*) FILTER (WHERE active) AS active_customers,
       ROUND(COALESCE(SUM(value_now) FILTER (WHERE active), 0), 6) AS value,
       COALESCE(SUM(value_now) FILTER (WHERE active), 0)
         / NULLIF(SUM(SUM(value_now) FILTER (WHERE active)) OVER (), 0) AS share_of_value,
       SUM(value_now) FILTER (WHERE active) / NULLIF(COUNT(*) FILTER (WHERE active), 0) AS value_per_customer,
       SUM(lost_times) AS lost_customers, ROUND(SUM(lost_value), 6) AS lost_value
FROM per_customer GROUP BY segment ORDER BY value DESC, segment"""
    params = params + _range_params(start, end)
    return MetricResult(_run(con, sql, params), sql, params)


# ----------------------------------------------------------------------------- trials, renewals

_TRIAL_CTES = """,
trial_rows AS (
  SELECT s.*, CAST(s.start_date AS DATE) AS trial_day,
    CASE WHEN s.trial_end > s.start_date THEN CAST(s.trial_end AS DATE)
         ELSE LEAST(COALESCE(CAST(s.end_date AS DATE), CAST(s.start_date AS DATE) + CAST(? AS INTEGER)),
                    CAST(s.start_date AS DATE) + CAST(? AS INTEGER)) END AS trial_stop,
    COALESCE(s.trial_end > s.start_date, FALSE) = FALSE
      AND COALESCE(CAST(s.end_date AS DATE) >= CAST(s.start_date AS DATE) + CAST(? AS INTEGER), TRUE) AS assumed_length
  FROM spans s WHERE s.is_trial IS TRUE OR s.trial_end > s.start_date),
trials AS (
  SELECT t.*, t.trial_stop + CAST(? AS INTEGER) AS window_end,
    EXISTS (SELECT 1 FROM paying p WHERE p.customer_id = t.customer_id AND p._row <> t._row
            AND p.paid_day < t.trial_day AND (p.end_day IS NULL OR p.end_day > t.trial_day)) AS expansion,
    (t.paid_day IS NOT NULL AND t.paid_day <= k.as_of AND (t.end_day IS NULL OR t.end_day > t.paid_day))
      OR EXISTS (SELECT 1 FROM paying p WHERE p.customer_id = t.customer_id AND p._row <> t._row
                 AND p.is_trial IS NOT TRUE
                 AND p.paid_day BETWEEN t.trial_day AND t.trial_stop + CAST(? AS INTEGER)) AS converted
  FROM trial_rows t, knobs k),
trial_outcomes AS (
  SELECT t.*, CASE WHEN t.window_end > k.as_of THEN 'open' WHEN converted THEN 'converted'
                   ELSE 'not converted' END AS outcome
  FROM trials t, knobs k)"""

_TRIAL_COUNTS = """COUNT(*) FILTER (WHERE {cond}) AS {p}trials,
  COUNT(*) FILTER (WHERE {cond} AND outcome = 'converted') AS {p}converted,
  COUNT(*) FILTER (WHERE {cond} AND outcome = 'not converted') AS {p}not_converted,
  COUNT(*) FILTER (WHERE {cond} AND outcome = 'open') AS {p}in_trial,
  COUNT(*) FILTER (WHERE {cond} AND outcome = 'not converted')
    / NULLIF(COUNT(*) FILTER (WHERE {cond} AND outcome <> 'open'), 0) AS {p}share_not_converted"""


def trial_conversion(con, b: Basis, grain: str | None = None, window_days: float = 30,
                     default_trial_days: float = 14, rows: pd.DataFrame | None = None) -> MetricResult:
    """Trials that did not convert within a window: counts and share, overall or per period of the
    trial's start, new-customer trials apart from expansion trials of customers already paying.

    A trial = a subscription flagged as a trial or carrying a trial end after its start. It *stops*
    on its trial end; without one (an open-ended trial, as in RavenStack) on its end date or after
    `default_trial_days` (threshold ``ncvg_default_trial_days``), whichever comes first. It
    *converted* when the customer pays within `window_days` (``ncvg_trial_conversion_window_days``)
    of the stop: the trial row itself goes on paying past its trial end, or another paid
    (non-trial) subscription of the customer starts between the trial's start and stop + window. A
    paid start later than that is not this trial's conversion. Only trials whose window has closed
    by the as-of date are decided; the rest (*in trial or in the window*, ``in_trial``) are left out
    of the share either way, so recent trials neither lift nor sink it.
    An *expansion trial* is one started while the customer already paid for another subscription
    (paying since before the trial's day): reported in the ``expansion_…`` columns, never in the
    new-customer share. share_not_converted = not_converted ÷ (converted + not_converted), blank
    when both are 0. ``assumed_length`` counts trials stopped by the assumed length.
    ``rows``: ``trial_rows`` for the same basis and days; with a grain, the periods are then counted
    from it in pandas without a query — the same frame; the SQL returned is the query either way.
    No value is read: MRR and ARR give the same figures and SQL (`counts_basis`).
    """
    ctes, params = _subscription_ctes(counts_basis(b))
    group = f"{period_sql('trial_day', grain)} AS period, " if grain else ""
    sql = ctes + _TRIAL_CTES + f"""
SELECT {group}{_TRIAL_COUNTS.format(cond="NOT expansion", p="")},
  {_TRIAL_COUNTS.format(cond="expansion", p="expansion_")},
  COUNT(*) FILTER (WHERE assumed_length) AS assumed_length
FROM trial_outcomes{" GROUP BY 1 ORDER BY 1" if grain else ""}"""
    default, window = int(round(default_trial_days)), int(round(window_days))
    if default < 1 or window < 0:
        raise BoundaryError("The assumed trial length must be at least 1 day and the conversion window 0 days or more.")
    params = params + [default, default, default, window, window]
    if grain and rows is not None and len(rows):
        frame = _trials_by_period(rows, grain)
    else:
        frame = _run(con, sql, params)
    if grain:
        frame["period"] = pd.to_datetime(frame["period"])
        frame.insert(1, "label", [period_label(p, grain) for p in frame["period"]])
    return MetricResult(frame, sql, params)


def trial_rows(con, b: Basis, window_days: float = 30, default_trial_days: float = 14) -> pd.DataFrame:
    """One row per trial (trial_day, expansion, outcome, assumed_length) as `trial_conversion` counts
    them: read once per basis and days, so a change of grain runs no query (``rows=``). The same for
    MRR and ARR (`counts_basis`)."""
    ctes, params = _subscription_ctes(counts_basis(b))
    default, window = int(round(default_trial_days)), int(round(window_days))
    if default < 1 or window < 0:
        raise BoundaryError("The assumed trial length must be at least 1 day and the conversion window 0 days or more.")
    frame = _run(con, ctes + _TRIAL_CTES + "\nSELECT trial_day, expansion, outcome, assumed_length FROM trial_outcomes "
                 "ORDER BY trial_day", params + [default, default, default, window, window])
    frame["trial_day"] = pd.to_datetime(frame["trial_day"])
    return frame


def _trials_by_period(rows: pd.DataFrame, grain: str) -> pd.DataFrame:
    """`trial_conversion`'s per-period counts from `trial_rows`, as _TRIAL_COUNTS counts them."""
    codes, periods = pd.factorize(_period_of(rows["trial_day"], grain), sort=True, use_na_sentinel=False)
    n = len(periods)
    outcome = rows["outcome"].to_numpy(dtype=object)
    expansion = rows["expansion"].to_numpy(dtype=bool)
    frame = pd.DataFrame({"period": periods})

    def count(mask):  # COUNT(*) FILTER (WHERE …) per period
        return np.bincount(codes[mask], minlength=n).astype("int64")

    for cond, p in ((~expansion, ""), (expansion, "expansion_")):
        frame[f"{p}trials"] = count(cond)
        frame[f"{p}converted"] = count(cond & (outcome == "converted"))
        frame[f"{p}not_converted"] = count(cond & (outcome == "not converted"))
        frame[f"{p}in_trial"] = count(cond & (outcome == "open"))
        decided = pd.Series(count(cond & (outcome != "open")))
        frame[f"{p}share_not_converted"] = frame[f"{p}not_converted"] / decided.where(decided > 0)
    frame["assumed_length"] = count(rows["assumed_length"].to_numpy(dtype=bool))
    return frame[["period", "trials", "converted", "not_converted", "in_trial", "share_not_converted",
                  "expansion_trials", "expansion_converted", "expansion_not_converted", "expansion_in_trial",
                  "expansion_share_not_converted", "assumed_length"]]


def trial_rule(window_days: float, default_trial_days: float) -> str:
    """The trial rules in one plain paragraph for the page."""
    return (f"A trial converts when the customer pays within {window_days:.0f} days after it ends (its trial end; "
            f"without one, its end date or {default_trial_days:.0f} days after its start, whichever is first — an "
            "assumed length, editable under Thresholds). Trials whose window is still open on the as-of date are "
            "left out of the share. Trials of customers who already pay (expansion trials) are counted apart.")


def renewals(con, b: Basis, grace_days: float = 1) -> MetricResult:
    """Paying subscriptions that ended without renewal, as a count and share — per *subscription*,
    not per customer: a customer with three seats-subscriptions that end counts three times, and a
    customer whose add-on ends while the main plan runs on is not lost. Customers lost are beside it.

    ended = paying subscriptions whose end date is on or before the as-of date;
    renewed = the same customer started another paying subscription within ± grace_days of the
    end; ended_without_renewal = ended − renewed; share_without_renewal = ended_without_renewal ÷
    ended (blank when none ended); customer_left = ends on the day the customer was lost;
    customers_with_an_end = distinct customers with an ended subscription; customers_lost =
    distinct customers lost (their last paying subscription ended) at least once;
    scheduled_cancellations = subscriptions with an end date after the as-of date (not lost yet);
    set_not_to_renew = paying, not ended, auto-renew off (0 when the file has no auto-renew column).
    No value is read: MRR and ARR give the same figures and SQL (`counts_basis`).
    """
    ctes, params = _subscription_ctes(counts_basis(b))
    sql = ctes + """,
ended AS (
  SELECT s.*,
    EXISTS (SELECT 1 FROM paying p WHERE p.customer_id = s.customer_id AND p._row <> s._row
            AND p.paid_day BETWEEN s.end_day - CAST(? AS INTEGER) AND s.end_day + CAST(? AS INTEGER)) AS renewed,
    EXISTS (SELECT 1 FROM moves m WHERE m.customer_id = s.customer_id AND m.day = s.end_day
            AND m.movement = 'churn') AS customer_left
  FROM paying s WHERE s.end_day IS NOT NULL)
SELECT (SELECT COUNT(*) FROM paying) AS paying_subscriptions,
  COUNT(*) AS ended,
  COUNT(*) FILTER (WHERE renewed) AS renewed,
  COUNT(*) FILTER (WHERE NOT renewed) AS ended_without_renewal,
  COUNT(*) FILTER (WHERE NOT renewed) / NULLIF(COUNT(*), 0) AS share_without_renewal,
  COUNT(*) FILTER (WHERE customer_left) AS customer_left,
  COUNT(DISTINCT customer_id) AS customers_with_an_end,
  COUNT(DISTINCT customer_id) FILTER (WHERE customer_left) AS customers_lost,
  (SELECT COUNT(*) FROM spans WHERE scheduled_end) AS scheduled_cancellations,
  (SELECT COUNT(*) FROM paying WHERE end_day IS NULL AND auto_renew IS FALSE) AS set_not_to_renew
FROM ended"""
    grace = int(round(grace_days))
    params = params + [grace, grace]
    return MetricResult(_run(con, sql, params), sql, params)


def _share(value: float) -> str:
    return "—" if pd.isna(value) else f"{value:.1%}"


def _n(value: float) -> str:
    return f"{int(value):,}"


def trial_renewal_tiles(trials: dict, renew: dict, grace_days: float) -> list[tuple[str, str, str]]:
    """(label, value, help) of the page's trial tiles (the first two) and renewal tiles (the other
    three), from a `trial_conversion` row and a `renewals` row: new-customer and expansion trials
    not converting, subscriptions ended without renewal (per subscription), customers lost (per
    customer) and cancellations scheduled after the as-of date."""
    t, r = trials, renew
    return [
        ("New-customer trials that did not convert", _share(t["share_not_converted"]),
         f"{_n(t['not_converted'])} did not convert ÷ {_n(t['converted'] + t['not_converted'])} trials whose "
         f"conversion window has closed; {_n(t['in_trial'])} still in trial or in the window."),
        ("Expansion trials that did not convert", _share(t["expansion_share_not_converted"]),
         f"Trials of customers already paying: {_n(t['expansion_not_converted'])} without a new paid subscription "
         f"in the window ÷ {_n(t['expansion_converted'] + t['expansion_not_converted'])} decided; "
         f"{_n(t['expansion_in_trial'])} undecided."),
        ("Subscriptions ended without renewal", _share(r["share_without_renewal"]),
         f"Per subscription, not per customer: {_n(r['ended_without_renewal'])} subscriptions ended with no new one "
         f"for the customer within {grace_days:.0f} day(s) ÷ {_n(r['ended'])} ended subscriptions."),
        ("Customers lost, whole file", _n(r["customers_lost"]),
         f"Per customer, to the as-of date: of {_n(r['customers_with_an_end'])} customers with an ended "
         "subscription, those whose last paying subscription ended (an add-on ending while the plan runs on is "
         "a subscription ended, not a customer lost)."),
        ("Cancellations scheduled after the as-of date", _n(r["scheduled_cancellations"]),
         "End dates after the as-of date: still paying, not counted as lost."),
    ]


# ------------------------------------------------------------------------------------- incidents

INCIDENT_TABLE = "ncvg_incidents"


def store_incidents(con, frame: pd.DataFrame, file_name: str = "incident table") -> str:
    """Write typed or uploaded incidents (columns customer_id, incident_date[, description]) to a
    session table for `incident_churn`; returns its name. Dates are parsed; unreadable dates stay
    blank and are counted there."""
    missing = {"customer_id", "incident_date"} - set(frame.columns)
    if missing:
        raise BoundaryError(f"{file_name}: needs columns customer_id and incident_date; "
                            f"missing {', '.join(sorted(missing))}.")
    out = pd.DataFrame({
        "customer_id": frame["customer_id"].astype("string").str.strip(),
        "incident_date": pd.to_datetime(frame["incident_date"], errors="coerce").astype("datetime64[us]"),
        "description": (frame["description"] if "description" in frame else pd.Series(pd.NA, index=frame.index)
                        ).astype("string"),
    })
    con.register("_ncvg_incidents_in", out)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {quote_ident(INCIDENT_TABLE)} AS "
                    "SELECT * FROM _ncvg_incidents_in")
    finally:
        con.unregister("_ncvg_incidents_in")
    return INCIDENT_TABLE


def incident_churn(con, b: Basis, incidents_table: str, window_days: float = 60) -> MetricResult:
    """Share of customers hit by an incident who left within N days, against those not hit.

    For each incident day d: affected = customers named in an incident on d who were paying on d;
    unaffected = every other customer paying on d; left = lost (churned) in (d, d + N days].
    affected_share = affected_left ÷ affected; unaffected_share = unaffected_left ÷ unaffected.
    Per day: odds_ratio = (affected_left · unaffected stayed) / (affected stayed · unaffected_left)
    and p_value of that day's 2×2 table (`two_proportion_test`: Fisher's exact when a cell expects
    under 5). A final row 'All incidents' sums the counts of the days whose window is complete, but
    tests them day by day: Cochran–Mantel–Haenszel over one 2×2 table per incident day (`cmh_test`),
    with the Mantel–Haenszel pooled odds ratio — a customer paying on several incident days is one of
    that day's customers each time, not several extra people in one pooled table (the summed counts
    are shown for reading, not tested). Windows that run past the as-of date are
    marked window_complete = False and left out of the pooled row. Excluded: incident rows with a
    blank customer or date, and customers not paying on their incident day.
    No value is read: MRR and ARR give the same figures and SQL (`counts_basis`).
    """
    window = int(round(window_days))
    if window < 1:
        raise BoundaryError("The churn window after an incident must be at least 1 day.")
    ctes, base_params = _subscription_ctes(counts_basis(b))
    sql = ctes + f""",
inc AS (SELECT NULLIF(trim(CAST(customer_id AS VARCHAR)), '') AS customer_id,
               CAST(incident_date AS DATE) AS day, description FROM {quote_ident(incidents_table)}),
inc_ok AS (SELECT customer_id, day, string_agg(DISTINCT description, '; ') AS description
           FROM inc WHERE customer_id IS NOT NULL AND day IS NOT NULL GROUP BY ALL),
days AS (SELECT day, string_agg(DISTINCT description, '; ') AS description FROM inc_ok GROUP BY day),
active_on AS (
  SELECT DISTINCT d.day, p.customer_id FROM days d
  JOIN paying p ON p.paid_day <= d.day AND (p.end_day IS NULL OR p.end_day > d.day)),
pairs AS (
  SELECT a.day, a.customer_id, i.customer_id IS NOT NULL AS affected,
    EXISTS (SELECT 1 FROM moves m WHERE m.customer_id = a.customer_id AND m.movement = 'churn'
            AND m.day > a.day AND m.day <= a.day + CAST(? AS INTEGER)) AS left_within
  FROM active_on a LEFT JOIN inc_ok i ON i.customer_id = a.customer_id AND i.day = a.day)
SELECT p.day AS incident_date, d.description,
  p.day + CAST(? AS INTEGER) <= k.as_of AS window_complete,
  COUNT(*) FILTER (WHERE affected) AS affected,
  COUNT(*) FILTER (WHERE affected AND left_within) AS affected_left,
  COUNT(*) FILTER (WHERE NOT affected) AS unaffected,
  COUNT(*) FILTER (WHERE NOT affected AND left_within) AS unaffected_left
FROM pairs p JOIN days d USING (day), knobs k
GROUP BY ALL ORDER BY incident_date"""
    params = base_params + [window, window]
    frame = _run(con, sql, params)
    count_sql = ctes + f""",
inc AS (SELECT NULLIF(trim(CAST(customer_id AS VARCHAR)), '') AS customer_id,
               CAST(incident_date AS DATE) AS day FROM {quote_ident(incidents_table)})
SELECT COUNT(*) FILTER (WHERE customer_id IS NULL OR day IS NULL) AS blank,
  COUNT(*) FILTER (WHERE customer_id IS NOT NULL AND day IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM paying p WHERE p.customer_id = inc.customer_id AND p.paid_day <= inc.day
    AND (p.end_day IS NULL OR p.end_day > inc.day))) AS not_paying
FROM inc"""
    blank, not_paying = con.execute(count_sql, base_params).fetchall()[0]
    excluded = {"incident rows with a blank customer or date": int(blank),
                "incident rows whose customer was not paying that day (in this currency)": int(not_paying)}
    frame = _with_incident_shares(frame, window)
    if not frame.empty and "window_complete" in frame:
        incomplete = int((~frame["window_complete"].astype(bool) & (frame["incident_date"] != "All incidents")).sum())
        if incomplete:
            excluded[f"incident days whose {window}-day window runs past the as-of date (left out of the pooled row)"] = incomplete
    return MetricResult(frame, sql, params, {k: v for k, v in excluded.items() if v})


def _with_incident_shares(frame: pd.DataFrame, window: int) -> pd.DataFrame:
    columns = ["incident_date", "description", "window_complete", "affected", "affected_left", "affected_share",
               "unaffected", "unaffected_left", "unaffected_share", "difference", "odds_ratio", "p_value"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    frame = frame.copy()
    frame["incident_date"] = pd.to_datetime(frame["incident_date"]).dt.strftime("%Y-%m-%d")
    done = frame[frame["window_complete"].astype(bool)]
    pooled = {"incident_date": "All incidents",
              "description": f"complete {window}-day windows, compared day by day (Cochran–Mantel–Haenszel)",
              "window_complete": True}
    for col in ("affected", "affected_left", "unaffected", "unaffected_left"):
        pooled[col] = int(done[col].sum())
    frame = pd.concat([frame, pd.DataFrame([pooled])], ignore_index=True)
    frame["affected_share"] = frame["affected_left"] / frame["affected"].where(frame["affected"] > 0)
    frame["unaffected_share"] = frame["unaffected_left"] / frame["unaffected"].where(frame["unaffected"] > 0)
    frame["difference"] = frame["affected_share"] - frame["unaffected_share"]
    tables = [[[a1, n1 - a1], [a2, n2 - a2]] for a1, n1, a2, n2 in
              zip(frame["affected_left"], frame["affected"], frame["unaffected_left"], frame["unaffected"])]
    # one day: the 2×2 table's own test (Fisher's exact when a cell expects under 5) and odds ratio
    frame["p_value"] = [two_proportion_test(t[0][0], sum(t[0]), t[1][0], sum(t[1])).p_value
                        if sum(t[0]) and sum(t[1]) else math.nan for t in tables]
    frame["odds_ratio"] = [(t[0][0] * t[1][1]) / (t[0][1] * t[1][0]) if t[0][1] * t[1][0] else math.nan
                           for t in tables]
    # all days: one stratum per day, so a customer paying on several incident days is compared with
    # that day's customers only, never pooled as if they were different people
    strata = [t for t, ok in zip(tables[:-1], frame["window_complete"].iloc[:-1].astype(bool))
              if ok and sum(t[0]) and sum(t[1])]
    with np.errstate(divide="ignore", invalid="ignore"):  # a day with no one staying: odds ratio ∞
        odds, p = cmh_test(strata) if strata else (math.nan, math.nan)
    frame.loc[frame.index[-1], ["odds_ratio", "p_value"]] = [odds, p]
    return frame[columns]


# ------------------------------------------------------------------------- customers file alone

def customers_by_period(con, table: str, columns: frozenset[str] | set[str], grain: str = "month") -> MetricResult:
    """Counts only, from a customer file without subscriptions: new = signup date in the period,
    lost = churn date in the period, net = new − lost. Customers flagged as churned without a
    churn date cannot be placed in a period: they are counted in `excluded` (and in the totals
    of `customers_totals`). No value: a customer file carries no recurring value."""
    if grain not in GRAINS:
        raise BoundaryError(f"Unknown period '{grain}'. Choose one of: {', '.join(GRAINS)}.")
    columns = frozenset(columns)
    churn_date = _col(columns, "churn_date", "TIMESTAMP", "c")
    sql = f"""WITH ev AS (
  SELECT {period_sql('c."signup_date"', grain)} AS period, 1 AS new, 0 AS lost FROM {quote_ident(table)} c
  WHERE c."signup_date" IS NOT NULL
  UNION ALL
  SELECT {period_sql(churn_date, grain)}, 0, 1 FROM {quote_ident(table)} c WHERE {churn_date} IS NOT NULL)
SELECT period, SUM(new) AS new_customers, SUM(lost) AS lost_customers, SUM(new) - SUM(lost) AS net_customers
FROM ev GROUP BY period ORDER BY period"""
    frame = con.execute(sql).df()
    frame["period"] = pd.to_datetime(frame["period"])
    frame.insert(1, "label", [period_label(p, grain) for p in frame["period"]])
    totals = customers_totals(con, table, columns).frame.iloc[0]
    excluded = {"signup date blank or unreadable": int(totals["no_signup_date"]),
                "churned but no churn date (not placed in a period)": int(totals["lost_undated"])}
    return MetricResult(frame, sql, [], {k: v for k, v in excluded.items() if v})


def customers_totals(con, table: str, columns: frozenset[str] | set[str]) -> MetricResult:
    """Whole-file counts from a customer file: new_customers (rows with a signup date),
    lost_customers (churn date given, or churned flag true), lost_undated (churned, no date),
    net_customers = new − lost (customers not lost), no_signup_date."""
    columns = frozenset(columns)
    churn_date = _col(columns, "churn_date", "TIMESTAMP", "c")
    churned = _col(columns, "churned", "BOOLEAN", "c")
    sql = f"""SELECT COUNT(*) FILTER (WHERE c."signup_date" IS NOT NULL) AS new_customers,
  COUNT(*) FILTER (WHERE c."signup_date" IS NOT NULL AND ({churn_date} IS NOT NULL OR {churned} IS TRUE)) AS lost_customers,
  COUNT(*) FILTER (WHERE c."signup_date" IS NOT NULL AND {churn_date} IS NULL AND {churned} IS TRUE) AS lost_undated,
  COUNT(*) FILTER (WHERE c."signup_date" IS NULL) AS no_signup_date
FROM {quote_ident(table)} c"""
    frame = con.execute(sql).df()
    frame["net_customers"] = frame["new_customers"] - frame["lost_customers"]
    return MetricResult(frame, sql)


def loaded_incidents(con, table: str, columns: frozenset[str] | set[str]) -> pd.DataFrame:
    """An incidents dataset as the editable frame: customer_id, incident_date, description."""
    description = _col(frozenset(columns), "description", "VARCHAR", "i")
    return con.execute(f'SELECT CAST(i."customer_id" AS VARCHAR) AS customer_id, i."incident_date" AS incident_date, '
                       f"CAST({description} AS VARCHAR) AS description FROM {quote_ident(table)} i "
                       'ORDER BY i."incident_date", 1').df()


def group_columns(con, table: str) -> list[str]:
    """Text columns of a customer table that can group customers (segment first; not ids, names, emails)."""
    names = [name for name, sql_type in table_columns(con, table)
             if sql_type == "VARCHAR" and name not in ("_row", "customer_id", "customer_name", "email")]
    return sorted(names, key=lambda n: n != "segment")


def segment_choices(con, table: str, labels: dict[str, str] | None = None,
                    min_n: int = 30) -> list[segments.SegmentColumn]:
    """The `group_columns` a breakdown can use, however many values (a customer file over a hundred
    industries or countries): lib.segments.segment_columns, so a column different on every customer
    (a company name in a one-row-per-customer file) or blank throughout is not offered. `labels`
    maps table column → file column name; "segment" stays first."""
    labels = labels or {}
    return segments.segment_columns(con, table, {c: labels.get(c, c) for c in group_columns(con, table)}, min_n)


SEGMENT_COUNTS = ["value", "customers_in_file", "active_customers", "lost_customers", "lost_value"]


def top_segments(frame: pd.DataFrame, max_groups: int = 20, search: str = "") -> pd.DataFrame:
    """The `max_groups` groups of a `value_by_segment` frame worth most (value paying on the as-of
    date, then name), after keeping only names containing `search`, and one "Other (k groups)" row
    summing the rest (lib.segments.top_groups), so customers, value and lost value still add up.
    share_of_value = value ÷ Σ value over all rows; value_per_customer = value ÷ active_customers,
    worked out again from the sums on the Other row.

    >>> f = pd.DataFrame({"segment": ["A", "B", "C"], "value": [300.0, 100.0, 50.0], "customers_in_file": [3, 2, 1],
    ...                   "active_customers": [3, 1, 1], "lost_customers": [0, 1, 0], "lost_value": [0.0, 20.0, 0.0]})
    >>> top_segments(f, 1)[["segment", "value", "active_customers", "value_per_customer"]].values.tolist()
    [['A', 300.0, 3, 100.0], ['Other (2 groups)', 150.0, 2, 75.0]]
    """
    out = segments.top_groups(frame, "segment", SEGMENT_COUNTS, max_groups, search)
    total = out["value"].sum()
    out["share_of_value"] = out["value"] / total if total else math.nan
    out["value_per_customer"] = [v / a if a else math.nan for v, a in zip(out["value"], out["active_customers"])]
    return out[list(dict.fromkeys([*frame.columns, "share_of_value", "value_per_customer", "groups", "other"]))]


# Display names for the per-period table (the page and the Excel export say the same words).
PERIOD_TABLE_COLUMNS = {
    "label": "Period", "new_customers": "New customers", "returning_customers": "of which returning",
    "lost_customers": "Lost customers", "net_customers": "Net customers", "new_value": "New value",
    "lost_value": "Lost value", "net_value": "Net value", "expansion_value": "Expansion",
    "contraction_value": "Contraction", "customers_end": "Customers at end", "value_end": "Value at end",
    "grr": "GRR", "nrr": "NRR", "incomplete": "Period not complete",
}


def period_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The per-period frame with display names, newest first, money rounded to cents."""
    out = frame[list(PERIOD_TABLE_COLUMNS)].rename(columns=PERIOD_TABLE_COLUMNS)
    money = ["New value", "Lost value", "Net value", "Expansion", "Contraction", "Value at end"]
    out[money] = out[money].astype(float).round(2)
    return out.iloc[::-1].reset_index(drop=True)


# ---------------------------------------------------------------------------- flags and tables

def _default_basis(ws, con) -> Basis | None:
    """Subscriptions when loaded, else a value history (stops read by `default_gaps`)."""
    dataset = ws.get("subscriptions")
    if dataset is None:
        dataset = ws.get("value_history")
        if dataset is None:
            return None
        try:
            return make_basis(con, dataset, gaps=default_gaps(dataset.mapping))
        except BoundaryError:
            return None
    try:
        return make_basis(con, dataset)
    except BoundaryError:
        return None


def _p(p_value: float) -> str:
    return "p<0.001" if p_value < 0.001 else f"p={p_value:.3f}"


def churn_tests(per: pd.DataFrame, alpha: float = 0.05, baseline_periods: int = 8,
                min_n: float = 30) -> pd.DataFrame:
    """Each complete period's customer churn rate against its trailing baseline, as one family.

    rate = lost_customers ÷ customers_start; baseline = Σ lost ÷ Σ customers_start over the up to
    `baseline_periods` complete periods before it (from the 4th complete period on, so a baseline
    holds at least 3). Tested when both the period and its baseline have at least `min_n`
    customers at start (`min_group_size`). `two_proportion_test` (Fisher's exact when a cell
    expects under 5) gives p; the family is every tested period: p_bh = Benjamini–Hochberg
    adjusted, p_bonferroni = Bonferroni adjusted (`stats.adjust_family`). flagged = the rate is above
    its baseline and p_bh < alpha; severity 'high' when p_bonferroni < alpha too, else 'medium'.
    Columns: period, label, lost, customers, rate, base_lost, base_customers, baseline, months,
    p_value, p_bh, p_bonferroni, flagged, severity.
    """
    complete = per[~per["incomplete"].astype(bool)].reset_index(drop=True)
    rows = []
    for i in range(3, len(complete)):
        row, base = complete.iloc[i], complete.iloc[max(0, i - baseline_periods):i]
        n, n_base = float(row["customers_start"]), float(base["customers_start"].sum())
        if n < min_n or n_base < min_n:
            continue
        lost, base_lost = float(row["lost_customers"]), float(base["lost_customers"].sum())
        test = two_proportion_test(lost, n, base_lost, n_base)
        rows.append({"period": row["period"], "label": row["label"], "lost": int(lost), "customers": int(n),
                     "rate": test.rate, "base_lost": int(base_lost), "base_customers": int(n_base),
                     "baseline": test.baseline, "months": len(base), "p_value": test.p_value})
    frame = pd.DataFrame(rows, columns=["period", "label", "lost", "customers", "rate", "base_lost",
                                        "base_customers", "baseline", "months", "p_value"])
    frame["p_bh"], frame["p_bonferroni"], frame["flagged"], frame["severity"] = adjust_family(
        frame["p_value"], frame["rate"] > frame["baseline"], alpha)
    frame["flagged"] = frame["flagged"].astype(bool)
    return frame


def trial_flag(trials: pd.Series | dict, threshold: float, min_n: float) -> Flag | None:
    """'Trials not converting' when the new-customer share is above `threshold` on at least `min_n`
    decided trials: 'medium' when its whole Wilson interval is above the threshold (enough trials to
    tell), else 'low'. Expansion trials are not in it."""
    t = dict(trials)
    share, decided = t["share_not_converted"], int(t["converted"] + t["not_converted"])
    if pd.isna(share) or share <= threshold or decided < min_n:
        return None
    sure = rate_clears_threshold(t["not_converted"], decided, threshold, "above")
    return Flag(AREA, "Trials not converting", "new-customer trials", float(share), threshold,
                f"threshold, n={decided:,} decided trials" + ("" if sure else "; the 95% interval still reaches it"),
                "medium" if sure else "low", questions_for(AREA, "Trials not converting"))


def area_flags(ws) -> list[Flag]:
    """NCVG red flags on the loaded subscriptions with default settings (largest currency, MRR):

    - Customer churn rate of a complete month above its trailing baseline, tested as one family
      over the months (`churn_tests`: Benjamini–Hochberg at `baseline_alpha`, 'high' only when
      Bonferroni-significant; months or baselines under `min_group_size` customers not tested);
    - Net customers / Net value of the latest complete month below `ncvg_net_customers_min` /
      `ncvg_net_value_min` ('low': one month's balance, not a test);
    - Share of new-customer trials not converting within the window above
      `ncvg_trial_nonconversion_max` (`trial_flag`);
    - Churn within `ncvg_incident_window_days` of an incident higher for affected customers than
      for those paying on the same days but not hit (Cochran–Mantel–Haenszel by incident day at
      `baseline_alpha`, one pre-set test; at least `min_group_size` customers hit in all).
    """
    con = ws.con.cursor()  # a cursor: the page's own run may still use ws.con
    b = _default_basis(ws, con)
    if b is None:
        return []
    th = ws.thresholds
    flags: list[Flag] = []
    per = ncvg_by_period(con, b, "month").frame
    alpha, min_n = th["baseline_alpha"], th["min_group_size"]
    tests = churn_tests(per, alpha, int(th["baseline_periods"]), min_n)
    family = len(tests)
    for row in tests[tests["flagged"]].itertuples(index=False):
        flags.append(Flag(AREA, "Customer churn rate", row.label, row.rate, row.baseline,
                          f"two-proportion test vs trailing {row.months} months, n={row.customers:,}, "
                          f"{_p(row.p_value)}; Benjamini–Hochberg over {family} months {_p(row.p_bh)}",
                          row.severity, questions_for(AREA, "Customer churn rate"), row.period, "ratio"))
    complete = per[~per["incomplete"]]
    if len(complete):
        last = complete.iloc[-1]
        if last["net_customers"] < th["ncvg_net_customers_min"]:
            flags.append(Flag(AREA, "Net customers", last["label"], float(last["net_customers"]),
                              th["ncvg_net_customers_min"], "threshold (one month's balance)", "low",
                              questions_for(AREA, "Net customers"), last["period"], "count"))
        if b.has_value and last["net_value"] < th["ncvg_net_value_min"]:
            flags.append(Flag(AREA, f"Net value ({b.value_label}, {b.currency or 'one currency'})", last["label"],
                              float(last["net_value"]), th["ncvg_net_value_min"], "threshold (one month's balance)",
                              "low", questions_for(AREA, "Net value"), last["period"], "money"))
    if b.source != "subscriptions":
        return flags
    trials = trial_conversion(con, b, window_days=th["ncvg_trial_conversion_window_days"],
                              default_trial_days=th["ncvg_default_trial_days"]).frame.iloc[0]
    flag = trial_flag(trials, th["ncvg_trial_nonconversion_max"], min_n)
    if flag is not None:
        flags.append(flag)
    incidents = ws.get("incidents")
    if incidents is not None:
        result = incident_churn(con, b, incidents.table, th["ncvg_incident_window_days"]).frame
        if not result.empty:
            pooled = result.iloc[-1]
            if (pooled["affected"] >= min_n and pd.notna(pooled["p_value"]) and pooled["p_value"] < alpha
                    and pooled["odds_ratio"] > 1):
                flags.append(Flag(AREA, "Churn after an incident", "customers hit by an incident",
                                  float(pooled["affected_share"]), float(pooled["unaffected_share"]),
                                  f"Cochran–Mantel–Haenszel by incident day vs customers paying the same days, "
                                  f"n={int(pooled['affected']):,} hit, odds ratio {pooled['odds_ratio']:.2f}, "
                                  f"{_p(pooled['p_value'])}", "high" if pooled["p_value"] < alpha / 10 else "medium",
                                  questions_for(AREA, "Churn after an incident")))
    return flags


def area_tables(ws) -> dict[str, pd.DataFrame]:
    """The NCVG tables for the Excel export (default settings: largest currency, MRR, monthly)."""
    con = ws.con.cursor()  # a cursor: the page's own run may still use ws.con
    b = _default_basis(ws, con)
    if b is None:
        customers = ws.get("customers")
        if customers is None:
            return {}
        return {"NCVG customers by month": customers_by_period(con, customers.table,
                                                               frozenset(customers.mapping)).frame}
    suffix = f" ({b.currency})" if b.currency else ""
    if b.source != "subscriptions":
        return {f"NCVG by month, value history{suffix}": period_table(ncvg_by_period(con, b, "month").frame)}
    tables = {
        f"NCVG by month{suffix}": period_table(ncvg_by_period(con, b, "month").frame),
        f"NCVG plan moves{suffix}": plan_moves(con, b).frame,
        f"NCVG value by plan{suffix}": value_by_plan(con, b).frame,
        f"NCVG trials{suffix}": trial_conversion(con, b, window_days=ws.thresholds["ncvg_trial_conversion_window_days"],
                                                 default_trial_days=ws.thresholds["ncvg_default_trial_days"]).frame,
        f"NCVG renewals{suffix}": renewals(con, b, ws.thresholds["ncvg_renewal_grace_days"]).frame,
    }
    customers = ws.get("customers")
    if customers is not None and "segment" in customers.mapping:
        tables[f"NCVG value by segment{suffix}"] = value_by_segment(con, b, customers.table).frame
    incidents = ws.get("incidents")
    if incidents is not None:
        tables[f"NCVG incident churn{suffix}"] = incident_churn(
            con, b, incidents.table, ws.thresholds["ncvg_incident_window_days"]).frame
    return tables
