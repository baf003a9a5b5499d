"""Voice of customer — Are posts, reviews and deal notes turning negative about marketing?"""

import streamlit as st

from ui.common import dataset_section, not_built

st.title("Voice of customer")
st.caption("Are posts, reviews and deal notes turning negative about marketing?")
dataset = dataset_section(["texts", "deals"], key="voice")
if dataset is not None:
    not_built(9, "voice-of-customer")
