"""Where a query runs: trace files in embedded ClickHouse (chDB), or a ClickHouse server the
collector's ``clickhouse`` exporter writes to. Both answer the same SQL over ``otel_traces``
and the views (``schema.with_views``)."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from otel_exec.trace_files import TraceFileError, iter_traces
from otel_exec.trace_files.reader import check_regular
from otel_exec.trace_sql import schema

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence


class SqlError(ValueError):
    """A query the engine refused or could not run, in one line."""


class MissingEngine(SqlError):
    """The optional package a query needs is not installed."""


CACHE_MIN_BYTES = 16 * 1024 * 1024
"""Files at least this large get a columnar copy kept beside them (smaller ones are read again:
that takes less than reading a copy would save)."""
CACHE_SUFFIX = ".otel-traces.arrow"
MAX_ENGINE_MEMORY = 2 * 1024**3
"""The most memory one query may take in the embedded engine (a runaway query is an error,
not a machine out of memory)."""
_GLOB = re.compile(r"[*?\[{]")
_ENGINE_SPECIAL = re.compile(r"[*?{}\[\]'\\]")
_READS = re.compile(r"\s*(?:(?:--[^\n]*\n|/\*.*?\*/)\s*)*(SELECT|WITH|SHOW|DESCRIBE|DESC|EXPLAIN|"
                    r"EXISTS)\b", re.IGNORECASE | re.DOTALL)
_FILE_SETTINGS = {"storage_file_read_method": "'pread'"}
"""Files are read, not mapped: a mapped file counts in the process's resident memory (a 1.8 GB
file, 1.8 GB more), read it takes the engine's buffers only, as fast."""
_OUTPUT_SETTINGS = {"output_format_json_quote_64bit_integers": 0,
                    "output_format_json_quote_denormals": 1}


class Engine(Protocol):
    """Runs a query over ``otel_traces`` (views named in it included) and returns its output
    in a ClickHouse output format."""

    def run(self, query: str, fmt: str) -> bytes: ...


def one_line(error: BaseException) -> str:
    """An engine's error as one line: its first, without the stack trace it may carry."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    text = re.sub(r"^Code: \d+\. DB::Exception: ", "", text)
    return text.split(" Stack trace")[0][:400]


def is_read(query: str) -> bool:
    """Whether ``query`` is one statement that only reads."""
    body = query.strip().rstrip(";")
    return _READS.match(body) is not None and ";" not in _without_literals(body)


def _without_literals(query: str) -> str:
    return re.sub(r"'(?:[^'\\]|\\.)*'|`[^`]*`|\"[^\"]*\"", "''", query)


def literal(value: object) -> str:
    """A SQL string literal."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _settings(settings: dict[str, Any]) -> str:
    if not settings:
        return ""
    return " SETTINGS " + ", ".join(f"{name} = {value}" for name, value in settings.items())


# ---- files ------------------------------------------------------------------------------------
def expand(patterns: Sequence[str]) -> list[str]:
    """The files named: each pattern with glob characters expanded (sorted), ``-`` kept.

    Raises:
        TraceFileError: A pattern matches nothing, or a name is not a readable regular file.
    """
    found: list[str] = []
    for pattern in patterns:
        if pattern == "-":
            found.append(pattern)
            continue
        plain = not _GLOB.search(pattern) or os.path.lexists(pattern)
        names = [pattern] if plain else sorted(glob.glob(pattern))
        if not names:
            raise TraceFileError(f"{pattern}: no file matches")
        for name in names:
            check_regular(Path(name))
            found.append(name)
    return found


def _chdb() -> Any:
    try:
        import chdb
    except ImportError:
        raise MissingEngine("SQL over trace files needs chDB: pip install "
                            "'otel-exec[sql]'") from None
    return chdb


class Files:
    """Trace files (OTLP JSON lines, ``.gz``, ``-`` for standard input) as ``otel_traces``,
    read by embedded ClickHouse. A file of ``CACHE_MIN_BYTES`` or more is read once into a
    columnar copy beside it (or in the user's cache folder when its folder is read-only),
    named by its size and modification time: a changed file is read again.

    Args:
        paths: The files, as ``expand`` gives them.
        cache: Whether to keep columnar copies of large files.
    """

    def __init__(self, paths: Sequence[str], cache: bool = True) -> None:
        self._chdb = _chdb()
        self._paths = list(paths)
        self._cache = cache
        self._scratch = Path(tempfile.mkdtemp(prefix="otel-exec-sql-"))
        self._tables: list[str] | None = None

    def close(self) -> None:
        """Remove what this reading made for itself (never the kept copies)."""
        shutil.rmtree(self._scratch, ignore_errors=True)

    def __enter__(self) -> Files:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def run(self, query: str, fmt: str) -> bytes:
        """``query``'s output in the ClickHouse format ``fmt``."""
        if self._tables is None:
            self._tables = [self._columnar(path) for path in self._paths]
        source = " UNION ALL ".join(
            f"SELECT * FROM file({literal(table)}, 'Arrow') WHERE TraceId != ''"
            for table in self._tables)
        return self._query(schema.with_views(query, source=source), fmt,
                           {**_OUTPUT_SETTINGS, "max_memory_usage": MAX_ENGINE_MEMORY})

    def _query(self, text: str, fmt: str, settings: dict[str, Any]) -> bytes:
        try:
            result = self._chdb.query(text + _settings({**_FILE_SETTINGS, **settings}), fmt)
        except Exception as error:  # chDB raises its own error types, or RuntimeError
            raise SqlError(one_line(error)) from None
        return bytes(result.bytes()) if hasattr(result, "bytes") else bytes(result)

    # the columnar copies
    def _columnar(self, path: str) -> str:
        """The columnar copy of ``path`` (made now unless a fresh one is kept)."""
        if path == "-":
            source = self._scratch / "stdin.jsonl"
            with source.open("wb") as copy:
                shutil.copyfileobj(sys.stdin.buffer, copy)
            return self._build(str(source), self._scratch / f"stdin{CACHE_SUFFIX}", path)
        info = os.stat(path)
        if not self._cache or info.st_size < CACHE_MIN_BYTES:
            target = self._scratch / f"{len(os.listdir(self._scratch))}{CACHE_SUFFIX}"
            return self._build(path, target, path)
        for target in _cache_places(Path(path), info):
            if target.exists():
                return str(target)
            with contextlib.suppress(OSError):
                built = self._build(path, target, path)
                prefix = target.name.rsplit("@", 1)[0] + "@"
                for old in target.parent.iterdir():
                    if old.name.startswith(prefix) and old.name.endswith(CACHE_SUFFIX) and (
                            old != target):
                        old.unlink(missing_ok=True)
                return built
        return self._build(path, self._scratch / f"{info.st_ino}{CACHE_SUFFIX}", path)

    def _build(self, path: str, target: Path, shown: str) -> str:
        """Read ``path`` into an Arrow file at ``target``; a file that is not OTLP JSON lines
        is the reader's ``file:line`` error."""
        readable = _engine_path(path, self._scratch)
        partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
        source = f"file({literal(readable)}, 'JSONEachRow', {literal(schema.LINE_STRUCTURE)})"
        rows = schema.span_rows(source)
        try:
            self._query(f"INSERT INTO FUNCTION file({literal(str(partial))}, 'Arrow') {rows}",
                        "CSV", {**schema.READ_SETTINGS, "engine_file_truncate_on_insert": 1,
                                "max_memory_usage": MAX_ENGINE_MEMORY})
            empty = self._query(f"SELECT countIf(NOT match(TraceId, '^[0-9a-f]{{32}}$') OR NOT "
                                f"match(SpanId, '^[0-9a-f]{{16}}$')) FROM file("
                                f"{literal(str(partial))}, 'Arrow')", "CSV", {}).strip()
        except SqlError as error:
            partial.unlink(missing_ok=True)
            _explain(path, shown)
            raise SqlError(f"{shown}: {error}") from None
        if empty not in (b"0", b""):
            _explain(path, shown)
        os.replace(partial, target)
        return str(target)


def _cache_places(path: Path, info: os.stat_result) -> Iterator[Path]:
    """Where a kept copy of ``path`` may be: beside it, else in the user's cache folder."""
    stamp = f"@{info.st_size}-{info.st_mtime_ns}-{schema.LAYOUT_VERSION}{CACHE_SUFFIX}"
    yield path.with_name(f".{path.name}{stamp}")
    home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "otel-exec"
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:24]
    with contextlib.suppress(OSError):
        home.mkdir(parents=True, exist_ok=True)
        yield home / f"{digest}{stamp}"


def _engine_path(path: str, scratch: Path) -> str:
    """A name the engine reads literally: a name holding glob or quote characters is linked
    under a plain one first (the engine would expand them)."""
    absolute = os.path.abspath(path)
    if not _ENGINE_SPECIAL.search(absolute):
        return absolute
    link = scratch / f"source-{len(os.listdir(scratch))}{''.join(Path(path).suffixes[-1:])}"
    link.symlink_to(absolute)
    return str(link)


def _explain(path: str, shown: str) -> None:
    """Raise the reader's ``file:line`` error for a file the engine could not read, if the
    reader finds one (spans the engine skipped silently included)."""
    try:
        for _ in iter_traces(path):
            pass
    except TraceFileError as error:
        raise TraceFileError(str(error).replace(path, shown, 1)) from None


# ---- a ClickHouse server ----------------------------------------------------------------------
class Cluster:
    """A ClickHouse server holding the collector's ``otel_traces`` table, through
    clickhouse-connect. Credentials come from ``CLICKHOUSE_USER`` / ``CLICKHOUSE_PASSWORD``
    (never from the URL: it would show in the process list and shell history).

    Args:
        url: ``http(s)://host[:port][/database]``.
        table: The traces table (``database.table`` or a name in the URL's database).
        allow_write: Let statements other than reads through.
    """

    def __init__(self, url: str, table: str = schema.TABLE, allow_write: bool = False) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SqlError(f"--clickhouse takes http(s)://host[:port][/database], not {url!r}")
        if parts.username or parts.password:
            raise SqlError("put credentials in CLICKHOUSE_USER and CLICKHOUSE_PASSWORD, not in "
                           "the URL (the command line is visible to other users)")
        if not re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)?", table):
            raise SqlError(f"not a table name: {table!r}")
        try:
            import clickhouse_connect
        except ImportError:
            raise MissingEngine("--clickhouse needs clickhouse-connect: pip install "
                                "'otel-exec[clickhouse]'") from None
        self._connect = clickhouse_connect.get_client
        self._options: dict[str, Any] = {
            "host": parts.hostname, "port": parts.port or (8443 if parts.scheme == "https"
                                                           else 8123),
            "secure": parts.scheme == "https", "database": parts.path.strip("/") or None,
            "username": os.environ.get("CLICKHOUSE_USER", "default"),
            "password": os.environ.get("CLICKHOUSE_PASSWORD", "")}
        self._table = table
        self._allow_write = allow_write
        self._client: Any = None

    def statement(self, query: str) -> str:
        """The SQL sent for ``query``: the views as common table expressions on the table."""
        if not self._allow_write and not is_read(query):
            raise SqlError("only a single SELECT / WITH / SHOW / DESCRIBE / EXPLAIN runs on a "
                           "server unless --allow-write is given")
        return schema.with_views(query, self._table)

    def run(self, query: str, fmt: str) -> bytes:
        """``query``'s output in the ClickHouse format ``fmt``; reads run with ``readonly=2``."""
        text = self.statement(query)
        settings = dict(_OUTPUT_SETTINGS)
        if not self._allow_write:
            settings["readonly"] = 2
        try:
            if self._client is None:
                self._client = self._connect(**self._options)
            return bytes(self._client.raw_query(text, settings=settings, fmt=fmt))
        except Exception as error:  # the driver's errors, and the network's
            raise SqlError(one_line(error).replace(str(self._options["password"]) or "\0",
                                                   "***")) from None
