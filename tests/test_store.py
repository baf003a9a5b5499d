"""lib.store: saved workspaces round-trip every sample table exactly, saves are atomic, owners are
checked, and crafted .boundary files are refused with plain messages naming the file."""

import io
import json
import zipfile

import pytest

from lib import store
from lib.datasets import Workspace
from lib.sample import SAMPLE_FILES, load_samples
from lib.store import NOT_YOURS, Store, StoreError


@pytest.fixture(scope="module")
def sample_ws():
    ws = Workspace()
    load_samples(ws)
    # a user's column fix and a threshold change must travel too
    ws.remap("nps_responses", {"comment": None})
    key = next(t for t in ws.thresholds.values)
    ws.thresholds = ws.thresholds.with_value(key, ws.thresholds[key] * 2 + 0.01)
    yield ws
    ws.close()


@pytest.fixture
def campaigns_ws():
    """A fresh workspace with the sample email campaigns loaded (closed after the test)."""
    ws = Workspace()
    load_samples(ws, kinds=["email_campaigns"])
    yield ws
    ws.close()


def assert_same(a: Workspace, b: Workspace) -> None:
    assert list(a.datasets) == list(b.datasets)
    assert a.datasets == b.datasets  # file name, kind, column map, extra columns, bad cells, notes, rows read
    assert a.thresholds == b.thresholds and a.state_key() == b.state_key()
    for kind, dataset in a.datasets.items():
        if not dataset.table:
            continue
        assert a.table_columns(dataset.table) == b.table_columns(dataset.table), kind  # DuckDB types
        left = a.con.sql(f'SELECT * FROM "{dataset.table}" ORDER BY _row').df()
        right = b.con.sql(f'SELECT * FROM "{dataset.table}" ORDER BY _row').df()
        assert left.dtypes.equals(right.dtypes), kind
        assert left.equals(right), kind


def test_folder_round_trip_of_every_sample_dataset(sample_ws, tmp_path):
    assert len(sample_ws.datasets) == len(SAMPLE_FILES)
    assert "comment" not in sample_ws.datasets["nps_responses"].mapping
    s = Store(tmp_path)
    wid = s.save(sample_ws.snapshot())
    assert store.valid_id(wid) and len(wid) >= 32
    restored = Workspace()
    restored.restore(s.load(wid))
    assert_same(sample_ws, restored)
    # the restored dataset can still be re-mapped (its upload's bytes were saved): the fix is undone
    restored.remap("nps_responses", {"comment": "Comment"})
    assert restored.datasets["nps_responses"].mapping["comment"] == "Comment"
    restored.close()


def test_boundary_file_round_trip(sample_ws):
    data = store.pack(sample_ws.snapshot())
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        assert set(zf.namelist()) == {"manifest.json", *manifest["files"]}
    assert manifest["format"] == 1
    nps = next(d for d in manifest["datasets"] if d["kind"] == "nps_responses")
    assert nps["fixes"] == {"comment": None} and nps["table_file"] == "nps_responses.parquet"
    restored = Workspace()
    restored.restore(store.unpack(data, "client.boundary"))
    assert_same(sample_ws, restored)
    restored.close()


def test_restore_replaces_what_was_loaded(sample_ws):
    small = Workspace()
    load_samples(small, kinds=["email_campaigns"])
    snap = small.snapshot()
    target = Workspace()
    load_samples(target, kinds=["leads", "email_campaigns"])
    target.restore(snap)
    assert list(target.datasets) == ["email_campaigns"]
    assert target.con.execute("SELECT count(*) FROM information_schema.tables").fetchone()[0] == 1
    small.close()
    target.close()


def test_a_crash_mid_save_leaves_the_previous_save(sample_ws, tmp_path, monkeypatch):
    s = Store(tmp_path)
    first = Workspace()
    load_samples(first, kinds=["email_campaigns"])
    wid = s.save(first.snapshot())
    real_write = store._write
    calls = []

    def crash_on_second_file(path, data):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk died")
        real_write(path, data)

    monkeypatch.setattr(store, "_write", crash_on_second_file)
    with pytest.raises(OSError):
        s.save(sample_ws.snapshot(), wid)
    monkeypatch.setattr(store, "_write", real_write)
    assert s.load(wid).body["datasets"][0]["kind"] == "email_campaigns"
    assert len(s.load(wid).body["datasets"]) == 1

    # killed after the new version is complete but before `current` is switched: still the old one
    real_replace = store.os.replace

    def crash_on_switch(src, dst):
        if str(dst).endswith("current"):
            raise OSError("killed")
        real_replace(src, dst)

    monkeypatch.setattr(store.os, "replace", crash_on_switch)
    with pytest.raises(OSError):
        s.save(sample_ws.snapshot(), wid)
    monkeypatch.setattr(store.os, "replace", real_replace)
    assert len(s.load(wid).body["datasets"]) == 1
    # the next good save wins and clears the leftovers (a crashed save's staging folder once stale)
    monkeypatch.setattr(store, "STALE_SECONDS", 0)
    s.save(sample_ws.snapshot(), wid)
    assert len(s.load(wid).body["datasets"]) == len(SAMPLE_FILES)
    left = sorted(p.name for p in (tmp_path / wid).iterdir())
    assert left[0] == "current" and len(left) == 2 and left[1].startswith("v-")  # and one version folder
    first.close()


def test_owner_checked_and_unknown_ids_get_the_same_words(tmp_path):
    s = Store(tmp_path)
    ws = Workspace()
    load_samples(ws, kinds=["email_campaigns"])
    wid = s.save(ws.snapshot(), owner="ana@example.com")
    assert s.load(wid, owner="ana@example.com").body["datasets"][0]["kind"] == "email_campaigns"
    for owner, workspace_id in [("bob@example.com", wid), (None, wid), ("ana@example.com", store.new_id()),
                                (None, "../../etc"), (None, "")]:
        with pytest.raises(StoreError) as err:
            s.load(workspace_id, owner=owner)
        assert str(err.value) == NOT_YOURS
    assert [w["id"] for w in s.list("ana@example.com")] == [wid] and s.list("bob@example.com") == []
    with pytest.raises(StoreError):
        s.delete(wid, owner="bob@example.com")
    s.delete(wid, owner="ana@example.com")
    assert not (tmp_path / wid).exists()
    ws.close()


def test_data_dir_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("BOUNDARY_DATA_DIR", str(tmp_path / "here"))
    assert Store().root == tmp_path / "here"
    monkeypatch.delenv("BOUNDARY_DATA_DIR")
    assert str(store.data_dir()).endswith(".boundary/workspaces")


# ------------------------------------------------------------------ crafted .boundary files


@pytest.fixture(scope="module")
def good_file():
    ws = Workspace()
    load_samples(ws, kinds=["email_campaigns", "nps_responses"])
    data = store.pack(ws.snapshot())
    ws.close()
    return data


def entries(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def rezip(files: dict[str, bytes]) -> bytes:
    sink = io.BytesIO()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return sink.getvalue()


def with_manifest(data: bytes, change) -> bytes:
    files = entries(data)
    manifest = json.loads(files["manifest.json"])
    change(manifest)
    files["manifest.json"] = json.dumps(manifest).encode()
    return rezip(files)


def refused(data: bytes, *words: str) -> str:
    with pytest.raises(StoreError) as err:
        store.unpack(data, "crafted.boundary")
    message = str(err.value)
    assert "crafted.boundary" in message or message == NOT_YOURS
    for word in words:
        assert word in message, message
    return message


def test_the_good_file_opens(good_file):
    assert sorted(store.unpack(good_file, "good.boundary").tables) == ["email_campaigns", "nps_responses"]


def test_zip_bomb(good_file):
    files = entries(good_file)
    files["email_campaigns.source"] = bytes(60 * 1024**2)  # 60 MB of zeros deflate to ~60 KB: ratio ~1000
    refused(rezip(files), "zip bomb")


def test_too_large_in_total(good_file, monkeypatch):
    monkeypatch.setattr(store, "MAX_UNPACKED_BYTES", 1000)
    refused(good_file, "unpack")


@pytest.mark.parametrize("name", ["../evil.parquet", "/etc/passwd", "..\\evil", "sub/dir.parquet", "C:evil"])
def test_names_with_paths(good_file, name):
    files = entries(good_file)
    files[name] = b"x"
    refused(rezip(files), "unsafe name")


def test_manifest_pointing_outside(good_file):
    def point_out(manifest):
        info = manifest["files"].pop("email_campaigns.parquet")
        manifest["files"]["../../email_campaigns.parquet"] = info
        manifest["datasets"][0]["table_file"] = "../../email_campaigns.parquet"

    refused(with_manifest(good_file, point_out), "outside the workspace")


def test_unknown_format_versions(good_file):
    refused(with_manifest(good_file, lambda m: m.update(format=2)), "format 2", "Update Boundary")
    refused(with_manifest(good_file, lambda m: m.update(format="1")), "format '1'")
    refused(with_manifest(good_file, lambda m: m.pop("format")), "no format version")


def test_checksum_mismatch(good_file):
    files = entries(good_file)
    source = bytearray(files["email_campaigns.source"])
    source[10] ^= 1  # one bit flipped, same length
    files["email_campaigns.source"] = bytes(source)
    refused(rezip(files), "email_campaigns.source", "checksum")


def test_truncated_files(good_file):
    for cut in (len(good_file) // 2, len(good_file) - 30, 100):
        refused(good_file[:cut], "cut short")
    files = entries(good_file)
    files["nps_responses.parquet"] = files["nps_responses.parquet"][:-50]
    refused(rezip(files), "nps_responses.parquet", "cut short")


def test_missing_pieces_and_odd_entries(good_file):
    files = entries(good_file)
    del files["manifest.json"]
    refused(rezip(files), "no manifest.json")
    files = entries(good_file)
    del files["nps_responses.parquet"]
    refused(rezip(files), "nps_responses.parquet is missing")
    refused(b"not a zip at all", "not a Boundary workspace file")
    refused(with_manifest(good_file, lambda m: m["datasets"][0].update(kind="passwords")), "unreadable kind")
    refused(with_manifest(good_file, lambda m: m["datasets"][0].update(table="information_schema")), "names a table")
    refused(with_manifest(good_file, lambda m: m["datasets"][0].update(rows_read="many")), "rows_read")
    refused(with_manifest(good_file, lambda m: m["datasets"][0].update(sql="DROP")), "unexpected")
    files = entries(good_file)
    files["manifest.json"] = b"{not json"
    refused(rezip(files), "not readable JSON")


def test_bad_thresholds_refused_before_anything_changes(good_file):
    data = with_manifest(good_file, lambda m: m["thresholds"].update(nonsense=1))
    snap = store.unpack(data, "crafted.boundary")
    ws = Workspace()
    load_samples(ws, kinds=["leads"])
    with pytest.raises(Exception, match="unknown thresholds"):
        ws.restore(snap)
    assert list(ws.datasets) == ["leads"]
    ws.close()


def test_opening_writes_nothing(good_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    files = entries(good_file)
    files["../escape.txt"] = b"x"
    refused(rezip(files))
    store.unpack(good_file, "good.boundary")
    assert list(tmp_path.iterdir()) == []


def test_two_tabs_saving_at_once_leave_a_readable_workspace(tmp_path):
    """Tab B's save removes the version tab A then points `current` at: the newest complete one is read."""
    s = Store(tmp_path)
    ws = Workspace()
    load_samples(ws, kinds=["email_campaigns"])
    wid = s.save(ws.snapshot())
    (tmp_path / wid / "current").write_text("v-0000000000000000")  # A's version, removed by B
    assert s.load(wid).body["datasets"][0]["kind"] == "email_campaigns"
    stale = tmp_path / wid / ".tmp-fresh"
    stale.mkdir()  # another save under way: left alone by this one
    s.save(ws.snapshot(), wid)
    assert stale.exists()
    ws.close()


def test_a_restore_that_fails_halfway_leaves_the_workspace_as_it_was(sample_ws):
    snap = sample_ws.snapshot()
    del snap.tables["leads"]  # a table missing after others were copied in
    ws = Workspace()
    load_samples(ws, kinds=["email_campaigns"])
    with pytest.raises(KeyError):
        ws.restore(snap)
    assert list(ws.datasets) == ["email_campaigns"]
    tables = [r[0] for r in ws.con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
    assert tables == ["email_campaigns"]
    ws.close()


def test_snapshot_and_restore_work_while_a_page_holds_a_result(sample_ws):
    """A page may leave an unfinished result on its thread's cursor; DuckDB 2.0 then refuses other
    work on that cursor, so saving and restoring use cursors of their own."""
    ws = Workspace()
    load_samples(ws, kinds=["email_campaigns", "leads"])
    ws.con.execute("SELECT * FROM email_campaigns")  # not fetched
    snap = ws.snapshot()
    ws.con.execute("SELECT * FROM leads")
    ws.restore(snap)
    assert sorted(ws.datasets) == ["email_campaigns", "leads"]
    ws.close()


def test_each_person_keeps_at_most_the_quota(tmp_path, monkeypatch):
    s = Store(tmp_path)
    ws = Workspace()
    load_samples(ws, kinds=["email_campaigns"])
    wid = s.save(ws.snapshot(), owner="ana@example.com")
    one = s.list("ana@example.com")[0]["bytes"]
    # room for this workspace and a bit: saving it again (same id) fits, a second one does not
    monkeypatch.setattr(store, "QUOTA_MB", 1.5 * one / 1024**2)
    assert s.save(ws.snapshot(), wid, owner="ana@example.com") == wid
    with pytest.raises(StoreError, match="over the .* MB each person may keep .*BOUNDARY_WORKSPACE_QUOTA_MB"):
        s.save(ws.snapshot(), owner="ana@example.com")
    assert s.save(ws.snapshot(), owner="bob@example.com")  # the quota is per person
    assert len(s.list("ana@example.com")) == 1
    ws.close()


def test_untouched_workspaces_are_removed_after_the_retention_days(tmp_path, monkeypatch, campaigns_ws):
    import os
    import time

    s = Store(tmp_path)
    old, fresh = s.save(campaigns_ws.snapshot()), s.save(campaigns_ws.snapshot())
    long_ago = time.time() - (store.RETENTION_DAYS + 1) * 86400
    os.utime(tmp_path / old / "current", (long_ago, long_ago))
    assert s.remove_untouched() == [old]
    assert not (tmp_path / old).exists() and s.load(fresh).body["datasets"]


# ------------------------------------------------------------------ names ("My workspaces" on Home)


def test_rename_lists_the_name_keeps_it_across_saves_and_checks_the_owner(tmp_path):
    s = Store(tmp_path)
    ws = Workspace()
    load_samples(ws, kinds=["email_campaigns", "nps_responses"])
    files = [d.file_name for d in ws.datasets.values()]
    mine = s.save(ws.snapshot(), owner="ana@example.com")
    listed = s.list("ana@example.com")
    # unnamed: its first two file names
    assert [w["name"] for w in listed] == [f"{files[0]}, {files[1]}"]
    assert s.rename(mine, "  Q3 client\nworkshop\t ", owner="ana@example.com") == "Q3 client workshop"
    assert s.list("ana@example.com")[0]["name"] == "Q3 client workshop"
    assert s.load(mine, owner="ana@example.com").body["datasets"]  # the data files' checksums still match
    s.save(ws.snapshot(), mine, owner="ana@example.com")  # a later save (a threshold change) keeps the name
    assert s.list("ana@example.com")[0]["name"] == "Q3 client workshop"
    assert store.pack(ws.snapshot())  # the .boundary file is unaffected
    for who in ["bob@example.com", None]:
        with pytest.raises(StoreError) as err:
            s.rename(mine, "taken over", owner=who)
        assert str(err.value) == NOT_YOURS
    with pytest.raises(StoreError) as err:
        s.rename(store.new_id(), "no such", owner="ana@example.com")
    assert str(err.value) == NOT_YOURS
    assert s.list("ana@example.com")[0]["name"] == "Q3 client workshop"
    # no temporary file left beside the manifest
    version = (tmp_path / mine / "current").read_text()
    assert sorted(p.name for p in (tmp_path / mine / version).iterdir() if p.name.startswith(".")) == []
    ws.close()


def test_names_are_plain_text_of_limited_length(tmp_path, campaigns_ws):
    s = Store(tmp_path)
    wid = s.save(campaigns_ws.snapshot())
    for bad, words in [("", "can't be empty"), (" \n\t ", "can't be empty"),
                       ("x" * (store.NAME_MAX + 1), f"at most {store.NAME_MAX} characters; this one has 81")]:
        with pytest.raises(StoreError, match=words):
            s.rename(wid, bad)
    assert s.rename(wid, "x" * store.NAME_MAX) == "x" * store.NAME_MAX
    assert s.rename(wid, "a\x00b\x1bc\u2028d") == "a b c d"  # control characters become spaces


def test_a_format_1_manifest_without_a_name_still_loads_and_gets_a_default(tmp_path, campaigns_ws):
    s = Store(tmp_path)
    wid = s.save(campaigns_ws.snapshot())
    version = (tmp_path / wid / "current").read_text()
    manifest = json.loads((tmp_path / wid / version / "manifest.json").read_text())
    assert "name" not in manifest and manifest["format"] == 1  # what an older Boundary wrote
    assert s.load(wid).body["datasets"]
    assert s.list()[0]["name"] == next(iter(campaigns_ws.datasets.values())).file_name
    assert store.default_name([], "2026-12-04T23:10:00+00:00") == "Workspace of 2026-12-04"
    assert store.default_name(["a.csv", "b.csv", "c.csv", "d.csv"], None) == "a.csv, b.csv + 2 more"
    # a hand-edited manifest whose name is not text: the default is listed, the data still opens
    manifest["name"] = ["not", "text"]
    (tmp_path / wid / version / "manifest.json").write_text(json.dumps(manifest))
    assert s.list()[0]["name"] == next(iter(campaigns_ws.datasets.values())).file_name and s.load(wid).body["datasets"]


# ------------------------------------------------------------------ typed inputs, only what changed, sharing


def test_typed_inputs_travel_and_change_the_state_key(tmp_path):
    import datetime

    import numpy as np
    import pandas as pd

    s = Store(tmp_path)
    ws = Workspace()
    load_samples(ws, kinds=["email_campaigns"])
    before = ws.state_key()
    ws.set_input("sql_cells", ["SELECT 1", "SELECT 2"])
    ws.set_input("costs", {"when": [datetime.date(2026, 1, 5), pd.Timestamp("2026-02-01")],
                           "cost": np.int64(7), "blank": float("nan")})
    assert ws.state_key() != before
    assert ws.inputs["costs"] == {"when": ["2026-01-05", "2026-02-01T00:00:00"],
                                  "cost": 7, "blank": None}  # JSON values: a saved copy reads the same
    key = ws.state_key()
    ws.choices = {"nps_grain": "quarter"}
    assert ws.state_key() == key  # a page choice is saved but leaves figures cached on the data
    for snap in (s.load(s.save(ws.snapshot())), store.unpack(store.pack(ws.snapshot()), "w.boundary")):
        back = Workspace()
        back.restore(snap)
        assert back.inputs == ws.inputs and back.choices == ws.choices and back.state_key() == ws.state_key()
        back.close()
    ws.close()


def test_damaged_inputs_are_refused_with_the_file_named(good_file):
    with zipfile.ZipFile(io.BytesIO(good_file)) as zf:
        parts = {i.filename: zf.read(i) for i in zf.infolist()}
    manifest = json.loads(parts["manifest.json"])
    manifest["inputs"] = ["not", "named"]
    parts["manifest.json"] = json.dumps(manifest).encode()
    sink = io.BytesIO()
    with zipfile.ZipFile(sink, "w") as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
    with pytest.raises(StoreError, match=r"bad\.boundary is damaged: its typed inputs or page choices"):
        store.unpack(sink.getvalue(), "bad.boundary")


def test_a_save_writes_only_what_changed(tmp_path, monkeypatch):
    s = Store(tmp_path)
    ws = Workspace()
    load_samples(ws, kinds=["email_campaigns", "nps_responses"])
    wid = s.save(ws.snapshot())

    def files_of(workspace_id):
        version = tmp_path / workspace_id / (tmp_path / workspace_id / "current").read_text()
        return {p.name: p.stat().st_ino for p in version.iterdir() if p.name != "manifest.json"}

    first = files_of(wid)
    read = []
    original = ws._table_reader
    monkeypatch.setattr(ws, "_table_reader", lambda table: (lambda: read.append(table) or original(table)()))
    ws.choices = {"nps_grain": "week"}  # a page choice: nothing of the data changed
    s.save(ws.snapshot(), wid)
    assert files_of(wid) == first and read == []  # the same files (hard links), no table read out of DuckDB
    ws.remap("nps_responses", {"comment": None})  # a column fix: only that table is written again
    s.save(ws.snapshot(), wid)
    second = files_of(wid)
    assert read == ["nps_responses"]
    assert {k for k in first if first[k] != second[k]} == {"nps_responses.parquet"}
    restored = Workspace()
    restored.restore(s.load(wid))  # checksums of linked and new files all verify
    assert restored.state_key() == ws.state_key()
    restored.close()
    ws.close()


def test_an_id_saved_by_someone_else_is_not_overwritten(tmp_path, campaigns_ws):
    s = Store(tmp_path)
    wid = s.save(campaigns_ws.snapshot(), owner="ana@example.com")
    for who in ["bob@example.com", None]:
        with pytest.raises(StoreError) as err:
            s.save(campaigns_ws.snapshot(), wid, owner=who)
        assert str(err.value) == NOT_YOURS
    assert s.load(wid, owner="ana@example.com").body["datasets"]


def test_a_shared_workspace_opens_read_only_for_other_signed_in_users(tmp_path, campaigns_ws):
    s = Store(tmp_path)
    wid = s.save(campaigns_ws.snapshot(), owner="ana@example.com")
    for who in ["bob@example.com", None]:  # not shared yet: the same words as an unknown id
        with pytest.raises(StoreError) as err:
            s.load(wid, owner=who)
        assert str(err.value) == NOT_YOURS
    with pytest.raises(StoreError, match="Sharing needs sign-in"):
        s.share(wid, None)
    with pytest.raises(StoreError) as err:
        s.share(wid, "bob@example.com")  # only the owner shares
    assert str(err.value) == NOT_YOURS
    s.share(wid, "ana@example.com")
    assert s.list("ana@example.com")[0]["shared"] is True and s.list("bob@example.com") == []
    seen = s.load(wid, owner="bob@example.com")
    assert seen.body["shared_by"] == "ana@example.com" and seen.body["datasets"]
    assert "shared_by" not in s.load(wid, owner="ana@example.com").body
    with pytest.raises(StoreError):
        s.load(wid, owner=None)  # without sign-in nobody passes the allow-list
    with pytest.raises(StoreError):
        s.save(campaigns_ws.snapshot(), wid, owner="bob@example.com")  # read-only: Bob can't write it
    s.save(campaigns_ws.snapshot(), wid, owner="ana@example.com")  # the owner's next save keeps it shared
    assert s.load(wid, owner="bob@example.com").body["shared_by"] == "ana@example.com"
    s.share(wid, "ana@example.com", shared=False)
    with pytest.raises(StoreError) as err:
        s.load(wid, owner="bob@example.com")
    assert str(err.value) == NOT_YOURS


def test_the_boundary_file_carries_the_name(tmp_path, campaigns_ws):
    s = Store(tmp_path)
    wid = s.save(campaigns_ws.snapshot())
    s.rename(wid, "Client workshop")
    snap = store.unpack(store.pack(campaigns_ws.snapshot(), name="Client workshop"), "w.boundary")
    assert snap.body["name"] == "Client workshop"
    other = Workspace()
    other.restore(snap)
    again = Store(tmp_path / "elsewhere").save(other.snapshot())  # opened on another Boundary, saved there
    assert Store(tmp_path / "elsewhere").list()[0]["name"] == "Client workshop"
    assert again
    other.close()


_SAVER = """
import sys, time
sys.path.insert(0, {root!r})
from lib.datasets import Workspace
from lib.sample import load_samples
from lib.store import Store
ws = Workspace()
load_samples(ws)
s = Store({folder!r})
wid = s.save(ws.snapshot())
print(wid, flush=True)
flip = [{{"comment": None}}, {{"comment": "Comment"}}]
i = 0
while True:  # save again and again (a changed column map writes a table each time) until killed
    ws.remap("nps_responses", flip[i % 2])
    ws.thresholds = ws.thresholds.with_value("nps_min_responses", 30 + i)
    s.save(ws.snapshot(), wid)
    i += 1
"""


def test_a_process_killed_while_saving_leaves_a_readable_workspace(tmp_path):
    """SIGKILL at random moments of a save loop: every time, the workspace opens (its last complete
    save, checksums and all) — never a half-written one."""
    import random
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[1])
    rng = random.Random(7)
    for _ in range(3):
        saver = subprocess.Popen([sys.executable, "-c", _SAVER.format(root=root, folder=str(tmp_path))],
                                 stdout=subprocess.PIPE, text=True)
        wid = saver.stdout.readline().strip()
        time.sleep(rng.uniform(0.2, 1.5))  # somewhere in the middle of a later save
        saver.send_signal(signal.SIGKILL)
        saver.wait()
        back = Workspace()
        back.restore(Store(tmp_path).load(wid))  # verifies every file's size and SHA-256
        assert len(back.datasets) == len(SAMPLE_FILES)
        back.close()
