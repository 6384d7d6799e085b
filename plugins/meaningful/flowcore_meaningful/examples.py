"""Example parameters for the meaningful locations kinds, used in the OpenAPI document.

The hour scores rate working hours positive and nights negative, the day scores working days
positive and Sunday negative. ``home`` covers clusters used mostly at night, ``work`` clusters
used mostly in working hours on working days. The shapes reach past -1 and 1 so that clusters
with extreme scores lie strictly inside them, not on their edges.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EXAMPLE_SCORES"]

#: Labels, tower scores and clustering parameters shared by the examples of every kind.
EXAMPLE_SCORES: dict[str, Any] = {
    "labels": {
        "home": {
            "type": "Polygon",
            "coordinates": [[[-1.1, -1.1], [-0.25, -1.1], [-0.25, 1.1], [-1.1, 1.1], [-1.1, -1.1]]],
        },
        "work": {
            "type": "Polygon",
            "coordinates": [[[0.25, 0], [1.1, 0], [1.1, 1.1], [0.25, 1.1], [0.25, 0]]],
        },
    },
    "tower_hour_of_day_scores": [
        -1,
        -1,
        -1,
        -1,
        -1,
        -1,
        -1,
        0,
        0,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        0,
        0,
        -1,
        -1,
        -1,
        -1,
        -1,
    ],
    "tower_day_of_week_scores": {
        "monday": 1,
        "tuesday": 1,
        "wednesday": 1,
        "thursday": 1,
        "friday": 1,
        "saturday": 0,
        "sunday": -1,
    },
    "tower_cluster_radius": 1.0,
    "tower_cluster_call_threshold": 0,
}
