"""``python -m otel_exec``: the ``otel-exec`` command."""

from otel_exec.cli import main

raise SystemExit(main())
