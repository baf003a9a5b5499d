"""Email boundaries — Is email frequency or content pushing customers to unsubscribe or complain?"""

import streamlit as st

from ui.common import dataset_section, not_built

st.title("Email boundaries")
st.caption("Is email frequency or content pushing customers to unsubscribe or complain?")
dataset = dataset_section(["email_campaigns", "email_events"], key="email")
if dataset is not None:
    not_built(3, "email")
