"""Datasets and the per-session Workspace: an upload becomes a typed DuckDB table.

Flow: bytes → `ingest.read_table` → `schemas.recognise` (+ the user's fixes) → each mapped
canonical column parsed by `values.PARSERS` → one DuckDB table named after the kind, holding the
canonical columns, `_row` (the row's number in the file) and every unmapped column under a safe
name (so segment columns stay available). Bad cells are counted per column with example rows.

A Workspace belongs to one browser session: its own DuckDB connection (memory and thread limits,
a private, capped spill directory, no file or extension access or Python replacement scans,
settings locked), its datasets by kind,
the user's mapping fixes and thresholds.
Nothing here is shared between sessions.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import threading
import weakref
from dataclasses import asdict, dataclass, field

import duckdb
import pandas as pd

from lib import engine, schemas
from lib.config import Thresholds
from lib.errors import MappingError
from lib.ingest import Table, read_table
from lib.sql import quote_ident, safe_name
from lib.values import PARSERS

SESSION_MEMORY_LIMIT = "2GB"
SESSION_THREADS = 2
# The most a session's queries may write to its spill folder (DuckDB's default: 90% of the free disk).
SESSION_SPILL_LIMIT = "2GB"
EXAMPLE_ROWS = 5


@dataclass
class BadValues:
    """Cells of one column that held something unparseable: count and the first file rows."""

    count: int
    rows: list[int]
    examples: list[str]


@dataclass
class Dataset:
    """What an upload becomes. `table` is None until the required columns are mapped."""

    file_name: str
    digest: str
    kind: str
    columns: list[str]  # the file's columns, as exported
    mapping: dict[str, str]  # canonical column → file column
    missing: list[str]
    table: str | None
    rows_read: int
    extra_columns: dict[str, str] = field(default_factory=dict)  # table column → file column
    bad_values: dict[str, BadValues] = field(default_factory=dict)
    sheet: str | None = None
    sheets: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # canonical → the file's columns that fit it by header and values, best first (a survey's 0–10
    # questions): the Columns panel lists them first
    candidates: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return self.table is not None

    @property
    def label(self) -> str:
        return schemas.KINDS[self.kind].label

    def missing_message(self) -> str:
        """Plain message naming the file, what is missing and the way out."""
        labels = []
        for item in self.missing:
            names = [schemas.KINDS[self.kind].column(n).label for n in item.split(" or ")]
            labels.append(" or ".join(names))
        shown = ", ".join(self.columns[:30])  # a survey with 1,200 questions: not 1,200 names
        if len(self.columns) > 30:
            shown += f" and {len(self.columns) - 30:,} more"
        return (f"{self.file_name}: no column found for {', '.join(labels)} "
                f"({self.label}). Columns are: {shown}. "
                "Pick the right column under “Columns” below.")

    def bad_value_lines(self) -> list[str]:
        """One line per column with unreadable cells, e.g. 'Score: 3 cells not readable as whole numbers (rows 5, 9, 12)…'."""
        lines = []
        for canon, bad in self.bad_values.items():
            col = schemas.KINDS[self.kind].column(canon)
            rows = ", ".join(str(r) for r in bad.rows) + ("…" if bad.count > len(bad.rows) else "")
            examples = ", ".join(repr(e) for e in bad.examples)
            where = f"rows {rows}; " if bad.rows else ""  # a cluster table has no file rows (lib.remote)
            lines.append(f"{self.mapping[canon]} ({col.label}): {bad.count:,} cell(s) not readable as "
                         f"{_TYPE_WORDS[col.type]} — {where}e.g. {examples}. They count as missing.")
        return lines


_TYPE_WORDS = {"integer": "whole numbers", "number": "numbers", "percent": "percentages",
               "date": "dates", "bool": "yes/no values", "text": "text"}


def digest(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def build_dataset_frame(table: Table, kind: str, mapping: dict[str, str], notes: list[str] | None = None
                        ) -> tuple[pd.DataFrame, dict[str, BadValues], dict[str, str]]:
    """The typed frame to store: canonical columns, `_row`, then the unmapped file columns.
    The parsers' notes (e.g. "no end" dates read as no date) are added to `notes`, per column."""
    spec = schemas.KINDS[kind]
    source = table.frame
    out: dict[str, pd.Series] = {"_row": pd.Series(source.index + table.header_row + 1, index=source.index)}
    bad_values: dict[str, BadValues] = {}
    for canon, column in mapping.items():
        parsed = PARSERS[spec.column(canon).type](source[column])
        values = parsed.values
        if pd.api.types.is_datetime64_any_dtype(values):
            values = values.astype("datetime64[us]")  # DuckDB TIMESTAMP, not TIMESTAMP_NS
        out[canon] = values
        if notes is not None:
            notes += [f"{column} ({spec.column(canon).label}): {note}" for note in parsed.notes]
        # Cells the reader could not read (Excel errors such as #N/A) are blank here: count them too.
        errors = table.unreadable.get(column, {})
        bad = parsed.bad | source.index.isin(list(errors)) if errors else parsed.bad
        if bad.any():
            where = bad[bad].index[:EXAMPLE_ROWS]
            bad_values[canon] = BadValues(
                int(bad.sum()), [table.file_row(i) for i in where],
                [errors.get(i, str(source[column].loc[i])) for i in where])
    extra: dict[str, str] = {}
    used = set(out)
    for column in source.columns:
        if column in mapping.values():
            continue
        name = safe_name(column)
        while name in used:
            name += "_"
        used.add(name)
        extra[name] = column
        out[name] = source[column]
    return pd.DataFrame(out), bad_values, extra


def _as_arrow(frame: pd.DataFrame):
    """The frame as an Arrow table, which DuckDB copies in about twice as fast as a pandas frame;
    the frame itself when a column mixes types Arrow cannot hold in one (DuckDB reads it as text)."""
    import pyarrow as pa

    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return frame


def _typed(table: Table, kind: str, mapping: dict[str, str], notes: list[str]):
    """The typed table to copy into DuckDB (Arrow when it can be), its bad values and extra columns."""
    frame, bad_values, extra = build_dataset_frame(table, kind, mapping, notes)
    return _as_arrow(frame), bad_values, extra


class Workspace:
    """One browser session's data: a private DuckDB connection and the datasets loaded into it."""

    def __init__(self) -> None:
        self._spill_dir = tempfile.mkdtemp(prefix="boundary-session-")
        self._database = duckdb.connect(":memory:", config={
            "memory_limit": SESSION_MEMORY_LIMIT, "threads": SESSION_THREADS,
            "temp_directory": self._spill_dir,
            "autoinstall_known_extensions": False, "autoload_known_extensions": False,
            # SQL naming a Python variable must not read it (the notebook runs the user's SQL here)
            "python_enable_replacements": False,
        })
        # Set, not passed in the config above: DuckDB 2.0 shows a configured cap but does not
        # enforce it (a 5MB cap let a sort spill 540 MB); SET is enforced.
        self._database.execute("SET max_temp_directory_size = ?", [SESSION_SPILL_LIMIT])
        # Sandbox: uploads arrive as registered frames, so the session's SQL (the notebook's too)
        # never needs files, extensions or settings. Locking makes all of the above irreversible.
        self._database.execute("SET enable_external_access = false")
        self._database.execute("SET lock_configuration = true")
        self._local = threading.local()
        self.datasets: dict[str, Dataset] = {}
        self.thresholds = Thresholds()
        self._tables: dict[str, Table] = {}  # kind → the file as read, for re-mapping
        self._workbooks: dict[str, bytes] = {}  # kind → bytes of a workbook with several sheets
        # kind → the uploaded bytes: saved with the workspace (lib.store) so that a restored dataset
        # can still be re-mapped (its Table is read again from them when first needed)
        self._sources: dict[str, bytes] = {}
        self._fixes: dict[tuple[str, str], dict[str, str | None]] = {}  # (digest, kind) → fixes
        # What the user typed on the pages, as JSON values (notebook cells, typed tables, event
        # roles): part of state_key, saved and restored with the datasets.
        self.inputs: dict[str, object] = {}
        # Each page's choices (period, range, filters: widget key → JSON value), saved and restored
        # like inputs but not part of state_key: figures cached on the data survive a period change.
        self.choices: dict[str, object] = {}
        self.name: str | None = None  # the name a restored .boundary file carried (lib.store)
        # Spark (issue #21, lib.remote): when connected, `con` is the cluster's engine, so the pages'
        # metric SQL runs there; local uploads are copied onto it, cluster sources stay there.
        self.engine = None  # a lib.engine.SparkEngine while connected
        self.spark_url: str | None = None  # its Connect URL without the token (shown, saved)
        self.remote: dict = {}  # kind → lib.remote.Source of a dataset that lives on the cluster
        # a saved workspace's cluster refs ({"url", "sources"}) not reconnected yet (restore)
        self.pending_remote: dict | None = None
        self._data_key: tuple | None = None  # (parts, inputs, key) of the last data_key
        self._finalizer = weakref.finalize(self, _release, self._database, self._spill_dir)

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor on the session's database.

        Streamlit may start a rerun while the previous run's thread is still inside a query, and
        one DuckDB connection must not be used by two threads at once; a cursor per thread shares
        the tables and the sandbox. Thread-local storage frees it when the thread ends.
        """
        engine = self.engine
        if engine is not None:  # the cluster's engine, a cursor per thread as for DuckDB
            mine = getattr(self._local, "spark", None)
            if mine is None or mine[0] is not engine:
                mine = (engine, engine.cursor())
                self._local.spark = mine
            return mine[1]
        return self.duckdb

    @property
    def duckdb(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor on the session's own DuckDB database (the notebook's, the uploads')."""
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._database.cursor()
            self._local.cursor = cursor
        return cursor

    def close(self) -> None:
        self.disconnect()
        self._finalizer()

    # ----------------------------------------------------------- Spark (lib.remote)

    def connect(self, engine, url: str) -> None:
        """Run the pages on `engine` (a SparkEngine) from now on: the loaded uploads are copied onto
        it (small Arrow tables), so pages that join them with cluster data find them there."""
        from lib.remote import safe_url

        for dataset in self.datasets.values():
            if dataset.table and dataset.kind not in self.remote:
                with self._database.cursor() as cursor:
                    engine.put_frame(dataset.table, cursor.sql(f"SELECT * FROM {quote_ident(dataset.table)}")
                                     .to_arrow_table())
        self.disconnect()
        self.engine, self.spark_url = engine, safe_url(url)
        self.pending_remote = None

    def attach_remote(self, source) -> Dataset:
        """Read `source` (lib.remote.Source: kind, table or path, column fixes) on the cluster as the
        dataset of its kind, in place of any upload of that kind."""
        from lib import remote

        if self.engine is None:
            raise remote.RemoteError("Connect to a Spark server first.")
        dataset = remote.attach(self.engine, source, self.spark_url or "")
        source.kind = dataset.kind
        old = self.datasets.get(dataset.kind)
        if old is not None and dataset.kind not in self.remote:
            self.remove(dataset.kind)
            if dataset.table:  # the upload's copy was dropped with it: the view stands again
                dataset = remote.attach(self.engine, source, self.spark_url or "")
        self.remote[dataset.kind] = source
        self.datasets[dataset.kind] = dataset
        return dataset

    def disconnect(self) -> None:
        """Back to DuckDB: the cluster's datasets are let go (the uploads stay) and the session ends."""
        engine, self.engine = self.engine, None
        for kind in list(self.remote):
            self.remote.pop(kind)
            self.datasets.pop(kind, None)
        self.spark_url = None
        if engine is not None:
            engine.stop()

    # ----------------------------------------------------------- loading

    def load(self, file_name: str, data: bytes, kinds: list[str] | None = None,
             sheet: str | None = None, kind: str | None = None) -> Dataset:
        """Read, recognise and store a file. Re-loading the same bytes is a no-op.

        `kinds` limits recognition to the kinds a page accepts; `kind` forces one.
        """
        key = digest(data)
        for existing in self.datasets.values():
            if existing.digest == key and existing.file_name == file_name and sheet in (None, existing.sheet) \
                    and (kind is None or existing.kind == kind):
                return existing
        candidates = [kind] if kind else (kinds or list(schemas.KINDS))

        def score(columns: list[str]) -> float:
            return schemas.recognise(columns, candidates).score

        table = read_table(file_name, data, sheet=sheet, score_header=score)
        columns = list(table.frame.columns)
        found = schemas.recognise(columns, candidates, table.frame)
        dataset = self._store(table, key, found.kind)
        self._sources[found.kind] = data
        if len(table.sheets) > 1:
            self._workbooks[found.kind] = data  # kept so the user can pick another sheet
        return dataset

    def change_sheet(self, kind: str, sheet: str) -> Dataset:
        """Read another sheet of the workbook loaded as `kind`."""
        dataset = self.datasets[kind]
        return self.load(dataset.file_name, self._workbooks[kind], sheet=sheet, kind=kind)

    def remap(self, kind: str, fixes: dict[str, str | None]) -> Dataset:
        """Apply the user's column fixes to the loaded dataset of `kind`; kept for this file."""
        if kind in self.remote:  # a cluster source: its view is made again with the fixes
            source = self.remote[kind]
            source.fixes = {**source.fixes, **fixes}
            return self.attach_remote(source)
        dataset = self.datasets[kind]
        merged = {**self._fixes.get((dataset.digest, kind), {}), **fixes}
        self._fixes[(dataset.digest, kind)] = merged
        return self._store(self._source_table(kind), dataset.digest, kind)

    def change_kind(self, old_kind: str, new_kind: str) -> Dataset:
        """Read the file loaded as `old_kind` as `new_kind` instead."""
        if old_kind in self.remote:
            from lib.remote import Source

            source = self.remote.pop(old_kind)
            self.datasets.pop(old_kind, None)
            self.engine.drop(old_kind)
            return self.attach_remote(Source(new_kind, source.source))
        dataset = self.datasets.pop(old_kind)
        table = self._source_table(old_kind, dataset)
        self._tables.pop(old_kind, None)
        for kept in (self._sources, self._workbooks):
            if old_kind in kept:
                kept[new_kind] = kept.pop(old_kind)
        self._drop(dataset)
        return self._store(table, dataset.digest, new_kind)

    def _source_table(self, kind: str, dataset: Dataset | None = None) -> Table:
        """The file of `kind` as read; a restored workspace reads it again from the saved bytes."""
        if kind not in self._tables:
            dataset = dataset or self.datasets[kind]
            self._tables[kind] = read_table(dataset.file_name, self._sources[kind], sheet=dataset.sheet)
        return self._tables[kind]

    def _store(self, table: Table, key: str, kind: str, typed=None) -> Dataset:
        """`typed(table, kind, mapping, notes)` → (Arrow table or frame, bad values, extra columns): the
        typing of the file, `_typed` by default; lib.sample passes one that types a bundled file once."""
        columns = list(table.frame.columns)
        mapping = schemas.map_columns(kind, columns, table.frame)
        fixes = self._fixes.get((key, kind))
        if fixes:
            mapping = schemas.apply_fixes(kind, mapping, fixes, columns)
        missing = schemas.missing_columns(kind, mapping)
        dataset = Dataset(table.file_name, key, kind, columns, mapping, missing, None,
                          len(table.frame), sheet=table.sheet, sheets=table.sheets, notes=list(table.notes),
                          candidates=schemas.candidates(kind, columns, table.frame))
        dataset.notes += schemas.mapping_notes(kind, mapping, dataset.candidates)
        # Build the table before publishing the dataset: a page running meanwhile (an overlapping
        # rerun) sees either the old dataset or the new, ready one — never a half-made one.
        if not missing:
            data, dataset.bad_values, dataset.extra_columns = (typed or _typed)(table, kind, mapping, dataset.notes)
            with self._database.cursor() as cursor:  # fresh: this thread's cursor may hold a result
                cursor.register("_incoming", data)
                cursor.execute(f"CREATE OR REPLACE TABLE {quote_ident(kind)} AS SELECT * FROM _incoming")
                cursor.unregister("_incoming")
            dataset.table = kind
        else:
            old = self.datasets.get(kind)
            if old is not None and old.table:
                self._drop(old)
        if self.engine is not None:  # connected to Spark: the upload goes onto the cluster too
            self.remote.pop(kind, None)
            if dataset.table:
                with self._database.cursor() as cursor:
                    self.engine.put_frame(kind, cursor.sql(f"SELECT * FROM {quote_ident(kind)}").to_arrow_table())
        self.datasets[kind] = dataset
        self._tables[kind] = table
        return dataset

    def _drop(self, dataset: Dataset) -> None:
        if dataset.table:
            if self.engine is not None:
                self.engine.drop(dataset.table)
            if dataset.kind not in self.remote:
                self.duckdb.execute(f"DROP TABLE IF EXISTS {quote_ident(dataset.table)}")

    def remove(self, kind: str) -> None:
        dataset = self.datasets.pop(kind, None)
        self._tables.pop(kind, None)
        self._workbooks.pop(kind, None)
        self._sources.pop(kind, None)
        if dataset:
            self._drop(dataset)

    # ----------------------------------------------------------- access

    def get(self, kind: str) -> Dataset | None:
        """The ready dataset of `kind`, or None."""
        dataset = self.datasets.get(kind)
        return dataset if dataset and dataset.ready else None

    def require(self, kind: str) -> Dataset:
        dataset = self.get(kind)
        if dataset is None:
            raise MappingError(f"No {schemas.KINDS[kind].label} loaded yet. Upload a file or load the sample data.")
        return dataset

    def data_key(self) -> str:
        """Changes whenever what the session's tables hold can change: a dataset, a column map, a typed
        input — not a threshold (figures read from the connection alone are cached on this)."""
        parts = [(k, d.digest, d.sheet, d.table, sorted(d.mapping.items())) for k, d in sorted(self.datasets.items())]
        if self.engine is not None:  # the same uploads on a cluster are other tables (lib.remote)
            parts.append(("spark", self.spark_url, id(self.engine)))
        inputs = inputs_json(self.inputs)
        # the digest of the last parts seen, reused while they compare equal: a click keys ~100
        # memoised calls on this, and comparing is a fifth of printing and hashing them again
        last = self._data_key
        if last is not None and last[0] == parts and last[1] == inputs:
            return last[2]
        key = digest(repr((parts, inputs)).encode())
        self._data_key = (parts, inputs, key)
        return key

    def state_key(self) -> str:
        """Changes whenever a dataset, a column map, a typed input or a threshold changes — for
        per-session caches of anything that reads the Workspace."""
        return digest((self.data_key() + self.thresholds.to_json()).encode())

    def save_key(self) -> str:
        """Changes whenever anything a save keeps changes: state_key and the page choices."""
        return digest((self.state_key() + inputs_json(self.choices)).encode())

    def set_input(self, name: str, value: object) -> None:
        """Keep a typed input or choice (a JSON value: dates as ISO text) with the workspace."""
        self.inputs[name] = json.loads(inputs_json(value))  # a copy, checked to be JSON now, not at save

    # ----------------------------------------------------------- saving (lib.store)

    def snapshot(self) -> "Snapshot":
        """What must survive a reload for every page to show the same figures: each dataset's
        description, the user's column fixes, each ready table as Arrow (read out of DuckDB in
        memory when asked for: the sandboxed connection never touches a file, and a save that
        already holds the same table does not read it), the uploaded bytes, thresholds, inputs."""
        snap = Snapshot({"datasets": [], "thresholds": dict(self.thresholds.values),
                         "inputs": json.loads(inputs_json(self.inputs)),
                         "choices": json.loads(inputs_json(self.choices)), "name": self.name})
        if self.remote or self.pending_remote:  # refs to the cluster's data, never the data or a token
            snap.body["spark"] = self.pending_remote or {"url": self.spark_url, "sources": [
                {"kind": s.kind, "source": s.source, "fixes": dict(s.fixes)} for s in self.remote.values()]}
        for kind, dataset in list(self.datasets.items()):
            if kind in self.remote:
                continue
            entry = asdict(dataset)
            entry["fixes"] = dict(self._fixes.get((dataset.digest, kind), {}))
            snap.body["datasets"].append(entry)
            if dataset.table:
                snap.tables[kind] = self._table_reader(dataset.table)
                snap.table_keys[kind] = digest(repr((kind, dataset.digest, dataset.sheet,
                                                     sorted(dataset.mapping.items()))).encode())
            if kind in self._sources:
                snap.sources[kind] = self._sources[kind]
        return snap

    def _table_reader(self, table: str):
        """A function reading the table as Arrow (on a fresh cursor: the calling thread's may hold a
        page's result). Read when the save needs it, right after the snapshot, in the same run."""
        def read():
            with self._database.cursor() as cursor:
                return cursor.sql(f"SELECT * FROM {quote_ident(table)}").to_arrow_table()
        return read

    def restore(self, snap: "Snapshot") -> None:
        """Replace this workspace's datasets and thresholds with a snapshot's (checked by lib.store).
        Tables are built before anything is replaced, so a failure leaves the workspace as it was."""
        checked = Thresholds.from_json(json.dumps(snap.body["thresholds"]), "the workspace's thresholds")
        thresholds = Thresholds({**checked.values, **snap.body["thresholds"]})  # 1 stays 1, not 1.0: same state_key
        inputs, choices = snap.body.get("inputs") or {}, snap.body.get("choices") or {}
        for named in (inputs, choices):
            if not isinstance(named, dict) or not all(isinstance(k, str) for k in named):
                raise MappingError("The workspace's typed inputs or page choices are damaged (not named values).")
        datasets = []
        for entry in snap.body["datasets"]:
            entry = dict(entry)
            fixes = entry.pop("fixes")
            entry["bad_values"] = {k: BadValues(**v) for k, v in entry["bad_values"].items()}
            datasets.append((Dataset(**entry), fixes))
        staged = [d for d, _ in datasets if d.table]
        with self._database.cursor() as cursor:
            try:
                for dataset in staged:
                    cursor.register("_incoming", snap.table(dataset.kind))
                    cursor.execute(f"CREATE OR REPLACE TABLE {quote_ident('_restoring_' + dataset.kind)} "
                                   "AS SELECT * FROM _incoming")
                    cursor.unregister("_incoming")
            except Exception:
                for dataset in staged:
                    cursor.execute(f"DROP TABLE IF EXISTS {quote_ident('_restoring_' + dataset.kind)}")
                raise
            self.disconnect()  # back on DuckDB; a saved workspace's cluster refs wait in pending_remote
            for kind in list(self.datasets):
                old = self.datasets.pop(kind)
                for kept in (self._tables, self._workbooks, self._sources):
                    kept.pop(kind, None)
                if old.table:
                    cursor.execute(f"DROP TABLE IF EXISTS {quote_ident(old.table)}")
            for dataset in staged:
                cursor.execute(f"ALTER TABLE {quote_ident('_restoring_' + dataset.kind)} "
                               f"RENAME TO {quote_ident(dataset.table)}")
        self._fixes.clear()
        for dataset, fixes in datasets:
            self.datasets[dataset.kind] = dataset
            if fixes:
                self._fixes[(dataset.digest, dataset.kind)] = fixes
            if dataset.kind in snap.sources:
                self._sources[dataset.kind] = snap.sources[dataset.kind]
                if len(dataset.sheets) > 1:
                    self._workbooks[dataset.kind] = snap.sources[dataset.kind]
        self.thresholds = thresholds
        self.inputs, self.choices = inputs, choices
        self.name = snap.body.get("name") if isinstance(snap.body.get("name"), str) else None
        self.pending_remote = snap.body.get("spark") or None

    def table_columns(self, table: str) -> list[tuple[str, str]]:
        """(column, type) of a table in this session's database (lib.engine reads the catalogue)."""
        return engine.table_columns(self.con, table)


@dataclass
class Snapshot:
    """A workspace's state, as Workspace.snapshot makes it and lib.store saves it: `body` goes into
    the manifest (JSON), `tables` (kind → Arrow table) become Parquet, `sources` (kind → the
    uploaded bytes) are kept as they came."""

    body: dict
    tables: dict = field(default_factory=dict)  # kind → Arrow table, or a function returning one
    sources: dict[str, bytes] = field(default_factory=dict)
    # kind → what the table's content follows from (file, sheet, column map): a save whose previous
    # version holds the same key links that Parquet file instead of writing it again
    table_keys: dict[str, str] = field(default_factory=dict)

    def table(self, kind: str):
        """The Arrow table of `kind` (read now if the snapshot holds a reader)."""
        table = self.tables[kind]
        return table() if callable(table) else table


def inputs_json(value: object) -> str:
    """Typed inputs as canonical JSON (sorted keys; dates and timestamps as ISO text, NaN as null)."""
    def plain(v):
        if isinstance(v, float) and v != v:
            return None
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if v is pd.NaT or v is None:
            return None
        if hasattr(v, "isoformat"):
            return v.isoformat()
        if hasattr(v, "item") and not isinstance(v, (str, bytes)):  # numpy scalars
            return plain(v.item())
        return v
    return json.dumps(plain(value), sort_keys=True, allow_nan=False, default=str)


def _release(con: duckdb.DuckDBPyConnection, spill_dir: str) -> None:
    try:
        con.close()
    finally:
        shutil.rmtree(spill_dir, ignore_errors=True)
