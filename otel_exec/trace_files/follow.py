"""Following a trace file as it grows (``otel-exec tail``)."""

from __future__ import annotations

import logging
import stat
import time
from pathlib import Path
from typing import TYPE_CHECKING

from otel_exec.trace_files.decode import MAX_LINE_BYTES, READ_CHUNK, TraceFileError, decode_line

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from otel_exec.execution import Execution


_logger = logging.getLogger(__name__)

def follow(path: str | Path, *, from_start: bool = False, poll: float = 0.2,
           idle: float | None = None, ready: Callable[[], None] | None = None,
           ) -> Iterator[list[Execution] | TraceFileError]:
    """The spans of each line appended to ``path`` from now on (or from its start), as
    ``configure(file=...)`` writes them: a ``tail -f`` for trace files.

    A file that is rotated (replaced) or truncated is read again from its start; one that is
    gone is waited for. A line that is not valid OTLP is yielded as its ``TraceFileError`` and
    following goes on. Ends after ``idle`` seconds without a new line (never when None).
    ``ready`` is called once, when the file is watched (what is appended from then on is
    read).

    Raises:
        TraceFileError: ``path`` is a directory, a pipe or a device.
    """
    path = Path(path)
    inode: int | None = None
    position, number, buffer = 0, 0, b""
    known_lines = from_start
    missing = False
    quiet_since = time.monotonic()
    while True:
        try:
            info = path.stat()
        except FileNotFoundError:
            info, missing = None, True  # not there yet, or rotated away: wait for it
        if info is not None and not stat.S_ISREG(info.st_mode):
            raise TraceFileError(f"{path}: is not a regular file; tail follows files")
        if info is not None and (inode is None or info.st_ino != inode
                                 or info.st_size < position):
            fresh = inode is not None or missing  # a new file: all of it is new
            inode = info.st_ino
            position = 0 if (from_start or fresh) else info.st_size
            number, buffer = 0, b""
            known_lines = known_lines or fresh
        if ready is not None:
            ready()
            ready = None
        if info is not None and info.st_size > position:
            with path.open("rb") as source:
                source.seek(position)
                chunk = source.read(min(info.st_size - position, 8 * READ_CHUNK))
            position += len(chunk)
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                number += 1
                if line.strip():
                    where = f"{path}:{number}" if known_lines else f"{path}"
                    try:
                        yield decode_line(line, where)
                    except TraceFileError as error:
                        yield error
            if len(buffer) > MAX_LINE_BYTES:
                yield TraceFileError(f"{path}: line longer than "
                                     f"{MAX_LINE_BYTES // 1024 // 1024} MiB skipped")
                buffer = b""
            quiet_since = time.monotonic()
            continue
        if idle is not None and time.monotonic() - quiet_since > idle:
            return
        time.sleep(poll)
