"""SQL notebook — read-only SQL over the loaded tables."""

import streamlit as st

from ui.common import not_built, sample_button, workspace

st.title("SQL notebook")
st.caption("Run your own read-only SQL over the tables loaded in this session.")
ws = workspace()
if not ws.datasets:
    st.info("Nothing loaded yet. Load the sample data, or upload files on the pages.")
    sample_button("sql")
else:
    for d in ws.datasets.values():
        if d.table:
            cols = ", ".join(f"{c} ({t.lower()})" for c, t in ws.table_columns(d.table))
            st.markdown(f"**{d.table}** — {d.file_name}: {cols}")
    not_built(10, "SQL notebook")
