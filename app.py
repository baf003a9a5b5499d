"""Boundary — the router and frame. Every page is listed here; each file name is its URL."""

from pathlib import Path

import streamlit as st

from lib.engine import EngineUnavailable
from ui import warmup
from ui.auth import gate
from ui.common import PRESENTING
from ui.sessions import allow_uploads, take_refusal, track_session
from ui.workspaces import keep_choices, open_from_url, save_if_changed, shared_banner

st.set_page_config(page_title="Boundary", page_icon=str(Path(__file__).parent / "ui" / "favicon.svg"), layout="wide")
track_session()  # released once the tab is gone, signed in or not; uploads refused until allowed
warmup.start()  # once per server: visits every page on the sample data (ui/warmup.py)
warming = warmup.is_warmup_session()  # the server itself, holding only the public sample: no sign-in, no save
if not warming:
    gate()  # sign-in and allow-list when [auth] is configured in secrets.toml; otherwise nothing
allow_uploads(not warming)
if refusal := take_refusal():  # the uploader itself only says "status code 413"
    st.warning(refusal)
open_from_url()  # a new session opened with ?w=<id>: that saved workspace
keep_choices()  # each page's choices, as saved or as left on another page
shared_banner()

PAGES = {
    "": [st.Page("app_pages/home.py", title="Home", icon=":material/explore:", default=True)],
    "Boundaries": [
        st.Page("app_pages/email.py", title="Email", icon=":material/mail:"),
        st.Page("app_pages/in_app.py", title="In-app", icon=":material/smartphone:"),
        st.Page("app_pages/nps.py", title="NPS", icon=":material/campaign:"),
        st.Page("app_pages/voice.py", title="Voice of customer", icon=":material/forum:"),
    ],
    "Growth": [
        st.Page("app_pages/ncvg.py", title="NCVG", icon=":material/trending_up:"),
        st.Page("app_pages/funnel.py", title="Funnel", icon=":material/filter_alt:"),
        st.Page("app_pages/cohorts.py", title="Cohorts", icon=":material/grid_view:"),
    ],
    "Across pages": [
        st.Page("app_pages/report.py", title="Boundary report", icon=":material/flag:"),
        st.Page("app_pages/sql.py", title="SQL notebook", icon=":material/terminal:"),
        st.Page("app_pages/spark.py", title="Connect to Spark", icon=":material/cloud:"),
    ],
}

page = st.navigation(PAGES)
st.sidebar.toggle("Presentation mode", key=PRESENTING,
                  help="For a workshop on a shared screen: hide uploads, column maps, SQL and CSV downloads, "
                       "keep the numbers, charts, flags and thresholds. Loaded data stays loaded.")
try:
    page.run()
except EngineUnavailable as exc:  # the Spark server went away mid-page (lib.engine): said, not a traceback
    st.error(str(exc))
finally:  # also when the page stops or reruns (st.rerun after loading the sample)
    if not warming:
        save_if_changed()
