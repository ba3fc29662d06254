"""Read-only views that answer each framework's own history API from an ``ExecutionStore``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from otel_exec.execution_store import ExecutionStore
    from otel_exec.views.history import HistoryView
    from otel_exec.views.registry import ExecutionRegistry
    from otel_exec.views.tracker import JobView



class StoreView:
    """A view over a store, or over whatever store a function returns at each call.

    Args:
        store: The store to read, or a function returning it (the default store's views resolve
            it at each call, so they follow ``configure()``).
    """

    def __init__(self, store: ExecutionStore | Callable[[], ExecutionStore]) -> None:
        self._store = store

    @property
    def store(self) -> ExecutionStore:
        """The store this view reads."""
        return self._store() if callable(self._store) else self._store


class Views(StoreView):
    """Every framework's view over one store: the package's default views, each test's in the
    pytest fixture, a loaded trace file's in the CLI.

    Args:
        store: The store to read, or a function returning it.
        why_empty: Says why nothing could be recorded, for an empty summary (the default
            store's: ``configure()`` never ran, SDK disabled, everything sampled out).
        recorder: What ``registry.record`` records with (None: the registry only reads).
    """

    registry: ExecutionRegistry
    """falyx's ``ExecutionRegistry`` API."""
    history: HistoryView
    """dataknobs-fsm's ``ExecutionHistory`` of a run: ``history()``, ``history.histories()``."""
    tracker: JobView
    """routilux's ``ExecutionTracker`` of a job (the latest when no job id is given)."""
    job_state: JobView
    """routilux's ``JobState`` of a job (the latest when no job id is given)."""

    def __init__(self, store: ExecutionStore | Callable[[], ExecutionStore],
                 why_empty: Callable[[], str | None] | None = None,
                 recorder: Callable[[Any], int] | None = None) -> None:
        from otel_exec.views.history import HistoryView
        from otel_exec.views.registry import ExecutionRegistry
        from otel_exec.views.tracker import ExecutionTracker, JobState, JobView

        super().__init__(store)
        self.registry = ExecutionRegistry(store, why_empty, recorder)
        self.history = HistoryView(store)
        self.tracker = JobView(store, ExecutionTracker.from_spans)
        self.job_state = JobView(store, JobState.from_spans)
