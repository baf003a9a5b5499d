"""The email page's own work on a filter click (session 8, issue #20, helper "page8"), against the forms it
replaced, kept below verbatim as the reference: the band of the own-history chart (`baseline_limits`), the
frequency/unsubscribe correlation, the open-rate slopes, the lists behind declines, the tables' display frames
(`for_display`, `campaign_display`, `ui.email_sections.display`) and the issue-22 sections' tables (send time,
A/B tests, breaks in sending), on both sample files, the real Mailchimp export and nasty variants of the
campaign file (blank and zero counts, one send, one list, no topic column), every grain and several selections.
Frames are compared exactly (values, dtypes, index): the old forms are deterministic and so are the new."""

import io
import math

import numpy as np
import pandas as pd
import pytest

from lib import stats
from lib.metrics import email as em
from lib.metrics import email_rows
from lib.metrics.email import (RATE_BY_KEY, VARIANT_LABEL, VARIANT_SUFFIX, EmailData, Filters, newcombe_interval,
                               variant_column)
from lib.result import MetricResult
from lib.sql import quote_ident
from lib.periods import period_end, period_start
from tests.conftest import REAL
from ui import email_sections as es  # outside Streamlit its memoised functions simply run


# ------------------------------------------------------------------ the replaced forms, verbatim

def old_baseline_limits(tests: pd.DataFrame, key: str, alpha: float) -> pd.DataFrame:
    part = tests[tests["key"] == key].copy()
    tested = part[part["p_value"].notna()]
    k = int((tested["p_adjusted"] < alpha).sum())
    z = em._z_of_upper_p(max(k, 1) * alpha / max(len(tested), 1))
    lows, highs, status = [], [], []
    for rec in part.to_dict("records"):
        if rec["baseline"] is None or pd.isna(rec["baseline"]):
            lows.append(math.nan), highs.append(math.nan), status.append("no history")
            continue
        half = z * rec["se_test"]
        lows.append(max(0.0, rec["baseline"] - half)), highs.append(min(1.0, rec["baseline"] + half))
        good_side = rec["rate"] < rec["baseline"] - half if rec["direction"] == "above" \
            else rec["rate"] > rec["baseline"] + half
        status.append("worse" if rec["worse"] else "better" if good_side else "within noise")
    part["low"], part["high"], part["status"] = lows, highs, status
    return part


def _on_calendar(frame: pd.DataFrame, grain: str) -> pd.DataFrame:
    if frame.empty:
        return frame
    periods, cur = [], pd.Timestamp(frame["period"].min())
    while cur <= frame["period"].max():
        periods.append(cur)
        cur = period_end(cur, grain)
    return frame.set_index("period").reindex(pd.DatetimeIndex(periods, name="period")).reset_index()


def old_frequency_vs_unsubscribes(periods: pd.DataFrame, grain: str = "month") -> stats.TrendAwareCorrelation:
    if "unsubscribe_rate" not in periods or periods.empty:
        return stats.correlation_with_changes([], [])
    use = periods[~periods["incomplete"].astype(bool)] if "incomplete" in periods else periods
    use = _on_calendar(use[["period", "emails_per_recipient_week", "unsubscribe_rate"]], grain)
    if use.empty:
        return stats.correlation_with_changes([], [])
    return stats.correlation_with_changes(use["emails_per_recipient_week"].astype(float).tolist(),
                                          use["unsubscribe_rate"].astype(float).tolist())


def old_open_rate_trends(mix: pd.DataFrame, grain: str) -> dict[str, stats.TrendSlope]:
    use = mix.dropna(subset=["open_rate"])
    if use.empty:
        nan = stats.trend_slope([], [])
        return {"actual": nan, "expected": nan, "within": nan}
    first = use["period"].min()
    if grain in ("month", "quarter", "year"):  # calendar months differ in days: count months
        months = (use["period"].dt.year - first.year) * 12 + (use["period"].dt.month - first.month)
        x = (months / {"month": 1, "quarter": 3, "year": 12}[grain]).tolist()
    else:
        x = ((use["period"] - first).dt.days / (7 if grain == "week" else 1)).tolist()
    return {"actual": stats.trend_slope(x, use["open_rate"].tolist()),
            "expected": stats.trend_slope(x, use["expected_open_rate"].tolist()),
            "within": stats.trend_slope(x, (use["open_rate"] - use["expected_open_rate"]).tolist())}


def old_lists_behind_declines(growth: pd.DataFrame, declined: list[pd.Timestamp], grain: str,
                              lookback: int = 1) -> pd.DataFrame:
    rows = []
    new = growth[growth["is_new"]]
    for period in sorted(set(pd.to_datetime(declined))):
        earliest = period
        for _ in range(lookback):
            earliest = period_start(earliest - pd.Timedelta(days=1), grain)
        hit = new[(new["period"] >= earliest) & (new["period"] <= period)]
        for rec in hit.to_dict("records"):
            rows.append({"declined_period": period, "new_list": rec["list_name"],
                         "first_sent": rec["period"], "recipients": rec["recipients"],
                         "open_rate": rec["open_rate"], "unsubscribe_rate": rec["unsubscribe_rate"]})
    return pd.DataFrame(rows, columns=["declined_period", "new_list", "first_sent", "recipients",
                                       "open_rate", "unsubscribe_rate"])


def old_campaign_display(campaigns: pd.DataFrame) -> pd.DataFrame:
    names = {"send_date": "Sent", "campaign": "Campaign", "topic": "Topic", "list_name": "List",
             "sent": "Sent to", "delivered": "Delivered", "opens": "Unique opens", "clicks": "Unique clicks",
             "unsubscribes": "Unsubscribes", "complaints": "Spam complaints",
             **{r.key: r.label for r in em.RATES + em.HUMAN_RATES},
             "vendor_open_rate": "Vendor open rate", "vendor_click_rate": "Vendor click rate",
             "vendor_note": "Vendor vs counts", "scanner_clicks": "Scanner-like clicks", "_row": "File row"}
    keep = [c for c in names if c in campaigns and campaigns[c].notna().any()]
    return campaigns[keep].rename(columns=names)


def old_for_display(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            values = out[col].dropna()
            if len(values) and (values == values.dt.normalize()).all():
                out[col] = out[col].dt.date
    return out


def old_display(frame, columns=None, rename=None, how=None, only=None):
    if how == "history":
        frame = em.history_display(frame)
    elif how == "campaigns":
        frame = old_campaign_display(frame)
    if only is not None:
        frame = frame[frame[only]]
    if columns is not None:
        frame = frame[list(columns)]
    if rename:
        frame = frame.rename(columns=rename)
    return old_for_display(frame)


def old_gaps_table(gaps: pd.DataFrame) -> pd.DataFrame:  # ui.email_sections.consistency_section's
    return (gaps.assign(last_send=gaps["last_send"].dt.date, resumed=gaps["resumed"].dt.date)
            .rename(columns={"last_send": "Last send before", "resumed": "Sending resumed",
                             "gap_days": "Days between", "usual_gap_days": "Usual interval (days)",
                             "times_usual": "× usual", "sends_after": "Sends in the week after",
                             "usual_per_week": "Usual sends a week", "burst": "Burst after"}))


def old_ab_table(ab: pd.DataFrame) -> pd.DataFrame:  # ui.email_sections.ab_section's
    view = ab.assign(sent=ab["sent"].dt.strftime("%Y-%m-%d %H:%M"), difference_pp=ab["difference"] * 100,
                     interval_pp=[f"{lo * 100:+.2f} to {hi * 100:+.2f}" for lo, hi in
                                  zip(ab["difference_low"], ab["difference_high"])])
    cols = {"sent": "Sent", "test": "A/B test", "differs": "Variants differ in", "winner": "Winner",
            "winner_rate": "Winner's rate", "runner_up_rate": "Runner-up's rate", "difference_pp": "Difference (pp)",
            "interval_pp": "95% interval (pp)", "p_value": "p", "p_adjusted": "p (BH)",
            "significant": "Winner beyond chance", "method": "Test", "winner_subject": "Winner's subject",
            "runner_up": "Runner-up", "runner_up_subject": "Runner-up's subject", "winner_n": "Winner n",
            "runner_up_n": "Runner-up n"}
    return view[list(cols)].rename(columns=cols)


def old_ab_tests(con, data: EmailData, filters: Filters, key: str = "open_rate", alpha: float = 0.05,
             rows: pd.DataFrame | None = None) -> MetricResult:
    """One row per A/B test: the variants of one send ("Promo | Combo 1", "Promo | Combo 2": same
    list, topic and day, names equal once the trailing ' | …' is cut) compared on the `key` rate.
    A file with a variant column (`variant_column`) names the variants there instead: rows of one
    campaign, list, topic and day with different variants are one test.

    Each variant's rate = its numerator ÷ denominator (open rate: unique opens ÷ delivered). The
    winner is the variant with the higher rate (lower for unsubscribe and spam rates), compared with
    the runner-up: difference = winner − runner-up in rate (percentage points ÷ 100), its 95 %
    Newcombe interval, and the two-sided two-proportion test (`lib.stats.two_proportion_test`:
    pooled z, Fisher's exact when a cell expects under 5). `p_adjusted`: Benjamini–Hochberg over the
    tests in the table; `significant` when it is under `alpha`. `differs` says what differed
    between the two: subject, send time, both, or neither (content or sender, not in the file).
    `rows`: `base_rows(con, data)`, to read the variants without a query (as `sends`) when the file has
    no variant column.
    """
    rate = RATE_BY_KEY[key]
    cte, params = data.cte()
    where, wp = filters.where()
    column = variant_column(con, data)
    own = (f"NULLIF(trim(CAST((SELECT t.{quote_ident(column)} FROM {quote_ident(data.table)} AS t "
           "WHERE t._row = base._row) AS VARCHAR)), '')") if column else "CAST(NULL AS VARCHAR)"
    sql = f"""{cte},
variants AS (
    SELECT _row, campaign, regexp_replace(campaign, ?, '') AS test,
           COALESCE({own}, regexp_extract(campaign, ?, 1)) AS variant,
           send_date, subject, topic, list_name, ({rate.numerator}) AS x, ({rate.denominator}) AS n
    FROM base WHERE {where} AND ({own} IS NOT NULL OR regexp_matches(campaign, ?))
)
SELECT * FROM variants ORDER BY send_date, test, variant, _row"""
    all_params = params + [VARIANT_SUFFIX, VARIANT_LABEL] + wp + [VARIANT_SUFFIX]
    rows = (email_rows.ab_rows(rows, filters, rate) if rows is not None and column is None
            else con.execute(sql, all_params).df())
    cols = ["sent", "test", "list_name", "topic", "differs", "winner", "winner_subject", "winner_x", "winner_n",
            "winner_rate", "runner_up", "runner_up_subject", "runner_up_x", "runner_up_n", "runner_up_rate",
            "difference", "difference_low", "difference_high", "method", "p_value", "p_adjusted", "significant",
            "variants"]
    out = []
    rows = rows[rows["n"].fillna(0) > 0]
    for (_, _, _, _), part in rows.groupby(["test", "topic", "list_name", rows["send_date"].dt.date], sort=False):
        if len(part) < 2:
            continue
        part = part.assign(rate=part["x"] / part["n"]).sort_values("rate", ascending=rate.direction == "above",
                                                                   kind="stable")
        win, run = part.iloc[0], part.iloc[1]
        test = stats.two_proportion_test(float(win.x), float(win.n), float(run.x), float(run.n))
        low, high = newcombe_interval(float(win.x), float(win.n), float(run.x), float(run.n))
        expected = (win.x + run.x) / (win.n + run.n)
        small = min(win.n * expected, win.n * (1 - expected), run.n * expected, run.n * (1 - expected)) < 5
        subj = (win.subject or "") != (run.subject or "")
        time = pd.Timestamp(win.send_date) != pd.Timestamp(run.send_date)
        out.append({"sent": pd.Timestamp(part["send_date"].min()), "test": win.test, "list_name": win.list_name,
                    "topic": win.topic,
                    "differs": "subject and send time" if subj and time else "subject" if subj
                    else "send time" if time else "neither subject nor time (content?)",
                    "winner": win.variant, "winner_subject": win.subject, "winner_x": int(win.x),
                    "winner_n": int(win.n), "winner_rate": float(win.rate), "runner_up": run.variant,
                    "runner_up_subject": run.subject, "runner_up_x": int(run.x), "runner_up_n": int(run.n),
                    "runner_up_rate": float(run.rate), "difference": float(win.rate - run.rate),
                    "difference_low": low, "difference_high": high,
                    "method": "Fisher's exact" if small else "two-proportion z",
                    "p_value": test.p_value, "variants": len(part)})
    frame = pd.DataFrame(out, columns=cols)
    if len(frame):
        frame["p_adjusted"] = stats.adjust_p_values(frame["p_value"].tolist())
        frame["significant"] = frame["p_adjusted"] < alpha
    return MetricResult(frame, sql, all_params, dict(data.excluded))


SEND_TIME_NAMES = {"x": "Numerator", "n": "Denominator (n)", "low": "95% low", "high": "95% high"}

# ------------------------------------------------------------------ the files


def _nasty_variants() -> dict[str, bytes]:
    """The sample campaign file made awkward: blank and zero counts, one send, one list, no topic column."""
    from lib.sample import SAMPLE_DIR

    base = pd.read_csv(SAMPLE_DIR / "email_campaigns.csv", dtype=str, keep_default_na=False)
    blank = base.copy()
    blank.loc[::3, ["Unique Opens", "Open Rate"]] = ""  # blank rates and counts on every third send
    blank.loc[1::5, ["Successful Deliveries", "Unique Opens", "Unique Clicks", "Unsubscribes"]] = "0"  # zero denominators
    blank.loc[2::7, ["Unsubscribes", "Abuse Complaints"]] = ""
    one_list = base.assign(List="Everyone")
    no_topic = base.drop(columns=["Topic"])
    out = {"blank_and_zero.csv": blank, "one_send.csv": base.iloc[[4]], "one_list.csv": one_list,
           "no_topic.csv": no_topic, "two_sends.csv": base.iloc[[0, 40]]}
    return {name: frame.to_csv(index=False).encode() for name, frame in out.items()}


@pytest.fixture(scope="module")
def files(sample_ws):
    """(name, connection, EmailData, thresholds) of every file compared; the workspaces are closed after."""
    from lib.datasets import Workspace

    out = [(kind, sample_ws.con, em.email_data(sample_ws.con, sample_ws.get(kind).table), sample_ws.thresholds)
           for kind in em.KINDS]
    opened = []
    sources = dict(_nasty_variants())
    real = REAL / "mailchimp_campaigns_mydomino.csv"
    if real.exists():
        sources[real.name] = real.read_bytes()
    elif __import__("os").environ.get("CI", "").lower() == "true":
        pytest.fail(f"real export {real} is missing")
    for name, content in sources.items():
        ws = Workspace()
        opened.append(ws)
        ws.load(name, content, kinds=["email_campaigns"])
        data = em.email_data(ws.con, ws.get("email_campaigns").table)
        if data.first_send is not None:
            out.append((name, ws.con, data, ws.thresholds))
    yield out
    for ws in opened:
        ws.close()


def test_the_real_export_is_compared(files):
    if not (REAL / "mailchimp_campaigns_mydomino.csv").exists():
        pytest.skip("real export ../shared/data/real/mailchimp_campaigns_mydomino.csv is missing (skipped outside CI)")
    assert "mailchimp_campaigns_mydomino.csv" in [name for name, *_ in files]


def selections(con, data) -> list:
    start, end = em.period_range(data.first_send, data.last_send)
    lists = em.choices(con, data, "list_name")
    topics = em.choices(con, data, "topic") if data.has("topic") else []
    out = [em.Filters(start, end), em.Filters(start + (end - start) / 2, end), em.Filters(start, end, tuple(lists[:1]))]
    if topics:
        out.append(em.Filters(start, end, (), tuple(topics[:1])))
    return out


@pytest.fixture(scope="module")
def states(files):
    """Every file × selection × grain the page could show, with its `figures` (sends in the selection only)."""
    return list(_page_states(files))


def _page_states(files):
    for name, con, data, th in files:
        rows = em.base_rows(con, data)
        for f in selections(con, data):
            if not em.pooled_rates(con, data, f, rows=rows).frame.iloc[0]["sends"]:
                continue
            for grain in ("week", "month", "quarter"):
                yield f"{name} {f} {grain}", con, data, th, f, grain, rows, es.figures(con, data, f, grain, th, rows)


def same(new: pd.DataFrame, old: pd.DataFrame, what: str) -> None:
    pd.testing.assert_frame_equal(new, old, check_exact=True, obj=what)
    assert list(new.index) == list(old.index), what


def same_result(new, old, what: str) -> None:
    """Two dataclasses of floats (TrendSlope, Correlation…) equal field for field, NaN equal to NaN."""
    assert type(new) is type(old), what
    for f in new.__dataclass_fields__:
        a, b = getattr(new, f), getattr(old, f)
        if hasattr(a, "__dataclass_fields__"):
            same_result(a, b, f"{what}.{f}")
        else:
            assert a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b)), f"{what}.{f}: {a!r} != {old!r}"


# ------------------------------------------------------------------ the comparisons

def test_own_history_band_equals_the_record_by_record_form(states):
    compared = worse = better = 0
    for what, con, data, th, f, grain, rows, fig in states:
        tests = fig["period_tests"].frame
        for key in {r.key for r in data.usable_rates()} | {"no such rate"}:
            for alpha in (0.05, 0.3):
                new, old = em.baseline_limits(tests, key, alpha), old_baseline_limits(tests, key, alpha)
                same(new, old, f"limits {what} {key} {alpha}")
                compared += len(new)
                worse, better = worse + (new["status"] == "worse").sum(), better + (new["status"] == "better").sum()
            same(es.display(new, how="history"), old_display(old, how="history"), f"history table {what} {key}")
    assert compared > 5000 and worse > 0 and better > 0


def test_the_band_of_hand_made_tests():
    """NaN standard errors (band 0–1), a baseline near 0 and 1 (clamped), both directions, an empty frame."""
    tests = pd.DataFrame({
        "key": ["open_rate"] * 5 + ["spam_rate"] * 2,
        "direction": ["below"] * 5 + ["above"] * 2,
        "rate": [0.2, 0.5, 0.01, 0.99, 0.3, 0.0, 0.9],
        "baseline": [0.3, np.nan, 0.001, 0.999, 0.3, 0.5, 0.1],
        "se_test": [0.01, 0.02, 0.05, 0.05, np.nan, 0.01, 0.01],
        "p_value": [0.001, np.nan, 0.4, 0.6, np.nan, 0.99, 0.0001],
        "p_adjusted": [0.003, np.nan, 0.5, 0.6, np.nan, 0.99, 0.0002],
        "worse": [True, False, False, False, False, False, True]})
    for key in ("open_rate", "spam_rate", "ctor"):
        same(em.baseline_limits(tests, key, 0.05), old_baseline_limits(tests, key, 0.05), key)
    band = em.baseline_limits(tests, "open_rate", 0.05)
    # 1 of 3 tested called worse: z = Φ⁻¹(1 − 1·0.05/3) = 2.128; 0.3 − 2.128·0.01 = 0.2787: 0.2 is below → worse
    assert band["status"].tolist() == ["worse", "no history", "within noise", "within noise", "within noise"]
    assert band["low"].iloc[0] == pytest.approx(0.3 - 2.1280 * 0.01, abs=1e-4)
    assert (band["low"].iloc[2], band["high"].iloc[3]) == (0.0, 1.0)  # clamped at 0 and 1
    assert (band["low"].iloc[4], band["high"].iloc[4]) == (0.0, 1.0)  # no standard error: the whole range
    spam = em.baseline_limits(tests, "spam_rate", 0.05)  # "above" is bad: 0.0 under 0.5 − z·0.01 is better
    assert spam["status"].tolist() == ["better", "worse"]


def test_correlation_and_slopes_equal_the_pandas_forms(states):
    compared = 0
    for what, con, data, th, f, grain, rows, fig in states:
        periods, mix = fig["periods"].frame, fig["mix"].frame
        same_result(em.frequency_vs_unsubscribes(periods, grain), old_frequency_vs_unsubscribes(periods, grain),
                    f"correlation {what}")
        # the page reads these from `figures`: the calls it made before
        same_result(fig["corr"], em.frequency_vs_unsubscribes(periods, grain), f"figures' correlation {what}")
        for k, slope in em.open_rate_trends(mix, grain).items():
            same_result(fig["slopes"][k], slope, f"figures' slope {k} {what}")
        assert fig["declined"] == em.declined_periods(fig["period_tests"].frame), what
        same(fig["behind"], em.lists_behind_declines(fig["growth"].frame, fig["declined"], grain), what)
        time_rows = em.send_time_rows(con, data, f, fig["sends"])
        same(fig["time_rows"].frame, time_rows.frame, what)
        assert (fig["time_rows"].sql, fig["time_rows"].params) == (time_rows.sql, time_rows.params), what
        if "incomplete" in periods:  # every period complete, and holes in the calendar
            for cut in (periods.assign(incomplete=False), periods.iloc[::2], periods.iloc[[0, -1]], periods.iloc[:0]):
                same_result(em.frequency_vs_unsubscribes(cut, grain), old_frequency_vs_unsubscribes(cut, grain),
                            f"correlation (cut) {what}")
        for cut in (mix, mix.iloc[::3], mix.assign(open_rate=mix["open_rate"].where(mix.index % 4 != 1)),
                    mix.iloc[:0]):
            new, old = em.open_rate_trends(cut, grain), old_open_rate_trends(cut, grain)
            assert list(new) == list(old)
            for k in new:
                same_result(new[k], old[k], f"slope {k} {what}")
        compared += 1
    assert compared > 60


def test_calendar_of_odd_periods_falls_back():
    """Periods that are not period starts (the 15th) or repeat are put on the calendar one at a time, as before."""
    periods = pd.DataFrame({"period": pd.to_datetime(["2025-01-15", "2025-03-15", "2025-04-15"]),
                            "emails_per_recipient_week": [1.0, 2.0, 4.0], "unsubscribe_rate": [0.01, 0.02, 0.05],
                            "incomplete": [False, False, False]})
    same_result(em.frequency_vs_unsubscribes(periods, "month"), old_frequency_vs_unsubscribes(periods, "month"), "15th")
    weekly = periods.assign(period=pd.to_datetime(["2025-01-06", "2025-01-20", "2025-02-03"]))  # Mondays, one skipped
    for grain in ("week", "day"):
        same_result(em.frequency_vs_unsubscribes(weekly, grain), old_frequency_vs_unsubscribes(weekly, grain), grain)
    with pytest.raises(ValueError):  # a repeated period: reindexing refuses it, as it did
        em.frequency_vs_unsubscribes(pd.concat([periods, periods.iloc[[0]]]), "month")


def test_lists_behind_declines_equal_the_filter_per_period(states):
    hits = 0
    for what, con, data, th, f, grain, rows, fig in states:
        growth, tests = fig["growth"].frame, fig["period_tests"].frame
        declined = em.declined_periods(tests)
        # the periods that declined, every period with a new list, and none
        for periods in (declined, sorted(set(growth.loc[growth["is_new"], "period"])), []):
            for lookback in (1, 0, 2):
                new = em.lists_behind_declines(growth, periods, grain, lookback)
                same(new, old_lists_behind_declines(growth, periods, grain, lookback), f"behind {what} {lookback}")
                hits += len(new)
    assert hits > 50


def test_tables_equal_the_old_display_frames(states):
    """Every table the page shows through `ui.email_sections.table`, and the issue-22 sections' tables."""
    compared = gaps = ab = 0
    for what, con, data, th, f, grain, rows, fig in states:
        tests = fig["campaign_tests"].frame
        cols = ["send_date", "subject", *(["topic"] if data.has("topic") else []), "metric", "x", "n", "rate",
                "baseline", "base_n", "sigma_z", "p_value", "p_adjusted"]
        ren = {"send_date": "Sent", "subject": "Campaign", "base_n": "baseline n", "sigma_z": "σz", "p_adjusted": "p (BH)"}
        same(es.display(tests, only="worse", columns=cols, rename=ren),
             old_display(tests, only="worse", columns=cols, rename=ren), f"worse {what}")
        same(es.display(tests, only="worse"), old_display(tests, only="worse"), f"worse, every column {what}")
        periods = fig["periods"].frame
        pcols = ["period_label", "sends", "sent", "delivered", "emails_per_recipient_week",
                 *[r.key for r in data.usable_rates()], "incomplete"]
        same(es.display(periods, columns=pcols), old_display(periods, columns=pcols), f"periods {what}")
        for frame in (periods, fig["changes"].frame, fig["growth"].frame, fig["mix"].frame, tests):
            same(es.display(frame), old_display(frame), f"plain {what}")
        if "groups" in fig:
            same(es.display(fig["groups"].frame), old_display(fig["groups"].frame), f"groups {what}")
        campaigns = fig["campaigns"].frame
        same(es.display(campaigns, how="campaigns"), old_display(campaigns, how="campaigns"), f"campaigns {what}")
        same(em.campaign_display(campaigns), old_campaign_display(campaigns), f"campaign_display {what}")
        gap = fig["gaps"]
        assert gap.frame.equals(em.sending_gaps(con, data, f, th["email_gap_multiple"], th["email_gap_min_days"],
                                                th["email_volume_jump"]).frame)
        if len(gap.frame):
            same(es.display(gap.frame, rename=dict(zip(gap.frame.columns, old_gaps_table(gap.frame).columns))),
                 old_gaps_table(gap.frame), f"gaps {what}")
            gaps += 1
        for key in ("open_rate", "click_rate", "ctor", "unsubscribe_rate"):
            result = em.ab_tests(con, data, f, key, th["baseline_alpha"], rows=rows).frame
            same(result, old_ab_tests(con, data, f, key, th["baseline_alpha"], rows=rows).frame, f"ab_tests {what} {key}")
            if len(result):
                same(es.ab_table(result), old_ab_table(result), f"A/B {what} {key}")
                ab += 1
        time_rows = em.send_time_rows(con, data, f, fig["sends"]).frame
        for by in ("weekday", "hour"):
            rates = em.send_time_rates(time_rows, by, "open_rate")
            same(es.display(rates, rename=SEND_TIME_NAMES), rates.rename(columns=SEND_TIME_NAMES), f"send time {what}")
        compared += 1
    assert compared > 60 and gaps > 5 and ab > 5


def test_for_display_keeps_times_and_turns_midnights_into_dates():
    frame = pd.DataFrame({"day": pd.to_datetime(["2026-01-01", None, "2026-01-03"]),
                          "at": pd.to_datetime(["2026-01-01 09:30", "2026-01-02 00:00", None]),
                          "blank": pd.to_datetime([None, None, None]), "n": [1, 2, 3],
                          "zoned": pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-03"]).tz_localize("UTC")})
    out = em.for_display(frame)
    same(out, old_for_display(frame), "mixed")
    assert out["day"].tolist()[0] == pd.Timestamp("2026-01-01").date() and out["at"].dtype == frame["at"].dtype
    assert frame["day"].dtype.kind == "M"  # the frame passed in is left as it was


def test_ab_tests_of_ties_blanks_and_three_variants():
    """Hand-made splits: tied rates (the first row wins), three variants, blank counts (rows left out), a
    blank topic, a lone half and a half with nothing delivered; both directions, from the frame and the query."""
    import duckdb

    rows = [  # campaign, send time, subject, topic, delivered, opens, unsubscribes
        ("Tie | A", "2026-03-02 09:00", "s1", "promo", 1000, 100, 5), ("Tie | B", "2026-03-02 10:00", "s2", "promo", 1000, 100, 5),
        ("Three | A", "2026-03-03 09:00", "s", "promo", 500, 50, 1), ("Three | B", "2026-03-03 09:00", "s", "promo", 500, 80, 9),
        ("Three | C", "2026-03-03 09:00", "t", "promo", 500, 65, 0),
        ("Blank | A", "2026-03-04 09:00", "s", "news", 400, None, 2), ("Blank | B", "2026-03-04 09:00", "s", "news", 400, 30, 3),
        ("Blank | C", "2026-03-04 09:00", "s", "news", 400, 20, None),
        ("NoTopic | A", "2026-03-05 09:00", "s", None, 300, 30, 1), ("NoTopic | B", "2026-03-05 09:00", "s", None, 300, 40, 2),
        ("Lone | A", "2026-03-06 09:00", "s", "promo", 300, 30, 1), ("Zero | A", "2026-03-07 09:00", "s", "promo", 0, 0, 0),
        ("Zero | B", "2026-03-07 09:00", "s", "promo", 200, 10, 1)]
    frame = pd.DataFrame(rows, columns=["campaign", "send_date", "subject", "topic", "delivered", "unique_opens",
                                        "unsubscribes"])
    frame.insert(0, "_row", range(2, len(frame) + 2))
    frame["send_date"], frame["list_name"], frame["unique_clicks"] = pd.to_datetime(frame["send_date"]), "All", 1
    con = duckdb.connect()
    con.register("_in", frame)
    con.execute('CREATE TABLE "email_campaigns" AS SELECT * FROM _in')
    data = em.email_data(con, "email_campaigns")
    base = em.base_rows(con, data)
    seen = set()
    for key in ("open_rate", "unsubscribe_rate"):
        for r in (base, None):
            new, old = em.ab_tests(con, data, em.Filters(), key, rows=r), old_ab_tests(con, data, em.Filters(), key, rows=r)
            same(new.frame, old.frame, f"{key} rows={r is not None}")
            assert (new.sql, new.params) == (old.sql, old.params)
            seen |= set(new.frame["test"])
    tie = em.ab_tests(con, data, em.Filters(), "open_rate").frame.set_index("test").loc["Tie"]
    assert (tie["winner"], tie["runner_up"]) == ("A", "B")  # 10 % each: the first row stays first
    three = em.ab_tests(con, data, em.Filters(), "unsubscribe_rate").frame.set_index("test").loc["Three"]
    assert (three["winner"], three["runner_up"], three["variants"]) == ("C", "A", 3)  # 0/500 beats 1/500
    # the row with a blank count is left out of every figure (data.excluded), so "Blank" is one pair or none
    assert {"Tie", "Three", "NoTopic"} <= seen and "Lone" not in seen and data.excluded
    con.close()
