"""Save and load executions as OTLP JSON lines, the format the OpenTelemetry Collector's file
exporter writes: one ``{"resourceSpans": [...]}`` object per line, hex trace and span ids,
nanosecond times as strings, ``AnyValue`` attributes.

```python
otel_exec.configure(file="traces.jsonl")     # every finished span appended, off the hot path
otel_exec.save("run.jsonl")                  # what the store holds now
store = otel_exec.load("run.jsonl")          # any view works on it, as in-process
```

``encode`` makes the JSON, ``writer`` writes files, ``decode`` reads a line (hardened),
``reader`` reads files (as a stream, in memory, into a store), ``follow`` follows one.
"""

from otel_exec.trace_files.decode import MAX_DEPTH, TraceFileError, decode_line
from otel_exec.trace_files.encode import encode_line
from otel_exec.trace_files.follow import follow
from otel_exec.trace_files.reader import (
    TraceData,
    iter_traces,
    load,
    read,
    read_traces,
    store_of,
)
from otel_exec.trace_files.writer import FileSpanExporter, save

__all__ = ["MAX_DEPTH", "FileSpanExporter", "TraceData", "TraceFileError", "decode_line",
           "encode_line", "follow", "iter_traces", "load", "read", "read_traces", "save",
           "store_of"]
