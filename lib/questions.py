"""The questions to ask about each kind of red flag (SPEC.md), declared once.

Keys are (area, metric) with metric '*' as the area's fallback. Flags carry these so every page and
the report show the same questions. Each area's block belongs to that area's page.
"""

QUESTIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("email", "*"): (
        "How often do customers get email — did send frequency rise in this period?",
        "Which new lists or segments were added in the periods where metrics declined?",
        "Is it the topic? Compare this campaign's rate with others of the same topic.",
        "Did anything else change in the program (new topic, new segment, volume jump)?",
    ),
    ("email", "Delivery rate"): (
        "Were new or old addresses added (imported list, purchased list, re-engagement send)?",
        "Did a domain or authentication change (SPF, DKIM, DMARC) happen around this send?",
    ),
    ("email", "Unsubscribe rate"): (
        "Do unsubscribe spikes line up with higher send frequency in the same period?",
        "Was this audience expecting this topic?",
    ),
    ("email", "Spam complaint rate"): (
        "Did recipients opt in to this list, and recently enough to remember it?",
        "Mailbox providers reject bulk senders above 0.3%: is this list at risk?",
    ),
    ("email", "Open rate"): (
        "Is the decline explained by topic mix rather than fatigue?",
        "Opens after Sept 2021 are inflated by Apple Mail Privacy Protection: does click rate agree?",
    ),
    ("email", "Click-to-open rate"): (
        "Was the content relevant to the people who opened it?",
        "Is this topic's CTOR normally lower than others?",
    ),
    ("in_app", "*"): (
        "Which in-app campaigns ran, and how often did users see them?",
        "Has in-app frequency increased lately?",
        "What share of messages were marketing rather than product or service?",
        "Did in-product messaging change recently (new campaigns, new message types)?",
    ),
    ("nps", "*"): (
        "Did the dip line up with a customer-marketing campaign?",
        "Which segment drives the change, and is its sample large enough to read?",
        "What do detractors' comments say that promoters' don't?",
    ),
    ("ncvg", "*"): (
        "Which plans or segments lost the most value, and did they move down a tier first?",
        "Did churn rise after an incident or a campaign?",
        "Which trials did not convert, and what did they have in common?",
    ),
    ("funnel", "*"): (
        "Which stage loses the most leads, and did that change recently?",
        "Are leads from one campaign disqualifying more often or closing slower than normal?",
        "Is the MQL threshold set where conversion actually changes?",
    ),
    ("cohorts", "*"): (
        "Which cohorts retained worse, and what was different about their onboarding?",
        "Do users who attended onboarding education retain better?",
        "Is the last period incomplete rather than a real drop?",
    ),
    ("voice", "*"): (
        "Do negative posts line up with campaign dates?",
        "Are complaints about marketing (too many emails, notifications, spam) growing?",
        "Are the posters known customers, and which segment are they in?",
        "Did expansion win rate dip or cycle time jump after a marketing push?",
    ),
}


def questions_for(area: str, metric: str) -> tuple[str, ...]:
    """The metric's own questions followed by the area's general ones."""
    return QUESTIONS.get((area, metric), ()) + QUESTIONS.get((area, "*"), ())
