"""``otel_exec.doctor()`` / ``otel-exec doctor``: the one place to look when spans do not show up.

```python
import otel_exec
otel_exec.doctor()          # or OTEL_EXEC_DOCTOR=1 to print it at exit, or: otel-exec doctor
```

It reports what this process has: the Python, OpenTelemetry and framework versions; who owns
the tracer provider, its sampler, processors and exporters (endpoint and protocol); which
frameworks are instrumented, waiting for their import, or left alone and why; whether
otel_exec's fast paths are on; the store's size and evictions, spans lost on the way out; and
the ``OTEL_*`` variables, header values hidden. Every value is shown literally and bounded.
"""

from __future__ import annotations

import os
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import TextIO

from opentelemetry import trace as trace_api
from opentelemetry.sdk.trace import TracerProvider

from otel_exec import config, semconv
from otel_exec._sdk.provider import endpoint_of, span_processors
from otel_exec.values import policy

_LONGEST = 300


def _shown(value: object) -> str:
    """``value`` as one bounded line: control characters escaped, secrets redacted."""
    text = policy().redact(str(value))
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= _LONGEST else text[:_LONGEST] + "..."


def _version(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "not installed"


def _provider_lines(provider: trace_api.TracerProvider) -> list[str]:
    owner = ("otel_exec.configure()" if config.owns(provider)
             else "set up elsewhere (the application or the distro)")
    if not isinstance(provider, TracerProvider):
        if isinstance(provider, trace_api.ProxyTracerProvider):
            local = "; otel_exec's spans feed the in-process store only"
            return [f"tracer provider: none set (no export){local}"]
        return [f"tracer provider: {_shown(type(provider).__name__)}, not the SDK's: "
                "otel_exec records nothing"]
    resource = provider.resource.attributes
    lines = [f"tracer provider: the SDK's, {owner}",
             f"  service.name: {_shown(resource.get(semconv.SERVICE_NAME))}",
             f"  sampler: {_shown(provider.sampler.get_description())}"]
    exporters = config.span_exporters(provider)
    for processor in span_processors(provider):
        lines.append(f"  processor: {_shown(type(processor).__name__)}")
    for exporter in exporters:
        endpoint = endpoint_of(exporter) or getattr(exporter, "path", None)
        modules = " ".join(kind.__module__ for kind in type(exporter).__mro__)
        protocol = ("grpc" if ".otlp.proto.grpc" in modules
                    else "http/protobuf" if ".otlp.proto.http" in modules else "")
        described = " ".join(filter(None, (protocol, _shown(endpoint) if endpoint else "")))
        lines.append(f"  exporter: {_shown(type(exporter).__name__)} {described}".rstrip())
    if not exporters:
        lines.append("  exporter: none (spans stay in this process)")
    buffer = config.trace_buffer(provider)
    if buffer is not None:
        counts = buffer.counts
        lines.append(f"  keep failed: {counts.kept_failed} local traces kept for a failure, "
                     f"{counts.kept_by_ratio} by ratio, {counts.dropped} dropped, "
                     f"{counts.exported_undecided} exported undecided (buffer full or exit)")
    return lines


def _framework_lines() -> list[str]:
    from otel_exec.instrumentation import FRAMEWORKS
    from otel_exec.instrumentation._patching import skipped

    lines = []
    for name, framework in FRAMEWORKS.items():
        installed = _version(framework.distribution)
        if installed == "not installed":
            lines.append(f"{name}: not installed ({framework.install_hint()})")
            continue
        instrumentor = framework.load()
        if not instrumentor.is_instrumented_by_opentelemetry:
            state = "not instrumented"
        elif framework.module not in sys.modules:
            state = "instrumented when the program imports it"
        else:
            state = "instrumented"
        lines.append(f"{name} {installed}: {state}")
        lines.extend(f"  skipped: {_shown(reason)}"
                     for reason in skipped.get(instrumentor.framework, ()))
    return lines


def _fast_path_lines() -> list[str]:
    from otel_exec._sdk import fast_paths

    return [f"{name}: {why}" for name, _, why in fast_paths()]


def _store_lines() -> list[str]:
    store = config.store()
    lines = [f"store: {len(store):,} executions kept of at most {store.max_spans:,}, "
             f"{store.evicted:,} evicted, {len(store.running()):,} running",
             f"  not recording because: {_shown(config.not_recording_reason())}"
             if config.not_recording_reason() else "  recording"]
    for path, lost in config.file_losses().items():
        lines.append(f"  trace file {_shown(path)}: {lost:,} span(s) could not be written")
    encoder = sys.modules.get("otel_exec._sdk.otlp_encoder")
    if encoder is not None and encoder.left_out:
        lines.append(f"  OTLP export: {encoder.left_out:,} span(s) the encoder could not take, "
                     "left out of their batches (the rest sent)")
    return lines


def _variable_lines() -> list[str]:
    lines = []
    for name in sorted(os.environ):
        if name.startswith("OTEL_"):
            value = os.environ[name]
            if "HEADERS" in name:  # keys only: header values are credentials
                value = ",".join(f"{pair.split('=', 1)[0].strip()}=***"
                                 for pair in value.split(",") if pair.strip())
            lines.append(f"{name}={_shown(value)}")
    return lines or ["(no OTEL_* variable set)"]


def report() -> str:
    """The doctor's report, as text."""
    sections = {
        "versions": [f"Python {platform.python_version()} ({_shown(sys.executable)})",
                     *(f"{name} {_version(name)}" for name in (
                         "otel-exec", "opentelemetry-api", "opentelemetry-sdk",
                         "opentelemetry-exporter-otlp-proto-http",
                         "opentelemetry-exporter-otlp-proto-grpc",
                         "opentelemetry-instrumentation"))],
        "tracing": _provider_lines(trace_api.get_tracer_provider()),
        "frameworks": _framework_lines(),
        "otel_exec": [*_fast_path_lines(), *_store_lines()],
        "environment": _variable_lines(),
    }
    return "\n".join(f"{title}:\n" + "\n".join(f"  {line}" for line in lines)
                     for title, lines in sections.items()) + "\n"


def doctor(file: TextIO | None = None) -> str:
    """Print the report to ``file`` (standard output by default) and return it."""
    text = report()
    (file or sys.stdout).write(text)
    return text
