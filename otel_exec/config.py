"""``configure()``: one tracer provider feeding the in-memory store and, when asked, export.

```python
import otel_exec
otel_exec.configure(service_name="billing-cli")                      # in-memory store only
otel_exec.configure(otlp_endpoint="http://localhost:4318")           # + OTLP over HTTP
# or: OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317 OTEL_EXPORTER_OTLP_PROTOCOL=grpc
```

Only ``configure()`` configures the SDK, and only when nobody else has: an SDK
``TracerProvider`` that is already global (set by the application or by
``opentelemetry-instrument``) is reused, never replaced, and gets only the store's processor
(its owner exports, so every span leaves once). A provider otel_exec installs exports as the
SDK would (``OTEL_TRACES_EXPORTER``: ``otlp``, ``console``, ``none``, any installed exporter,
comma lists), samples as ``OTEL_TRACES_SAMPLER`` says for export while the in-process store
still sees every execution, and is flushed within ``exit_timeout`` at interpreter exit.
"""

from __future__ import annotations

import atexit
import dataclasses
import logging
import os
import sys
import threading
import weakref
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opentelemetry import trace as trace_api
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import Sampler

from otel_exec import _context, _wiring, logs_setup, metrics_setup, semconv
from otel_exec._sdk.provider import (
    endpoint_of,
    exporter_of,
    gather_exporting,
    shutdown_within,
    span_processors,
)
from otel_exec.execution_store import ExecutionSpanProcessor, ExecutionStore
from otel_exec.instrumentation import logs
from otel_exec.sampling import RecordLocally, TraceBuffer, keep_failed_in
from otel_exec.values import policy, set_policy, with_extra_keys

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from otel_exec.live_console import LiveConsole

_logger = logging.getLogger(__name__)

PROTOCOLS = ("http/protobuf", "grpc")
DEFAULT_PROTOCOL = "http/protobuf"
DEFAULT_EXIT_TIMEOUT = 5.0
_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
_PROTOCOL_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")


@dataclass
class _Setup:
    provider: TracerProvider | None = None
    owns_provider: bool = False
    exporters: list[_BoundedBatchSpanProcessor] = field(default_factory=list)
    otlp: bool = False
    files: dict[str, _BoundedBatchSpanProcessor] = field(default_factory=dict)
    exit_timeout: float = DEFAULT_EXIT_TIMEOUT
    exit_hook: bool = False
    not_recording: str | None = None
    console: LiveConsole | None = None
    console_chosen: bool = False
    doctor_hook: bool = False


_lock = threading.RLock()
_setup = _Setup()
_store = ExecutionStore()
_attached: weakref.WeakSet[TracerProvider] = weakref.WeakSet()
_trace_buffers: weakref.WeakKeyDictionary[TracerProvider, TraceBuffer] = (
    weakref.WeakKeyDictionary())
_warned: set[str] = set()


def store() -> ExecutionStore:
    """The default ``ExecutionStore`` (filled once ``configure()`` has run)."""
    return _store


def configure(service_name: str | None = None, *, service_version: str | None = None,
              otlp_endpoint: str | None = None, otlp_protocol: str | None = None,
              otlp_headers: Mapping[str, str] | None = None, max_spans: int | None = None,
              capture_values: bool | None = None, max_value_length: int | None = None,
              sensitive_keys: Sequence[str] | None = None,
              capture_exception_messages: bool | None = None,
              max_message_length: int | None = None, max_stacktrace_length: int | None = None,
              secret_patterns: Sequence[str] | None = None,
              scrub: Callable[[str], str] | None = None,
              max_kept_values: int | None = None, max_kept_bytes: int | None = None,
              exit_timeout: float | None = None,
              file: str | Path | None = None, console: bool | None = None,
              logs: bool | str | int | None = None,
              metrics: bool | None = None,
              sampler: Sampler | None = None,
              baggage: bool | None = None) -> ExecutionStore:
    """Set up tracing once; later calls adjust what can change and return the same store.

    Args:
        service_name: ``service.name`` of a provider we install (else ``OTEL_SERVICE_NAME``).
        service_version: ``service.version`` of a provider we install.
        otlp_endpoint: Base URL of an OTLP receiver, as ``OTEL_EXPORTER_OTLP_ENDPOINT`` means it
            (``/v1/traces`` is appended for HTTP); exported to even from a provider someone
            else set up. From the environment, export is on (for a provider otel_exec
            installs) as ``OTEL_TRACES_EXPORTER`` says, or when an
            ``OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT`` variable is set.
        otlp_protocol: ``http/protobuf`` (default) or ``grpc``; else the standard variables.
        otlp_headers: Extra export headers (the standard variables are read too).
        max_spans: How many finished executions the in-memory store keeps.
        capture_values: Whether args, kwargs and results become (scrubbed) attributes.
        max_value_length: Longest attribute text made from a user value (default 256).
        sensitive_keys: More names (words or regular expressions) whose values are redacted in
            mappings, keywords, fields, ``name=value`` text and header pairs; they apply to
            functions decorated before this call too. docs/privacy.md lists the defaults.
        capture_exception_messages: False keeps exception messages out of every span (type and
            stack frames stay).
        max_message_length: Longest exception message or status description (default 2048).
        max_stacktrace_length: Longest stack trace (default 8192; the middle is cut).
        secret_patterns: Regular expressions redacted wherever they match, beside the built-in
            shapes (bearer tokens, JWTs, URL passwords, AWS / GitHub / Slack / Stripe keys, PEM).
        scrub: Called last with every exported text; returns what to export.
        max_kept_values: How many newest executions keep their real result / exception / args
            objects in-process (default 10,000); older ones answer with their recorded text.
        max_kept_bytes: About how many bytes of such objects are kept (default 64 MiB).
        exit_timeout: Seconds that flushing spans at interpreter exit may take at most.
        file: Also append every finished span to this file as OTLP JSON lines (the format the
            Collector's file exporter writes; ``otel_exec.load`` and ``otel-exec`` read it).
        console: Print each finished root execution as a compact tree on standard error while
            the program runs (default: the ``OTEL_EXEC_CONSOLE`` variable; off).
        logs: Log records emitted while an execution is current are kept with it (WARNING and
            above); True also exports them as OTLP logs, a level name ("INFO") sets the least
            severe one kept and exported, False keeps none (default: ``OTEL_EXEC_LOGS``; and
            ``OTEL_LOGS_EXPORTER=otlp`` exports them from a provider otel_exec installs).
        metrics: Record execution metrics (``exec.duration`` by name, kind, framework and
            status; running, retries, rollbacks) and export them like the traces (default:
            ``OTEL_EXEC_METRICS``; and ``OTEL_METRICS_EXPORTER=otlp`` on a provider otel_exec
            installs).
        sampler: What a provider otel_exec installs exports (default: ``OTEL_TRACES_SAMPLER``,
            installed samplers by name too); ``KeepFailed(0.1)`` exports every trace with a
            failure and a tenth of the others. The in-process store sees every execution.
        baggage: ``otel_exec.attributes`` blocks also put their attributes in the W3C baggage
            (the standard propagator carries it to other services), and baggage this process
            receives becomes run attributes of its executions, bounded and scrubbed (default:
            ``OTEL_EXEC_BAGGAGE``; off).

    Returns:
        The default ``ExecutionStore``.

    Raises:
        ValueError: An argument is out of range or names an unknown protocol. A missing
            optional piece (the gRPC exporter package, an exporter named in
            ``OTEL_TRACES_EXPORTER``) is one warning instead: the program and the store go on.
        OSError: ``file`` cannot be opened for appending (the message names the path).
    """
    protocol = _protocol(otlp_protocol)
    with _lock:
        if max_spans is not None:
            _store.max_spans = max_spans
        if max_kept_values is not None:
            _store.max_kept_values = max_kept_values
        if max_kept_bytes is not None:
            _store.max_kept_bytes = max_kept_bytes
        _apply_value_policy(capture=capture_values, max_length=max_value_length,
                            capture_messages=capture_exception_messages,
                            max_message_length=max_message_length,
                            max_stacktrace_length=max_stacktrace_length,
                            secret_patterns=secret_patterns, scrub=scrub,
                            sensitive_keys=(None if sensitive_keys is None
                                            else with_extra_keys(sensitive_keys)))
        if exit_timeout is not None:
            if exit_timeout < 0:
                raise ValueError("exit_timeout must be zero or more seconds.")
            _setup.exit_timeout = exit_timeout
        if _setup.provider is None:
            _setup.provider = _attach_or_install(service_name, service_version, sampler)
            if _setup.provider is not None and _setup.owns_provider:
                for exporter in _environment_exporters(protocol):
                    _export(exporter)
        else:
            _warn_if_renamed(service_name, _setup.provider)
            if sampler is not None:
                _warn_once("otel_exec: the tracer provider exists already; its sampler stays "
                           "%s, not %s", _setup.provider.sampler.get_description(),
                           sampler.get_description())
        if otlp_endpoint is not None and not _setup.otlp and _setup.provider is not None:
            _export_otlp_to(otlp_endpoint, protocol, otlp_headers)
        if file is not None and _setup.provider is not None:
            key = str(Path(file).resolve())
            if key not in _setup.files:
                from otel_exec.trace_files import FileSpanExporter

                _setup.files[key] = _BoundedBatchSpanProcessor(FileSpanExporter(file))
                _add_exporting(_setup.provider, _setup.files[key])
                if not _setup.owns_provider:
                    _logger.warning("otel_exec: the tracer provider set up elsewhere now also "
                                    "writes its spans to %r (configure(file=...))", key)
        _keep_logs(logs, otlp_endpoint, protocol, otlp_headers)
        if (_setup.provider is not None
                and metrics_setup.wanted(metrics, _setup.owns_provider)):
            metrics_setup.record(_setup.provider, otlp_endpoint, protocol, otlp_headers,
                                 running=_store.running)
        _set_live_console(console)
        _set_baggage(baggage)
        _doctor_at_exit()
        if not _setup.exit_hook:
            atexit.register(shutdown)
            _setup.exit_hook = True
    return _store


def _keep_logs(setting: bool | str | int | None, endpoint: str | None, protocol: str,
               headers: Mapping[str, str] | None) -> None:
    """Keep log records with their executions, and export them as OTLP logs when asked."""
    keep, level = logs_setup.wanted(setting, _setup.owns_provider)
    if not keep:
        logs.uninstall()
        return
    logs.install(level)
    if level is not None and _setup.provider is not None:
        logs_setup.export(level, endpoint, protocol, headers, _setup.provider.resource)


def _export_otlp_to(endpoint: str, protocol: str, headers: Mapping[str, str] | None) -> None:
    """Export to ``endpoint`` unless the provider does already: on a provider set up elsewhere,
    a receiver it exports to is not added twice, and the exporter added is said in the log."""
    provider = _setup.provider
    receiver = receiver_of(endpoint)
    if not _setup.owns_provider and receiver in exported_receivers(provider):
        _logger.info("otel_exec: the tracer provider set up elsewhere exports to %s already; "
                     "no second exporter added", receiver)
        _setup.otlp = True
        return
    otlp = _otlp_exporter(endpoint, protocol, headers)
    if otlp is None:
        return
    _export(otlp)
    _setup.otlp = True
    if not _setup.owns_provider:
        _logger.warning("otel_exec: the tracer provider set up elsewhere now also exports to %s "
                        "over %s (configure(otlp_endpoint=...))", receiver, protocol)


_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}


def receiver_of(endpoint: str) -> str:
    """``host:port`` of an OTLP endpoint, as written for either protocol (loopback names are
    one host, a missing port is the scheme's)."""
    from urllib.parse import urlsplit

    parts = urlsplit(endpoint if "//" in endpoint else f"//{endpoint}")
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    return f"{'localhost' if host in _LOOPBACK_NAMES else host}:{port}"


def exported_receivers(provider: TracerProvider | None) -> set[str]:
    """The receivers (``host:port``) that ``provider``'s OTLP exporters send to, as far as the
    SDK's processors let them be seen."""
    return {receiver_of(endpoint) for exporter in span_exporters(provider)
            if (endpoint := endpoint_of(exporter)) is not None}


def span_exporters(provider: TracerProvider | None) -> list[SpanExporter]:
    """The exporters behind ``provider``'s batch and simple span processors (those behind
    its ``KeepFailed`` buffer too)."""
    processors = [inner for processor in span_processors(provider)
                  for inner in (processor.processors if isinstance(processor, TraceBuffer)
                                else (processor,))]
    return [exporter for processor in processors
            if (exporter := exporter_of(processor)) is not None]


def trace_buffer(provider: TracerProvider | None) -> TraceBuffer | None:
    """The buffer holding ``provider``'s spans for ``KeepFailed``'s decision, if it has one."""
    return None if provider is None else _trace_buffers.get(provider)


def _hold_for_tail_decision(provider: TracerProvider) -> None:
    """With a ``KeepFailed`` sampler, gather ``provider``'s exporting processors behind one
    ``TraceBuffer`` (those added by ``configure()`` later go behind it too)."""
    sampler = keep_failed_in(provider.sampler)
    if sampler is None:
        return
    buffer = gather_exporting(provider, lambda exporting: TraceBuffer(sampler, exporting))
    if buffer is None:
        _warn_once("otel_exec: this tracer provider's span processors cannot be reached; "
                   "KeepFailed exports every trace")
    else:
        _trace_buffers[provider] = buffer


def _add_exporting(provider: TracerProvider, processor: BatchSpanProcessor) -> None:
    buffer = _trace_buffers.get(provider)
    if buffer is not None:
        buffer.add(processor)
    else:
        provider.add_span_processor(processor)


def _set_live_console(on: bool | None) -> None:
    """Start or stop the live console (None: as ``OTEL_EXEC_CONSOLE`` says, the first time)."""
    if on is None:
        if _setup.console is not None or _setup.console_chosen:
            return
        on = os.environ.get("OTEL_EXEC_CONSOLE", "").strip().lower() in ("1", "true", "yes", "on")
    else:
        _setup.console_chosen = True
    if on and _setup.console is None:
        from otel_exec.live_console import LiveConsole

        _setup.console = LiveConsole(_store)
    elif not on and _setup.console is not None:
        _setup.console.close()
        _setup.console = None


MAX_BAGGAGE_ATTRIBUTES = 64
"""Most baggage entries made into attributes of one span."""


def _set_baggage(on: bool | None) -> None:
    """Carry run attributes as W3C baggage and take received baggage as run attributes, or
    not (None: as ``OTEL_EXEC_BAGGAGE`` says, unless chosen already)."""
    if on is None:
        text = os.environ.get("OTEL_EXEC_BAGGAGE", "").strip().lower()
        if not text or _context.baggage_to_attributes is not None:
            return
        on = text in ("1", "true", "yes", "on")
    _context.baggage_to_attributes = _baggage_attributes if on else None
    _context.run_attributes_used = _context.run_attributes_used or on


def _baggage_attributes(entries: Mapping[str, object]) -> dict[str, Any]:
    values_policy = policy()
    return {name: values_policy.attribute(name, value)
            for name, value in islice(entries.items(), MAX_BAGGAGE_ATTRIBUTES)}


def attach_store(provider: trace_api.TracerProvider) -> None:
    """Feed the default store from ``provider`` if it is an SDK provider (once per provider;
    nothing else about it changes)."""
    if not isinstance(provider, TracerProvider) or provider in _attached:
        return
    with _lock:
        if provider not in _attached:
            provider.add_span_processor(ExecutionSpanProcessor(_store))
            _attached.add(provider)
            _hold_for_tail_decision(provider)
            if logs_setup.wanted(None, owns_provider=False)[0]:  # OTEL_EXEC_LOGS=off: none
                logs.install()
            _set_live_console(None)  # OTEL_EXEC_CONSOLE, without configure() too
            _set_baggage(None)
            _doctor_at_exit()


def route(provider: trace_api.TracerProvider) -> trace_api.TracerProvider:
    """The provider otel_exec's spans go to when a tracer resolves ``provider`` (wired into
    the span path by the package): a local provider while none is set anywhere, and the
    default store's processor added to an SDK provider, once. Adding the store's processor to
    a provider the application or ``instrument(tracer_provider=...)`` gives is the one change
    otel_exec makes to it: that processor only feeds the in-process views and never exports."""
    used = provider
    if isinstance(provider, trace_api.ProxyTracerProvider):
        used = local_provider() or provider
    attach_store(used)
    return used


def local_provider() -> TracerProvider | None:
    """The provider otel_exec's spans use while no SDK provider is set anywhere: it feeds the
    default store and exports nothing, and it is never made global (an application, the
    distro or ``configure()`` can still set theirs). None when the SDK is disabled."""
    global _local
    if _local is None:
        if _sdk_disabled():
            _setup.not_recording = "OTEL_SDK_DISABLED=true turns the OpenTelemetry SDK off"
            return None
        with _lock:
            if _local is None:
                _local = TracerProvider(shutdown_on_exit=False, span_limits=_span_limits())
    return _local


_local: TracerProvider | None = None


def _sdk_disabled() -> bool:
    return os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


def owns(provider: object) -> bool:
    """Whether ``provider`` is the one ``configure()`` installed."""
    return _setup.owns_provider and provider is _setup.provider


def file_losses() -> dict[str, int]:
    """Spans that could not be written, per trace file of ``configure(file=...)``."""
    return {path: getattr(processor.span_exporter, "lost_spans", 0)
            for path, processor in _setup.files.items()}


def _doctor_at_exit() -> None:
    """``OTEL_EXEC_DOCTOR=1``: print the doctor's report at exit (registered once)."""
    if _setup.doctor_hook:
        return
    _setup.doctor_hook = True
    if os.environ.get("OTEL_EXEC_DOCTOR", "").strip().lower() in ("1", "true", "yes", "on"):
        def print_report() -> None:
            import sys

            from otel_exec.diagnostics import doctor

            doctor(sys.stderr)

        atexit.register(print_report)


def not_recording_reason() -> str | None:
    """Why the default store cannot receive executions, if it cannot (for the views)."""
    if _setup.not_recording is not None:
        return _setup.not_recording
    if _attached:
        return None
    return "nothing has been traced yet (instrument a framework or decorate with @traced)"


def _warn_once(message: str, *args: object) -> None:
    if message not in _warned:
        _warned.add(message)
        _logger.warning(message, *args)


def _protocol(requested: str | None) -> str:
    if requested is not None:
        if requested not in PROTOCOLS:
            raise ValueError(f"otlp_protocol must be one of {', '.join(PROTOCOLS)}, "
                             f"not {requested!r}.")
        return requested
    for variable in _PROTOCOL_VARIABLES:
        value = os.environ.get(variable)
        if value:
            if value in PROTOCOLS:
                return value
            _logger.warning("otel_exec: %s=%r is not supported (use %s); using %s",
                            variable, value, " or ".join(PROTOCOLS), DEFAULT_PROTOCOL)
            break
    return DEFAULT_PROTOCOL


def _apply_value_policy(**changes: Any) -> None:
    """Replace the value policy in force with one where the given settings differ."""
    given = {name: value for name, value in changes.items() if value is not None}
    if given:
        if "secret_patterns" in given:
            given["secret_patterns"] = tuple(given["secret_patterns"])
        set_policy(dataclasses.replace(policy(), **given))


def _attach_or_install(service_name: str | None, service_version: str | None,
                       sampler: Sampler | None = None) -> TracerProvider | None:
    """Attach the store to the global SDK provider, installing one if there is none."""
    from otel_exec.spans import given_provider

    current = trace_api.get_tracer_provider()
    if not isinstance(current, TracerProvider):
        given = given_provider()  # the spans of instrumented frameworks go there: one trace,
        if isinstance(given, TracerProvider):  # one provider, one service
            current = given
    if isinstance(current, TracerProvider):
        attach_store(current)
        _warn_if_renamed(service_name, current)
        if sampler is not None:
            _warn_once("otel_exec: the tracer provider was set up elsewhere; its sampler stays "
                       "%s, not %s", current.sampler.get_description(), sampler.get_description())
        return current
    if not isinstance(current, trace_api.ProxyTracerProvider):
        _setup.not_recording = (f"the global tracer provider is a {type(current).__name__}, "
                                "not the OpenTelemetry SDK's")
        _logger.warning("otel_exec: %s; executions will not be recorded", _setup.not_recording)
        return None
    if _sdk_disabled():
        _setup.not_recording = "OTEL_SDK_DISABLED=true turns the OpenTelemetry SDK off"
        return None
    attributes: dict[str, str] = {}
    if service_name is not None:
        attributes[semconv.SERVICE_NAME] = service_name
    if service_version is not None:
        attributes[semconv.SERVICE_VERSION] = service_version
    if sampler is None:
        sampler = _environment_sampler()
    provider = TracerProvider(resource=Resource.create(attributes), shutdown_on_exit=False,
                              sampler=RecordLocally(sampler), span_limits=_span_limits())
    attach_store(provider)
    trace_api.set_tracer_provider(provider)
    if trace_api.get_tracer_provider() is not provider:  # lost a race with another setter
        return _attach_or_install(service_name, service_version, sampler)
    _setup.owns_provider = True
    return provider


MAX_ATTRIBUTE_LENGTH = 16_384
"""Longest attribute value on a provider otel_exec installs, unless ``OTEL_ATTRIBUTE_VALUE_*``
says otherwise: a backstop for attributes set by other code (ours are bounded already)."""


def _span_limits() -> SpanLimits:
    if any(os.environ.get(v) for v in ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
                                        "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT")):
        return SpanLimits()
    return SpanLimits(max_attribute_length=MAX_ATTRIBUTE_LENGTH)


def _environment_exporters(protocol: str) -> list[SpanExporter]:
    """The exporters ``OTEL_TRACES_EXPORTER`` names (the SDK's meaning); unset: OTLP when an
    OTLP endpoint variable is set, else none (the embedded default)."""
    names = os.environ.get("OTEL_TRACES_EXPORTER")
    if names is None or not names.strip():
        wanted = ["otlp"] if any(os.environ.get(v) for v in _ENDPOINT_VARIABLES) else []
    else:
        wanted = [name.strip().lower() for name in names.split(",") if name.strip()]
    if "none" in wanted:
        return []
    exporters: list[SpanExporter] = []
    for name in dict.fromkeys(wanted):
        exporter = (_otlp_exporter(None, protocol, None) if name == "otlp"
                    else _named_exporter(name))
        if exporter is not None:
            exporters.append(exporter)
            _setup.otlp = _setup.otlp or name == "otlp"
    return exporters


def _environment_sampler() -> Sampler:
    """The sampler ``OTEL_TRACES_SAMPLER`` names: the SDK's own, or one an installed package
    provides (as ``opentelemetry-instrument`` finds them, ``otel_exec_keep_failed`` among them)."""
    name = os.environ.get("OTEL_TRACES_SAMPLER", "").strip()
    for entry in entry_points(group="opentelemetry_traces_sampler", name=name) if name else ():
        if entry.value.startswith("opentelemetry.sdk."):
            break
        try:
            sampler = entry.load()(os.environ.get("OTEL_TRACES_SAMPLER_ARG"))
        except Exception:
            _logger.warning("otel_exec: the %r sampler could not be created; sampling as the "
                            "SDK does by default", name, exc_info=True)
            break
        if isinstance(sampler, Sampler):
            return sampler
    return TracerProvider(shutdown_on_exit=False).sampler  # the SDK's reading of OTEL_*


def _named_exporter(name: str) -> SpanExporter | None:
    found = entry_points(group="opentelemetry_traces_exporter", name=name)
    if not found:
        _warn_once("otel_exec: OTEL_TRACES_EXPORTER names %r, which no installed package "
                   "provides; spans stay in the in-process store", name)
        return None
    try:
        exporter: SpanExporter = next(iter(found)).load()()
    except Exception:
        _logger.warning("otel_exec: the %r exporter could not be created", name, exc_info=True)
        return None
    return exporter


def _export(exporter: SpanExporter) -> None:
    processor = _BoundedBatchSpanProcessor(exporter)
    _setup.exporters.append(processor)
    if _setup.provider is not None:
        _add_exporting(_setup.provider, processor)


def _warn_if_renamed(service_name: str | None, provider: TracerProvider) -> None:
    """Say once that ``service_name`` cannot apply to a provider that exists already."""
    if service_name is None:
        return
    current = provider.resource.attributes.get(semconv.SERVICE_NAME)
    if current != service_name:
        whose = ("already configured" if _setup.owns_provider
                 else "the tracer provider was set up elsewhere")
        _warn_once("otel_exec: %s; service.name stays %r, not %r", whose, current,
                   service_name)


def _otlp_exporter(endpoint: str | None, protocol: str,
                   headers: Mapping[str, str] | None) -> SpanExporter | None:
    """An OTLP exporter, or None (with one warning) when its package is not installed."""
    exporter_headers = dict(headers) if headers else None
    if protocol == "grpc":
        from otel_exec._sdk.otlp_encoder import grpc_exporter

        try:
            return grpc_exporter(endpoint, exporter_headers)
        except ImportError:
            _warn_once("otel_exec: OTLP over gRPC needs opentelemetry-exporter-otlp-proto-grpc "
                       "(pip install opentelemetry-exporter-otlp-proto-grpc); spans are not "
                       "exported, the in-process store still has them")
            return None
    from otel_exec._sdk.otlp_encoder import HttpSpanExporter

    if endpoint is not None:
        endpoint = endpoint.rstrip("/") + "/v1/traces"
    return HttpSpanExporter(endpoint=endpoint, headers=exporter_headers)


EXPORT_QUEUE_SIZE = 32_768
"""Spans an exporter may have queued at once unless ``OTEL_BSP_MAX_QUEUE_SIZE`` says otherwise
(the SDK's 2,048 drops spans from a burst of quick calls: the export thread needs the GIL too)."""


class _BoundedBatchSpanProcessor(BatchSpanProcessor):
    """A ``BatchSpanProcessor`` whose queue holds a burst (``EXPORT_QUEUE_SIZE``) and whose
    ``shutdown`` waits at most ``exit_timeout`` seconds."""

    def __init__(self, exporter: SpanExporter) -> None:
        size = None if os.environ.get("OTEL_BSP_MAX_QUEUE_SIZE") else EXPORT_QUEUE_SIZE
        super().__init__(exporter, max_queue_size=size)

    def shutdown(self, timeout_millis: float | None = None) -> None:
        if timeout_millis is None:
            timeout_millis = _setup.exit_timeout * 1000
        shutdown_within(self, int(timeout_millis))


def _flush_when_the_child_exits() -> None:
    """In a forked child: a multiprocessing worker leaves through ``os._exit``, which runs no
    ``atexit`` hook, so its queued spans would be lost; multiprocessing's own exit hooks
    flush them instead (registered once the worker has cleared those it inherited)."""
    util = sys.modules.get("multiprocessing.util")
    if util is not None and _batch_processors():
        util.register_after_fork(_setup, _flush_at_worker_exit)


def _flush_at_worker_exit(setup: _Setup) -> None:
    util = sys.modules["multiprocessing.util"]
    util.Finalize(None, flush, args=(setup.exit_timeout,), exitpriority=100)


os.register_at_fork(after_in_child=_flush_when_the_child_exits)


def _batch_processors() -> list[_BoundedBatchSpanProcessor]:
    return [*_setup.exporters, *_setup.files.values()]


def flush(timeout: float = DEFAULT_EXIT_TIMEOUT) -> bool:
    """Export the spans still queued (OTLP and files); False if that took over ``timeout`` s."""
    processors = _batch_processors()
    if not processors:
        return True

    def flush_all() -> None:
        for processor in processors:
            processor.force_flush()
        logs_setup.installed.flush(int(timeout * 1000))
        metrics_setup.installed.flush(int(timeout * 1000))

    worker = threading.Thread(target=flush_all, name="otel_exec-flush", daemon=True)
    worker.start()
    worker.join(timeout)
    return not worker.is_alive()


def shutdown(timeout: float | None = None) -> None:
    """Flush and stop export within ``timeout`` seconds (``exit_timeout`` by default).

    Runs by itself at interpreter exit. The in-memory store keeps what it has.
    """
    with _lock:
        callbacks = list(_wiring.before_shutdown)
    for callback in callbacks:
        try:
            callback()
        except Exception:
            _logger.warning("otel_exec: %r failed at shutdown", callback, exc_info=True)
    with _lock:
        processors = _batch_processors()
        _setup.exporters.clear()
        _setup.files.clear()
        provider = _setup.provider if _setup.owns_provider else None
        buffer = trace_buffer(_setup.provider)
    if buffer is not None:
        buffer.release_waiting()
    for processor in processors:
        processor.shutdown(None if timeout is None else timeout * 1000)
    logs_setup.installed.shutdown()
    metrics_setup.installed.shutdown()
    if provider is not None:
        provider.shutdown()
