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
    ("email", "Gap in sending"): (
        "Be consistent: were these one-off sends followed by silence — what stopped the program?",
        "Did the catch-up sends after the break lift unsubscribes or spam complaints?",
        "Did the people mailed after the break still expect email from you (how old are those addresses)?",
    ),
    ("in_app", "*"): (
        "Which in-app campaigns ran, and how often did users see them?",
        "Has in-app frequency increased lately?",
        "What share of messages were marketing rather than product or service?",
        "Did in-product messaging change recently (new campaigns, new message types)?",
    ),
    ("in_app", "Engagement rate"): (
        "Is the drop in one message type or campaign, or across all in-app messages?",
        "Did message frequency rise in the same period?",
    ),
    ("in_app", "Dismiss rate"): (
        "Which campaigns are closed most, and are they shown to the same users again and again?",
    ),
    ("in_app", "Mute rate"): (
        "Which messages preceded the mutes, and were they marketing?",
    ),
    ("in_app", "Dwell under 1s"): (
        "Are announcements skimmed because they interrupt a task (placement, timing)?",
    ),
    ("in_app", "Messages per active user per week"): (
        "Which new campaigns added the extra messages, and is there a frequency cap?",
    ),
    ("in_app", "Frequency up and engagement down"): (
        "More messages and less relevance at once: which campaign to pause first?",
    ),
    ("nps", "*"): (
        "Did the dip line up with a customer-marketing campaign?",
        "Which segment drives the change, and is its sample large enough to read?",
        "What do detractors' comments say that promoters' don't?",
    ),
    ("nps", "Detractors leave"): (
        "Who on the detractor list is still a customer, and who calls them back this week?",
        "Did the leavers' comments name a reason (price, a bug, too many emails) the team can fix?",
        "Is the link the same in every plan or segment, or driven by one?",
    ),
    ("ncvg", "*"): (
        "Which plans or segments lost the most value, and did they move down a tier first?",
        "Did churn rise after an incident or a campaign?",
        "Which trials did not convert, and what did they have in common?",
    ),
    ("ncvg", "Customer churn rate"): (
        "Which plans or segments did the lost customers come from, and were they hit by an incident?",
        "Did a price change, campaign or renewal date cluster fall in this month?",
    ),
    ("ncvg", "Net customers"): (
        "Did fewer customers join, or more leave, than in the months before?",
    ),
    ("ncvg", "Net value"): (
        "Is the loss a few large accounts or many small ones?",
    ),
    ("ncvg", "Trials not converting"): (
        "Did trial users reach the product's key moment before their trial ended?",
    ),
    ("ncvg", "Churn after an incident"): (
        "Were the affected customers told what happened and offered a remedy?",
        "Which incident drove the losses, and how long after it did customers leave?",
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
    ("voice", "Share negative"): (
        "What do this period's negative texts talk about (top terms of negative texts)?",
        "Did a campaign, a release or an incident happen in this period?",
    ),
    ("voice", "Complaints about marketing"): (
        "Which channel do the complaints name — email, in-app notifications, promos?",
        "Did send or in-app frequency rise in this period (Email and In-app pages)?",
    ),
    ("voice", "Share negative during campaign"): (
        "Was this campaign's audience expecting it, and how often did they hear from us that week?",
        "Do the negative texts in the window mention the campaign's channel?",
    ),
    ("voice", "Win rate"): (
        "Were these expansion deals opened off the back of a campaign rather than a customer need?",
        "Do the deal notes of lost deals mention marketing fatigue?",
    ),
    ("voice", "Qualification rate"): (
        "Which source campaigns brought the unqualified deals?",
    ),
    ("voice", "Median cycle time"): (
        "Are customers stalling because they are annoyed by marketing, or for budget reasons?",
    ),
    ("voice", "Campaign-sourced deals"): (
        "Did this campaign reach customers who were not ready to expand?",
        "Is the campaign's audience the right fit (segment, plan, tenure)?",
    ),
}


def questions_for(area: str, metric: str) -> tuple[str, ...]:
    """The metric's own questions followed by the area's general ones."""
    return QUESTIONS.get((area, metric), ()) + QUESTIONS.get((area, "*"), ())
