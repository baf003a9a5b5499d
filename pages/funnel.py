"""Funnel — Where do leads stall, and what do nurture programs cost?"""

import streamlit as st

from ui.common import dataset_section, not_built

st.title("Funnel")
st.caption("Where do leads stall, and what do nurture programs cost?")
dataset = dataset_section(["leads", "lead_stages", "campaign_costs"], key="funnel")
if dataset is not None:
    not_built(7, "funnel")
