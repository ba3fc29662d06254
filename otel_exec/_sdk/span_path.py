"""The lean span path: otel_exec's own spans on the SDK's default setup, started, described and
ended without the per-span work the SDK does for values it cannot trust and features not in use.

``Tracer.start_span`` runs every attribute through ``BoundedAttributes.__setitem__`` (a lock
and a type check each), asks the sampler, which on the default setup (parent-based, always on)
only says "record and sample" for a root or a sampled parent, builds the span field by field
through three constructors (21 fields, 13 of them the same for every span of the tracer, and
two bounded lists most spans never fill), and copies it into a ``ReadableSpan`` at its end;
the provider's processors are called through a loop of the ``SynchronousMultiSpanProcessor``,
each hook of each, no-ops included.
This path starts a span of the SDK's own ``_Span`` class, made per tracer (``_lean_class``):
the fields its tracer's spans share are the class's, the lists of events and links are made
when first used, and the span itself, a ``ReadableSpan`` no method changes once it has ended,
is what ``on_end`` gets. otel_exec's attributes are already plain ``str``/``bool``/``int``/
``float`` values, so they are written in before ``on_start``; links are bounded as the SDK's
``_new_links`` bounds them (the API's ``Link`` with a valid context and plain attributes; any
other link through ``_new_links`` itself); attributes and events added later are written the
same way, under the span's lock. Its ids are drawn as the SDK's ``RandomIdGenerator`` draws
them, and it calls the provider's processors itself, in the SDK's order, leaving out the hooks
a processor left as ``SpanProcessor``'s own (which do nothing). Every span processor sees an
SDK span, and OTLP output is byte for byte the same (tested).

It relies on SDK internals, so a tracer takes it only when they are the ones checked here:
the SDK releases its gate names (``otel_exec._sdk.SPAN_PATH``), the SDK's own ``Tracer``,
``RandomIdGenerator`` and ``SynchronousMultiSpanProcessor``, the default sampler or
``KeepFailed`` (``RecordLocally`` around either), a probe span with exactly the fields this
module fills, the layout of ``SpanContext`` and of the context's span key. Anything else
(another sampler, id generator, SDK release or layout, an unsampled parent, a value of another
type or past a limit, too many attributes) takes the SDK's ``start_span`` /
``set_attributes`` / ``add_event`` / ``end``.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from opentelemetry import context as context_api
from opentelemetry import trace as trace_api
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanContext, SpanKind, TraceFlags, TraceState
from opentelemetry.trace.span import DEFAULT_TRACE_STATE

from otel_exec._context import current
from otel_exec._sdk import SPAN_PATH
from otel_exec.sampling import KeepFailed, RecordLocally

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from opentelemetry.trace import Span
    from opentelemetry.util.types import AttributeValue

SPAN_FIELDS = frozenset((
    "_attributes", "_context", "_end_time", "_events", "_instrumentation_info",
    "_instrumentation_scope", "_kind", "_limits", "_links", "_lock", "_name", "_parent",
    "_record_end_metrics", "_record_exception", "_resource", "_sampler",
    "_set_status_on_exception", "_span_processor", "_start_time", "_status", "_trace_config"))
"""The fields of an SDK span before it starts, as the versions above lay them out."""
_ATTRIBUTES_FIELDS = frozenset(("_dict", "maxlen", "dropped", "max_value_len", "_lock",
                                "_immutable"))
_LIST_FIELDS = frozenset(("dropped", "_dq", "_lock"))
EVENT_FIELDS = ("_name", "_timestamp", "_attributes")
"""The fields of an SDK span event, in the order its constructors set them."""

_PLAIN = frozenset((str, bool, int, float))
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_new = object.__new__
_tuple_new = tuple.__new__
_Lock = threading.Lock
_time_ns = time.time_ns


class _Template:
    """What every span of one tracer shares, taken from a probe span the SDK built."""

    __slots__ = ("attributes", "attributes_class", "end_metrics", "hooks", "hooks_of", "limits",
                 "links", "list_class", "random_ids", "resource", "sampled", "span_class")

    def __init__(self, tracer: Any, probe: Any, sampled: Any, random_ids: bool) -> None:
        self.attributes_class = type(probe._attributes)
        self.list_class = type(probe._events)
        self.attributes = (probe._attributes.maxlen, probe._attributes.max_value_len)
        self.links = probe._links._dq.maxlen
        self.resource = tracer.resource
        self.limits = tracer._span_limits
        self.sampled = sampled
        self.random_ids = random_ids
        self.end_metrics: Any = (_no_metrics if type(tracer._tracer_metrics) is _NoMetrics
                                 else None)
        """What the SDK's metrics-off tracer hands every span to call at its end (a function
        doing nothing), None when the tracer records span metrics (asked per span)."""
        self.span_class = _lean_class(probe, self)
        self.hooks_of: tuple[Any, ...] | None = None
        """The span processors ``hooks`` was made for (the multi-processor's tuple)."""
        self.hooks: tuple[tuple[Any, ...], tuple[Any, ...], tuple[Any, ...]] = ((), (), ())
        """The processors whose ``on_start``, ``_on_ending`` and ``on_end`` do anything."""


def _hooks(template: _Template, processors: tuple[Any, ...]) -> tuple[tuple[Any, ...], ...]:
    """``template.hooks`` for the provider's processors now: the spans of a tracer call them
    in the order the SDK's ``SynchronousMultiSpanProcessor`` does, without the calls of its
    loop and of hooks left as ``SpanProcessor``'s own (which do nothing)."""
    template.hooks = tuple(
        tuple(each for each in processors
              if getattr(type(each), hook, None) is not getattr(_base_processor, hook)
              or hook in getattr(each, "__dict__", ()))
        for hook in ("on_start", "_on_ending", "on_end"))  # type: ignore[assignment]
    template.hooks_of = processors
    return template.hooks


class _LazyList:
    """A span's list of events or of links, made when first used (most spans have none); an
    ended span without one answers with an empty list shared by all, as nothing is added to
    an ended span."""

    __slots__ = ("ended", "field", "list_class", "most")

    def __init__(self, field: str, list_class: type[Any], most: int | None) -> None:
        self.field = field
        self.list_class = list_class
        self.most = most
        self.ended = _empty_list(list_class, most)

    def __get__(self, span: Any, owner: type[Any] | None = None) -> Any:
        if span is None:
            return self
        if span._end_time is not None:
            return self.ended
        # setdefault: a list another thread made first is the one kept
        return span.__dict__.setdefault(self.field, _empty_list(self.list_class, self.most))


LEAN = "_otel_exec_lean_span"
"""The class attribute that marks a tracer's lean span class (its template)."""


def _lean_class(probe: Any, template: _Template) -> type[Any]:
    """The SDK span class of one tracer's lean spans: a subclass of ``_Span`` holding the
    fields all its spans share (the probe's), so a span sets only its own."""
    span_class = type(probe)
    shared: dict[str, Any] = {
        field: getattr(probe, field) for field in (
            "_kind", "_instrumentation_info", "_instrumentation_scope", "_resource", "_status",
            "_sampler", "_trace_config", "_record_exception", "_set_status_on_exception",
            "_span_processor", "_limits")}
    if template.end_metrics is not None:
        shared["_record_end_metrics"] = staticmethod(template.end_metrics)  # not a method
    return type(span_class.__name__, (span_class,), {
        **shared, "__module__": span_class.__module__, "__qualname__": span_class.__qualname__,
        "__slots__": (), LEAN: template, "_parent": None, "_start_time": None, "_end_time": None,
        "_events": _LazyList("_events", template.list_class, probe._events._dq.maxlen),
        "_links": _LazyList("_links", template.list_class, template.links)})


def _known(span: Any) -> bool:
    """Whether this path knows the layout of ``span``: the SDK's ``_Span`` confirmed by a
    probe, or a lean span."""
    kind = type(span)
    return kind in _span_classes or getattr(kind, LEAN, False)


_span_classes: set[type] = set()
"""The span classes whose layout a probe confirmed (the SDK's ``_Span``)."""
_sdk_event: Any = None
"""The SDK's ``Event`` class, found with the first span class confirmed."""
_NoMetrics: Any = None
"""The SDK's tracer metrics class for span metrics turned off (found by the first probe)."""
_no_metrics: Any = None
"""What its ``start_span`` returns for a span to call at its end: a function doing nothing."""
_span_key: Any = None
"""The context key the API keeps the current span under (found by the first probe)."""

_base_processor: Any = None
"""The SDK's ``SpanProcessor``, whose hooks do nothing (found by the first probe)."""
_random_ids: Any = None
"""The SDK's ``RandomIdGenerator`` (found by the first probe)."""
_random_flag = 0
"""``TraceFlags.RANDOM_TRACE_ID`` (found by the first probe: it is not in every API)."""
_sampled_random: Any = None
"""The flags of a sampled span whose trace id is random."""
TEMPLATE = "_otel_exec_lean"
"""Where a tracer keeps its template (or None: the lean path does not apply to it)."""


def in_context(span: Span, around: Context, marker: str) -> Context:
    """``set_value(marker, True, trace.set_span_in_context(span, around))``, in one step once
    a probe has found the key the API keeps the span under."""
    if _span_key is None:
        return context_api.set_value(marker, True, trace_api.set_span_in_context(span, around))
    return Context({**around, _span_key: span, marker: True})


def _template(tracer: Any) -> _Template | None:
    template: _Template | bool | None = getattr(tracer, TEMPLATE, False)
    if template is False:
        template = _probe_tracer(tracer)
        try:
            setattr(tracer, TEMPLATE, template)
        except (AttributeError, TypeError):  # not the SDK's tracer
            return None
    return template  # type: ignore[return-value]


def _probe_tracer(tracer: Any) -> _Template | None:
    """The template of ``tracer``'s spans when the lean path applies to it, else None. The
    first tracer confirmed also records what the path reads from then on: the SDK's span,
    event and ``ReadableSpan`` classes, its metrics-off tracer, the context's span key and the
    trace flags."""
    if not SPAN_PATH.open():
        return None
    try:
        from opentelemetry.sdk import trace as sdk_trace
        from opentelemetry.sdk.trace import _tracer_metrics, id_generator, sampling
        from opentelemetry.trace.propagation import _SPAN_KEY
    except ImportError:
        return None

    random_flag = getattr(TraceFlags, "RANDOM_TRACE_ID", None)
    if type(tracer) is not sdk_trace.Tracer or random_flag is None:
        return None
    sampled_random = TraceFlags(TraceFlags.SAMPLED | random_flag)
    sampler = tracer.sampler
    if isinstance(sampler, RecordLocally):
        sampler = sampler.sampler
    default = sampler is sampling.ALWAYS_ON or type(sampler) is KeepFailed or (
        type(sampler) is sampling.ParentBased and sampler._root is sampling.ALWAYS_ON
        and sampler._remote_parent_sampled is sampling.ALWAYS_ON
        and sampler._local_parent_sampled is sampling.ALWAYS_ON)
    span_class = getattr(sdk_trace, "_Span", None)
    if not (default and span_class is not None and _sdk_ids(tracer.id_generator, id_generator)
            and type(tracer.span_processor) is sdk_trace.SynchronousMultiSpanProcessor
            and hasattr(tracer, "_tracer_metrics") and hasattr(tracer, "_tracer_config")):
        return None
    try:  # a span the SDK builds (never started: no processor sees it)
        probe: Any = span_class(
            name="probe", context=SpanContext(1, 1, is_remote=False), parent=None,
            sampler=tracer.sampler, resource=tracer.resource, attributes=None,
            span_processor=tracer.span_processor, kind=SpanKind.INTERNAL, links=(),
            instrumentation_info=tracer.instrumentation_info, record_exception=True,
            set_status_on_exception=True, limits=tracer._span_limits,
            instrumentation_scope=tracer._instrumentation_scope, record_end_metrics=None)
    except Exception:
        return None
    state = TraceState([("k", "v")])
    in_context = trace_api.set_span_in_context(probe)  # kept under _SPAN_KEY, read back as is
    readable = probe._readable_span()  # what the SDK hands on_end: the span's fields, copied
    if (set(vars(probe)) != SPAN_FIELDS or set(vars(probe._attributes)) != _ATTRIBUTES_FIELDS
            or set(vars(probe._events)) != _LIST_FIELDS
            or set(vars(probe._links)) != _LIST_FIELDS
            or type(probe._events) is not type(probe._links)
            or probe._start_time is not None or probe._end_time is not None
            or not _same_layout(SpanContext(3, 4, True, sampled_random, state),
                                (3, 4, True, sampled_random, state, True))
            or not _same_layout(SpanContext(3, 4, False, _SAMPLED, None),
                                (3, 4, False, _SAMPLED, DEFAULT_TRACE_STATE, True))
            or in_context.get(_SPAN_KEY) is not probe
            or trace_api.get_current_span(in_context) is not probe):
        return None
    if not isinstance(probe, type(readable)) or any(  # so the span itself can stand in
            value is not vars(probe).get(field) for field, value in vars(readable).items()):
        return None
    if tuple(vars(sdk_trace.Event("probe", None, 1))) != EVENT_FIELDS:
        return None
    global _sdk_event, _NoMetrics, _no_metrics, _base_processor, _random_ids
    global _span_key, _random_flag, _sampled_random
    _span_key, _random_flag, _sampled_random = _SPAN_KEY, random_flag, sampled_random
    _sdk_event = sdk_trace.Event
    _base_processor = sdk_trace.SpanProcessor
    _random_ids = id_generator.RandomIdGenerator
    no_metrics = getattr(_tracer_metrics, "NoOpTracerMetrics", None)
    noop = getattr(_tracer_metrics, "noop", None)
    if no_metrics is not None and noop is not None and no_metrics().start_span(
            None, sampling.Decision.RECORD_AND_SAMPLE) is noop:
        _NoMetrics, _no_metrics = no_metrics, noop
    _span_classes.add(span_class)
    return _Template(tracer, probe, sampling.Decision.RECORD_AND_SAMPLE,
                     tracer.id_generator.is_trace_id_random())


def _sdk_ids(ids: Any, id_generator: Any) -> bool:
    """Whether ``ids`` is the SDK's ``RandomIdGenerator`` as released: its ids are then
    ``random.getrandbits`` drawn again while invalid (0), which this path draws itself."""
    kind = type(ids)
    return (kind is id_generator.RandomIdGenerator and not vars(ids)
            and getattr(id_generator, "random", None) is random
            and all(getattr(kind, name).__module__ == id_generator.__name__
                    for name in ("generate_span_id", "generate_trace_id")))


def _same_layout(context: SpanContext, expected: tuple[Any, ...]) -> bool:
    """Whether a SpanContext is the tuple this module builds and reads by position."""
    return type(context) is SpanContext and tuple(context) == expected and (
        _tuple_new(SpanContext, expected) == context)


def start_span(tracer: Any, name: str, context: Context | None,
               attributes: Mapping[str, AttributeValue],
               links: Sequence[Link] | None = None) -> Span | None:
    """The span ``tracer.start_span(name, context, attributes=attributes, links=links)``
    would start, or None when this path does not apply to it (then call ``start_span``)."""
    template: Any = getattr(tracer, TEMPLATE, False)
    if template is False:  # not looked at yet
        template = _template(tracer)
    if (template is None or template.resource is not tracer.resource
            or template.limits is not tracer._span_limits):
        return None
    most, longest = template.attributes
    if most is not None and len(attributes) > most:
        return None
    if not _plain(attributes, longest):
        return None  # the SDK would drop, convert or cut a value
    holder: Any = (current() if context is None else context).get(_span_key)
    parent: Any = (None if holder is None  # no span in the context: a root
                   else holder._context if _known(holder)
                   else trace_api.get_current_span(context).get_span_context())
    if not tracer._tracer_config.is_enabled:  # what the SDK's ``_is_enabled()`` reads
        return None
    ids = tracer.id_generator
    if type(ids) is not _random_ids:  # replaced since the probe: its own ids
        return None
    draw = random.getrandbits  # what the SDK's RandomIdGenerator draws, 0 drawn again
    # a SpanContext is (trace id, span id, is remote, flags, state, is valid): the probe checked
    if parent is not None and parent[5]:
        flags = parent[3]
        if not flags & TraceFlags.SAMPLED:
            return None  # the sampler's call (drop, or record only)
        trace_id, random_id, trace_state = parent[0], flags & _random_flag, parent[4]
    else:
        parent, random_id, trace_state = None, template.random_ids, DEFAULT_TRACE_STATE
        trace_id = draw(128) or ids.generate_trace_id()
    # the span's own fields (its tracer's are its class's), set one by one: faster than
    # through its __dict__
    span = _new(template.span_class)
    span._name = name
    span._context = _tuple_new(SpanContext, (trace_id, draw(64) or ids.generate_span_id(),
                                             False, _sampled_random if random_id else _SAMPLED,
                                             trace_state, True))
    if parent is not None:
        span._parent = parent
    span._attributes = _bounded_attributes(template.attributes_class, attributes, most,
                                           longest, immutable=False)
    if links:
        bounded_links = _bounded_links(template, links)
        # else the SDK bounds them itself (it reads the span's _limits)
        span._links = span._new_links(links) if bounded_links is None else bounded_links
    span._lock = _Lock()
    if template.end_metrics is None:
        span._record_end_metrics = tracer._tracer_metrics.start_span(parent, template.sampled)
    span._start_time = _time_ns()
    processors = tracer.span_processor._span_processors
    hooks = template.hooks if processors is template.hooks_of else _hooks(template, processors)
    for each in hooks[0]:
        each.on_start(span, parent_context=context)
    started: Span = span
    return started


def _bounded_links(template: _Template, links: Sequence[Link]) -> Any | None:
    """The ``BoundedList`` of links the SDK's ``_new_links`` makes (each link's attributes
    bounded and frozen in place), for the API's own ``Link`` objects with a valid context and
    plain attributes within the limits; None (nothing changed) for any other."""
    most = template.links
    limits = template.limits
    most_attributes, longest = limits.max_link_attributes, limits.max_attribute_length
    if not _LINK_LAYOUT or (most is not None and len(links) > most):
        return None
    unbounded = []  # links whose attributes this span bounds (not one already bounded alike)
    for link in links:
        if type(link) is not Link:
            return None
        context, attributes = link._context, link._attributes
        if type(context) is not SpanContext or not context[5]:  # not valid: the SDK decides
            return None
        if _bounded_as(attributes, template.attributes_class, most_attributes, longest):
            continue
        if attributes and ((most_attributes is not None and len(attributes) > most_attributes)
                           or not _plain(attributes, longest)):
            return None
        unbounded.append(link)
    for link in unbounded:  # as the SDK does: the link's attributes, bounded, frozen
        link._attributes = _bounded_attributes(template.attributes_class,
                                               link._attributes or _NO_ATTRIBUTES,
                                               most_attributes, longest, immutable=True)
    listed = _empty_list(template.list_class, most)
    listed._dq.extend(links)
    return listed


def _bounded_as(attributes: Any, attributes_class: type[Any], most: int | None,
               longest: int | None) -> bool:
    """Whether a link's attributes are already what bounding them again would make: frozen,
    under the same limits, nothing dropped (a link shared by the spans of one emitter)."""
    return (type(attributes) is attributes_class and attributes._immutable
            and attributes.maxlen == most and attributes.max_value_len == longest
            and not attributes.dropped)


_LINK_LAYOUT = set(vars(Link(SpanContext(1, 1, False)))) == {"_context", "_attributes"}
"""Whether the API's ``Link`` keeps its context and attributes where ``_bounded_links``
reads and writes them."""
_NO_ATTRIBUTES: dict[str, Any] = {}


def _empty_list(list_class: type[Any], most: int | None) -> Any:
    """A new, empty ``BoundedList`` of at most ``most`` items, as the SDK makes one."""
    bounded = _new(list_class)
    bounded.dropped = 0
    bounded._dq = deque(maxlen=most)
    bounded._lock = _Lock()
    return bounded


def _bounded_attributes(attributes_class: type[Any], attributes: Mapping[str, AttributeValue],
                        most: int | None, longest: int | None, *, immutable: bool) -> Any:
    """A new ``BoundedAttributes`` holding ``attributes`` (plain, within the limits: checked
    by the caller), as the SDK makes one."""
    bounded = _new(attributes_class)
    bounded._dict = dict(attributes)
    bounded.maxlen = most
    bounded.dropped = 0
    bounded.max_value_len = longest
    bounded._lock = _Lock()
    bounded._immutable = immutable
    return bounded


def set_attributes(span: Any, attributes: Mapping[str, AttributeValue]) -> bool:
    """Write plain attributes into a running SDK span as ``span.set_attributes`` would; False
    (nothing written) when the span or a value is not one this path knows."""
    if not _known(span):
        return False
    bounded = span._attributes
    most = bounded.maxlen
    if (most is not None and len(bounded._dict) + len(attributes) > most) or not _plain(
            attributes, bounded.max_value_len):
        return False  # no room for them all, or a value the SDK would change
    lock = span._lock
    lock.acquire()  # not ``with``: cheaper
    try:
        if span._end_time is not None or bounded._immutable:
            return False
        _write(bounded._dict, attributes)
    finally:
        lock.release()
    return True


def end_span(span: Any, end_time: int | None = None,
             attributes: Mapping[str, AttributeValue] | None = None, *,
             texts: bool = False) -> bool:
    """End a running SDK span as ``span.set_attributes(attributes)`` (if any) then
    ``span.end(end_time)`` would, under one hold of the span's lock, handing ``on_end`` the
    span itself (a lean span) or the ``ReadableSpan`` the SDK makes; False (nothing done)
    when the span is not one this path knows, or not running (then ``span.end`` says why).
    ``texts``: the attributes are strings under non-empty string keys (what otel_exec writes
    itself), so only their length is checked, where a limit is set."""
    template: _Template | None = getattr(type(span), LEAN, None)
    if template is None and type(span) not in _span_classes:
        return False
    bounded = span._attributes
    most = bounded.maxlen
    longest = bounded.max_value_len
    if attributes and ((most is not None and len(bounded._dict) + len(attributes) > most)
                       or ((longest is not None or not texts)
                           and not _plain(attributes, longest))):
        if span._end_time is not None:
            return False
        span.set_attributes(attributes)  # the SDK converts, cuts or drops what it must
        attributes = None
    lock = span._lock
    lock.acquire()
    try:
        if span._start_time is None or span._end_time is not None:
            return False
        if attributes:
            _write(bounded._dict, attributes)
        span._end_time = _time_ns() if end_time is None else end_time
        bounded._immutable = True
    finally:
        lock.release()
    record_end_metrics = span._record_end_metrics
    if record_end_metrics and record_end_metrics is not _no_metrics:
        record_end_metrics()
    if template is None:
        processor = span._span_processor
        processor._on_ending(span)
        processor.on_end(span._readable_span())
        return True
    processors = span._span_processor._span_processors
    hooks = template.hooks if processors is template.hooks_of else _hooks(template, processors)
    for each in hooks[1]:
        each._on_ending(span)
    for each in hooks[2]:
        each.on_end(span)
    return True


def _write(values: dict[str, Any], attributes: Mapping[str, AttributeValue]) -> None:
    """Set each attribute; a key set again moves to the end, as in the SDK."""
    if values.keys().isdisjoint(attributes):
        values.update(attributes)
        return
    for key, value in attributes.items():
        values.pop(key, None)
        values[key] = value


def add_event(span: Any, name: str, attributes: Mapping[str, AttributeValue] | None) -> bool:
    """Add an event to a running SDK span as ``span.add_event`` would (the SDK's ``Event``,
    its fields set in the SDK's order, appended under the span's and the event list's locks);
    False (nothing added) when the span, a value or the span's state is not one this path
    knows (then ``span.add_event`` adds it, or says why not)."""
    if not _known(span):
        return False
    limits = span._limits
    attributes = attributes or {}
    most = limits.max_event_attributes
    if (most is not None and len(attributes) > most) or not _plain(
            attributes, limits.max_attribute_length):
        return False
    event = _new(_sdk_event)
    event._name = name
    event._timestamp = _time_ns()
    event._attributes = _bounded_attributes(type(span._attributes), attributes, most,
                                            limits.max_attribute_length, immutable=True)
    lock = span._lock
    lock.acquire()  # not ``with``: cheaper
    try:
        if span._end_time is not None:
            return False
        events = span._events
        events_lock = events._lock
        events_lock.acquire()
        try:
            queue = events._dq
            if queue.maxlen is not None and len(queue) == queue.maxlen:
                events.dropped += 1
            queue.append(event)
        finally:
            events_lock.release()
    finally:
        lock.release()
    return True


def _plain(attributes: Mapping[str, AttributeValue], longest: int | None) -> bool:
    """Whether the SDK would keep every attribute as it is: non-empty ``str`` keys, plain
    values, strings within the length limit."""
    if longest is None:  # the SDK's default: only the types to look at
        for key, value in attributes.items():
            if type(key) is not str or not key or type(value) not in _PLAIN:
                return False
        return True
    for key, value in attributes.items():
        if type(key) is not str or not key:
            return False
        kind = type(value)
        if kind is str:
            if len(value) > longest:  # type: ignore[arg-type]
                return False
        elif kind not in _PLAIN:
            return False
    return True
