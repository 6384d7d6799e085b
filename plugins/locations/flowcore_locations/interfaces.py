"""Interfaces the location kinds add to the core's: per-subscriber location weights."""

from __future__ import annotations

from flowcore.model.base import QuerySpec

__all__ = ["SubscriberLocationWeights"]


class SubscriberLocationWeights(QuerySpec):
    """Interface: one row per subscriber and location with a numeric weight ``value``.

    Columns: ``subscriber``, the spatial unit's columns, ``value``. ``majority_location`` and
    ``coalesced_location`` read their weights from any kind deriving from it.
    """
