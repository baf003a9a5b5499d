"""Email event logs (one row per recipient event) aggregated to the campaign shape.

An ESP event log (SendGrid, Mailchimp email activity, Klaviyo events…) has one row per recipient
event: sent / delivered / bounce / open / click / unsubscribe / spam. The email page works on one
row per campaign send, so this module turns the log into exactly that shape, counting *unique
recipients* per event type (the vendors' "unique opens", "unique clicks"):

- sent          = recipients with a sent, delivered or bounce event
- bounces       = recipients who bounced and were never delivered
- delivered     = recipients with a delivered event; when the log has no delivered events for
                  that campaign, sent − bounces
- unique_opens  = recipients with at least one open or click (a click implies an open, as vendors
                  count it); unique_clicks = recipients with at least one click
- unsubscribes  = recipients with an unsubscribe;      spam_complaints = … a spam report
- send_date     = the campaign's first sent/delivered event

Machine activity: a link scanner or privacy proxy opens and clicks within seconds of delivery, no
person does. A recipient whose *first* open (click, unsubscribe) comes no later than
`scanner_seconds` after their delivery (or send, when the log has no delivery events) is counted in
machine_opens (scanner_clicks, scanner_unsubscribes). Those counts stay inside the totals, as
vendors report them; the page shows the rates with and without them and flags the campaign.

Rows that cannot be used (unrecognised event type, blank recipient, campaign or time) are counted
by reason and left out.
"""

from __future__ import annotations

from lib.sql import quote_ident, values_cte

# Event names as vendors write them (lower case) → the canonical event. Data, not code: add a
# vendor's spelling here. SendGrid: processed/delivered/open/click/bounce/dropped/spamreport/
# unsubscribe/group_unsubscribe; Mailchimp activity: sent/open/click/bounce/unsub; Klaviyo metrics:
# Received Email/Opened Email/Clicked Email/Bounced Email/Unsubscribed/Marked Email as Spam.
EVENT_NAMES: dict[str, str] = {
    "sent": "sent", "send": "sent", "processed": "sent", "request": "sent", "requests": "sent",
    "delivered": "delivered", "delivery": "delivered", "received email": "delivered",
    "received": "delivered",
    "bounce": "bounce", "bounced": "bounce", "bounced email": "bounce", "hard_bounce": "bounce",
    "soft_bounce": "bounce", "hard bounce": "bounce", "soft bounce": "bounce", "dropped": "bounce",
    "dropped email": "bounce",
    "open": "open", "opened": "open", "opens": "open", "opened email": "open", "unique_open": "open",
    "click": "click", "clicked": "click", "clicks": "click", "clicked email": "click",
    "unsubscribe": "unsubscribe", "unsubscribed": "unsubscribe", "unsub": "unsubscribe",
    "group_unsubscribe": "unsubscribe", "opt out": "unsubscribe", "opt-out": "unsubscribe",
    "opted out": "unsubscribe", "unsubscribed from list": "unsubscribe",
    "spam": "spam", "spamreport": "spam", "spam report": "spam", "spam_report": "spam",
    "complaint": "spam", "abuse": "spam", "marked email as spam": "spam", "marked as spam": "spam",
}
CANONICAL_EVENTS = ("sent", "delivered", "bounce", "open", "click", "unsubscribe", "spam")


def canonical_event(name: str | None) -> str | None:
    """The canonical event for a vendor's event name, or None when not recognised.

    >>> canonical_event(' Opened Email '), canonical_event('spamreport'), canonical_event('deferred')
    ('open', 'spam', None)
    """
    if name is None:
        return None
    return EVENT_NAMES.get(str(name).strip().lower())


def events_campaign_sql(table: str, columns: set[str], scanner_seconds: float) -> tuple[str, list]:
    """SQL turning an event table into one row per campaign in the email_campaigns shape.

    Returns (sql, params). Columns out: _row (first file row of the campaign), campaign, send_date,
    subject (NULL), topic, list_name, sent, delivered, bounces, opens (unique), machine_opens,
    clicks (unique), scanner_clicks, unsubscribes, scanner_unsubscribes, complaints (spam),
    list_size (NULL), vendor_open_rate (NULL), vendor_click_rate (NULL).
    `columns` are the table's columns (topic, list_name are optional).
    """
    t = quote_ident(table)
    topic = "NULLIF(trim(e.topic), '')" if "topic" in columns else "CAST(NULL AS VARCHAR)"
    list_name = "NULLIF(trim(e.list_name), '')" if "list_name" in columns else "CAST(NULL AS VARCHAR)"
    names, name_params = values_cte("names", ["raw", "canon"], list(EVENT_NAMES.items()))
    sql = f"""
WITH {names}, ev AS (
    SELECT e._row, trim(e.recipient) AS recipient, e.event_time, trim(e.campaign) AS campaign,
           n.canon, {topic} AS topic, {list_name} AS list_name
    FROM {t} AS e JOIN names AS n ON lower(trim(e.event)) = n.raw
    WHERE NULLIF(trim(e.recipient), '') IS NOT NULL AND NULLIF(trim(e.campaign), '') IS NOT NULL
      AND e.event_time IS NOT NULL
), per_recipient AS (
    SELECT campaign, recipient, MIN(_row) AS _row, ANY_VALUE(topic) AS topic,
           ANY_VALUE(list_name) AS list_name,
           MIN(event_time) FILTER (WHERE canon = 'sent') AS sent_at,
           MIN(event_time) FILTER (WHERE canon = 'delivered') AS delivered_at,
           BOOL_OR(canon = 'bounce') AS bounced,
           -- a click implies the email was opened (images may be blocked), as vendors count it
           MIN(event_time) FILTER (WHERE canon IN ('open', 'click')) AS first_open,
           MIN(event_time) FILTER (WHERE canon = 'click') AS first_click,
           MIN(event_time) FILTER (WHERE canon = 'unsubscribe') AS first_unsub,
           BOOL_OR(canon = 'spam') AS complained
    FROM ev GROUP BY campaign, recipient
), timed AS (
    SELECT *, COALESCE(delivered_at, sent_at) AS reached_at FROM per_recipient
), per_campaign AS (
    SELECT campaign, MIN(_row) AS _row, ANY_VALUE(topic) AS topic, ANY_VALUE(list_name) AS list_name,
           MIN(COALESCE(sent_at, delivered_at)) AS send_date,
           COUNT(*) FILTER (WHERE sent_at IS NOT NULL OR delivered_at IS NOT NULL OR bounced) AS sent,
           COUNT(*) FILTER (WHERE bounced AND delivered_at IS NULL) AS bounces,
           COUNT(delivered_at) AS delivered_events,
           COUNT(first_open) AS opens,
           COUNT(*) FILTER (WHERE date_diff('second', reached_at, first_open) <= ?) AS machine_opens,
           COUNT(first_click) AS clicks,
           COUNT(*) FILTER (WHERE date_diff('second', reached_at, first_click) <= ?) AS scanner_clicks,
           COUNT(first_unsub) AS unsubscribes,
           COUNT(*) FILTER (WHERE date_diff('second', reached_at, first_unsub) <= ?) AS scanner_unsubscribes,
           COUNT(*) FILTER (WHERE complained) AS complaints
    FROM timed GROUP BY campaign
)
SELECT _row, campaign, send_date, CAST(NULL AS VARCHAR) AS subject, topic, list_name,
       sent, CASE WHEN delivered_events > 0 THEN delivered_events ELSE sent - bounces END AS delivered,
       bounces, opens, machine_opens, clicks, scanner_clicks, unsubscribes,
       scanner_unsubscribes, complaints, CAST(NULL AS BIGINT) AS list_size,
       CAST(NULL AS DOUBLE) AS vendor_open_rate, CAST(NULL AS DOUBLE) AS vendor_click_rate
FROM per_campaign"""
    seconds = float(scanner_seconds)
    return sql, [*name_params, seconds, seconds, seconds]


def events_excluded(con, table: str) -> dict[str, int]:
    """Rows of the event log left out, by reason (unrecognised event; blank recipient/campaign/time)."""
    t = quote_ident(table)
    row = con.execute(f"""
        SELECT COUNT(*) FILTER (WHERE NULLIF(trim(recipient), '') IS NULL),
               COUNT(*) FILTER (WHERE NULLIF(trim(recipient), '') IS NOT NULL
                                  AND NULLIF(trim(campaign), '') IS NULL),
               COUNT(*) FILTER (WHERE NULLIF(trim(recipient), '') IS NOT NULL
                                  AND NULLIF(trim(campaign), '') IS NOT NULL AND event_time IS NULL),
               COUNT(*) FILTER (WHERE NULLIF(trim(recipient), '') IS NOT NULL
                                  AND NULLIF(trim(campaign), '') IS NOT NULL AND event_time IS NOT NULL
                                  AND NOT list_contains(CAST(? AS VARCHAR[]), lower(trim(COALESCE(event, '')))))
        FROM {t}""", [list(EVENT_NAMES)]).fetchone()
    reasons = ("recipient blank", "campaign blank", "event time blank or unreadable",
               "event type not recognised")
    return {reason: int(n) for reason, n in zip(reasons, row) if n}


def unrecognised_events(con, table: str, limit: int = 5) -> list[str]:
    """The most common event names that were not recognised, to name them on the page."""
    t = quote_ident(table)
    rows = con.execute(f"""
        SELECT trim(event) AS event, COUNT(*) AS n FROM {t}
        WHERE NOT list_contains(CAST(? AS VARCHAR[]), lower(trim(COALESCE(event, ''))))
        GROUP BY 1 ORDER BY n DESC, event LIMIT ?""", [list(EVENT_NAMES), int(limit)]).fetchall()
    return [str(r[0]) for r in rows]
