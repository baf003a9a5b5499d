"""NPS calculator — How loyal are customers, with what margin of error, and did campaigns dent it?"""

import streamlit as st

from ui.common import dataset_section, not_built

st.title("NPS calculator")
st.caption("How loyal are customers, with what margin of error, and did campaigns dent it?")
dataset = dataset_section(["nps_responses"], key="nps")
if dataset is not None:
    not_built(5, "NPS")
