"""Saved workspaces: one folder per workspace on disk, and the `.boundary` file that carries one.

Both hold the same things: `manifest.json` (a versioned document, `"format": 1`, like nbformat's:
the datasets' descriptions, column fixes, thresholds, the owner, an optional name, and a SHA-256 of
every data file)
beside the data files — each ready table as Parquet (`<kind>.parquet`) and each upload's bytes as
they came (`<kind>.source`, so a restored dataset can still be re-mapped).

Folder layout (`BOUNDARY_DATA_DIR`, default `~/.boundary/workspaces`):

    <id>/current          the name of the complete version, replaced atomically
    <id>/v-<token>/       manifest.json + data files of one save

A save writes a new version folder (files fsynced, then the folder), then swaps `current`, then
removes older versions: a crash at any point leaves the previous save readable. The id is
`secrets.token_urlsafe`: without sign-in it is the key; with sign-in the manifest's owner must match.

Everything read back — a `.boundary` upload above all — is untrusted: sizes are capped (zip
bombs), names are plain file names listed in the manifest, checksums must match, and the format
version must be one this code reads. Each refusal is a StoreError naming the file.
Pure: no streamlit. The session's sandboxed DuckDB connection never reads or writes these files
(lib.datasets hands over Arrow tables; Parquet is written and read here with pyarrow).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import threading
import time
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import fields
from datetime import datetime, timezone
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: saves of one workspace are not serialised across processes there
    fcntl = None
import pyarrow as pa
import pyarrow.parquet as pq

from lib import schemas
from lib.datasets import Dataset, Snapshot
from lib.errors import BoundaryError

FORMAT = 1
DATA_DIR_ENV = "BOUNDARY_DATA_DIR"
MANIFEST = "manifest.json"
# Limits on what is read back (a .boundary file is untrusted input).
MAX_UNPACKED_BYTES = 4 * 1024**3  # all files of one workspace, uncompressed
MAX_RATIO = 200  # uncompressed ÷ compressed, per zip entry over 1 MB (Parquet and CSV stay far below)
MAX_ENTRIES = 100
MAX_MANIFEST_BYTES = 50 * 1024**2
STALE_SECONDS = 3600  # a staging folder this old is a crashed save's
# Disk one person's saved workspaces may take, and how long an untouched workspace is kept
# (README "Workspaces"): on a shared link nobody can fill the server's disk, and old data goes.
QUOTA_MB = float(os.environ.get("BOUNDARY_WORKSPACE_QUOTA_MB", "5000"))
RETENTION_DAYS = float(os.environ.get("BOUNDARY_WORKSPACE_DAYS", "90"))

_ID = re.compile(r"[A-Za-z0-9_-]{20,64}")
_FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,120}")
NAME_MAX = 80  # characters in a workspace's name ("My workspaces" on Home)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_last_sweep = float("-inf")  # when Store._sweep last ran (time.monotonic)
NOT_YOURS = "This workspace can't be opened: it is not yours or not shared with you (or it was deleted)."


class StoreError(BoundaryError):
    """A saved workspace or .boundary file that can't be opened, in plain words."""


def data_dir() -> Path:
    """Where workspaces are kept: $BOUNDARY_DATA_DIR, else ~/.boundary/workspaces."""
    return Path(os.environ.get(DATA_DIR_ENV) or Path.home() / ".boundary" / "workspaces")


def new_id() -> str:
    """An unguessable workspace id (192 random bits)."""
    return secrets.token_urlsafe(24)


def valid_id(workspace_id: str) -> bool:
    return isinstance(workspace_id, str) and bool(_ID.fullmatch(workspace_id))


def clean_name(name: str) -> str:
    """A workspace name as plain one-line text: control characters and line breaks become single
    spaces, ends trimmed. Empty or longer than NAME_MAX is refused (pages escape it with escape_md)."""
    text = " ".join(_CONTROL.sub(" ", name if isinstance(name, str) else "").split())
    if not text:
        raise StoreError("A workspace name can't be empty: type a few words.")
    if len(text) > NAME_MAX:
        raise StoreError(f"A workspace name has at most {NAME_MAX} characters; this one has {len(text)}.")
    return text


def default_name(files: list, saved_at: str | None) -> str:
    """What an unnamed workspace is called: its first two file names, else "Workspace of <date>"."""
    names = [f for f in files if isinstance(f, str) and f]
    if names:
        more = f" + {len(names) - 2} more" if len(names) > 2 else ""
        return (", ".join(names[:2]) + more)[:NAME_MAX]
    return f"Workspace of {(saved_at or '')[:10] or 'unknown date'}"


# ------------------------------------------------------------------ manifest + files


def encode(snap: Snapshot, owner: str | None = None, name: str | None = None,
           reuse: dict[str, tuple[str, dict]] | None = None) -> tuple[dict, dict[str, bytes | None]]:
    """The manifest and the data files (name → bytes) of a snapshot; `name` only when given
    (format 1 without a name is still format 1).

    `reuse` (content key → (file name, its manifest info)) lists files a previous save already holds:
    a table or source with the same key gets the same entry and None for bytes (the caller links the
    old file) instead of being read out of the session and written again."""
    reuse = reuse or {}
    files: dict[str, bytes | None] = {}
    listed: dict[str, dict] = {}
    datasets = []

    def add(file_name: str, key: str | None, make) -> None:
        if key and key in reuse and reuse[key][0] == file_name:
            files[file_name], listed[file_name] = None, dict(reuse[key][1])
            return
        data = make()
        files[file_name] = data
        listed[file_name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}

    for entry in snap.body["datasets"]:
        entry = dict(entry)
        kind = entry["kind"]
        if kind in snap.tables:
            entry["table_file"] = f"{kind}.parquet"
            key = snap.table_keys.get(kind)
            if key:
                entry["table_key"] = key
            add(entry["table_file"], key, lambda kind=kind: _parquet(snap.table(kind)))
        if kind in snap.sources:
            entry["source_file"] = f"{kind}.source"
            add(entry["source_file"], "source:" + entry["digest"], lambda kind=kind: bytes(snap.sources[kind]))
        datasets.append(entry)
    manifest = {
        "format": FORMAT, "app": "Boundary", "owner": owner,
        "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "thresholds": snap.body["thresholds"], "datasets": datasets, "files": listed,
        "inputs": snap.body.get("inputs") or {}, "choices": snap.body.get("choices") or {},
    }
    if name is not None:
        manifest["name"] = name
    if snap.body.get("spark"):  # a Spark workspace's refs (lib.remote): URL without token, sources, fixes
        manifest["spark"] = snap.body["spark"]
    return manifest, files


def _spark_refs(v) -> bool:
    """{"url": "sc://…" (no token), "sources": [{"kind", "source", "fixes"}, …]} (Workspace.snapshot)."""
    from lib.remote import safe_url

    return (isinstance(v, dict) and set(v) == {"url", "sources"} and isinstance(v["url"], str)
            and v["url"].startswith("sc://") and safe_url(v["url"]) == v["url"].strip()
            and isinstance(v["sources"], list) and all(
                isinstance(x, dict) and set(x) == {"kind", "source", "fixes"} and x["kind"] in schemas.KINDS
                and isinstance(x["source"], str) and 0 < len(x["source"]) <= 2000
                and _str_map(x["fixes"], optional=True) for x in v["sources"]))


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def _reusable(manifest: dict) -> dict[str, tuple[str, dict]]:
    """Content key → (file name, info) of a saved version's files (see encode's `reuse`)."""
    found = {}
    for entry in manifest["datasets"]:
        if not isinstance(entry, dict):
            continue
        if isinstance(entry.get("table_key"), str) and entry.get("table_file") in manifest["files"]:
            found[entry["table_key"]] = (entry["table_file"], manifest["files"][entry["table_file"]])
        if isinstance(entry.get("digest"), str) and entry.get("source_file") in manifest["files"]:
            found["source:" + entry["digest"]] = (entry["source_file"], manifest["files"][entry["source_file"]])
    return found


def read_manifest(data: bytes, name: str) -> dict:
    """Parse and check a manifest's envelope: JSON object, a format this code reads, file list."""
    try:
        manifest = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StoreError(f"{name} is damaged: its manifest is not readable JSON.") from exc
    if not isinstance(manifest, dict) or "format" not in manifest:
        raise StoreError(f"{name} is not a Boundary workspace: its manifest has no format version.")
    version = manifest["format"]
    if version != FORMAT:
        newer = isinstance(version, int) and not isinstance(version, bool) and version > FORMAT
        raise StoreError(f"{name} is a workspace of format {version!r}; this Boundary reads format {FORMAT}. "
                         + ("Update Boundary to open it." if newer else "It can't be opened."))
    listed = manifest.get("files")
    if not isinstance(listed, dict) or not isinstance(manifest.get("datasets"), list) \
            or not isinstance(manifest.get("thresholds"), dict):
        raise StoreError(f"{name} is damaged: its manifest lacks the datasets, thresholds or file list.")
    for file_name, info in listed.items():
        if not _plain_name(file_name) or file_name == MANIFEST:
            raise StoreError(f"{name}: the manifest names a file outside the workspace ({file_name!r}); "
                             "it can't be opened.")
        if not isinstance(info, dict) or not isinstance(info.get("sha256"), str) \
                or not _is_int(info.get("bytes")) or info["bytes"] < 0:
            raise StoreError(f"{name} is damaged: no checksum for {file_name}.")
    if sum(info["bytes"] for info in listed.values()) > MAX_UNPACKED_BYTES:
        raise StoreError(f"{name} is larger than {MAX_UNPACKED_BYTES / 1024**3:.0f} GB unpacked; it can't be opened.")
    return manifest


def decode(manifest: dict, read, name: str) -> Snapshot:
    """The snapshot a checked manifest describes; `read(file_name, size)` returns a file's bytes
    (at most size + 1 of them). Every file is checked against its size and SHA-256."""
    listed = manifest["files"]
    inputs, choices = manifest.get("inputs", {}), manifest.get("choices", {})
    if not isinstance(inputs, dict) or not isinstance(choices, dict):
        raise StoreError(f"{name} is damaged: its typed inputs or page choices are not readable.")
    snap = Snapshot({"thresholds": manifest["thresholds"], "datasets": [], "inputs": inputs, "choices": choices,
                     "name": manifest["name"] if isinstance(manifest.get("name"), str) else None})
    if manifest.get("spark") is not None:
        if not _spark_refs(manifest["spark"]):
            raise StoreError(f"{name} is damaged: its Spark connection (URL and tables) is not readable.")
        snap.body["spark"] = manifest["spark"]
    kinds = set()
    for entry in manifest["datasets"]:
        problem = _entry_problem(entry, listed)
        if problem:
            raise StoreError(f"{name} is damaged: {problem}")
        kind = entry["kind"]
        if kind in kinds:
            raise StoreError(f"{name} is damaged: two datasets of kind {kind}.")
        kinds.add(kind)
        if "table_file" in entry:
            data = _checked(read, entry["table_file"], listed[entry["table_file"]], name)
            snap.tables[kind] = _read_parquet(data, entry["table_file"], name)
        if "source_file" in entry:
            snap.sources[kind] = _checked(read, entry["source_file"], listed[entry["source_file"]], name)
        snap.body["datasets"].append({k: v for k, v in entry.items() if k not in _FILE_FIELDS})
    return snap


def _checked(read, file_name: str, info: dict, name: str) -> bytes:
    data = read(file_name, info["bytes"])
    if len(data) != info["bytes"]:
        raise StoreError(f"{name}: {file_name} is {'cut short' if len(data) < info['bytes'] else 'longer than listed'} "
                         "— the workspace is incomplete or damaged.")
    if hashlib.sha256(data).hexdigest() != info["sha256"]:
        raise StoreError(f"{name}: {file_name} does not match its checksum — the workspace was changed or damaged "
                         "after it was saved.")
    return data


def _read_parquet(data: bytes, file_name: str, name: str) -> pa.Table:
    try:
        parquet = pq.ParquetFile(io.BytesIO(data))
        meta = parquet.metadata
        unpacked = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        if unpacked > MAX_UNPACKED_BYTES:
            raise StoreError(f"{name}: {file_name} unpacks to more than {MAX_UNPACKED_BYTES / 1024**3:.0f} GB; "
                             "it can't be opened.")
        table = parquet.read()
        # Parquet has no seconds unit: a TIMESTAMP_S column comes back in ms unless cast back to the
        # Arrow schema pyarrow stored beside it (so DuckDB gets the very same column types).
        stored = (meta.metadata or {}).get(b"ARROW:schema")
        if stored:
            original = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(stored)))
            if original.names == table.schema.names and original.types != table.schema.types:
                table = table.cast(original)
        return table
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise StoreError(f"{name}: {file_name} is not a readable Parquet table.") from exc


# Field → check, for each dataset entry of the manifest (the Dataset dataclass plus the fixes).
def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _strs(v) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _str_map(v, optional=False) -> bool:
    return isinstance(v, dict) and all(isinstance(k, str) and (isinstance(x, str) or (optional and x is None))
                                       for k, x in v.items())


def _bad_values(v) -> bool:
    return isinstance(v, dict) and all(
        isinstance(b, dict) and set(b) == {"count", "rows", "examples"} and _is_int(b["count"])
        and isinstance(b["rows"], list) and all(_is_int(r) for r in b["rows"]) and _strs(b["examples"])
        for b in v.values())


_ENTRY_CHECKS = {
    "file_name": lambda v: isinstance(v, str), "digest": lambda v: isinstance(v, str),
    "kind": lambda v: v in schemas.KINDS, "columns": _strs, "mapping": _str_map, "missing": _strs,
    "table": lambda v: v is None or isinstance(v, str), "rows_read": lambda v: _is_int(v) and v >= 0,
    "extra_columns": _str_map, "bad_values": _bad_values, "sheet": lambda v: v is None or isinstance(v, str),
    "sheets": _strs, "notes": _strs,
    "candidates": lambda v: isinstance(v, dict) and all(_strs(x) for x in v.values()),
    "fixes": lambda v: _str_map(v, optional=True),
}
assert set(_ENTRY_CHECKS) == {f.name for f in fields(Dataset)} | {"fixes"}


_FILE_FIELDS = {"table_file", "source_file", "table_key"}  # where a dataset's data is, beside its description


def _entry_problem(entry, listed: dict) -> str | None:
    if not isinstance(entry, dict):
        return "a dataset entry is not an object."
    keys = set(entry) - _FILE_FIELDS
    if keys != set(_ENTRY_CHECKS):
        return f"a dataset entry has unexpected or missing fields ({', '.join(sorted(keys ^ set(_ENTRY_CHECKS)))})."
    bad = [k for k, check in _ENTRY_CHECKS.items() if not check(entry[k])]
    if bad:
        return f"dataset {entry.get('kind')!r} has unreadable {', '.join(bad)}."
    if not isinstance(entry.get("table_key", ""), str):
        return f"dataset {entry['kind']} has an unreadable table key."
    if entry["table"] not in (None, entry["kind"]) or (entry["table"] is not None) != ("table_file" in entry):
        return f"dataset {entry['kind']} names a table it does not carry."
    for key in ("table_file", "source_file"):
        if key in entry and entry[key] not in listed:
            return f"dataset {entry['kind']} points to a file that is not listed ({entry[key]!r})."
    return None


def _plain_name(file_name) -> bool:
    """A bare file name: no folders, no '..', no backslash, no drive — nothing that points outside."""
    return isinstance(file_name, str) and bool(_FILE_NAME.fullmatch(file_name)) and ".." not in file_name


# ------------------------------------------------------------------ the .boundary file


def pack(snap: Snapshot, owner: str | None = None, name: str | None = None) -> bytes:
    """The `.boundary` file: a zip of manifest.json and the data files (and the workspace's name)."""
    manifest, files = encode(snap, owner, name or snap.body.get("name"))
    sink = io.BytesIO()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(MANIFEST, json.dumps(manifest, indent=1))
        for file_name, data in files.items():
            # Parquet is compressed already; deflating it again gains nothing
            zf.writestr(file_name, data, compress_type=zipfile.ZIP_STORED if file_name.endswith(".parquet")
                        else zipfile.ZIP_DEFLATED)
    return sink.getvalue()


def unpack(data: bytes, name: str) -> Snapshot:
    """Read a `.boundary` file (untrusted). Nothing is written to disk; refusals name the file."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise StoreError(f"{name} is not a Boundary workspace file, or it is cut short (a download that did not "
                         "finish?). Save the workspace again and open the new file.") from exc
    if len(infos) > MAX_ENTRIES:
        raise StoreError(f"{name} holds {len(infos):,} files; a workspace has at most {MAX_ENTRIES}.")
    entries = {}
    for info in infos:
        if not _plain_name(info.filename) or info.filename in entries:
            raise StoreError(f"{name} holds a file with a folder or unsafe name ({info.filename!r}); it can't be "
                             "opened.")
        if info.file_size > 1024**2 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise StoreError(f"{name}: {info.filename} would unpack to {info.file_size / 1024**2:,.0f} MB from "
                             f"{info.compress_size / 1024:,.0f} KB — refused as a zip bomb.")
        entries[info.filename] = info
    if sum(i.file_size for i in infos) > MAX_UNPACKED_BYTES:
        raise StoreError(f"{name} would unpack to more than {MAX_UNPACKED_BYTES / 1024**3:.0f} GB; it can't be opened.")
    if MANIFEST not in entries:
        raise StoreError(f"{name} is not a Boundary workspace file: it has no {MANIFEST}.")

    def read(file_name: str, size: int) -> bytes:
        if file_name not in entries:
            raise StoreError(f"{name} is incomplete: {file_name} is missing.")
        try:
            with zf.open(entries[file_name]) as handle:
                return handle.read(size + 1)  # never more than the manifest declared (+1 to notice)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError) as exc:
            raise StoreError(f"{name}: {file_name} is damaged or cut short.") from exc

    manifest = read_manifest(read(MANIFEST, MAX_MANIFEST_BYTES), name)
    return decode(manifest, read, name)


# ------------------------------------------------------------------ the folder store


class Store:
    """Workspaces in a folder: save, load, list, delete. `root` defaults to data_dir()."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root is not None else data_dir()

    def _folder(self, workspace_id: str) -> Path:
        if not valid_id(workspace_id):
            raise StoreError(NOT_YOURS)
        return self.root / workspace_id

    def save(self, snap: Snapshot, workspace_id: str | None = None, owner: str | None = None) -> str:
        """Write a new version of the workspace atomically; returns its id (a new one if None).

        Only what changed is written: a table or upload the current version already holds (same
        content key) is hard-linked into the new version, so a changed threshold or page choice
        writes one manifest. Refused (NOT_YOURS) for an id saved by someone else. One save of a
        workspace at a time, across threads and server processes (serve.py): see _locked."""
        workspace_id = workspace_id or new_id()
        with _locked(self._folder(workspace_id)):
            return self._save(snap, workspace_id, owner)

    def _save(self, snap: Snapshot, workspace_id: str, owner: str | None) -> str:
        folder = self._folder(workspace_id)
        previous_path, previous = self._current(workspace_id)
        if previous is not None and previous.get("owner") != owner:
            raise StoreError(NOT_YOURS)
        name = previous.get("name") if previous is not None and isinstance(previous.get("name"), str) else None
        manifest, files = encode(snap, owner, name or snap.body.get("name"),
                                 _reusable(previous) if previous is not None else None)
        if previous is not None and previous.get("shared"):
            manifest["shared"] = True
        self._sweep()
        written = sum(len(data) for data in files.values() if data is not None)
        if written:
            size = sum(info["bytes"] for info in manifest["files"].values())
            others = sum(w["bytes"] for w in self.list(owner) if w["id"] != workspace_id)
            if others + size > QUOTA_MB * 1024**2:
                raise StoreError(
                    f"saving it would take your saved workspaces to {(others + size) / 1e6:,.0f} MB, over the "
                    f"{QUOTA_MB:,.0f} MB each person may keep (BOUNDARY_WORKSPACE_QUOTA_MB). Delete a workspace you "
                    f"no longer need on Home; untouched ones go after {RETENTION_DAYS:g} days")
        folder.mkdir(parents=True, exist_ok=True)
        token = secrets.token_hex(8)
        staging = folder / f".tmp-{token}"
        staging.mkdir()
        for file_name, data in files.items():
            if data is None:
                _link_or_copy(previous_path / file_name, staging / file_name)
            else:
                _write(staging / file_name, data)
        _write(staging / MANIFEST, json.dumps(manifest, indent=1).encode())  # last: its presence means complete
        _fsync_dir(staging)
        version = f"v-{token}"
        os.replace(staging, folder / version)
        _fsync_dir(folder)
        _write(folder / ".current.tmp", version.encode())
        os.replace(folder / ".current.tmp", folder / "current")  # the switch: old or new, never half
        _fsync_dir(folder)
        for old in folder.iterdir():
            # Older versions go at once; a staging folder only once stale, since another tab (or
            # replica) may be saving the same workspace right now.
            if old.is_dir() and old.name != version and (
                    old.name.startswith("v-") or time.time() - old.stat().st_mtime > STALE_SECONDS):
                shutil.rmtree(old, ignore_errors=True)
        return workspace_id

    def _current(self, workspace_id: str) -> tuple[Path | None, dict | None]:
        """The current version's folder and manifest, or (None, None) when there is none readable."""
        if not (self.root / workspace_id / "current").is_file():
            return None, None
        try:
            return self._manifest(workspace_id)
        except StoreError:
            return None, None

    def _sweep(self) -> None:
        """remove_untouched, at most once a minute per process (a save follows every change)."""
        global _last_sweep
        if time.monotonic() - _last_sweep > 60:
            _last_sweep = time.monotonic()
            self.remove_untouched()

    def _manifest(self, workspace_id: str) -> tuple[Path, dict]:
        folder = self._folder(workspace_id)
        try:
            version = (folder / "current").read_text().strip()
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise StoreError(NOT_YOURS) from exc
        if not _plain_name(version):
            raise StoreError(f"Saved workspace {workspace_id} is damaged (its pointer names {version!r}).")
        path = folder / version
        name = f"Saved workspace {workspace_id}"
        if not (path / MANIFEST).is_file():
            # Two saves of one workspace at once (two tabs): the later one removed the version the
            # earlier one then pointed `current` at. The newest complete version is the last save.
            complete = [v for v in folder.glob("v-*") if (v / MANIFEST).is_file()]
            if not complete:
                raise StoreError(f"{name} is damaged: its manifest is missing.")
            path = max(complete, key=lambda v: (v / MANIFEST).stat().st_mtime)
        return path, read_manifest(_read(path / MANIFEST, MAX_MANIFEST_BYTES), name)

    def load(self, workspace_id: str, owner: str | None = None) -> Snapshot:
        """The saved workspace; refused unless its owner is `owner` (both None without sign-in), or
        it is shared and `owner` is a signed-in user: then `body["shared_by"]` names the owner and the
        caller opens it read-only."""
        path, manifest = self._manifest(workspace_id)
        shared = manifest.get("shared") is True and owner is not None and isinstance(manifest.get("owner"), str)
        if manifest.get("owner") != owner and not shared:
            raise StoreError(NOT_YOURS)  # the same words as an unknown id: no hint that it exists

        def read(file_name: str, size: int) -> bytes:
            try:
                return _read(path / file_name, size + 1)
            except FileNotFoundError:
                return b""

        snap = decode(manifest, read, f"Saved workspace {workspace_id}")
        if manifest.get("owner") != owner:
            snap.body["shared_by"] = manifest["owner"]
        return snap

    def list(self, owner: str | None = None) -> list[dict]:
        """The owner's workspaces, newest first: id, name (given, else default_name), saved_at,
        bytes, files."""
        found = []
        if not self.root.is_dir():
            return found
        seen = set()
        for folder in self.root.iterdir():
            if not valid_id(folder.name):
                continue
            try:
                manifest = self._listed_manifest(folder.name, seen)
            except (StoreError, OSError):
                continue
            if manifest.get("owner") == owner:
                files = [d.get("file_name") for d in manifest["datasets"] if isinstance(d, dict)]
                name = manifest.get("name")
                found.append({"id": folder.name,
                              "name": name if isinstance(name, str) and name else default_name(
                                  files, manifest.get("saved_at")),
                              "saved_at": manifest.get("saved_at"),
                              "bytes": sum(f["bytes"] for f in manifest["files"].values()), "files": files,
                              "shared": manifest.get("shared") is True})
        with _LISTED_LOCK:
            for path in set(_LISTED) - seen:
                if Path(path).parents[2] == self.root:  # a workspace deleted since: forget it
                    del _LISTED[path]
        return sorted(found, key=lambda w: w["saved_at"] or "", reverse=True)

    def _listed_manifest(self, workspace_id: str, seen: set[str]) -> dict:
        """The current manifest, for `list` only (it does not change what it gets): parsed again only
        when the file changed (a new version, a rename, a share: each writes a new file), so Home's
        list costs a small read and a stat per saved workspace instead of a parse (issue #20)."""
        folder = self._folder(workspace_id)
        version = (folder / "current").read_text().strip()
        if not _plain_name(version):
            return self._manifest(workspace_id)[1]
        path = folder / version / MANIFEST
        try:
            stat = path.stat()
        except FileNotFoundError:  # two saves at once: _manifest finds the newest complete version
            return self._manifest(workspace_id)[1]
        stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        seen.add(str(path))
        with _LISTED_LOCK:
            found = _LISTED.get(str(path))
        if found is not None and found[0] == stamp:
            return found[1]
        manifest = read_manifest(_read(path, MAX_MANIFEST_BYTES), f"Saved workspace {workspace_id}")
        with _LISTED_LOCK:
            _LISTED[str(path)] = (stamp, manifest)
        return manifest

    def remove_untouched(self, now: float | None = None) -> list[str]:
        """Delete every workspace not saved for RETENTION_DAYS (by its `current` pointer's time);
        returns their ids."""
        cutoff = (time.time() if now is None else now) - RETENTION_DAYS * 86400
        removed = []
        if not self.root.is_dir():
            return removed
        for folder in self.root.iterdir():
            pointer = folder / "current"
            if valid_id(folder.name) and pointer.is_file() and pointer.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder.name)
        return removed

    def rename(self, workspace_id: str, name: str, owner: str | None = None) -> str:
        """Give the workspace a name (checked by clean_name; returned)."""
        name = clean_name(name)
        self._rewrite_manifest(workspace_id, owner, {"name": name})
        return name

    def share(self, workspace_id: str, owner: str, shared: bool = True) -> None:
        """Let every signed-in user who passes the allow-list open a read-only copy (`load` with
        their own email), or stop it. Only with sign-in: without it the id is the key already."""
        if owner is None:
            raise StoreError("Sharing needs sign-in: without it, anyone with the workspace's link opens it.")
        self._rewrite_manifest(workspace_id, owner, {"shared": bool(shared)})

    def _rewrite_manifest(self, workspace_id: str, owner: str | None, changes: dict) -> None:
        """Change the owner's current manifest: only it is rewritten, atomically (temporary file, fsync,
        os.replace); its data files and checksums stay, and a reader sees the old manifest or the new."""
        path, manifest = self._manifest(workspace_id)
        if manifest.get("owner") != owner:
            raise StoreError(NOT_YOURS)
        manifest.update(changes)
        temporary = path / f".{MANIFEST}.{secrets.token_hex(4)}.tmp"
        try:
            _write(temporary, json.dumps(manifest, indent=1).encode())
            os.replace(temporary, path / MANIFEST)
            _fsync_dir(path)
        except FileNotFoundError as exc:  # another tab saved a new version meanwhile and removed this one
            raise StoreError("The workspace was saved again meanwhile; try once more.") from exc

    def delete(self, workspace_id: str, owner: str | None = None) -> None:
        """Remove the workspace's data from disk at once."""
        _, manifest = self._manifest(workspace_id)
        if manifest.get("owner") != owner:
            raise StoreError(NOT_YOURS)
        shutil.rmtree(self._folder(workspace_id))


@contextmanager
def _locked(folder: Path):
    """Hold an exclusive lock on an existing workspace's folder (flock, which also excludes another
    thread's open of it). Two saves of one workspace at once — two tabs, on one server process or two —
    each removed the version the other had just made current, or moved the other's half-written
    `.current.tmp`; tests/test_store_processes.py. A workspace not yet on disk needs none: only the tab
    that made its id knows it."""
    if fcntl is None or not folder.is_dir():
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _link_or_copy(source: Path, target: Path) -> None:
    """The previous version's file in the new version: a hard link (no bytes written; the file
    stays while either version has it), or a copy where the disk can't link."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
        with open(target, "rb+") as handle:
            os.fsync(handle.fileno())


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


# manifest path → ((inode, mtime, size) of the file, the checked manifest): Store.list's parses, per process
_LISTED: dict[str, tuple[tuple[int, int, int], dict]] = {}
_LISTED_LOCK = threading.Lock()


def _read(path: Path, limit: int) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(limit)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
