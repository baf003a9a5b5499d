"""SQL notebook — an analyst's own read-only SQL over the tables loaded in this session."""

import altair as alt
import streamlit as st

from lib.engine import table_columns
from lib.errors import BoundaryError
from lib.markup import escape_md
from lib.notebook import DEFAULT_MAX_BYTES, DEFAULT_MAX_ROWS, DEFAULT_TIMEOUT_S, run_user_sql
from ui.common import download_csv, sample_button, workspace

st.title("SQL notebook")
st.caption("Run your own read-only DuckDB SQL over the tables loaded in this session — every page's "
           "“Show SQL” can be pasted here. Files, extensions and settings are off limits; "
           f"a query stops after {DEFAULT_TIMEOUT_S:g} s and shows at most {DEFAULT_MAX_ROWS:,} rows "
           f"and {DEFAULT_MAX_BYTES / 1e6:g} MB.")

ws = workspace()
if ws.remote:  # the notebook stays on this server's DuckDB: cluster tables are not in it (lib.remote)
    st.info("Tables on the Spark cluster (" + ", ".join(f"`{k}`" for k in sorted(ws.remote)) + ") are not in this "
            "notebook: it runs DuckDB on this server, over the uploaded files only. Pages run their figures on "
            "the cluster, and each “Show SQL” there is the Spark SQL to run in your cluster's own notebook.")
ready = [d for d in ws.datasets.values() if d.ready and d.kind not in ws.remote]
if not ready:
    st.info("Nothing loaded yet. Load the sample data, or upload files on the pages.")
    sample_button("sql")
    st.stop()

with st.expander("Tables", expanded=True):
    for d in ready:
        cols = ", ".join(f"`{c}` {t.lower()}" for c, t in table_columns(ws.duckdb, d.table))
        st.markdown(f"**`{d.table}`** — {escape_md(d.file_name)}, {d.rows_read:,} rows: {cols}")

# The cells are the workspace's (saved with it); a restore redraws them from what was saved.
saved = ws.inputs.get("sql_cells")
cells = list(saved) if isinstance(saved, list) and saved and all(isinstance(c, str) for c in saved) \
    else [f"SELECT * FROM {ready[0].table} LIMIT 100"]


def chart_for(frame, key):
    numeric = [c for c in frame.columns if frame[c].dtype.kind in "if"]
    if frame.empty or not numeric:
        return
    left, mid, right = st.columns(3)
    mark = left.selectbox("Quick chart", ["none", "bar", "line", "point"], key=f"mark_{key}")
    if mark == "none":
        return
    x = mid.selectbox("x", list(frame.columns), key=f"x_{key}")
    y = right.selectbox("y", numeric, key=f"y_{key}")
    x_type = "T" if frame[x].dtype.kind == "M" else ("Q" if frame[x].dtype.kind in "if" else "N")
    chart = getattr(alt.Chart(frame.head(5000), title=f"{y} by {x}"), f"mark_{mark}")().encode(
        x=alt.X(f"{x}:{x_type}", title=x), y=alt.Y(f"{y}:Q", title=y), tooltip=[x, y])
    st.altair_chart(chart, width="stretch")


for i, default in enumerate(cells):
    st.subheader(f"Cell {i + 1}")
    sql = st.text_area("SQL", value=default, key=f"sql_text_{i}", height=120, label_visibility="collapsed")
    cells[i] = sql
    if st.button("Run", key=f"sql_run_{i}", type="primary"):
        st.session_state.pop(f"sql_result_{i}", None)  # freed before the new query runs
        try:
            result = run_user_sql(ws.duckdb, sql, max_bytes=DEFAULT_MAX_BYTES)
        except BoundaryError as exc:
            st.error(escape_md(exc))
        else:
            st.session_state[f"sql_result_{i}"] = result
            # The session keeps one budget of results in all: other cells' results make room.
            kept = result.bytes
            for j in range(len(cells)):
                other = st.session_state.get(f"sql_result_{j}")
                if j != i and other is not None:
                    if kept + other.bytes > DEFAULT_MAX_BYTES:
                        del st.session_state[f"sql_result_{j}"]
                        st.session_state[f"sql_cleared_{j}"] = True
                    else:
                        kept += other.bytes
        st.session_state.pop(f"sql_cleared_{i}", None)
    result = st.session_state.get(f"sql_result_{i}")
    if result is None and st.session_state.get(f"sql_cleared_{i}"):
        st.caption("This cell's result was cleared to make room for another cell's; press Run to see it again.")
    if result is not None:
        if result.truncated:
            st.warning(f"Showing the first {len(result.frame):,} rows; add a LIMIT or aggregate to see all.")
        st.dataframe(result.frame, hide_index=True, width="stretch")  # the user's own column names
        download_csv(result.frame, f"query_{i + 1}.csv", key=f"sql_{i}")
        chart_for(result.frame, key=f"sql_{i}")

ws.set_input("sql_cells", cells)  # kept with the workspace (once, with every cell as typed)
if st.button("Add cell", key="sql_add"):
    ws.set_input("sql_cells", cells + ["SELECT "])
    st.rerun()
