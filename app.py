"""Boundary — the router and frame. Every page is listed here; each file name is its URL."""

import streamlit as st

st.set_page_config(page_title="Boundary", page_icon="🧭", layout="wide")

PAGES = {
    "": [st.Page("pages/home.py", title="Home", icon="🧭", default=True)],
    "Boundaries": [
        st.Page("pages/email.py", title="Email", icon="✉️"),
        st.Page("pages/in_app.py", title="In-app", icon="📱"),
        st.Page("pages/nps.py", title="NPS", icon="📣"),
        st.Page("pages/voice.py", title="Voice of customer", icon="💬"),
    ],
    "Growth": [
        st.Page("pages/ncvg.py", title="NCVG", icon="📈"),
        st.Page("pages/funnel.py", title="Funnel", icon="🔻"),
        st.Page("pages/cohorts.py", title="Cohorts", icon="🧱"),
    ],
    "Across pages": [
        st.Page("pages/report.py", title="Boundary report", icon="🚩"),
        st.Page("pages/sql.py", title="SQL notebook", icon="🧮"),
    ],
}

st.navigation(PAGES).run()
