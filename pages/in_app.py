"""In-app engagement — Are in-app messages ignored, dismissed or muted more than before?"""

import streamlit as st

from ui.common import dataset_section, not_built

st.title("In-app engagement")
st.caption("Are in-app messages ignored, dismissed or muted more than before?")
dataset = dataset_section(["in_app_events", "in_app_messages"], key="in_app")
if dataset is not None:
    not_built(4, "in-app")
