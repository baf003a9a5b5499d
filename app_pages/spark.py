"""Connect to Spark — run every page's figures on a cluster, where the big event logs live (issue #21)."""

import os

import streamlit as st

from lib import schemas
from lib.errors import BoundaryError
from lib.markup import escape_md
from ui.auth import auth_configured
from ui.common import PAGE_OF_KIND, columns_panel, presenting, workspace

st.title("Connect to Spark")
st.caption("Event logs too big to upload stay where they are: point Boundary at a Spark Connect server and, per "
           "kind of data, at a table or a Parquet path. Each page then runs its figures on the cluster and brings "
           "back only the small results — the same tiles, charts and flags as for an upload.")

try:
    from lib import remote
    from pyspark.sql.connect.session import SparkSession  # noqa: F401 — the Connect client and its gRPC
    import sqlglot  # noqa: F401
except ImportError:
    st.info("Connecting to Spark needs the Spark Connect client, which this installation does not have. Install it "
            'with `pip install "pyspark[connect]==4.3.0" sqlglot` (or `pip install -r requirements-dev.txt`) and '
            "restart Boundary. Nothing else changes: without it every page runs on this server's DuckDB.")
    st.stop()

ws = workspace()


def _settings() -> "remote.Settings":
    """The administrator's Spark settings: the app's secrets ([spark] url, token, hosts) or the
    BOUNDARY_SPARK_URL / _TOKEN / _HOSTS environment variables (lib.remote.Settings)."""
    try:
        section = dict(st.secrets["spark"])
    except Exception:  # noqa: BLE001 — no secrets file, or no [spark] section
        section = {}
    return remote.Settings.read(section, os.environ, hosted=auth_configured())


def _connect(url: str, sources: list[dict]) -> None:
    try:
        with st.spinner(f"Connecting to {remote.safe_url(url)}…"):
            engine = remote.connect(url, settings)
    except BoundaryError as exc:
        st.session_state["spark_error"] = str(exc)
        return
    try:
        ws.connect(engine, url)
    except Exception as exc:  # noqa: BLE001 — copying the uploads onto the cluster failed: stay on DuckDB
        engine.stop()
        st.session_state["spark_error"] = (f"Connected to {remote.safe_url(url)}, but copying this session's uploads "
                                           f"onto it failed ({str(exc).splitlines()[0][:300]}). Still on this "
                                           "server's data; try again, or remove the uploads first.")
        return
    for saved in sources:  # a restored workspace's tables, read again on the cluster
        try:
            ws.attach_remote(remote.Source(saved["kind"], saved["source"], dict(saved.get("fixes") or {})))
        except BoundaryError as exc:
            st.session_state["spark_error"] = str(exc)


if presenting():
    st.caption(f"Figures run on {escape_md(ws.spark_url)}." if ws.engine is not None else "Not connected to Spark.")
    st.stop()

# ---- the server
try:
    settings = _settings()
except BoundaryError as exc:
    st.error(f"The Spark settings of this Boundary are wrong: {escape_md(exc)}")
    st.stop()
pending = ws.pending_remote
if ws.engine is None:
    if pending:
        tables = ", ".join(f"{s['source']} ({schemas.KINDS[s['kind']].label.lower()})" for s in pending["sources"])
        st.info(f"This workspace was saved connected to {escape_md(pending['url'])} with {escape_md(tables)}. "
                "Its cluster data is not kept here: press Connect to read those tables again.")
    url = st.text_input("Spark Connect URL", value=pending["url"] if pending else remote.safe_url(settings.url or ""),
                        key="spark_url",
                        placeholder="sc://spark-host:15002",
                        help="Your own cluster: sc://host:15002. Databricks: sc://<workspace-host>:443/;use_ssl=true;"
                             "x-databricks-cluster-id=<cluster id> — the token comes from the BOUNDARY_SPARK_TOKEN "
                             "environment variable or the app's secrets ([spark] token), never from this box. "
                             "EMR: the session endpoint from GetSessionEndpoint (docs/SPARK.md).")
    st.caption(f"A token (Databricks) is read from the `{remote.TOKEN_ENV}` environment variable or the app's "
               f"secrets (`[spark] token`), never typed here, and sent only to the server named in `{remote.URL_ENV}` "
               "(`[spark] url`); URLs are shown and saved without tokens."
               + (" On this shared Boundary only the Spark servers its administrator listed can be used."
                  if settings.hosted else ""))
    if st.button("Connect", key="spark_connect", type="primary", disabled=not url.strip()):
        _connect(url, pending["sources"] if pending else [])
        if "spark_error" not in st.session_state:
            st.rerun()
else:
    left, right = st.columns([4, 1])
    left.success(f"Connected to {escape_md(ws.spark_url)}. Every page runs its figures there; uploads made here "
                 "are copied onto it. The SQL notebook stays on this server (uploads only).")
    if right.button("Disconnect", key="spark_disconnect"):
        ws.disconnect()
        st.rerun()
if st.session_state.get("spark_error"):
    st.error(escape_md(st.session_state.pop("spark_error")))
if ws.engine is None:
    st.stop()

# ---- a table or a path per kind
st.subheader("Tables on the cluster")
AUTO = ""
c1, c2 = st.columns([1, 2])
kind = c1.selectbox("It holds", [AUTO, *schemas.KINDS], key="spark_kind",
                    format_func=lambda k: "Recognise from its columns" if k == AUTO else schemas.KINDS[k].label)
source = c2.text_input("Table or Parquet path", key="spark_source", placeholder="lake.email_events  or  s3://bucket/events/",
                       help="A table the cluster knows (database.table) or a Parquet folder or file it can read. "
                            "Nothing is copied: a view on the cluster maps its columns.")
if st.button("Read it", key="spark_read", type="primary", disabled=not source.strip()):
    try:
        with st.spinner("Reading its columns and counting unreadable cells on the cluster…", show_time=True):
            dataset = ws.attach_remote(remote.Source(kind, source))
        if not dataset.ready:
            st.error(escape_md(dataset.missing_message()))
    except BoundaryError as exc:
        st.error(escape_md(exc))

for kind in sorted(ws.remote):
    dataset = ws.datasets.get(kind)
    if dataset is None:
        continue
    st.markdown(f"**{escape_md(dataset.file_name)}** — {dataset.label}, {dataset.rows_read:,} rows. "
                + escape_md(" ".join(dataset.notes)))
    if not dataset.ready:
        st.error(escape_md(dataset.missing_message()))
    for line in dataset.bad_value_lines():
        st.warning(escape_md(line))
    with st.expander("Columns", expanded=not dataset.ready):
        columns_panel(ws, dataset, list(schemas.KINDS), key="spark")
    if dataset.ready and kind in PAGE_OF_KIND:
        path, title = PAGE_OF_KIND[kind]
        st.page_link(path, label=f"Open {title}", icon=":material/arrow_forward:")
