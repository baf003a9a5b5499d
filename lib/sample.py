"""The bundled sample exports (made by sample_data/generate.py) and the kind each one is.

The sample files are public and the same for everyone, so each is read and typed once per server
process (`_read_once`) and typed once (`_typed_once`: the parsing of dates, numbers and text into
the stored columns, then Arrow), and every session that clicks "Load sample data" gets its own
copy of the result in its own DuckDB database — 12 files are not parsed again per visitor (issue
#20): the session's share is the copy into DuckDB. What a
session gets is what `Workspace.load(name, bytes, kind=…)` would give it: the same Dataset, the file's
bytes kept for saving and re-mapping, the Table kept for column fixes."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

from lib import schemas
from lib.ingest import Table, read_table

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "sample_data"

# kind → file name in sample_data/
SAMPLE_FILES: dict[str, str] = {
    "email_campaigns": "email_campaigns.csv",
    "email_events": "email_events.csv",
    "in_app_events": "in_app_events.csv",
    "nps_responses": "nps_responses.xlsx",
    "subscriptions": "subscriptions.csv",
    "incidents": "incidents.csv",
    "leads": "leads.xlsx",
    "campaign_costs": "campaign_costs.csv",
    "activity": "activity_events.csv",
    "texts": "community_posts.csv",
    "deals": "deals.csv",
    "campaign_calendar": "campaign_calendar.csv",
}

# (kind, file name, sha1 of the bytes) → the file as read: public sample data only, read-only.
_READ: dict[tuple[str, str, str], Table] = {}
_LOCK = threading.Lock()


def _read_once(kind: str, name: str, data: bytes, key: str) -> Table:
    """The sample file as `Workspace.load(kind=kind)` reads it, read once per process; each caller
    gets its own Table object over the shared frame (pandas copy-on-write: a change to one never
    reaches the others)."""
    with _LOCK:
        table = _READ.get((kind, name, key))
        if table is None:
            table = read_table(name, data, score_header=lambda columns: schemas.recognise(columns, [kind]).score)
            _READ[(kind, name, key)] = table
    return dataclasses.replace(table, frame=table.frame.copy(deep=False), sheets=list(table.sheets),
                               notes=list(table.notes), unreadable={c: dict(v) for c, v in table.unreadable.items()},
                               left_out=list(table.left_out))


# (kind, file name, sha1, column map) → (Arrow table or frame, bad values, extra columns, the notes the
# typing adds): the typed sample file, public and read-only (DuckDB copies it into each session).
_TYPED: dict[tuple, tuple] = {}


def _typed_once(name: str, key: str):
    """A `typed` for Workspace._store that types the bundled file once per process and column map
    (the map is in the key: a session that had fixed a column of this file keeps its fix); each
    caller gets its own bad values, extra columns and notes, and the shared Arrow table, which
    DuckDB only reads."""
    from lib.datasets import _typed

    def typed(table: Table, kind: str, mapping: dict[str, str], notes: list[str]):
        cache_key = (kind, name, key, tuple(sorted(mapping.items())))
        with _LOCK:
            found = _TYPED.get(cache_key)
        if found is None:
            added: list[str] = []
            data, bad_values, extra = _typed(table, kind, mapping, added)
            found = (data, bad_values, extra, added)
            with _LOCK:
                found = _TYPED.setdefault(cache_key, found)
        data, bad_values, extra, added = found
        notes += added
        return data, {c: dataclasses.replace(v, rows=list(v.rows), examples=list(v.examples))
                      for c, v in bad_values.items()}, dict(extra)
    return typed


_DIGESTS: dict[str, tuple[tuple[int, int], str]] = {}  # file name → ((size, mtime), sha1 of its bytes)
_STAT_EVERY_S = 1.0  # the files are looked at again at most this often (ui.cache asks on every chart)
_LAST: list = [float("-inf"), {}]  # when the files were last looked at, and what was found


def sample_digests() -> dict[str, tuple[str, str]]:
    """kind → (file name, sha1 of the bundled file's bytes), re-read only when a file changes on
    disk (looked at no more than once a second): what a Dataset loaded from the untouched sample file
    carries (ui.cache tells public sample figures by it)."""
    now = time.monotonic()
    with _LOCK:
        if now - _LAST[0] < _STAT_EVERY_S:
            return dict(_LAST[1])
    out = _look_at_files()
    with _LOCK:
        _LAST[:] = [now, out]
    return dict(out)


def _look_at_files() -> dict[str, tuple[str, str]]:
    from lib.datasets import digest

    out = {}
    for kind, name in SAMPLE_FILES.items():
        path = SAMPLE_DIR / name
        try:
            stat = path.stat()
        except OSError:
            continue
        stamp = (stat.st_size, stat.st_mtime_ns)
        with _LOCK:
            known = _DIGESTS.get(name)
            if known is None or known[0] != stamp:
                known = _DIGESTS[name] = (stamp, digest(path.read_bytes()))
        out[kind] = (name, known[1])
    return out


def load_samples(workspace, kinds: list[str] | None = None) -> list[str]:
    """Load the sample file of each kind (all by default) into the workspace; returns kinds loaded.

    Same result as `workspace.load(name, bytes, kind=kind)` per file (which re-reads nothing that
    is already loaded), with the file read once per process instead of once per session."""
    from lib.datasets import digest

    loaded = []
    for kind, name in SAMPLE_FILES.items():
        if kinds is not None and kind not in kinds:
            continue
        path = SAMPLE_DIR / name
        if not path.exists():
            continue
        data = path.read_bytes()
        key = digest(data)
        same = workspace.datasets.get(kind)
        if not (same is not None and same.digest == key and same.file_name == name):
            # Workspace.load's steps for a forced kind, with the shared read in place of read_table
            table = _read_once(kind, name, data, key)
            workspace._store(table, key, kind, typed=_typed_once(name, key))
            workspace._sources[kind] = data
            if len(table.sheets) > 1:
                workspace._workbooks[kind] = data
        loaded.append(kind)
    return loaded
