"""Datasets that stay on a Spark cluster (issue #21): a table or a Parquet path becomes a view.

A team whose event logs are too big to upload points Boundary at a Spark Connect server and, per
dataset kind, at a table (`lake.events`) or a Parquet path (`s3://bucket/events/`). Nothing is
copied: the source's columns are recognised and mapped with the same `lib.schemas` code as an
upload's (header synonyms, plus the values of its first VALUE_SAMPLE_ROWS rows), and a TEMP VIEW
named after the kind — the name a local upload's table has — selects the mapped columns under
their canonical names, typed as the ingest types them (`lib.values`): dates TIMESTAMP (UTC,
naive), whole numbers BIGINT, numbers DOUBLE, percents DOUBLE ratios, yes/no BOOLEAN, text
trimmed. A cell that cannot be read becomes NULL (TRY_CAST) and is counted, per column, in one
query over the source, as an upload's bad cells are. The metric functions then run on the view
through `lib.engine.SparkEngine` and only their small result frames come back.

Row-level Python work (VADER sentiment of texts and deal notes) reads every row of its table, so
the kinds it reads (SAMPLED_KINDS) are not views over the whole source: their first
`REMOTE_SAMPLE_ROWS` rows (lib.config) are materialised on the cluster and the page says so.
Lead scoring is SQL and runs on the cluster like every other metric.

User text never goes into SQL unquoted: table names are split on dots and each part quoted with
backticks, a path is read as parquet.`path` with its backticks doubled, and control characters are
refused. Secrets never leave this module: a Connect URL is kept and shown without its `token`.
This module never imports streamlit.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field

import pandas as pd

from lib import schemas
from lib.config import REMOTE_SAMPLE_ROWS
from lib.datasets import BadValues, Dataset
from lib.engine import SparkEngine, quote_spark
from lib.errors import BoundaryError
from lib.sql import safe_name
from lib.values import _FALSE, _TRUE, BLANKS, MAX_WHOLE, UNIX_MS_RANGE, UNIX_SECONDS_RANGE

TOKEN_ENV = "BOUNDARY_SPARK_TOKEN"  # a Databricks personal access token, read from the environment
URL_ENV = "BOUNDARY_SPARK_URL"  # the server that token belongs to (without the token)
HOSTS_ENV = "BOUNDARY_SPARK_HOSTS"  # more host:port a hosted Boundary may connect to (no token sent)
# pyspark's Connect client sends this variable as the bearer token to any server whose URL has none
CLIENT_TOKEN_ENV = "SPARK_CONNECT_AUTHENTICATE_TOKEN"
DEFAULT_PORT = 15002
# Kinds whose figures score every row in Python (lib/metrics/voice.ensure_scores): a bounded sample.
SAMPLED_KINDS = ("texts", "deals")
# URL parameters that carry a secret: Spark Connect's bearer token, EMR Serverless' proxy token
_SECRET_PARAM = re.compile(r";\s*(?:token|x-aws-proxy-auth)\s*=[^;]*", re.IGNORECASE)
_TOKEN_PARAM = re.compile(r";\s*token\s*=([^;]*)", re.IGNORECASE)  # group 1: the token
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ATOMIC = {"string", "bigint", "int", "smallint", "tinyint", "double", "float", "boolean", "timestamp",
           "timestamp_ntz", "date"}
_NUMERIC = {"bigint", "int", "smallint", "tinyint", "double", "float"}
_INTEGRAL = {"bigint", "int", "smallint", "tinyint"}


class RemoteError(BoundaryError):
    """The cluster cannot be reached, or a table, path or column on it cannot be used."""


@dataclass
class Source:
    """What the user pointed a kind at: a table name or a Parquet path, and their column fixes."""

    kind: str
    source: str
    fixes: dict[str, str | None] = field(default_factory=dict)


# ------------------------------------------------------------------ connecting

def safe_url(url: str) -> str:
    """The URL without its `;token=…` or `;x-aws-proxy-auth=…` (kept, shown and saved in this form).

    >>> safe_url("sc://dbc-1.cloud.databricks.com:443/;use_ssl=true;token=dapi123;x-databricks-cluster-id=0")
    'sc://dbc-1.cloud.databricks.com:443/;use_ssl=true;x-databricks-cluster-id=0'
    """
    return _SECRET_PARAM.sub("", url.strip())


def check_url(url: str) -> str:
    """The URL stripped, or a RemoteError saying what a Spark Connect URL looks like."""
    url = (url or "").strip()
    if not url.startswith("sc://") or len(url) <= len("sc://") or _CONTROL.search(url) or " " in url:
        raise RemoteError(f"“{safe_url(url)[:200]}” is not a Spark Connect URL. It looks like sc://host:15002 "
                          "(Databricks: sc://<workspace-host>:443/;use_ssl=true;x-databricks-cluster-id=<id>, "
                          f"with the token in the {TOKEN_ENV} environment variable or the app's secrets).")
    return url


def with_token(url: str, token: str | None) -> str:
    """The URL with `;token=<token>` added when a token is given and the URL carries none."""
    if not token or _TOKEN_PARAM.search(url):
        return url
    return url + ("" if url.rstrip("/").count("/") > 2 or url.endswith("/") else "/") + f";token={token}"


def endpoint(url: str) -> str:
    """The host and port a Connect URL reaches, lower case (port 15002 when none is given).

    >>> endpoint("sc://DBC-1.cloud.databricks.com:443/;use_ssl=true")
    'dbc-1.cloud.databricks.com:443'
    >>> endpoint("sc://spark-host")
    'spark-host:15002'
    """
    hostport = re.split(r"[/;]", url.strip()[len("sc://"):], maxsplit=1)[0].lower()
    if hostport.startswith("["):  # [IPv6]:port
        return hostport if "]:" in hostport else f"{hostport}:{DEFAULT_PORT}"
    return hostport if ":" in hostport else f"{hostport}:{DEFAULT_PORT}"


@dataclass(frozen=True)
class Settings:
    """What the person who runs Boundary set up for Spark (environment or the app's `[spark]` secrets):
    `url`, the server the `token` belongs to; `hosts`, other host:port a hosted Boundary may reach;
    `hosted`, sign-in is on (others use this server). The token is only ever sent to `url`'s host —
    a URL typed on the page could name any server, which would then receive it."""

    url: str | None = None
    token: str | None = None
    hosts: frozenset[str] = frozenset()
    hosted: bool = False

    @classmethod
    def read(cls, section: dict | None, environ, hosted: bool) -> "Settings":
        section = section or {}
        url = section.get("url") or environ.get(URL_ENV) or None
        hosts = section.get("hosts") or environ.get(HOSTS_ENV) or ""
        if isinstance(hosts, str):
            hosts = re.split(r"[\s,;]+", hosts)
        token = section.get("token") or environ.get(TOKEN_ENV) or None
        if url and (inline := _TOKEN_PARAM.search(check_url(url))):
            token = token or inline.group(1).strip() or None  # a token written into the configured URL
        return cls(url=safe_url(url) if url else None, token=token,
                   hosts=frozenset(h.strip().lower() for h in hosts if h.strip()), hosted=hosted)

    def allowed(self, url: str) -> bool:
        """Whether this Boundary may connect to `url`: anywhere on one's own machine; when hosted,
        only the configured server and `hosts` (a typed URL must not make the server reach into its
        own network for someone else)."""
        if not self.hosted:
            return True
        known = {endpoint(self.url)} if self.url else set()
        return endpoint(url) in known | {endpoint("sc://" + h) for h in self.hosts}

    def token_for(self, url: str) -> str | None:
        """The configured token, for the configured server only."""
        return self.token if self.url and endpoint(url) == endpoint(self.url) else None


def connect(url: str, settings: Settings | None = None, environ=os.environ) -> SparkEngine:
    """A Spark engine on the server at `url`, checked with a trivial query; a plain RemoteError naming
    the URL (without its token) when it is not allowed (`Settings.allowed`) or cannot be reached. The
    configured token goes with the configured server only (`Settings.token_for`)."""
    settings = settings or Settings()
    url = check_url(url)
    shown = safe_url(url)
    if not settings.allowed(url):
        raise RemoteError(f"This Boundary may not connect to {shown}: on a shared server only the Spark servers its "
                          f"administrator listed can be used ({URL_ENV}, {HOSTS_ENV} or [spark] url / hosts in its "
                          "secrets). Ask them to add it.")
    token = settings.token_for(url)
    if token is None and environ.get(CLIENT_TOKEN_ENV) and not _TOKEN_PARAM.search(url):
        raise RemoteError(f"This server's environment holds a Spark token ({CLIENT_TOKEN_ENV}) that the Spark client "
                          f"would send to {shown}. Name the server it belongs to in {URL_ENV} and give the token as "
                          f"{TOKEN_ENV} instead, so it only goes there.")
    try:
        engine = SparkEngine.connect(with_token(url, token))
        engine.spark.sql("SELECT 1").collect()
    except ImportError as exc:
        raise RemoteError("Connecting to Spark needs the Spark Connect client, which this installation lacks: "
                          'pip install "pyspark[connect]==4.3.0" sqlglot (or pip install -r '
                          "requirements-dev.txt), then restart Boundary.") from exc
    except Exception as exc:  # noqa: BLE001 — gRPC, Spark and URL errors all become one plain message
        raise RemoteError(f"Could not reach a Spark Connect server at {shown}: {_first_line(exc)}. Check the "
                          "host and port (Spark Connect listens on 15002 unless configured otherwise), that the "
                          "server is running and, for Databricks, the token and cluster id.") from None
    return engine


def _first_line(exc: Exception) -> str:
    text = str(exc)
    details = re.search(r'details = "([^"]+)"', text)  # a gRPC error: its one readable line
    line = details.group(1) if details else next((t for t in text.splitlines() if t.strip()), type(exc).__name__)
    return _SECRET_PARAM.sub("", line.strip())[:300]


# ------------------------------------------------------------------ sources

def is_path(source: str) -> bool:
    """A Parquet path (a folder or file: has a slash or a scheme, or ends in .parquet), not a table."""
    return "/" in source or ":" in source or source.lower().endswith(".parquet")


def source_sql(source: str) -> str:
    """The FROM item for a table name (`db.table`, each part quoted) or a Parquet path
    (parquet.`path`); a RemoteError for a blank name, control characters or an empty part.

    >>> source_sql("lake.events")
    '`lake`.`events`'
    >>> source_sql("s3://b/x`y/")
    'parquet.`s3://b/x``y/`'
    """
    text = (source or "").strip()
    if not text or _CONTROL.search(text):
        raise RemoteError(f"“{text[:200]}” is not a table name or a Parquet path: give a name like lake.events "
                          "or a path like s3://bucket/events/ (no line breaks or control characters).")
    if is_path(text):
        return "parquet." + quote_spark(text)
    parts = [p[1:-1] if len(p) > 1 and p.startswith("`") and p.endswith("`") else p for p in text.split(".")]
    if any(not p.strip() for p in parts):
        raise RemoteError(f"“{text[:200]}” is not a table name: it has an empty part between dots.")
    return ".".join(quote_spark(p) for p in parts)


def read_source(engine: SparkEngine, source: str, url: str = "") -> tuple[list[tuple[str, str]], pd.DataFrame]:
    """The source's columns (name, Spark type) and its first VALUE_SAMPLE_ROWS rows (for recognition)."""
    sql = source_sql(source)
    try:
        frame = engine.spark.sql(f"SELECT * FROM {sql} LIMIT {int(schemas.VALUE_SAMPLE_ROWS)}")
        columns = [(f.name, f.dataType.simpleString()) for f in frame.schema.fields]
        sample = frame.toArrow().to_pandas()
    except Exception as exc:  # noqa: BLE001 — Spark's analysis errors, named in plain words
        raise _source_error(source, url, exc) from None
    return columns, sample


def _source_error(source: str, url: str, exc: Exception) -> RemoteError:
    text = str(exc)
    where = f" on {safe_url(url)}" if url else ""
    what = "Parquet path" if is_path(source.strip()) else "table"
    if "TABLE_OR_VIEW_NOT_FOUND" in text or "PATH_NOT_FOUND" in text or "does not exist" in text.lower():
        return RemoteError(f"No {what} “{source.strip()[:200]}”{where}. Check the name (database.table, or the "
                           "full path the cluster reads, e.g. s3://bucket/events/) and that the server may read it.")
    return RemoteError(f"Could not read the {what} “{source.strip()[:200]}”{where}: {_first_line(exc)}")


# ------------------------------------------------------------------ typing the columns

def _lit(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _in(values) -> str:
    return "(" + ", ".join(_lit(v) for v in sorted(values)) + ")"


def _clean_text(col: str) -> str:
    """A string cell trimmed, blank markers ('', '-', 'n/a'…) as NULL (lib.values.blank_mask)."""
    return f"CASE WHEN lower(trim({col})) IN {_in(BLANKS)} THEN NULL ELSE trim({col}) END"


def _number_from_text(clean: str) -> str:
    # currency marks, thousands commas, spaces and % dropped (lib.values.parse_number's usual
    # cases); infinity and NaN are not numbers
    x = f"TRY_CAST(regexp_replace({clean}, '[ ,%$€£¥₹]', '') AS DOUBLE)"
    return f"CASE WHEN abs({x}) < 1.0E308 THEN {x} END"


_STRFTIME_TO_SPARK = {"%m": "M", "%d": "d", "%y": "yy", "%Y": "yyyy", "%H": "H", "%M": "mm", "%S": "ss",
                      "%b": "MMM", "%B": "MMMM", "%I": "h", "%p": "a"}


def date_pattern(sample: pd.Series) -> str | None:
    """The Spark datetime pattern for a text date column's values that are not ISO (which a CAST
    reads): the first of lib.values' formats that parses most of them — as the ingest decides
    day-first or month-first per column — or None when every value is ISO or none parses."""
    from lib.values import _DATE_FORMATS, _parse_with, blank_mask

    text = sample[~blank_mask(sample)].astype("string").str.strip().head(schemas.VALUE_SAMPLE_ROWS)
    text = text[_parse_with(text, "ISO8601").isna()]  # the values the CAST will not read
    if text.empty:
        return None
    best, best_ok = None, 0
    for fmt in _DATE_FORMATS[1:]:
        if "%z" in fmt or "%Z" in fmt or "%a" in fmt:
            continue
        ok = _parse_with(text, fmt).notna().sum()
        if ok > best_ok:
            best, best_ok = fmt, ok
        if ok == len(text):
            break
    if best is None:
        return None
    return re.sub(r"%[a-zA-Z]", lambda m: _STRFTIME_TO_SPARK[m.group(0)], best)


def typed_sql(col: str, spark_type: str, value_type: str, pattern: str | None = None) -> tuple[str, str]:
    """(value, present): the SQL of the canonical value from source column `col` (quoted) of
    `spark_type`, and of "the cell holds something" — a cell present whose value is NULL is bad.
    `pattern`: a text date column's Spark datetime pattern (`date_pattern`), tried after ISO."""
    base = spark_type.split("(")[0]
    if base == "string":
        present = f"({_clean_text(col)}) IS NOT NULL"
        clean = _clean_text(col)
    else:
        present = f"{col} IS NOT NULL"
        clean = None
    if value_type == schemas.TEXT:
        return (clean if clean else f"CAST({col} AS STRING)"), present
    if value_type == schemas.BOOL:
        if base == "boolean":
            return col, present
        if clean:
            low = f"lower({clean})"
            return f"CASE WHEN {low} IN {_in(_TRUE)} THEN true WHEN {low} IN {_in(_FALSE)} THEN false END", present
        if base in _NUMERIC or base.startswith("decimal"):
            return f"CASE WHEN {col} = 1 THEN true WHEN {col} = 0 THEN false END", present
        return "CAST(NULL AS BOOLEAN)", present
    if value_type == schemas.DATE:
        if base in ("timestamp", "timestamp_ntz", "date"):
            return f"CAST({col} AS TIMESTAMP_NTZ)", present
        if clean:  # an offset in the text is honoured, a time without one is UTC (the session's zone)
            iso = f"CAST(TRY_CAST({clean} AS TIMESTAMP_LTZ) AS TIMESTAMP_NTZ)"
            if pattern:
                return f"coalesce({iso}, try_to_timestamp({clean}, {_lit(pattern)}))", present
            return iso, present
        if base in _NUMERIC or base.startswith("decimal"):  # Unix seconds or milliseconds
            (s0, s1), (m0, m1) = UNIX_SECONDS_RANGE, UNIX_MS_RANGE
            return (f"CASE WHEN {col} BETWEEN {s0:.0f} AND {s1:.0f} THEN CAST(timestamp_seconds(CAST({col} AS BIGINT)) "
                    f"AS TIMESTAMP_NTZ) WHEN {col} BETWEEN {m0:.0f} AND {m1:.0f} THEN "
                    f"CAST(timestamp_millis(CAST({col} AS BIGINT)) AS TIMESTAMP_NTZ) END"), present
        return "CAST(NULL AS TIMESTAMP_NTZ)", present
    # numbers
    if base in _INTEGRAL:
        number = f"CAST({col} AS DOUBLE)"
        if value_type == schemas.INTEGER:
            return f"CAST({col} AS BIGINT)", present
    elif base in _NUMERIC or base.startswith("decimal"):
        number = f"CASE WHEN abs(CAST({col} AS DOUBLE)) < 1.0E308 THEN CAST({col} AS DOUBLE) END"
    elif base == "boolean":
        number = f"CASE WHEN {col} THEN 1.0 ELSE 0.0 END"
    elif clean:
        number = _number_from_text(clean)
    else:
        number = "CAST(NULL AS DOUBLE)"
    if value_type == schemas.INTEGER:  # a fraction or a number past 2**53 is bad, not rounded
        return (f"CASE WHEN {number} = floor({number}) AND abs({number}) <= {MAX_WHOLE} "
                f"THEN CAST({number} AS BIGINT) END"), present
    return number, present


# ------------------------------------------------------------------ the view

def attach(engine: SparkEngine, source: Source, url: str = "", kinds: list[str] | None = None) -> Dataset:
    """Recognise `source` (its kind unless `source.kind` is given, and its column map with the
    user's fixes), count its unreadable cells and create the kind's view on the cluster.
    Returns the Dataset for the Workspace's registry (table None while a needed column is unmapped)."""
    columns, sample = read_source(engine, source.source, url)
    names = [c for c, _ in columns]
    types = dict(columns)
    if not names:
        raise RemoteError(f"“{source.source}” has no columns.")
    kind = source.kind
    if not kind:
        found = schemas.recognise(names, kinds, sample)
        if not found.complete:
            raise RemoteError(f"“{source.source}” has no recognisable columns for any kind of data Boundary "
                              f"reads. Its columns are: {', '.join(names[:30])}. Pick the kind it holds.")
        kind = found.kind
    spec = schemas.KINDS[kind]
    mapping = schemas.map_columns(kind, names, sample)
    if source.fixes:
        mapping = schemas.apply_fixes(kind, mapping, source.fixes, names)
    missing = schemas.missing_columns(kind, mapping)
    shown = f"{source.source.strip()}" + (f" on {safe_url(url)}" if url else "")
    session = getattr(engine.spark, "session_id", "") or str(id(engine.spark))
    key = hashlib.sha1(repr((safe_url(url), session, source.source.strip(), kind,
                             sorted(mapping.items()))).encode()).hexdigest()
    cands = schemas.candidates(kind, names, sample)
    dataset = Dataset(shown, key, kind, names, mapping, missing, None, 0, candidates=cands)
    dataset.notes += schemas.mapping_notes(kind, mapping, cands)
    if missing:
        engine.drop(kind)
        return dataset

    src = source_sql(source.source)
    if kind in SAMPLED_KINDS:  # materialised once, so the counts and the view read the same rows
        sample_view = f"_sample_{kind}"
        try:
            engine._store(sample_view, engine.spark.sql(f"SELECT * FROM {src} LIMIT {int(REMOTE_SAMPLE_ROWS)}"))
        except Exception as exc:  # noqa: BLE001
            raise _source_error(source.source, url, exc) from None
        src = quote_spark(sample_view)

    typed = {}
    for canon, col in mapping.items():
        value_type = spec.column(canon).type
        pattern = date_pattern(sample[col]) if value_type == schemas.DATE and types[col] == "string" else None
        typed[canon] = typed_sql(quote_spark(col), types[col], value_type, pattern)
    inner = [f"{value} AS {quote_spark('v_' + canon)}, {present} AS {quote_spark('p_' + canon)}, "
             f"CAST({quote_spark(col)} AS STRING) AS {quote_spark('r_' + canon)}"
             for (canon, (value, present)), col in zip(typed.items(), mapping.values())]
    bad = {canon: f"({quote_spark('p_' + canon)} AND {quote_spark('v_' + canon)} IS NULL)" for canon in typed}
    outer = ["count(*) AS n"]
    for i, canon in enumerate(typed):
        outer += [f"sum(CASE WHEN {bad[canon]} THEN 1 ELSE 0 END) AS b{i}",
                  f"first(CASE WHEN {bad[canon]} THEN {quote_spark('r_' + canon)} END, true) AS e{i}"]
    percents = [c for c in typed if spec.column(c).type == schemas.PERCENT]
    for i, canon in enumerate(percents):  # lib.values.parse_percent: points when a cell has % or a value > 1
        outer += [f"max(abs({quote_spark('v_' + canon)})) AS m{i}",
                  f"max(CASE WHEN instr({quote_spark('r_' + canon)}, '%') > 0 THEN 1 ELSE 0 END) AS s{i}"]
    try:
        row = engine.spark.sql(f"SELECT {', '.join(outer)} FROM (SELECT {', '.join(inner)} FROM {src})").collect()[0]
    except Exception as exc:  # noqa: BLE001
        raise _source_error(source.source, url, exc) from None
    dataset.rows_read = int(row["n"])
    for i, canon in enumerate(typed):
        if row[f"b{i}"]:
            dataset.bad_values[canon] = BadValues(int(row[f"b{i}"]), [], [str(row[f"e{i}"])[:100]])
    for i, canon in enumerate(percents):
        if (row[f"m{i}"] or 0) > 1 or row[f"s{i}"]:
            value, present = typed[canon]
            typed[canon] = (f"({value}) / 100.0", present)

    select = ["monotonically_increasing_id() + 1 AS _row"]  # no file rows on a cluster: a row id
    select += [f"{value} AS {quote_spark(canon)}" for canon, (value, _) in typed.items()]
    used = {"_row", *typed}
    for col, spark_type in columns:
        if col in mapping.values() or spark_type.split("(")[0] not in _ATOMIC and not spark_type.startswith("decimal"):
            continue
        name = safe_name(col)
        while name in used:
            name += "_"
        used.add(name)
        dataset.extra_columns[name] = col
        select.append(f"{quote_spark(col)} AS {quote_spark(name)}")
    view = f"SELECT {', '.join(select)} FROM {src}"
    try:
        if kind in SAMPLED_KINDS:
            engine._store(kind, engine.spark.sql(view))
        else:
            # cached (lazily: filled by the first page's query, memory then disk), so the pages' queries
            # read typed rows instead of planning and running the typing again each time — over a
            # plain view, Spark spent ~30 s planning one email query on 246 rows
            engine.spark.sql(f"UNCACHE TABLE IF EXISTS {quote_spark(kind)}").collect()
            engine.spark.catalog.dropTempView(kind)
            engine.spark.sql(f"CACHE LAZY TABLE {quote_spark(kind)} AS {view}").collect()
            engine.clear_cache()
    except Exception as exc:  # noqa: BLE001
        raise _source_error(source.source, url, exc) from None
    if kind in SAMPLED_KINDS and dataset.rows_read >= REMOTE_SAMPLE_ROWS:
        dataset.notes.append(f"A sample: the first {REMOTE_SAMPLE_ROWS:,} rows of {source.source.strip()} — the "
                             "sentiment of each text is scored in Python on this server, so larger sources "
                             "are read up to this many rows.")
    dataset.table = kind
    return dataset
