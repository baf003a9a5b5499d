"""lib.remote: a cluster table or Parquet path becomes the kind's typed view (issue #21).

Runs on Spark local[2] (tests.spark_capture.local_spark: skipped without pyspark or Java, except
under CI=true), each test on its own Spark session (`newSession`) so their views never meet.
The pure parts (URLs, quoting) need no Spark.
"""

import os
from pathlib import Path

import pandas as pd
import pytest

from lib import remote
from lib.datasets import Workspace
from lib.engine import SparkEngine
from lib.sample import SAMPLE_DIR, load_samples
from tests.spark_capture import drive_cohorts, frame_difference, local_spark

# ------------------------------------------------------------------ no Spark needed


def _connect_client() -> None:
    """Skip without the Spark Connect client (pyspark[connect]), except under CI=true: fail."""
    try:
        import grpc  # noqa: F401
        import pyspark.sql.connect.session  # noqa: F401
    except ImportError as exc:
        message = f"{exc.name} is not installed (pip install -r requirements-dev.txt)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


def test_safe_url_drops_the_token_only():
    url = "sc://dbc-1.cloud.databricks.com:443/;use_ssl=true;token=dapiSECRET;x-databricks-cluster-id=0123"
    assert remote.safe_url(url) == "sc://dbc-1.cloud.databricks.com:443/;use_ssl=true;x-databricks-cluster-id=0123"
    assert "SECRET" not in remote.safe_url(url.replace("token", "TOKEN"))
    assert remote.safe_url("sc://h:15002") == "sc://h:15002"
    emr = "sc://abc.emr-serverless-services.us-east-1.amazonaws.com:443/;use_ssl=true;x-aws-proxy-auth=AWSSECRET"
    assert remote.safe_url(emr) == "sc://abc.emr-serverless-services.us-east-1.amazonaws.com:443/;use_ssl=true"


def test_token_from_outside_is_added_once():
    assert remote.with_token("sc://h:443/;use_ssl=true", "t1") == "sc://h:443/;use_ssl=true;token=t1"
    assert remote.with_token("sc://h:15002", "t1") == "sc://h:15002/;token=t1"
    assert remote.with_token("sc://h:443/;token=mine", "t1") == "sc://h:443/;token=mine"
    assert remote.with_token("sc://h:15002", None) == "sc://h:15002"


def _capture_connect(monkeypatch) -> list[str]:
    """SparkEngine.connect replaced by a recorder of the URL (with its token) it would dial."""
    dialled: list[str] = []

    class Stub:
        spark = type("S", (), {"sql": lambda self, q: type("R", (), {"collect": lambda self: []})()})()

    def fake(url, *a, **k):
        dialled.append(url)
        return Stub()
    monkeypatch.setattr(remote.SparkEngine, "connect", staticmethod(fake))
    return dialled


def test_the_configured_token_goes_only_to_the_configured_server(monkeypatch):
    dialled = _capture_connect(monkeypatch)
    settings = remote.Settings.read({"url": "sc://dbc-1.cloud.databricks.com:443/;use_ssl=true",
                                     "token": "dapiSECRET"}, {}, hosted=False)
    remote.connect("sc://DBC-1.cloud.databricks.com:443/;use_ssl=true;x-databricks-cluster-id=1", settings)
    remote.connect("sc://attacker.example:443/;use_ssl=true", settings)  # typed on the page: no token for it
    remote.connect("sc://dbc-1.cloud.databricks.com:444/", settings)  # another port is another server
    assert ["dapiSECRET" in u for u in dialled] == [True, False, False]
    # a token written into the configured URL is the configured token, and is never shown
    inline = remote.Settings.read({}, {remote.URL_ENV: "sc://h:443/;token=T0K;use_ssl=true"}, hosted=False)
    assert (inline.url, inline.token_for("sc://h:443"), inline.token_for("sc://x:443")) == \
        ("sc://h:443/;use_ssl=true", "T0K", None)
    # no configured server: a configured token is sent nowhere
    assert remote.Settings(token="T").token_for("sc://h:15002") is None


def test_a_hosted_boundary_connects_only_to_listed_servers(monkeypatch):
    dialled = _capture_connect(monkeypatch)
    env = {remote.URL_ENV: "sc://spark.internal", remote.HOSTS_ENV: "lake-b:15003, lake-c:443"}
    hosted = remote.Settings.read(None, env, hosted=True)
    for url in ("sc://spark.internal:15002", "sc://lake-b:15003/;use_ssl=true", "sc://LAKE-C:443"):
        remote.connect(url, hosted)
    for url in ("sc://169.254.169.254:80", "sc://lake-b:15002", "sc://127.0.0.1:15002"):
        with pytest.raises(remote.RemoteError, match="may not connect to .*administrator listed"):
            remote.connect(url, hosted)
    assert len(dialled) == 3
    remote.connect("sc://127.0.0.1:15002", remote.Settings.read(None, env, hosted=False))  # one's own laptop: any
    assert len(dialled) == 4


def test_the_spark_clients_own_token_variable_is_never_sent_to_an_unnamed_server(monkeypatch):
    dialled = _capture_connect(monkeypatch)
    env = {remote.CLIENT_TOKEN_ENV: "SECRET"}
    with pytest.raises(remote.RemoteError, match=f"{remote.CLIENT_TOKEN_ENV}.*would send to sc://x:443"):
        remote.connect("sc://x:443", remote.Settings(), environ=env)
    remote.connect("sc://x:443/;token=mine", remote.Settings(), environ=env)  # the URL's own token wins
    assert dialled == ["sc://x:443/;token=mine"]


@pytest.mark.parametrize("url", ["", "http://h:15002", "sc://", "sc://h:1\n5002", "sc://h :15002"])
def test_a_url_that_is_not_spark_connect_is_refused_in_plain_words(url):
    with pytest.raises(remote.RemoteError, match="not a Spark Connect URL"):
        remote.connect(url)


def test_an_unreachable_server_is_named_without_its_token():
    _connect_client()
    with pytest.raises(remote.RemoteError) as err:
        remote.connect("sc://127.0.0.1:9/;token=SECRET")  # port 9 (discard): nothing listens
    assert "Could not reach a Spark Connect server at sc://127.0.0.1:9/" in str(err.value)
    assert "SECRET" not in str(err.value)
    # made with Spark Connect's own builder: pyspark.sql's would mark the process Connect-only, and
    # Spark local (the tests', the benchmark's) could no longer start in it
    assert "SPARK_CONNECT_MODE_ENABLED" not in os.environ


def test_source_sql_quotes_every_part():
    assert remote.source_sql("lake.events") == "`lake`.`events`"
    assert remote.source_sql(" `my-db`.events ") == "`my-db`.`events`"
    assert remote.source_sql("ev`; DROP VIEW x; --") == "`ev``; DROP VIEW x; --`"
    assert remote.source_sql("s3://bucket/ev`ents/") == "parquet.`s3://bucket/ev``ents/`"
    assert remote.source_sql("events.parquet") == "parquet.`events.parquet`"
    for bad in ("", "  ", "lake..events", "a\nb", "x\x00"):
        with pytest.raises(remote.RemoteError):
            remote.source_sql(bad)


def test_date_pattern_decides_day_or_month_first_as_the_ingest_does():
    assert remote.date_pattern(pd.Series(["10/15/24 9:45", "3/1/24 10:00"])) == "M/d/yy H:mm"
    assert remote.date_pattern(pd.Series(["24.02.2017", "13.03.2017"])) == "d.M.yyyy"
    assert remote.date_pattern(pd.Series(["2025-01-01 10:00:00"])) is None  # ISO: the CAST reads it
    assert remote.date_pattern(pd.Series(["", "n/a"])) is None


# ------------------------------------------------------------------ on Spark local


@pytest.fixture
def engine():
    shared = local_spark()
    return SparkEngine(shared.spark.newSession())  # its own temporary views


# Email events as a lake would hold them after a careless load: every column text, a bad time, a
# blank marker, a time with an offset, US dates. Worked out by hand:
#  row 1 2025-03-01 10:00 UTC; row 2 "yesterday" → NULL, bad (1 cell); row 3 "n/a" → NULL, blank,
#  not bad; row 4 09:30+02:00 → 07:30 UTC; row 5 "3/2/2025 8:15" → 2 March (month first: "13/2"
#  would not parse month-first, none here).
EVENTS = pd.DataFrame({
    "Email": ["a@x.io", "b@x.io", "c@x.io", "d@x.io", "e@x.io"],
    "Timestamp": ["2025-03-01 10:00:00", "yesterday", "n/a", "2025-03-01T09:30:00+02:00", "3/2/2025 8:15"],
    "Event Type": ["open", "click", "open", "sent", "open"],
    "Campaign Name": ["Spring", "Spring", " Spring ", "Spring", "-"],
    "Region": ["EU", "US", "EU", "EU", "US"],
}, dtype="str")


def _parquet(tmp_path: Path, frame: pd.DataFrame, name: str = "events.parquet") -> str:
    path = tmp_path / name
    frame.to_parquet(path)
    return str(path)


def test_a_parquet_path_becomes_the_kinds_typed_view_with_bad_cells_counted(engine, tmp_path):
    dataset = remote.attach(engine, remote.Source("", _parquet(tmp_path, EVENTS)))
    assert dataset.kind == "email_events" and dataset.table == "email_events" and dataset.rows_read == 5
    assert dataset.mapping == {"recipient": "Email", "event_time": "Timestamp", "event": "Event Type",
                               "campaign": "Campaign Name"}
    assert dataset.extra_columns == {"region": "Region"}
    assert set(dataset.bad_values) == {"event_time"}
    assert dataset.bad_values["event_time"].count == 1 and dataset.bad_values["event_time"].examples == ["yesterday"]
    assert "1 cell(s) not readable as dates — e.g. 'yesterday'" in dataset.bad_value_lines()[0]
    types = dict(engine.columns("email_events"))
    assert types["event_time"] == "TIMESTAMP" and types["recipient"] == "VARCHAR" and types["_row"] == "BIGINT"
    got = engine.query('SELECT recipient, event_time, campaign FROM "email_events" ORDER BY recipient')
    assert got["event_time"].tolist()[0] == pd.Timestamp("2025-03-01 10:00")
    assert pd.isna(got["event_time"][1]) and pd.isna(got["event_time"][2])
    assert got["event_time"][3] == pd.Timestamp("2025-03-01 07:30")  # the offset honoured, as UTC
    assert got["event_time"][4] == pd.Timestamp("2025-03-02 08:15")
    assert got["campaign"].tolist()[:4] == ["Spring"] * 4 and pd.isna(got["campaign"][4])  # trimmed; "-" blank


def test_numbers_percents_and_whole_numbers_are_typed_as_the_ingest_types_them(engine, tmp_path):
    # Email campaigns with text cells: "1,200" is 1200; "6.5" recipients is bad (not rounded);
    # "24.1%" is the ratio 0.241 and, as the column has a %, "3" is 0.03 (lib.values.parse_percent)
    frame = pd.DataFrame({"Campaign": ["A", "B", "C"], "Send Date": ["2025-01-06", "2025-01-13", "2025-01-20"],
                          "Sent": ["1,200", "6.5", "$900"], "Unique Opens": ["300", "", "n/a"],
                          "Unique Clicks": ["30", "x", "9"], "Open Rate": ["24.1%", "3", ""]}, dtype="str")
    dataset = remote.attach(engine, remote.Source("email_campaigns", _parquet(tmp_path, frame)))
    assert dataset.ready
    assert {k: v.count for k, v in dataset.bad_values.items()} == {"sent": 1, "unique_clicks": 1}
    got = engine.query('SELECT sent, unique_opens, unique_clicks, vendor_open_rate FROM "email_campaigns" ORDER BY _row')
    assert got["sent"].tolist()[0] == 1200 and pd.isna(got["sent"][1]) and got["sent"][2] == 900
    assert got["vendor_open_rate"][0] == pytest.approx(0.241) and got["vendor_open_rate"][1] == pytest.approx(0.03)
    assert got["unique_clicks"][2] == 9 and pd.isna(got["unique_opens"][1]) and pd.isna(got["unique_opens"][2])


def test_a_table_is_read_by_name_and_typed_columns_stay_typed(engine):
    engine.put_frame("lake_activity", pd.DataFrame({
        "Customer ID": ["u1", "u2"], "Timestamp": pd.to_datetime(["2025-01-05 10:00", "2025-02-01 09:00"]),
        "amount": [10.5, None]}))
    dataset = remote.attach(engine, remote.Source("activity", "lake_activity"))
    assert dataset.mapping == {"user_id": "Customer ID", "event_time": "Timestamp", "revenue": "amount"}
    got = engine.query('SELECT user_id, event_time, revenue FROM "activity" ORDER BY user_id')
    assert got["event_time"].tolist() == [pd.Timestamp("2025-01-05 10:00"), pd.Timestamp("2025-02-01 09:00")]
    assert got["revenue"][0] == 10.5 and pd.isna(got["revenue"][1]) and not dataset.bad_values


def test_missing_columns_leave_the_dataset_unready_with_the_usual_message(engine, tmp_path):
    frame = pd.DataFrame({"Email": ["a@x.io"], "Timestamp": ["2025-03-01"]}, dtype="str")
    dataset = remote.attach(engine, remote.Source("email_events", _parquet(tmp_path, frame)))
    assert not dataset.ready and "no column found for" in dataset.missing_message()
    assert not engine.has_table("email_events")


def test_no_recognisable_columns_is_a_plain_error(engine, tmp_path):
    frame = pd.DataFrame({"foo": ["1"], "bar": ["2"]}, dtype="str")
    with pytest.raises(remote.RemoteError, match="no recognisable columns.*foo, bar"):
        remote.attach(engine, remote.Source("", _parquet(tmp_path, frame)))


def test_hostile_names_read_nothing_and_change_nothing(engine, tmp_path):
    engine.put_frame("keep_me", pd.DataFrame({"a": [1]}))
    for hostile in ("keep_me`; DROP VIEW keep_me; --", "x' OR 1=1 --", "keep_me` UNION SELECT 1 --"):
        with pytest.raises(remote.RemoteError, match="No table"):
            remote.attach(engine, remote.Source("activity", hostile), url="sc://h:15002")
    with pytest.raises(remote.RemoteError, match="No Parquet path .*on sc://h:15002"):
        remote.attach(engine, remote.Source("activity", str(tmp_path / "no`such.parquet")), url="sc://h:15002")
    assert engine.has_table("keep_me")


def test_a_workspace_on_spark_keeps_uploads_there_and_keys_and_saves_the_refs(engine, tmp_path):
    from lib import store

    ws = Workspace()
    try:
        load_samples(ws, ["nps_responses"])
        before = ws.data_key()
        ws.connect(engine, "sc://h:15002/;token=SECRET")
        assert ws.spark_url == "sc://h:15002/" and ws.data_key() != before
        assert ws.con.columns("nps_responses")  # the upload was copied onto the cluster
        load_samples(ws, ["deals"])  # and so is one made while connected
        assert ws.con.query('SELECT count(*) AS n FROM "deals"')["n"][0] == ws.get("deals").rows_read
        dataset = ws.attach_remote(remote.Source("", _parquet(tmp_path, EVENTS)))
        assert ws.get("email_events") is dataset and ws.table_columns("email_events")
        key = ws.data_key()
        ws.remap("email_events", {"campaign": None})
        assert "campaign" not in ws.datasets["email_events"].mapping and not ws.get("email_events")
        assert ws.data_key() != key
        ws.remap("email_events", {"campaign": "Campaign Name"})
        assert ws.get("email_events").ready

        snap = ws.snapshot()
        assert [d["kind"] for d in snap.body["datasets"]] == ["nps_responses", "deals"]  # the cluster's data is not kept
        assert snap.body["spark"] == {"url": "sc://h:15002/", "sources": [
            {"kind": "email_events", "source": _parquet(tmp_path, EVENTS), "fixes": {"campaign": "Campaign Name"}}]}
        packed = store.pack(snap)
        assert b"SECRET" not in packed
        back = store.unpack(packed, "saved.boundary")
        assert back.body["spark"] == snap.body["spark"]

        fresh = Workspace()
        fresh.restore(back)
        assert fresh.engine is None and fresh.pending_remote == snap.body["spark"] and "email_events" not in fresh.datasets
        assert fresh.snapshot().body["spark"] == snap.body["spark"]  # saved again until reconnected
        fresh.close()

        ws.disconnect()
        assert ws.engine is None and "email_events" not in ws.datasets and ws.get("nps_responses")
        assert ws.con.execute('SELECT count(*) FROM "nps_responses"').fetchone()[0] > 0  # DuckDB again
    finally:
        ws.close()


def test_damaged_spark_refs_in_a_saved_file_are_refused():
    from lib import store

    ws = Workspace()
    ws.pending_remote = {"url": "sc://h:15002/;token=LEAK", "sources": []}
    packed = store.pack(ws.snapshot())
    ws.close()
    with pytest.raises(store.StoreError, match="Spark connection"):
        store.unpack(packed, "bad.boundary")


def test_the_cohorts_figures_on_a_cluster_table_equal_the_uploads(engine, tmp_path):
    """The Cohorts page's functions (tests.spark_capture.drive_cohorts: matrices, active users,
    groups) on the sample activity file as a Parquet table of text columns on Spark, typed by the
    view, give the same frames as the same file uploaded and typed by the ingest on DuckDB."""
    raw = pd.read_csv(SAMPLE_DIR / "activity_events.csv", dtype="str", keep_default_na=False)
    local, clustered = Workspace(), Workspace()
    try:
        load_samples(local, ["activity"])
        clustered.connect(engine, "sc://local")
        dataset = clustered.attach_remote(remote.Source("", _parquet(tmp_path, raw, "activity.parquet")))
        assert dataset.kind == "activity" and dataset.rows_read == len(raw)
        assert dataset.mapping == local.get("activity").mapping
        want, got = drive_cohorts(local), drive_cohorts(clustered)
        assert set(want) == set(got)
        problems = {name: frame_difference(want[name], got[name]) for name in want}
        assert not any(problems.values()), problems
    finally:
        local.close()
        clustered.close()


# ------------------------------------------------------------------ the page


def test_the_connect_page_refuses_a_wrong_url_in_plain_words():
    from tests.apptest import fresh_app

    _connect_client()

    at = fresh_app()
    at.switch_page("app_pages/spark.py").run()
    assert not at.exception
    at.text_input(key="spark_url").input("http://spark-host:15002").run()
    at.button(key="spark_connect").click().run()
    assert not at.exception
    assert any("not a Spark Connect URL" in e.value for e in at.error)
    assert at.session_state["workspace"].engine is None


def test_a_server_gone_mid_session_is_a_plain_error():
    _connect_client()
    from pyspark.sql.connect.session import SparkSession

    from lib.engine import EngineUnavailable

    session = SparkSession.builder.remote("sc://127.0.0.1:9").create()  # nothing listens on port 9
    session.client.set_retry_policies([])
    engine = SparkEngine(session, {})  # as a cursor: no settings sent
    with pytest.raises(EngineUnavailable, match="stopped answering"):
        engine.execute("SELECT 1 AS a").df()
    session.stop()


def test_texts_are_read_as_a_bounded_sample_and_the_page_is_told(engine, tmp_path, monkeypatch):
    # VADER scores each text in Python (lib/metrics/voice.ensure_scores): at most REMOTE_SAMPLE_ROWS
    # rows are materialised (here 2 of 3), the count is the sample's, and a note says so
    monkeypatch.setattr(remote, "REMOTE_SAMPLE_ROWS", 2)
    frame = pd.DataFrame({"Post": ["Love the new dashboard, it is great", "The emails are far too frequent now",
                                   "Could not log in all morning, annoying"],
                          "Date": ["2025-03-01", "2025-03-02", "2025-03-03"]}, dtype="str")
    dataset = remote.attach(engine, remote.Source("texts", _parquet(tmp_path, frame)))
    assert dataset.ready and dataset.rows_read == 2
    assert engine.query('SELECT count(*) AS n FROM "texts"')["n"][0] == 2
    assert any("A sample: the first 2 rows" in note for note in dataset.notes)
