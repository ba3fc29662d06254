"""Read-only views that answer each framework's own history API from an ``ExecutionStore``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from otel_exec._store import ExecutionStore


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
