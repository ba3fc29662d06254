"""SQL over traces: trace files in embedded ClickHouse (chDB), or the ClickHouse server an
OpenTelemetry Collector's ``clickhouse`` exporter writes to, as one table, ``otel_traces`` (the
exporter's layout), and the frameworks' views over it (``executions``, ``falyx_history``,
``fsm_runs``, ``fsm_steps``, ``routilux_jobs``, ``routilux_routines``).

```python
otel_exec.sql("SELECT name, count() FROM falyx_history GROUP BY name", "traces.jsonl")
otel_exec.sql("SELECT * FROM routilux_jobs WHERE status = 'running'",
              clickhouse="https://clickhouse.internal:8443/otel")
```

``schema`` holds the layout and the views, ``engines`` where a query runs, ``queries`` the
commands' questions (summary, stats, history, jobs) in SQL.
"""

from otel_exec.trace_sql.engines import Cluster, Files, MissingEngine, SqlError
from otel_exec.trace_sql.queries import Result, sql

__all__ = ["Cluster", "Files", "MissingEngine", "Result", "SqlError", "sql"]
