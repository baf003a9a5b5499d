"""Net customer value growth — How many customers, worth how much, did we gain and lose?"""

import streamlit as st

from ui.common import dataset_section, not_built

st.title("Net customer value growth")
st.caption("How many customers, worth how much, did we gain and lose?")
dataset = dataset_section(["subscriptions", "customers"], key="ncvg")
if dataset is not None:
    not_built(6, "NCVG")
