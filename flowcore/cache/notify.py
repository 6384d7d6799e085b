"""Announce state changes and cache events: to the log, to plugins' hooks and to local listeners."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flowcore.cache.states import StateChange

__all__ = ["Notifier"]

state_log = logging.getLogger("flowcore.execution")
cache_log = logging.getLogger("flowcore.cache")


class Notifier:
    """Send each state change and cache event to the log and to pluggy's hook relay.

    ``hook`` is a plugin manager's ``pm.hook`` or None. An exception raised by a hook
    implementation is logged and never reaches the query that caused the event.
    """

    def __init__(self, hook: Any = None) -> None:
        self.hook = hook
        self._listeners: list[Callable[[StateChange], None]] = []
        self._lock = threading.Lock()

    def add_listener(self, listener: Callable[[StateChange], None]) -> None:
        """Call ``listener`` with every state change announced through this notifier."""
        with self._lock:
            self._listeners.append(listener)

    def state_changed(self, changes: StateChange | Iterable[StateChange]) -> None:
        """Announce state changes that are already committed to the database."""
        if isinstance(changes, StateChange):
            changes = [changes]
        for change in changes:
            state_log.info(
                "query %s (%s): %s -> %s",
                change.query_id,
                change.query_kind,
                change.old_state,
                change.new_state,
            )
            if self.hook is not None:
                self._call_hook(
                    "flowcore_query_state_changed",
                    query_id=change.query_id,
                    query_kind=change.query_kind,
                    old_state=str(change.old_state),
                    new_state=str(change.new_state),
                )
            with self._lock:
                listeners = list(self._listeners)
            for listener in listeners:
                listener(change)

    def cache_event(
        self, event: str, query_id: str, query_kind: str, details: Mapping[str, Any]
    ) -> None:
        """Announce a cache event: ``stored``, ``hit``, ``evicted`` or ``invalidated``."""
        cache_log.info("cache %s: query %s (%s) %s", event, query_id, query_kind, dict(details))
        if self.hook is not None:
            self._call_hook(
                "flowcore_cache_event",
                event=event,
                query_id=query_id,
                query_kind=query_kind,
                details=details,
            )

    def _call_hook(self, name: str, **arguments: Any) -> None:
        try:
            getattr(self.hook, name)(**arguments)
        except Exception:
            # A faulty observer must not fail or stall the query it observes.
            logging.getLogger("flowcore.plugins").exception(
                "hook %s raised for query %s", name, arguments.get("query_id")
            )
