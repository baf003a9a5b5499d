"""Home: what Boundary does, sample data in one click, and what is loaded."""

import streamlit as st

from lib import schemas
from ui.common import sample_button, show_table, workspace
from ui.workspaces import my_workspaces_section, saved_on_server, workspace_file_section

st.title("Boundary")
st.markdown(
    "Where customer marketing crosses from **adding value** to **annoying customers**. "
    "Upload the exports your tools already make — Mailchimp, HubSpot, Klaviyo, Braze, Delighted, "
    "Stripe… as Excel or CSV — and each page shows its boundary metrics, the red flags, and the "
    "questions to ask about them.")

ws = workspace()
if not ws.datasets:
    st.subheader("Start here")
    st.write("No data yet. Load the bundled sample exports to see every page working, "
             "or open a page and upload your own file at the top of it.")
sample_button("home")
if st.session_state.get("samples_loaded"):
    st.success(f"Sample data loaded: {len(st.session_state['samples_loaded'])} files. Open any page.")

st.subheader("Pages")
PAGE_GUIDE = [
    ("app_pages/email.py", "Email", "Is email frequency or content pushing people to unsubscribe or complain?",
     "Mailchimp, HubSpot, Klaviyo, Brevo, Campaign Monitor campaign reports"),
    ("app_pages/in_app.py", "In-app", "Are in-app messages ignored, dismissed or muted?",
     "Braze, Intercom, Pendo, Appcues events"),
    ("app_pages/nps.py", "NPS", "How loyal are customers, with what margin of error, and did campaigns dent it?",
     "Delighted, SurveyMonkey, Qualtrics, Typeform, Hotjar"),
    ("app_pages/voice.py", "Voice of customer", "Are posts and deal notes turning negative about marketing?",
     "Community posts, reviews, CS notes, deals"),
    ("app_pages/ncvg.py", "NCVG", "How many customers, worth how much, were gained and lost?",
     "Stripe, Chargebee, ChartMogul"),
    ("app_pages/funnel.py", "Funnel", "Where do leads stall, and what do nurture programs cost?",
     "HubSpot contacts, Salesforce leads"),
    ("app_pages/cohorts.py", "Cohorts", "Do new customers keep coming back?", "Event logs, order lines"),
    ("app_pages/report.py", "Boundary report", "Every red flag in one view, with the questions to ask", ""),
    ("app_pages/sql.py", "SQL notebook", "Your own read-only SQL over the loaded tables", ""),
]
for path, label, answers, exports in PAGE_GUIDE:
    left, right = st.columns([1, 3])
    left.page_link(path, label=label)
    right.markdown(answers + (f"  \n:gray[{exports}]" if exports else ""))

if ws.datasets:
    st.subheader("Loaded in this session")
    rows = [{"File": d.file_name, "Kind": d.label, "Rows": d.rows_read,
             "Table": d.table or "— columns missing —"} for d in ws.datasets.values()]
    show_table(rows)
    st.caption("Saved on this server as you work: reloading the page, or opening this page's address again "
               "later, brings it back. It is kept nowhere else." if saved_on_server() else
               "Not saved on the server: this tab keeps the data until it closes.")
workspace_file_section()
my_workspaces_section()
