"""Aggregation units (spatial units): how a located event's cell becomes a region or a point."""
