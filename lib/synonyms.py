"""Vendor column names for each canonical column, by kind — the one table to extend.

Matching is case-, space- and punctuation-insensitive (see schemas.normalise_header), so list each
name once as the vendor writes it. Order matters: earlier synonyms win.
"""

SYNONYMS: dict[str, dict[str, list[str]]] = {
    "email_campaigns": {
        # Mailchimp "all campaigns" report: Title; Klaviyo: Campaign Name / Name; HubSpot: Email name
        # (HubSpot's own "Campaign" column, the parent campaign, still wins: the canonical name is tried first).
        "campaign": ["Title", "Campaign Name", "Campaign", "Email Name", "Name"],
        # Mailchimp: Send Date; Klaviyo: Send Time (old) / Sent On, Sent On (UTC) (new); Brevo: Sent Date
        "send_date": ["Send Date", "Sent Date", "Send Time", "Date Sent", "Sent On", "Sent On (UTC)",
                      "Date"],
        "subject": ["Subject", "Subject Line", "Email Subject"],
        "topic": ["Topic", "Type", "Campaign Type", "Category", "Tags", "Tag"],
        # Klaviyo new export: "Sent To" = the lists/segments
        "list_name": ["List", "List Name", "Audience", "Segment", "Lists", "Sent To"],
        "sent": ["Total Recipients", "Sent", "Recipients", "Emails Sent"],
        "delivered": ["Successful Deliveries", "Delivered", "Deliveries"],
        "bounces": ["Total Bounces", "Bounces", "Bounced"],
        # HubSpot marketing email export: Hard bounced / Soft bounced
        "soft_bounces": ["Soft Bounces", "Soft Bounced"],
        "hard_bounces": ["Hard Bounces", "Hard Bounced"],
        # Brevo (Sendinblue) reports unique opens as "Unique Views"; Campaign Monitor "Unique Opened"
        "unique_opens": ["Unique Opens", "Opened", "Opens", "Unique Opened", "Unique Views"],
        "machine_opens": ["Machine Opens", "Apple MPP Opens", "Bot Opens"],
        "unique_clicks": ["Unique Clicks", "Clicked", "Clicks", "Unique Clicked", "Unique Clickers"],
        # Klaviyo new export: Opt Outs; Brevo: Unsubscriptions
        "unsubscribes": ["Unsubscribes", "Unsubscribed", "Unsubscribe", "Opt Outs", "Unsubscriptions"],
        "spam_complaints": ["Abuse Complaints", "Spam Complaints", "Spam Reports", "Marked as Spam", "Complaints"],
        "list_size": ["List Size", "Audience Size", "Subscribers"],
        "vendor_open_rate": ["Open Rate"],
        # Klaviyo new export writes click rate as "CTR"
        "vendor_click_rate": ["Click Rate", "CTR"],
    },
    "nps_responses": {
        # Delighted: Score. No bare "Rating": Salesforce leads have a "Rating" (Hot/Warm/Cold) column and
        # would be read as NPS. Long question texts (SurveyMonkey, Typeform, Qualtrics 2nd header row,
        # Hotjar) are caught by whole-word containment of "recommend".
        "score": ["Score", "NPS Score", "NPS", "How likely are you to recommend",
                  "likely to recommend", "recommend"],
        # Delighted: Email / Response ID; SurveyMonkey: Respondent ID, Email Address;
        # Qualtrics: RecipientEmail, ResponseId; Hotjar: User
        "respondent": ["Respondent", "Email", "Customer ID", "CustomerID", "Respondent ID", "Person",
                       "Email Address", "RecipientEmail", "Recipient Email", "ResponseId", "Response ID"],
        # Delighted: Created; Qualtrics: RecordedDate; SurveyMonkey: End Date; Typeform: Submit Date (UTC);
        # Hotjar: Date Submitted; Google Forms: Timestamp
        "response_date": ["Date", "Response Date", "Survey Date", "Submitted At", "Created", "RecordedDate", "Recorded Date",
                          "Submit Date (UTC)", "Submit Date", "Date Submitted", "End Date", "EndDate", "Timestamp"],
        # Question-text headers of the follow-up: "Why did you give that score?", "…reason for your score?"
        "comment": ["Comment", "Comments", "Feedback", "Reason", "Why", "why did you", "reason for your",
                    "tell us why", "tell us more", "anything else"],
        # one row per invitation, answered or not (Qualtrics distributions, Delighted "people"): response rate
        "sent_date": ["Sent At", "Sent Date", "Survey Sent", "Survey Sent At", "Invited At", "Invitation Date",
                      "Invitation Sent", "Sent"],
    },
    "subscriptions": {
        # Stripe subscriptions export: Customer ID; Chargebee: subscriptions.customer_id (contains
        # "customer id"); ChartMogul customers: UUID
        "customer_id": ["Customer ID", "Customer", "Account ID", "account_id", "UUID"],
        # Stripe: Start (UTC) / Start Date (UTC) before Created (UTC); Chargebee: subscriptions.started_at;
        # ChartMogul: Subscriber since / Customer since
        "start_date": ["Start Date", "Start (UTC)", "Start Date (UTC)", "Created", "Start", "Started At",
                       "Created (UTC)", "Subscriber Since", "Customer Since"],
        "subscription_id": ["Subscription ID", "id", "subscriptions.id"],
        # Stripe: Ended At (UTC), Canceled At (UTC); Chargebee: subscriptions.cancelled_at (British spelling)
        "end_date": ["End Date", "Ended At", "Canceled At", "Cancel Date", "Ended At (UTC)",
                     "Canceled At (UTC)", "Cancelled At"],
        "status": ["Status", "subscriptions.status"],
        # Chargebee: subscriptions.plan_id
        "plan": ["Plan", "Plan Tier", "Plan Name", "Tier", "Product", "Plan ID", "subscriptions.plan_id"],
        "mrr": ["MRR", "MRR Amount", "Monthly Recurring Revenue", "subscriptions.mrr"],
        "arr": ["ARR", "ARR Amount"],
        "amount": ["Amount", "Plan Amount", "Price", "Plan Unit Price"],
        # Chargebee: billing_period_unit (month/year) rather than billing_period (a count);
        # ChartMogul: Billing cycle
        "billing_interval": ["Billing Frequency", "Interval", "Plan Interval", "Billing Period Unit",
                             "Billing Period", "Billing Cycle"],
        "quantity": ["Quantity", "Seats", "Plan Quantity"],
        "currency": ["Currency", "Currency Code"],
        "is_trial": ["Is Trial", "Trial"],
        "trial_end": ["Trial End", "Trial End (UTC)"],
        "auto_renew": ["Auto Renew", "Auto Renew Flag"],
        # who referred the customer (their id or email): CX KPI 3, referrals
        "referred_by": ["Referred By", "Referrer", "Referred By Email", "Referrer Email", "Referrer ID", "Referring Customer"],
    },
    "customers": {
        "customer_id": ["Customer ID", "Account ID", "id", "UUID"],
        "signup_date": ["Signup Date", "Created", "Created Date", "Create Date", "Customer Since",
                        "Subscriber Since", "Lead Created At"],
        "customer_name": ["Account Name", "Name", "Company"],
        "email": ["Email"],
        "segment": ["Segment", "Industry"],
        "plan": ["Plan Tier", "Plan"],
        "churned": ["Churn Flag", "Churned"],
        "churn_date": ["Churn Date"],
        "is_trial": ["Is Trial"],
        "source": ["Referral Source", "Source"],
        "referred_by": ["Referred By", "Referrer", "Referred By Email", "Referrer Email", "Referrer ID", "Referring Customer"],
    },
    "leads": {
        "lead_id": ["Lead ID", "mql_id", "Contact ID", "Record ID", "id"],
        "created_date": ["Create Date", "Created Date", "first_contact_date", "Created"],
        "mql_date": ["Became a Marketing Qualified Lead Date", "MQL Date"],
        "sql_date": ["Became a Sales Qualified Lead Date", "SQL Date"],
        # Salesforce leads: Converted Date (a converted lead becomes a contact + opportunity)
        "opportunity_date": ["Became an Opportunity Date", "Opportunity Date", "Converted Date"],
        "customer_date": ["Became a Customer Date", "Customer Date", "won_date"],
        "lifecycle_stage": ["Lifecycle Stage"],
        "email": ["Email"],
        "source": ["Original Source", "Lead Source", "Source", "origin"],
        "campaign": ["Campaign", "landing_page_id"],
        "lead_score": ["HubSpot Score", "Lead Score", "Score"],
        "status": ["Lead Status", "Status"],
        "disqualified_date": ["Disqualified Date"],
        # Salesforce leads: No. of Employees
        "company_size": ["Number of Employees", "Company Size", "No. of Employees", "Employees"],
        "industry": ["Industry"],
        "job_title": ["Job Title", "Title"],
        "referred_by": ["Referred By", "Referrer", "Referred By Email", "Referrer Email", "Referrer ID", "Referring Customer"],
    },
    "lead_stages": {
        "lead_id": ["Lead ID", "Contact ID"],
        "stage": ["Stage", "Lifecycle Stage"],
        "stage_date": ["Date", "Stage Date", "Changed At"],
        "source": ["Source"],
    },
    "activity": {
        # Online Retail: CustomerID; Online Retail II: Customer ID; Mixpanel/PostHog: distinct_id;
        # Amplitude: user_id, event_time, event_type
        "user_id": ["User ID", "CustomerID", "Customer ID", "distinct_id", "user"],
        # Order-lines workbooks (camelCase headers are split first: OrderDate → order date)
        "event_time": ["Timestamp", "InvoiceDate", "Event Time", "time", "Date", "Order Date", "Order Time",
                       "Purchase Date", "Transaction Date", "Event Date"],
        "event": ["Event", "Event Name", "event_type"],
        "revenue": ["Revenue", "Amount", "Total Charges", "Order Total", "Order Value", "Total Amount",
                    "Sales", "Charges"],
        "quantity": ["Quantity"],
        "unit_price": ["UnitPrice", "Unit Price", "Price"],
        "order_id": ["InvoiceNo", "Invoice", "Order ID"],
        "signup_date": ["Signup Date"],
    },
    "in_app_events": {
        # Braze Currents: external_user_id, time, campaign_name / canvas_name; Pendo: Visitor ID,
        # Browser Time, Guide Name; Appcues: user_id, timestamp, flow_name, name (= the event)
        "user_id": ["User ID", "external_user_id", "user", "Visitor ID"],
        "event_time": ["Timestamp", "Time", "Event Time", "Browser Time"],
        "message": ["Message", "Campaign", "Campaign Name", "Message Name", "Canvas Name", "Guide Name",
                    "Flow Name"],
        "event": ["Event", "Event Type", "Action", "Event Name", "name"],
        "message_type": ["Message Type", "Type", "Category"],
        "dwell": ["Dwell Ms", "Dwell Seconds", "Dwell Time", "Time on Message", "Time on Screen"],
        "platform": ["Platform"],
    },
    "in_app_messages": {
        "message": ["Message", "Campaign Name"],
        "date": ["Date", "Day"],
        # Braze campaign analytics: Total Impressions, Unique Impressions, Unique Recipients, Total Clicks,
        # Body Clicks
        "impressions": ["Impressions", "Total Impressions", "Views", "Shown"],
        "unique_impressions": ["Unique Impressions", "Reach", "Unique Recipients"],
        "clicks": ["Clicks", "Total Clicks", "Interactions", "Body Clicks"],
        "dismissals": ["Dismissals", "Closes", "Dismissed"],
        "mutes": ["Mutes", "Opt Outs"],
        "message_type": ["Message Type", "Type"],
        "median_dwell": ["Median Dwell", "Median Time on Message"],
    },
    "texts": {
        # Social listening: Brandwatch Full Text / Snippet, Sprout Social Message, Talkwalker content,
        # Twitter/X exports text / tweet. Without a known header the column that reads like text is
        # taken (schemas.text_column_by_content).
        "text": ["Text", "Body", "Post", "Review", "Note", "Content", "Message", "Full Text", "Tweet", "Snippet",
                 "Mention", "Review Text"],
        # tweet_created, post_created (any '…_created'), created_at, posted, published (Talkwalker)
        "date": ["Date", "Posted At", "Created At", "Created", "Posted", "Published", "Published At",
                 "Publish Date", "Post Date", "Timestamp", "Time", "*_created", "*_created_at"],
        "author": ["Author", "User", "Name", "Screen Name", "Username", "User Name", "Handle", "Author Name"],
        "email": ["Email"],
        "source": ["Source", "Channel", "Network", "Platform"],
        "rating": ["Rating", "Stars"],
        # A label the file carries (listening tools, hand-labelled sets): airline_sentiment → '*_sentiment'
        "sentiment_label": ["Sentiment", "Sentiment Label", "Polarity", "Tone", "*_sentiment"],
    },
    "deals": {
        # HubSpot deals export: Record ID, Deal Name, Deal Stage, Deal Type; Salesforce opportunities:
        # Opportunity ID, Stage, Type, Primary Campaign Source, Account ID
        "deal_id": ["Deal ID", "Opportunity ID", "Record ID"],
        "created_date": ["Create Date", "Created Date"],
        "close_date": ["Close Date", "Closed Date"],
        "outcome": ["Outcome", "Deal Stage", "Stage"],
        "deal_type": ["Deal Type", "Type"],
        "amount": ["Amount"],
        "qualified": ["Qualified"],
        "source_campaign": ["Source Campaign", "Campaign", "Primary Campaign Source"],
        "notes": ["Notes", "Description"],
        "customer_id": ["Account ID", "Company ID", "Customer ID"],
        "lead_id": ["Lead ID", "mql_id"],
        "segment": ["Segment", "business_segment"],
    },
    "email_events": {
        # SendGrid event export: email, timestamp, event, category, useragent, marketing_campaign_name /
        # singlesend_name; Mailchimp email activity: email_address, action, timestamp, campaign_id;
        # Klaviyo events: Email, Event, Timestamp, Campaign Name, Client Name
        "recipient": ["Email", "Recipient", "Email Address"],
        "event_time": ["Timestamp", "Time", "Event Time", "Date"],
        "event": ["Event", "Event Type", "Action"],
        "campaign": ["Campaign", "Campaign Name", "marketing_campaign_name", "singlesend_name",
                     "Campaign ID"],
        "topic": ["Topic", "Type", "Category"],
        "list_name": ["List", "Segment"],
        "user_agent": ["User Agent", "Client", "useragent", "Client Name"],
    },
    "campaign_calendar": {
        "campaign": ["Campaign", "Name"],
        "start_date": ["Start Date", "Start", "Date"],
        "end_date": ["End Date", "End"],
        "channel": ["Channel"],
    },
    "campaign_costs": {
        "campaign": ["Campaign", "Program"],
        "cost": ["Cost", "Spend"],
        "period": ["Month", "Period"],
    },
    "incidents": {
        "customer_id": ["Customer ID", "Account ID", "Customer"],
        "incident_date": ["Incident Date", "Date", "Occurred At"],
        "description": ["Description", "Incident", "Summary"],
    },
    "value_history": {
        # One row per customer per date with the customer's recurring value on that date.
        # ChartMogul "MRR Movements" (destinations): DATE, CUSTOMER_UUID, CUSTOMER_EXTERNAL_ID, MRR (the
        # MRR after the movement, in cents), MRR_MOVEMENT, MOVEMENT_TYPE, CURRENCY_CODE, PLAN_EXTERNAL_ID;
        # ChartMogul activities API: date, customer-uuid, activity-mrr, type, currency;
        # CRM account-MRR snapshots / monthly MRR-by-customer sheets: Account ID, Snapshot Date / Month, MRR.
        "customer_id": ["Customer ID", "Customer External ID", "Customer UUID", "customer-uuid", "Account ID",
                        "Customer", "Account"],
        "date": ["Date", "Snapshot Date", "As Of", "As Of Date", "Month", "Snapshot Month", "Activity Date",
                 "Movement Date", "Report Date", "Effective Date", "Period"],
        "mrr": ["MRR", "Customer MRR", "Current MRR", "activity-mrr", "Activity MRR", "MRR Amount",
                "Monthly Recurring Revenue", "Recurring Value", "Value", "Amount"],
        "currency": ["Currency", "Currency Code"],
        "plan": ["Plan", "Plan External ID", "Plan Name", "Tier"],
        "movement_type": ["Movement Type", "type", "Activity Type"],
    },
}
