"""Boundary report — every red flag from every loaded dataset in one view."""

import streamlit as st

from ui.common import not_built, sample_button, workspace

st.title("Boundary report")
st.caption("Every red flag from every loaded dataset, with the questions to ask about it.")
if not workspace().datasets:
    st.info("Nothing loaded yet. Load the sample data, or upload files on the pages.")
    sample_button("report")
else:
    not_built(10, "cross-page report")
