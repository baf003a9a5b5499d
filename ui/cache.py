"""Per-session memo of figures and charts (issue #20): compute once per click that changes them.

Streamlit reruns a page's whole script on every widget change, so without this every figure and
chart on the page is recomputed on every click. A page wraps its metrics and charts modules once,
after the import:

    from lib.metrics import email as em
    em = session_cached(em)            # every em.func(con, data, filters, …) is now memoised

and shows its charts with `show_chart(chart, width="stretch")` instead of `st.altair_chart`, which
converts and validates a chart built by a memoised call once, not on every rerun.

What a call is keyed on — the function, and each argument by content:
- a DuckDB connection or cursor: `ws.data_key()` of this session's Workspace (its tables: datasets,
  column maps, typed inputs — not thresholds, which a connection cannot reach); the Workspace:
  `ws.state_key()`
  (datasets, column maps, thresholds, typed inputs), plus any attribute a page has hung on the
  Workspace beside the ones every Workspace has, which state_key does not see;
- a Dataset: its digest, kind, sheet, table and column map; Thresholds: their JSON;
- a DataFrame / Series / Index / array: column names, dtypes and `pd.util.hash_pandas_object` —
  hashed once for a frame this memo handed out and the page passes back unchanged (Memo.frame_key);
- a dataclass: its class and fields; numbers, text, dates, tuples, lists, dicts, sets: their values;
- a module-level function: its name; an Altair chart: the memoised call that built it;
- the name of a session table that is not a loaded dataset (typed incidents, typed costs, a joined
  file: state_key does not see them): the table's contents, read on the call's connection (the
  table names are read once a script run until anything that may write runs: `scratch_tables`).
A call with any other argument (a lambda, an unknown object, a chart built on the page) is not
memoised — it simply runs. Functions that write (named `store_…`, `attach_…`, `remember_…`,
`load_…`, `save_…`) and private helpers (`_…`) are never memoised (called through `session_cached`,
they mark the session's tables as changed: `writer`).

Rules that keep it safe:
- One memo per browser session, in `st.session_state`: user data is never shared across sessions.
  Outside a Streamlit session (plain scripts, lib tests) nothing is memoised. The one exception is
  public data: while a session holds only the bundled sample files, unchanged, and nothing typed
  (`public_sample_state`), its figures are also kept once per server (SAMPLE_MEMO) for every other
  session in the same state — a workshop loading the sample data computes each page once.
- Bounded: at most MAX_ENTRIES results and MAX_BYTES (estimated) per session, least recently used
  dropped first, so a long session's memory stays flat.
- A result is handed out as a copy (frames shallowly: pandas 3 copies on write), so a page that
  changes a returned frame cannot change the memo. Altair charts are the exception: they are handed
  out as they are and are only passed on (to another memoised chart function or to `show_chart`),
  never changed in place by the pages.
- An exception (e.g. a BoundaryError naming a bad column) is not stored: the next call runs again
  and raises it the same way.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import enum
import functools
import hashlib
import itertools
import threading
import types
from collections import OrderedDict
from typing import Any, Callable

import numpy as np
import pandas as pd

MEMO_KEY = "_boundary_session_memo"
MAX_ENTRIES = 400
MAX_BYTES = 96 * 2**20  # per session; an estimate (`_size`: cells of frames, text lengths)
NEVER_PREFIXES = ("store_", "attach_", "remember_", "load_", "save_", "_")  # writers, and private helpers
COHORT_CACHE_PREFIX = "_cohorts_cache_"  # lib.metrics.cohorts' own result tables (derived from datasets)


class Uncacheable(Exception):
    """An argument this memo cannot key by content: the call runs without the memo."""


@dataclasses.dataclass
class _Entry:
    value: Any
    size: int


class Memo:
    """One session's memoised results: an LRU bounded by entries and estimated bytes."""

    def __init__(self, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._entries: OrderedDict[tuple, _Entry] = OrderedDict()
        self._origins: dict[int, tuple[Any, tuple]] = {}  # id(chart) → (chart, key of the call that built it)
        self._lock = threading.Lock()  # an overlapping rerun of the same session runs in another thread
        self.bytes = 0
        self.hits = self.misses = 0
        # Frames handed out, so one passed back in as an argument is not hashed again (`frame_key`):
        # id(handed-out frame) → (weak reference to it, what holds its data then, the memo's own frame)
        self._handed: OrderedDict[int, tuple] = OrderedDict()
        self._frame_keys: OrderedDict[tuple, tuple] = OrderedDict()  # (id(memo's frame or list), how) → (it, key, …)
        self._lists: OrderedDict[int, tuple] = OrderedDict()  # lists handed out: id → (it, what it holds, …)
        # The session's table names read once per script run (`_Context.scratch_tables`): valid while
        # `writes` is unchanged, which every call that is not a memo hit bumps (it may create a table)
        self.writes = 0
        self._catalogue: tuple[tuple, frozenset[str]] | None = None
        self._public: tuple[tuple, bool] | None = None  # public_sample_state, once a run (_public_now)

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._origins.clear()
            self._handed.clear()
            self._lists.clear()
            self._frame_keys.clear()
            self._catalogue = None
            self.bytes = 0

    def get(self, key: tuple) -> tuple[bool, Any]:
        hit, value, _ = self.get_sized(key)
        return hit, value

    def get_sized(self, key: tuple) -> tuple[bool, Any, int]:
        """(found, value, its estimated size): a value copied into another memo keeps its size."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return False, None, 0
            self._entries.move_to_end(key)
            self.hits += 1
            return True, entry.value, entry.size

    def put(self, key: tuple, value: Any, size: int | None = None) -> None:
        size = _size(value) if size is None else size
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._forget(old)
            self._entries[key] = _Entry(value, size)
            self.bytes += size
            if _is_chart(value):
                self._origins[id(value)] = (value, key)
            while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
                _, dropped = self._entries.popitem(last=False)
                self._forget(dropped)

    def _forget(self, entry: _Entry) -> None:
        self.bytes -= entry.size
        origin = self._origins.get(id(entry.value))
        if origin is not None and origin[0] is entry.value:
            del self._origins[id(entry.value)]

    # ---- frames handed out and passed back in: hashed once, not on every call
    #
    # Why a digest can be reused: a handed-out frame is a shallow copy of the frame the memo keeps
    # (`stored`), and the record below holds `stored` alive. While another frame shares its blocks,
    # pandas' copy-on-write copies a block before any write to the copy (`.loc[…] = `, `iloc`, setitem,
    # `inplace=` methods), so its block arrays are new objects, and adding, dropping, renaming or
    # reordering columns or rows replaces its blocks, manager or axes. So while the manager, every
    # block's values and both axes are the very objects recorded at hand-out, the frame holds the data
    # `stored` holds; otherwise it is hashed again. (Writing into `frame.array` bypasses copy-on-write;
    # it would change the memo's own frame too, which hand-outs already rule out: nothing does it.)

    MAX_HANDED = 1024

    def handed_out(self, frame, stored, keys: Memo | None = None, origin: tuple | None = None) -> None:
        """Record that `frame` (a DataFrame or Series) was handed out as a shallow copy of `stored`;
        `keys`: the memo whose content keys of `stored` to use (SAMPLE_MEMO for its public frames,
        which every session hands out: hashed once per server); `origin`: (the key of the memoised
        call that returned it, where in its result) — its key while unchanged (`handed_key`)."""
        import weakref

        with self._lock:
            self._handed[id(frame)] = (weakref.ref(frame), _holders(frame), stored, self if keys is None else keys,
                                       origin)
            while len(self._handed) > self.MAX_HANDED:
                self._handed.popitem(last=False)

    # A list of dataclasses whose fields hold only immutable values (the flags a page passes on) is
    # the same while the list holds the very element objects and each element the very field values
    # it was handed out with: lists and dataclasses can change, but only by swapping those objects.
    def handed_list(self, out: list, stored: list, keys: Memo | None = None, origin: tuple | None = None) -> None:
        with self._lock:
            self._lists[id(out)] = (out, _list_holders(out), stored, self if keys is None else keys, origin)
            while len(self._lists) > self.MAX_HANDED:
                self._lists.popitem(last=False)

    def list_key(self, value: list, ctx: _Context) -> Any:
        """The key of a list handed out by this memo and unchanged (see above): by provenance — the
        key of the memoised call that returned it and its place in that result (`_origin_key`), or
        for a list handed out without one its contents, computed once for all its copies; None for
        any other list. Its text values may name a session table, whose key is its contents: then
        (or if one names a table now) it is keyed afresh, by contents."""
        with self._lock:
            record = self._lists.get(id(value))
        if record is None or record[0] is not value or not _same_list_holders(record[1], _list_holders(value)):
            return None
        stored, owner, origin = record[2], record[3], record[4]
        if origin is not None:
            if ctx.reads_tables:  # only then can a text name a table: its texts, once per stored list
                with owner._lock:
                    texts = owner._frame_keys.get((id(stored), "texts"))
                if texts is None or texts[0] is not stored:
                    texts = (stored, _texts(value))
                    with owner._lock:
                        owner._frame_keys[(id(stored), "texts")] = texts
                        while len(owner._frame_keys) > owner.MAX_HANDED:
                            owner._frame_keys.popitem(last=False)
                if texts[1] & ctx.scratch_tables():
                    return None
            return _origin_key(origin, "list")
        with owner._lock:
            found = owner._frame_keys.get((id(stored), "list"))
        if found is None or found[0] is not stored:
            plain = _Context(ctx.memo, ctx._get_ws)  # reads no tables: the names are checked below
            key = ("list", tuple(_key(v, plain) for v in value))
            found = (stored, key, _texts(value))
            with owner._lock:
                owner._frame_keys[(id(stored), "list")] = found
                while len(owner._frame_keys) > owner.MAX_HANDED:
                    owner._frame_keys.popitem(last=False)
        if ctx.reads_tables and found[2] & ctx.scratch_tables():
            return None
        return found[1]

    def handed_key(self, frame, compute: Callable[[Any], Any]) -> Any:
        """A key standing for `compute(frame)` for a frame handed out by this memo that still holds the
        very data it was handed out with (see above): by provenance (`_origin_key`: the memoised call
        that returned it and its place in that result, which fix its content), or for one handed out
        without an origin `compute(frame)`, computed once for all its copies; None for any other frame."""
        with self._lock:
            record = self._handed.get(id(frame))
        if record is None:
            return None
        ref, holders, stored, owner, origin = record
        if ref() is not frame or not _same_holders(holders, _holders(frame)):
            return None
        if origin is not None:
            return _origin_key(origin, compute.__qualname__)
        with owner._lock:
            found = owner._frame_keys.get((id(stored), compute))
        if found is not None and found[0] is stored:
            return found[1]
        key = compute(frame)
        with owner._lock:
            owner._frame_keys[(id(stored), compute)] = (stored, key)
            while len(owner._frame_keys) > owner.MAX_HANDED:
                owner._frame_keys.popitem(last=False)
        return key

    def frame_key(self, frame, compute: Callable[[Any], Any]) -> Any:
        """`compute(frame)`, reused for a frame handed out by this memo and unchanged (handed_key)."""
        key = self.handed_key(frame, compute)
        return compute(frame) if key is None else key

    def tables_may_change(self) -> None:
        """Code that may write has run (a memoised function computing, a writer): the session's tables
        are read again before the next key that needs them."""
        with self._lock:
            self.writes += 1
            self._catalogue = None

    def origin(self, obj: Any) -> tuple | None:
        """The key of the memoised call that returned `obj` (still held), or None."""
        with self._lock:
            found = self._origins.get(id(obj))
        return found[1] if found is not None and found[0] is obj else None


def session_memo() -> Memo | None:
    """This browser session's memo, created on first use; None outside a Streamlit session."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    if get_script_run_ctx(suppress_warning=True) is None:
        return None
    import streamlit as st

    memo = st.session_state.get(MEMO_KEY)
    if memo is None:
        memo = st.session_state[MEMO_KEY] = Memo()
    return memo


def _session_workspace():
    from ui.common import workspace

    return workspace()


# ----------------------------------------------------------------------------------- keys

_workspace_own: set[str] | None = None


def _own_attributes() -> set[str]:
    """The attributes every Workspace has from its constructor: what state_key covers (datasets, maps,
    thresholds, typed inputs) or deliberately leaves out (page choices, the saved name, handles).
    Anything else was hung on the Workspace later by a page (in-app event roles) and is keyed too."""
    global _workspace_own
    if _workspace_own is None:
        from lib.datasets import Workspace

        probe = Workspace()
        _workspace_own = set(vars(probe))
        probe.close()
    return _workspace_own


class _Context:
    """What one call's key needs from the session, fetched once per call and only if needed."""

    def __init__(self, memo: Memo, workspace_getter: Callable[[], Any], con=None) -> None:
        self.memo, self._get_ws = memo, workspace_getter
        self.con = con  # the call's own connection: a temporary table shows on it alone
        self.reads_tables = False  # a call with a connection or Workspace: its text arguments may name tables
        self._ws_key = None
        self._data_key: str | None = None
        self._scratch: frozenset[str] | None = None

    def session_data_key(self) -> str:
        if self._data_key is None:
            self._data_key = self._get_ws().data_key()
        return self._data_key

    def workspace_key(self, ws=None) -> tuple:
        if ws is not None and ws is not self._get_ws():
            return ("workspace", _workspace_key(ws, self))
        if self._ws_key is None:
            self._ws_key = _workspace_key(self._get_ws(), self)
        return ("workspace", self._ws_key)

    def data_key(self) -> tuple:
        return ("data", _workspace_key(self._get_ws(), self, data_only=True))

    def scratch_tables(self) -> frozenset[str]:
        """Session tables that are not a loaded dataset's (typed incidents, typed costs, a joined
        file): state_key does not see their contents, so a call naming one is keyed by them
        (`table_digest`). Read on the call's own connection, once per script run while nothing that
        may write has run since: the names are reused only for the same run, connection, Workspace
        and data_key (uploads, column maps, typed inputs, a Spark connection) and the same count of
        `Memo.tables_may_change` (bumped before and after every memoised function given a connection
        or a Workspace that computes, every call that cannot be memoised and every writer called
        through `session_cached`: typed tables, joined files, cohorts' and voice's own tables are
        written there). The notebook cannot create tables (lib.notebook refuses it; its temporary
        ones end with its own cursor)."""
        if self._scratch is None:
            ws = self._get_ws()
            con = self.con if self.con is not None else ws.con
            marker = _run_marker()
            token = (marker, con, ws, self.session_data_key(), self.memo.writes)
            cached = self.memo._catalogue if marker is not None else None
            if cached is not None and _same_token(cached[0], token, objects=3):
                self._scratch = cached[1]
                return self._scratch
            datasets = {d.table for d in ws.datasets.values() if d.table}
            if _is_spark(con):  # a Spark workspace (lib.remote): the session's views, through lib.engine
                rows = [(name,) for name in con.tables()]
            else:
                rows = con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
            self._scratch = frozenset(name for (name,) in rows
                                      if name not in datasets and not name.startswith(COHORT_CACHE_PREFIX))
            if marker is not None:
                with self.memo._lock:
                    if self.memo.writes == token[-1]:  # nothing wrote meanwhile (another thread)
                        self.memo._catalogue = (token, self._scratch)
        return self._scratch


    def table_digest(self, name: str) -> str:
        """The contents of a session table that is not a dataset (typed incidents, typed costs, a
        joined file: small), read on the call's own connection, which alone sees a temporary one."""
        import duckdb

        from lib.sql import quote_ident

        con = self.con if self.con is not None else self._get_ws().con
        try:
            frame = con.execute(f"SELECT * FROM {quote_ident(name)}").df()
        except Exception as exc:  # duckdb.Error, or Spark's on a cluster
            raise Uncacheable(f"session table {name!r}: {exc}") from exc
        return _frame_digest(frame) + repr(list(frame.columns)) + repr(list(frame.dtypes))


def _run_marker():
    """An object that is new for every script run of this session (Streamlit's per-run `cursors`
    dict, replaced by ScriptRunContext.reset), or None outside a run: then nothing is reused."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx(suppress_warning=True)
    return getattr(ctx, "cursors", None) if ctx is not None else None


def _same_token(old: tuple, new: tuple, objects: int) -> bool:
    """True when a per-run token still holds: its first `objects` items are the very same objects
    (the run marker, connection, Workspace), the rest equal values."""
    return (len(old) == len(new) and all(a is b for a, b in zip(old[:objects], new[:objects]))
            and old[objects:] == new[objects:])


def _holders(obj) -> tuple:
    """The objects holding a frame's or series' data: its manager, each block, its values and
    placement, and the axes (see Memo.frame_key for why their identity stands for the data)."""
    mgr = obj._mgr
    return (mgr, *(part for b in mgr.blocks for part in (b, b.values, b.mgr_locs)), *mgr.axes)


def _origin_key(origin: tuple, what: str) -> tuple:
    """The key of a value handed out unchanged by a memoised call: (that call's key, the value's place
    in its result, what is keyed). The call's key fixes the result, so it fixes the value, in every
    session alike (a public sample figure from SAMPLE_MEMO has the same key everywhere); another call
    returning an equal value gives another key (a miss, computed again), never a wrong hit."""
    return ("from", origin[0], origin[1], what)


def _texts(value: list) -> frozenset:
    """The text values in a list of dataclasses' fields (a text may name a session table)."""
    return frozenset(leaf for el in value for field in _field_values(el) for leaf in _leaves(field)
                     if isinstance(leaf, str))


def _leaves(value) -> tuple:
    return value if type(value) is tuple else (value,)


def _immutable_fields(element) -> bool:
    """A dataclass instance whose fields hold only immutable values (text, numbers, dates, tuples of them)."""
    if not dataclasses.is_dataclass(element) or isinstance(element, type):
        return False
    return all(leaf is None or leaf is pd.NaT or isinstance(leaf, _PLAIN)
               for field in _field_values(element) for leaf in _leaves(field))


def _list_holders(value: list) -> tuple:
    """What a list of dataclasses holds: each element and each element's field values."""
    return tuple((el, _field_values(el) if _is_instance(el) else None) for el in value)


def _same_list_holders(old: tuple, new: tuple) -> bool:
    return len(old) == len(new) and all(
        a is b and (fa is None) == (fb is None) and (fa is None or _same_holders(fa, fb))
        for (a, fa), (b, fb) in zip(old, new))


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    """A dataclass's field names, once per class: dataclasses.fields builds its tuple anew on every
    call, and a page's ~150 flags pass through here several times a click."""
    return tuple(f.name for f in dataclasses.fields(cls))


def _field_values(obj) -> tuple:
    return tuple(getattr(obj, name) for name in _field_names(type(obj)))


def _is_instance(value) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def _same_holders(old: tuple, new: tuple) -> bool:
    return len(old) == len(new) and all(a is b for a, b in zip(old, new))


def _workspace_key(ws, ctx: _Context, data_only: bool = False) -> tuple:
    own = _own_attributes()
    extra = {name: value for name, value in vars(ws).items() if name not in own}
    if data_only:
        data = ctx.session_data_key() if ws is ctx._get_ws() else ws.data_key()
    else:
        data = ws.state_key()
    return (data, _key(extra, ctx) if extra else ())


def _frame_digest(obj) -> str:
    try:
        hashed = pd.util.hash_pandas_object(obj, index=True)
    except TypeError as exc:  # unhashable cells (lists, dicts)
        raise Uncacheable(str(exc)) from exc
    return hashlib.sha1(hashed.to_numpy().tobytes()).hexdigest()


def _frame_content(frame: pd.DataFrame) -> tuple:
    return ("frame", repr(list(frame.columns)), repr(list(frame.dtypes)), _frame_digest(frame))


def _series_content(series: pd.Series) -> tuple:
    return (str(series.dtype), _frame_digest(series))


def _key(value: Any, ctx: _Context) -> Any:
    """A hashable key standing for `value`'s content (see the module docstring); Uncacheable if none."""
    import duckdb

    from lib.config import Thresholds
    from lib.datasets import Dataset, Workspace

    if value is None or isinstance(value, (bool, int, bytes)):
        return value
    if isinstance(value, str):
        if ctx.reads_tables and value in ctx.scratch_tables():
            return ("session table", value, ctx.table_digest(value))  # state_key does not see its contents
        return value
    if isinstance(value, (float, np.generic, dt.date, dt.datetime, dt.time, dt.timedelta, pd.Timestamp,
                          pd.Timedelta, pd.Period, enum.Enum)) or value is pd.NaT or value is pd.NA:
        return (type(value).__name__, repr(value))
    if type(value) is list:
        known = ctx.memo.list_key(value, ctx)
        if known is not None:
            return known
    if isinstance(value, (tuple, list)):
        return (type(value).__name__, tuple(_key(v, ctx) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple(sorted(((repr(k), _key(v, ctx)) for k, v in value.items()), key=lambda kv: kv[0])))
    if isinstance(value, (set, frozenset)):
        return ("set", tuple(sorted(repr(_key(v, ctx)) for v in value)))
    if isinstance(value, duckdb.DuckDBPyConnection) or _is_spark(value):
        return ctx.data_key()  # a connection reaches the tables, not the thresholds
    if isinstance(value, Workspace):
        return ctx.workspace_key(value)
    if isinstance(value, Dataset):
        return ("dataset", value.digest, value.kind, value.sheet, _key(value.table, ctx),
                tuple(sorted(value.mapping.items())))
    if isinstance(value, Thresholds):
        return ("thresholds", value.to_json())
    if isinstance(value, pd.DataFrame):  # the axes' names are not data either: read on every call
        return (*ctx.memo.frame_key(value, _frame_content), tuple(value.index.names), tuple(value.columns.names))
    if isinstance(value, pd.Series):  # the name is not data: read on every call
        return ("Series", repr(value.name), *ctx.memo.frame_key(value, _series_content))
    if isinstance(value, pd.Index):
        return ("Index", repr(value.name), str(value.dtype), _frame_digest(value))
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return ("array", _key(pd.Series(value.ravel()), ctx), value.shape)
        return ("array", str(value.dtype), value.shape, hashlib.sha1(np.ascontiguousarray(value).tobytes()).hexdigest())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (type(value).__module__, type(value).__qualname__,
                tuple((name, _key(getattr(value, name), ctx)) for name in _field_names(type(value))))
    if isinstance(value, (types.FunctionType, types.BuiltinFunctionType, type)):
        name = getattr(value, "__qualname__", "")
        if "<" in name:  # a lambda or a function defined inside another: its closure is unseen
            raise Uncacheable(f"function {name}")
        return ("function", value.__module__, name)
    if _is_chart(value):
        origin = ctx.memo.origin(value)
        if origin is None:
            raise Uncacheable("a chart not built by a memoised call")
        return ("chart", origin)
    raise Uncacheable(f"argument of type {type(value).__name__}")


def _is_spark(value: Any) -> bool:
    """A lib.engine.SparkEngine (a Spark workspace's `ws.con`: Workspace.data_key covers its views)."""
    from lib.engine import SparkEngine

    return isinstance(value, SparkEngine)


def _is_chart(value: Any) -> bool:
    alt = _altair()
    return alt is not None and isinstance(value, alt.TopLevelMixin)


def _altair():
    try:
        import altair
    except ImportError:  # pragma: no cover - altair is a requirement
        return None
    return altair


_SIZE_SAMPLE = 16  # items of a list sized; the rest are taken to be alike


def _size(value: Any, depth: int = 0) -> int:
    """Estimated bytes held by a result (frames by their memory use, text by length)."""
    if depth > 6:
        return 64
    if isinstance(value, (pd.DataFrame, pd.Series, pd.Index)):
        # 8 bytes a cell, plus ~48 per text/object cell: counting the real use walks every column
        dtypes = list(value.dtypes) if isinstance(value, pd.DataFrame) else [value.dtype]
        texts = sum(1 for dtype in dtypes if not (isinstance(dtype, np.dtype) and dtype.kind in "biufcmM"))
        return 64 + len(value) * (8 * (len(dtypes) + 1) + 48 * texts)
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, (str, bytes)):
        return len(value) + 50
    if isinstance(value, (list, tuple, set, frozenset)):
        # a long list (a page's ~150 flags) by its first items, scaled: walking every flag's fields on
        # each click cost more than the figures it sizes; the bound needs no more than an estimate
        items = value if len(value) <= _SIZE_SAMPLE else list(itertools.islice(value, _SIZE_SAMPLE))
        return 56 + sum(_size(v, depth + 1) for v in items) * len(value) // max(len(items), 1)
    if isinstance(value, dict):
        return 64 + sum(_size(k, depth + 1) + _size(v, depth + 1) for k, v in value.items())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return 64 + sum(_size(field, depth + 1) for field in _field_values(value))
    if _is_chart(value):
        return 20_000 + _size(getattr(value, "data", None), depth + 1)
    if type(value).__module__.startswith("pyarrow") and hasattr(value, "nbytes"):  # a table shown (show_table)
        return 64 + int(value.nbytes)
    return 64


# ----------------------------------------------------------------------------------- wrappers

_PLAIN = (str, bytes, int, float, bool, type(None), np.generic, dt.date, dt.time, dt.timedelta, pd.Timedelta,
          enum.Enum)


def _hand_out(value: Any, memo: Memo | None = None, depth: int = 0, keys: Memo | None = None,
              origin: tuple | None = None) -> Any:
    """A copy of a memoised result that the page may change freely. Frames and series are copied
    shallowly: pandas 3 copies on write, so a change to either copy never reaches the other (and
    their arrays are read-only views); containers and dataclasses are rebuilt around such copies.
    Each frame or series handed out is recorded in `memo` (Memo.handed_out): passed back in as an
    argument unchanged, it is not hashed again: with `origin` (the key of the memoised call that
    returned `value`, and a place in it: `()` for the whole) it is keyed by that and its place, not
    by its contents (Memo.handed_key, list_key)."""
    if _is_chart(value) or isinstance(value, _PLAIN) or value is pd.NaT or value is pd.NA:
        return value
    if isinstance(value, (pd.DataFrame, pd.Series, pd.Index)):
        out = value.copy(deep=False)
        if memo is not None and not isinstance(value, pd.Index):
            memo.handed_out(out, value, keys, origin)
        return out
    if depth > 8:
        return copy.deepcopy(value)
    if type(value) in (list, tuple, set, frozenset):
        if all(isinstance(v, _PLAIN) for v in value):  # plain values: a new container is copy enough
            return value if type(value) in (tuple, frozenset) else type(value)(value)
        out = type(value)(_hand_out(v, memo, depth + 1, keys, _at(origin, i)) for i, v in enumerate(value))
        if memo is not None and type(value) is list and value and all(_immutable_fields(v) for v in out):
            memo.handed_list(out, value, keys, origin)
        return out
    if type(value) is dict:
        if all(isinstance(v, _PLAIN) for v in value.values()):
            return dict(value)
        return {k: _hand_out(v, memo, depth + 1, keys, _at(origin, ("key", k))) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        new = copy.copy(value)
        for name in _field_names(type(value)):
            field = getattr(value, name)
            if not (isinstance(field, _PLAIN) or field is pd.NaT or field is pd.NA):  # those are handed out as they are
                object.__setattr__(new, name, _hand_out(field, memo, depth + 1, keys, _at(origin, name)))
        return new
    return copy.deepcopy(value)


def _at(origin: tuple | None, step) -> tuple | None:
    """`origin` one step into a result: an item's position, a dict key, a dataclass field."""
    return None if origin is None else (origin[0], (*origin[1], step))


# Figures of the bundled sample data as loaded (public, the same for every visitor): kept once per
# server, so a workshop of 20 people clicking "Load sample data" computes each page once, not 20 times.
SAMPLE_MEMO = Memo(max_entries=2000, max_bytes=192 * 2**20)


# Typed inputs that are choices over the loaded files' own values, like a column map: the in-app
# event roles map the file's event names to one of five roles. Typed tables (incidents, costs,
# rules, a calendar) and notebook cells hold what the user wrote, and end the public state.
CHOICE_INPUTS = {"in_app_roles"}


def public_sample_state(ws) -> bool:
    """True while the session holds nothing but bundled sample files, byte for byte, and nothing
    typed: no typed inputs beyond choices over the files' values (CHOICE_INPUTS) and nothing hung on
    the Workspace. Every session in that state (same state_key: same files, column maps, roles,
    thresholds) gets the same figures, so they are kept in SAMPLE_MEMO for all; an upload or a
    typed table ends it for that session."""
    from lib.sample import sample_digests

    inputs = getattr(ws, "inputs", None) or {}
    if not ws.datasets or set(inputs) - CHOICE_INPUTS or set(vars(ws)) - _own_attributes():
        return False
    known = sample_digests()
    return all(known.get(kind) == (d.file_name, d.digest) for kind, d in ws.datasets.items())


def _public_now(memo: Memo, get_ws: Callable[[], Any], ctx: _Context) -> bool:
    """public_sample_state of the session's Workspace, worked out once a script run while its data
    key (datasets, column maps, typed inputs), file names and attribute names stay the same."""
    ws, marker = get_ws(), _run_marker()
    if marker is None:
        return public_sample_state(ws)
    token = (marker, ws, ctx.session_data_key(), tuple((k, d.file_name) for k, d in ws.datasets.items()),
             frozenset(vars(ws)))
    known = memo._public
    if known is not None and _same_token(known[0], token, objects=2):
        return known[1]
    public = public_sample_state(ws)
    memo._public = (token, public)
    return public


def memoised(func: Callable, memo: Memo | Callable[[], Memo | None] | None = None,
             workspace: Callable[[], Any] | None = None, shared: Memo | None = None) -> Callable:
    """`func` memoised per session (see the module docstring). `memo`, `workspace` and `shared` are
    for tests: a Memo (or a function returning the current one), a function returning the session's
    Workspace and the memo for public sample figures; by default this session's memo in
    st.session_state, ui.common.workspace() and SAMPLE_MEMO."""
    get_memo = memo if callable(memo) else (lambda: memo) if memo is not None else session_memo
    get_ws = workspace or _session_workspace
    shared = SAMPLE_MEMO if shared is None else shared

    def call(*args, **kwargs):
        current = get_memo()
        if current is None:
            return func(*args, **kwargs)
        import duckdb

        from lib.datasets import Workspace

        everything = (*args, *kwargs.values())
        ctx = _Context(current, get_ws, next((a for a in everything
                                              if isinstance(a, duckdb.DuckDBPyConnection) or _is_spark(a)), None))
        ctx.reads_tables = ctx.con is not None or any(isinstance(a, Workspace) for a in everything)
        try:
            key = (func.__module__, func.__qualname__, func, tuple(_key(a, ctx) for a in args),
                   tuple(sorted((name, _key(v, ctx)) for name, v in kwargs.items())))
        except Uncacheable:
            return _writing(func, current, args, kwargs)
        hit, value = current.get(key)
        if hit:
            return _hand_out(value, current, origin=(key, ()))
        public = _public_now(current, get_ws, ctx)
        if public:
            hit, value, size = shared.get_sized(key)
            if hit:
                current.put(key, value, size)
                return _hand_out(value, current, keys=shared, origin=(key, ()))
        # An exception propagates and nothing is stored. Only a call given a connection or Workspace can
        # write a session table (lib is pure): others (charts, display frames) leave the catalogue as read.
        value = _writing(func, current if ctx.reads_tables else None, args, kwargs)
        try:
            out = _hand_out(value, current, keys=shared if public else None, origin=(key, ()))
        except Exception:  # a result that cannot be copied (holds a live handle): not memoised
            return value
        size = _size(value)  # once for both memos
        current.put(key, value, size)
        if public:
            shared.put(key, value, size)
        return out

    call.__wrapped__ = func
    call.__name__, call.__qualname__, call.__doc__ = func.__name__, func.__qualname__, func.__doc__
    return call


def _writing(func: Callable, memo: Memo | None, args: tuple, kwargs: dict) -> Any:
    """Run `func`, which may create or replace session tables: the memo reads the table names
    again before the next key that needs them (before and after, for memoised calls inside it)."""
    if memo is None:
        return func(*args, **kwargs)
    memo.tables_may_change()
    try:
        return func(*args, **kwargs)
    finally:
        memo.tables_may_change()


def writer(func: Callable, memo=None) -> Callable:
    """`func` (a `store_…`, `attach_…` or private function, never memoised) run through `_writing`
    for this session's memo (or `memo`, for tests)."""
    get_memo = memo if callable(memo) else (lambda: memo) if memo is not None else session_memo

    def call(*args, **kwargs):
        return _writing(func, get_memo(), args, kwargs)

    call.__wrapped__ = func
    call.__name__, call.__qualname__, call.__doc__ = func.__name__, func.__qualname__, func.__doc__
    return call


class _CachedModule:
    """A module whose public functions are memoised; every other attribute is the module's own."""

    def __init__(self, module: types.ModuleType, memo=None, workspace=None) -> None:
        self._module, self._memo, self._workspace = module, memo, workspace
        self._wrapped: dict[str, Callable] = {}

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._module, name)
        if not isinstance(value, types.FunctionType):
            return value
        wrapped = self._wrapped.get(name)
        if wrapped is None or wrapped.__wrapped__ is not value:
            wrapped = self._wrapped[name] = (writer(value, self._memo) if name.startswith(NEVER_PREFIXES)
                                             else memoised(value, self._memo, self._workspace))
        return wrapped

    def __repr__(self) -> str:
        return f"<session-memoised {self._module.__name__}>"


def session_cached(target, memo=None, workspace=None):
    """A module (its public functions memoised) or a function, memoised per browser session.
    `memo` and `workspace`: for tests (see `memoised`)."""
    if isinstance(target, types.ModuleType):
        return _CachedModule(target, memo, workspace)
    if isinstance(target, types.FunctionType):
        if target.__name__.startswith(NEVER_PREFIXES):
            return writer(target, memo)
        return memoised(target, memo, workspace)
    raise TypeError(f"session_cached takes a module or a function, not {type(target).__name__}")


# ----------------------------------------------------------------------------------- charts

class _Unvalidated:
    """A chart as Streamlit's converter sees it (it only calls `to_dict()`), with Altair's jsonschema
    validation off: that was 60–75 % of converting the project's charts (an email filter click 0.2 s)
    and changes nothing in the spec. The builders' charts are validated by the tests instead
    (tests/test_pages.py runs every page on the sample data and validates each chart shown).
    Converted by lib.charts.common.to_vega_lite: the same spec without Altair re-merging the layers of
    a layered chart on each of the copies to_dict makes (half of what was left of converting)."""

    def __init__(self, chart) -> None:
        self.chart = chart

    def to_dict(self) -> dict:
        from lib.charts.common import to_vega_lite  # imported already: see chart_spec

        return to_vega_lite(self.chart)


def chart_spec(chart) -> dict:
    """Streamlit's own Vega-Lite spec of an Altair chart (theme, Arrow datasets), unvalidated."""
    from streamlit.elements import vega_charts

    import lib.charts.common  # noqa: F401 — enables the app's Altair theme before Streamlit reads the active one

    return vega_charts._convert_altair_to_vega_lite_spec(_Unvalidated(chart))


def _spec_size(spec: dict) -> int:
    """A converted chart's estimated bytes: its Arrow datasets and a fixed share for the rest (walking
    the spec's few hundred small values on every new chart cost more than converting some of them)."""
    datasets = spec.get("datasets") or {}
    return 20_000 + sum(len(v) if isinstance(v, bytes) else _size(v) for v in datasets.values())


def show_chart(chart, where=None, **kwargs):
    """`st.altair_chart(chart, **kwargs)` (`where.altair_chart` in a column or container), converting the chart to its Vega-Lite spec (and validating
    it) once per session for a chart built by a memoised call, instead of on every rerun.

    The spec is Streamlit's own conversion (its theme handling and Arrow datasets), so the browser
    gets exactly what st.altair_chart would send. A chart built on the page itself, or with
    selections (on_select), goes to st.altair_chart as it is."""
    import streamlit as st

    where = st if where is None else where
    memo = session_memo()
    origin = memo.origin(chart) if memo is not None else None
    if origin is None or kwargs.get("on_select", "ignore") != "ignore":
        return where.altair_chart(chart, **kwargs)
    key = ("chart spec", origin)
    hit, spec = memo.get(key)
    if not hit:
        public = public_sample_state(_session_workspace())
        hit, spec = SAMPLE_MEMO.get(key) if public else (False, None)
        if not hit:
            spec = chart_spec(chart)
            if public:
                SAMPLE_MEMO.put(key, spec, _spec_size(spec))
        memo.put(key, spec, _spec_size(spec))
    # Streamlit moves the datasets out of the spec it is given: hand it a copy (the Arrow bytes are shared)
    return where.vega_lite_chart(spec=copy.deepcopy(spec), **kwargs)
