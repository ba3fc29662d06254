"""The sampler ``configure()`` installs: the application's sampling decides what is exported,
and every execution is still recorded for the in-process views."""

from __future__ import annotations

from typing import TYPE_CHECKING

from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult

if TYPE_CHECKING:
    from collections.abc import Sequence

    from opentelemetry.context import Context
    from opentelemetry.trace import Link, SpanKind, TraceState
    from opentelemetry.util.types import Attributes


class RecordLocally(Sampler):
    """The SDK's sampler for export, every execution for the in-process store: a DROP becomes
    RECORD_ONLY (the span is recorded, not sampled, so exporters skip it)."""

    def __init__(self, sampler: Sampler) -> None:
        self.sampler = sampler

    def should_sample(self, parent_context: Context | None, trace_id: int, name: str,
                      kind: SpanKind | None = None, attributes: Attributes = None,
                      links: Sequence[Link] | None = None,
                      trace_state: TraceState | None = None) -> SamplingResult:
        result = self.sampler.should_sample(parent_context, trace_id, name, kind, attributes,
                                            links, trace_state)
        if result.decision is Decision.DROP:
            return SamplingResult(Decision.RECORD_ONLY, attributes, result.trace_state)
        return result

    def get_description(self) -> str:
        return f"RecordLocally{{{self.sampler.get_description()}}}"
