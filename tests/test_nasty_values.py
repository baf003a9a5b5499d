"""Nasty variants of the real exports (issue 18): each page shows its figures or a plain message,
never a traceback, and says which cells it read as "no date" or could not read.

The variants are made here from ../shared/data/real (the originals stay there): 9999-12-31 end
dates in RavenStack subscriptions (NCVG), infinities and impossible counts in Mailchimp's campaign
report (Email), RavenStack subscriptions re-exported as camelCase order lines with Excel serial
dates (Cohorts), and Olist's leads with first contacts timed to the millisecond and nanosecond beside
"no date" markers (Funnel).
"""

from __future__ import annotations

import csv
import io

import pandas as pd
import pytest

from tests.apptest import fresh_app
from tests.conftest import real_file


def _rows(name: str, encoding: str = "utf-8") -> list[list[str]]:
    with real_file(name).open(encoding=encoding, newline="") as fh:
        return list(csv.reader(fh))


def _csv(rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue().encode()


def _upload(page: str, key: str, name: str, data: bytes):
    at = fresh_app()
    at.switch_page(page).run()
    at.file_uploader(key=f"upload_{key}").set_value((name, data, "text/csv")).run()
    assert not at.exception, at.exception
    return at


def _sentinel_subscriptions() -> tuple[bytes, int]:
    """RavenStack subscriptions with every blank end date (an active subscription) written as
    9999-12-31, the "no end" marker of billing and ERP exports."""
    rows = _rows("ravenstack_subscriptions.csv")
    end = rows[0].index("end_date")
    n = 0
    for row in rows[1:]:
        if row[end] == "":
            row[end] = "9999-12-31" if n % 2 else "9999-12-31 23:59:59"
            n += 1
    return _csv(rows), n


def test_no_end_dates_are_read_as_active_on_ncvg(ws):
    data, n = _sentinel_subscriptions()
    assert n == 4514  # SOURCE.md: 4,514 blank end dates
    sentinel = ws.load("subs_9999.csv", data, kinds=["subscriptions"])
    assert not sentinel.bad_values
    ends = ws.con.execute("SELECT count(*) FILTER (WHERE end_date IS NULL), max(end_date) FROM subscriptions").fetchone()
    assert ends[0] == 4514 and ends[1] < pd.Timestamp("2100-01-01")
    assert any("end_date (End / cancel date): 4,514 cells held 9999-12-31 / 9999-12-31 23:59:59" in note
               for note in sentinel.notes)


def test_ncvg_page_with_no_end_dates_matches_the_blank_file():
    data, _ = _sentinel_subscriptions()
    at = _upload("app_pages/ncvg.py", "ncvg", "subs_9999.csv", data)
    tiles = {m.label: m.value for m in at.metric}
    assert any("4,514 cells held 9999-12-31" in c.value and "read as no date" in c.value for c in at.caption)
    same = _upload("app_pages/ncvg.py", "ncvg", "subs.csv", real_file("ravenstack_subscriptions.csv").read_bytes())
    assert tiles == {m.label: m.value for m in same.metric}  # a marker is read exactly as a blank
    assert not at.error


def _nasty_mailchimp() -> bytes:
    """Mailchimp's report with unreadable counts (inf, 1e400, NaN) and impossible ones."""
    rows = _rows("mailchimp_campaigns_mydomino.csv", "cp1252")
    h = rows[0]
    col = {name: h.index(name) for name in h}
    rows[1][col["Unique_Opens"]] = "inf"
    rows[2][col["Unique_Clicks"]] = "1e400"
    rows[3][col["Unsubscribes"]] = "NaN"
    rows[4][col["Unique_Opens"]] = str(int(rows[4][col["Successful_Deliveries"]]) + 5)  # opens > delivered
    rows[5][col["Unsubscribes"]] = "-2"  # negative count
    rows[6][col["Unique_Clicks"]] = str(int(rows[6][col["Successful_Deliveries"]]) + 1)  # clicks > delivered
    rows[7][col["Unsubscribes"]] = str(int(rows[7][col["Successful_Deliveries"]]) + 1)  # unsubscribes > delivered
    return _csv(rows)


def test_email_page_counts_unreadable_and_impossible_counts():
    at = _upload("app_pages/email.py", "email", "mailchimp_nasty.csv", _nasty_mailchimp())
    warnings = [w.value for w in at.warning]
    # one line per column with unreadable cells, naming the file row
    assert any(w.startswith("Unique_Opens (Unique opens): 1 cell(s) not readable as whole numbers — rows 2;")
               for w in warnings), warnings
    # 1e400 is read as infinity by the CSV reader, so its example shows 'inf'
    assert any(w.startswith("Unique_Clicks (Unique clicks): 1 cell(s) not readable as whole numbers — rows 3;")
               for w in warnings), warnings
    # 'NaN' is a blank to the CSV reader (lib/ingest.py's null values): its row is left out and counted below
    # every row left out of the rates is counted with its reason
    left_out = next(w for w in warnings if w.startswith("Left out of every figure:"))
    for reason in ("unique opens blank or unreadable", "unique clicks blank or unreadable",
                   "unsubscribes blank or unreadable", "negative count", "unique opens more than delivered",
                   "unique clicks more than unique opens", "unsubscribes or complaints more than delivered"):
        assert f"1 row(s) — {reason}" in left_out, (reason, left_out)
    assert at.metric and not at.error


def _camel_order_lines() -> tuple[bytes, pd.DataFrame]:
    """RavenStack subscriptions re-exported as order lines: camelCase headers, start dates as Excel
    serial day numbers (a CSV saved from a sheet), half of them with a time of day."""
    rows = _rows("ravenstack_subscriptions.csv")
    h = rows[0]
    out = [["OrderID", "UserId", "OrderDate", "TotalCharges"]]
    for i, row in enumerate(rows[1:]):
        day = pd.Timestamp(row[h.index("start_date")])
        serial = (day - pd.Timestamp("1899-12-30")).days + (0.5 if i % 2 else 0)
        out.append([row[h.index("subscription_id")], row[h.index("account_id")], f"{serial:g}",
                    row[h.index("mrr_amount")]])
    frame = pd.DataFrame(rows[1:], columns=h)
    return _csv(out), frame


def test_cohorts_reads_camel_case_order_lines_with_excel_dates():
    data, source = _camel_order_lines()
    at = _upload("app_pages/cohorts.py", "cohorts", "orders.csv", data)
    assert not at.error, [e.value for e in at.error]
    ws = at.session_state["workspace"]
    dataset = ws.get("activity")
    assert dataset.mapping == {"user_id": "UserId", "event_time": "OrderDate", "revenue": "TotalCharges",
                               "order_id": "OrderID"}
    assert not dataset.bad_values
    assert any("OrderDate (Event time): 5,000 number(s) read as Excel day numbers" in n for n in dataset.notes)
    first = ws.con.execute("SELECT min(event_time)::DATE, max(event_time)::DATE FROM activity").fetchone()
    starts = pd.to_datetime(source["start_date"])
    assert (pd.Timestamp(first[0]), pd.Timestamp(first[1])) == (starts.min(), starts.max())
    tiles = {m.label: m.value for m in at.metric}
    assert tiles["Users"] == f"{source['account_id'].nunique():,}"


def _subsecond_leads() -> tuple[bytes, int]:
    """Olist's marketing-qualified leads with each first contact timed to the millisecond (a CRM's API
    export) or the nanosecond, and every 500th written as the 9999-12-31 23:59:59.999 "no date" marker:
    pandas parses such a column to nanoseconds, which cannot hold year 9999 (it raised OutOfBoundsDatetime)."""
    rows = _rows("olist_marketing_qualified_leads_dataset.csv")
    when = rows[0].index("first_contact_date")
    markers = 0
    for i, row in enumerate(rows[1:]):
        if i % 500 == 0:
            row[when] = "9999-12-31 23:59:59.999"
            markers += 1
        else:
            row[when] += " 10:15:00.250" if i % 2 else " 10:15:00.123456789"
    return _csv(rows), markers


def test_funnel_reads_leads_timed_to_the_nanosecond_beside_no_date_markers():
    data, markers = _subsecond_leads()
    at = _upload("app_pages/funnel.py", "funnel", "mql_subsecond.csv", data)
    assert not at.error, [e.value for e in at.error]
    dataset = at.session_state["workspace"].get("leads")
    assert not dataset.bad_values
    assert any(f"{markers} cells held 9999-12-31 23:59:59, a common “no date” marker" in n for n in dataset.notes)
    con = at.session_state["workspace"].con
    blank, first = con.execute("SELECT count(*) FILTER (WHERE created_date IS NULL), min(created_date) "
                               "FROM leads").fetchone()
    assert blank == markers and first == pd.Timestamp("2017-06-14 10:15:00.123456")  # to the microsecond DuckDB keeps
