"""Read-only views that answer each framework's own history API from an ``ExecutionStore``."""
