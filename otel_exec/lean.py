"""The lean span start: otel_exec's own spans on the SDK's default setup, started without the
per-attribute work the SDK does for values it cannot trust.

``Tracer.start_span`` runs every attribute through ``BoundedAttributes.__setitem__`` (a lock
and a type check each) and asks the sampler, which on the default setup (parent-based, always
on) only says "record and sample" for a root or a sampled parent. otel_exec's attributes are
already plain ``str``/``bool``/``int``/``float`` values made by otel_exec; this start builds the
same ``_Span`` the SDK builds, with those attributes written in before ``on_start``, so every
span processor sees an ordinary SDK span, and OTLP output is byte for byte the same (tested).

It relies on SDK internals, so a tracer takes it only when they are the ones checked here: the
SDK versions below, its own ``Tracer`` and ``RandomIdGenerator``, the default sampler (or
otel_exec's ``RecordLocally`` around it). Anything else (another sampler, id generator, SDK
version, an unsampled parent, links, a value of another type or past the length limit) takes
``start_span``.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from opentelemetry import trace as trace_api
from opentelemetry.trace import SpanContext, SpanKind, TraceFlags

if TYPE_CHECKING:
    from collections.abc import Mapping

    from opentelemetry.context import Context
    from opentelemetry.trace import Span, Tracer
    from opentelemetry.util.types import AttributeValue

SDK_VERSIONS = ("1.45.",)
"""SDK versions whose ``Tracer.start_span`` this start repeats (checked line by line)."""

_PLAIN = frozenset((str, bool, int, float))
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_SAMPLED_RANDOM = TraceFlags(TraceFlags.SAMPLED | TraceFlags.RANDOM_TRACE_ID)
_checked: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()
_sdk: dict[str, Any] = {}
"""The SDK's span class and "record and sample" decision, found by the first check (not
imported per span, nor when otel_exec is imported)."""

enabled = True
"""Take the lean start where it applies (tests turn it off to compare with the SDK's)."""


def applies(tracer: Tracer) -> bool:
    """Whether ``tracer`` is the SDK's, as this module knows it (checked once per tracer)."""
    known = _checked.get(tracer)
    if known is None:
        known = _checked[tracer] = _known(tracer)
    return known


def _known(tracer: Any) -> bool:
    try:
        from opentelemetry.sdk import trace as sdk_trace
        from opentelemetry.sdk.trace import id_generator, sampling
        from opentelemetry.sdk.version import __version__
    except ImportError:
        return False
    from otel_exec.config import RecordLocally

    sampler = tracer.sampler if type(tracer) is sdk_trace.Tracer else None
    if isinstance(sampler, RecordLocally):
        sampler = sampler.sampler
    default = sampler is sampling.ALWAYS_ON or (
        type(sampler) is sampling.ParentBased and sampler._root is sampling.ALWAYS_ON
        and sampler._remote_parent_sampled is sampling.ALWAYS_ON
        and sampler._local_parent_sampled is sampling.ALWAYS_ON)
    span_class = getattr(sdk_trace, "_Span", None)
    _sdk.update(span=span_class, sampled=sampling.Decision.RECORD_AND_SAMPLE)
    return (default and span_class is not None and __version__.startswith(SDK_VERSIONS)
            and type(tracer.id_generator) is id_generator.RandomIdGenerator
            and hasattr(tracer, "_tracer_metrics") and hasattr(tracer, "_is_enabled"))


def start_span(tracer: Any, name: str, context: Context | None,
               attributes: Mapping[str, AttributeValue]) -> Span | None:
    """The span ``tracer.start_span(name, context, attributes=attributes)`` would start, or
    None when this start does not apply to it (then call ``start_span``); for a tracer that
    ``applies``."""
    limits = tracer._span_limits
    if limits.max_span_attributes is not None and len(attributes) > limits.max_span_attributes:
        return None
    longest = limits.max_span_attribute_length
    for key, value in attributes.items():
        if type(value) not in _PLAIN or type(key) is not str or not key or (
                longest is not None and type(value) is str and len(value) > longest):
            return None  # the SDK would drop, convert or cut it
    parent: SpanContext | None = trace_api.get_current_span(context).get_span_context()
    if not tracer._is_enabled():
        return None
    ids = tracer.id_generator
    if parent is not None and parent.is_valid:
        if not parent.trace_flags.sampled:
            return None  # the sampler's call (drop, or record only)
        trace_id, random, trace_state = (parent.trace_id, parent.trace_flags.random_trace_id,
                                         parent.trace_state)
    else:
        parent, trace_id, random, trace_state = (None, ids.generate_trace_id(),
                                                 ids.is_trace_id_random(), None)
    span: Any = _sdk["span"](
        name=name,
        context=SpanContext(trace_id, ids.generate_span_id(), is_remote=False,
                            trace_flags=_SAMPLED_RANDOM if random else _SAMPLED,
                            trace_state=trace_state),
        parent=parent, sampler=tracer.sampler, resource=tracer.resource, attributes=None,
        span_processor=tracer.span_processor, kind=SpanKind.INTERNAL, links=(),
        instrumentation_info=tracer.instrumentation_info, record_exception=True,
        set_status_on_exception=True, limits=tracer._span_limits,
        instrumentation_scope=tracer._instrumentation_scope,
        record_end_metrics=tracer._tracer_metrics.start_span(parent, _sdk["sampled"]))
    span._attributes._dict.update(attributes)  # its BoundedAttributes, empty until now
    span.start(parent_context=context)
    started: Span = span
    return started
