"""Cohorts — Do new customers keep coming back, and which groups retain better?"""

import streamlit as st

from ui.common import dataset_section, not_built

st.title("Cohorts")
st.caption("Do new customers keep coming back, and which groups retain better?")
dataset = dataset_section(["activity"], key="cohorts")
if dataset is not None:
    not_built(8, "cohort")
