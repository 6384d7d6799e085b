"""Parameters shared by the meaningful locations kinds: labels, tower scores and clustering.

Scores live in a plane: x is the hour-of-day score and y the day-of-week score of a cluster,
both in [-1, 1]. A label is a named GeoJSON Polygon or MultiPolygon in that plane. A cluster
gets the label whose shape strictly contains its score point, or the reserved label ``unknown``
when no shape does. Label shapes may not overlap or even touch (as in FlowKit), so no point can
get two labels.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import attrs
import shapely.geometry
from shapely.errors import GEOSException
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from flowcore.errors import FieldValueError
from flowcore.model.fields import ORDER_FREE, EventType, QueryId, RegionUnitName

__all__ = [
    "UNKNOWN_LABEL",
    "DAY_NAMES",
    "LabelShape",
    "DayOfWeekScores",
    "ScoringFields",
    "ClusterFields",
    "check_label",
]

#: Label of clusters whose score point lies in no label shape. No label may use this name.
UNKNOWN_LABEL = "unknown"
#: Day names in PostgreSQL's ``extract(dow ...)`` order (0 is Sunday).
DAY_NAMES = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
HOURS_PER_DAY = 24


def _check_score(name: str, value: float) -> None:
    if not (math.isfinite(value) and -1 <= value <= 1):
        raise ValueError(f"{name} is {value}; scores must be between -1 and 1")


@attrs.frozen(kw_only=True)
class LabelShape:
    """A GeoJSON Polygon or MultiPolygon in score space (x: hour score, y: day-of-week score)."""

    type: Literal["Polygon", "MultiPolygon"]
    coordinates: list[Any]

    def __attrs_post_init__(self) -> None:
        shape = self.geometry()
        if shape.is_empty:
            raise ValueError(f"the {self.type} has no area; give at least one ring of 4 points")
        if not shape.is_valid:
            raise ValueError(f"the {self.type} is not a valid shape: {explain_validity(shape)}")

    def geometry(self) -> BaseGeometry:
        """Return the shape as a shapely geometry; raise ValueError when it cannot be built."""
        try:
            return shapely.geometry.shape({"type": self.type, "coordinates": self.coordinates})
        except (
            ValueError,
            TypeError,
            IndexError,
            KeyError,
            AttributeError,
            GEOSException,
        ) as error:
            raise ValueError(
                f"the coordinates are not a valid GeoJSON {self.type} ({error}); expected "
                "rings of [hour score, day-of-week score] points"
            ) from None


def _check_labels(instance: Any, attribute: attrs.Attribute[Any], labels: Any) -> None:
    """Reject the reserved and empty label names and shapes that overlap or touch."""
    for name in labels:
        if name == UNKNOWN_LABEL:
            raise FieldValueError(
                attribute.name,
                f"{UNKNOWN_LABEL!r} is reserved for clusters outside every label shape; "
                "use another name",
            )
        if not name:
            raise FieldValueError(attribute.name, "a label name must not be empty")
    shapes = [(name, shape.geometry()) for name, shape in labels.items()]
    for index, (name, shape) in enumerate(shapes):
        for other_name, other in shapes[index + 1 :]:
            if shape.intersects(other):
                raise FieldValueError(
                    attribute.name,
                    f"the shapes of {name!r} and {other_name!r} overlap or touch; "
                    "label shapes must be disjoint",
                )


def _check_hour_scores(instance: Any, attribute: attrs.Attribute[Any], scores: Any) -> None:
    if len(scores) != HOURS_PER_DAY:
        raise ValueError(
            f"tower_hour_of_day_scores has {len(scores)} values; give {HOURS_PER_DAY}, "
            "one per hour of the day starting at 00:00"
        )
    for hour, score in enumerate(scores):
        _check_score(f"tower_hour_of_day_scores[{hour}]", score)


def _score_in_range(instance: Any, attribute: attrs.Attribute[float], value: float) -> None:
    _check_score(attribute.name, value)


#: JSON schema keywords of one score.
_SCORE_SCHEMA = {"minimum": -1, "maximum": 1}


def _score_field() -> Any:
    return attrs.field(validator=_score_in_range, metadata={"json_schema": _SCORE_SCHEMA})


@attrs.frozen(kw_only=True)
class DayOfWeekScores:
    """A score in [-1, 1] for each day of the week, by lowercase English day name."""

    monday: float = _score_field()
    tuesday: float = _score_field()
    wednesday: float = _score_field()
    thursday: float = _score_field()
    friday: float = _score_field()
    saturday: float = _score_field()
    sunday: float = _score_field()

    def in_dow_order(self) -> list[float]:
        """Return the scores in PostgreSQL's day-of-week order, Sunday first."""
        return [getattr(self, day) for day in DAY_NAMES]


def _check_radius(instance: Any, attribute: attrs.Attribute[float], radius: float) -> None:
    if not (math.isfinite(radius) and radius >= 0):
        raise ValueError(f"tower_cluster_radius is {radius}; give a distance in km, 0 or more")


def _reject_custom_geography(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    # flowclient 1.34 sends these fields, as null, with every meaningful locations spec.
    if value is not None:
        raise ValueError(
            f"{attribute.name} is {value!r}; meaningful locations support only the built-in "
            "admin regions, so leave it null"
        )


@attrs.frozen(kw_only=True, slots=False)
class ScoringFields:
    """Parameters of site scoring and clustering, and the events they read."""

    tower_hour_of_day_scores: tuple[float, ...] = attrs.field(
        validator=_check_hour_scores,
        metadata={
            "description": "Score of each hour of the day, from 00:00.",
            "json_schema": {
                "minItems": HOURS_PER_DAY,
                "maxItems": HOURS_PER_DAY,
                "items": {"type": "number", **_SCORE_SCHEMA},
            },
        },
    )
    tower_day_of_week_scores: DayOfWeekScores
    #: Clustering radius in km.
    tower_cluster_radius: float = attrs.field(
        default=1.0,
        validator=_check_radius,
        metadata={"description": "Clustering radius in km.", "json_schema": {"minimum": 0}},
    )
    #: Clusters with fewer call days in total are dropped before labelling.
    tower_cluster_call_threshold: int = 0
    event_types: tuple[EventType, ...] | None = attrs.field(default=None, metadata=ORDER_FREE)
    subscriber_subset: QueryId | None = None


@attrs.frozen(kw_only=True, slots=False)
class ClusterFields(ScoringFields):
    """Parameters of site clustering, scoring and labelling, and the events and regions used.

    ``aggregation_unit`` must be a unit of regions with polygons (admin0 to admin3), so
    lon-lat is rejected when the spec is read.
    """

    aggregation_unit: RegionUnitName = attrs.field(
        metadata={"description": "A unit of region polygons: admin0, admin1, admin2 or admin3."}
    )
    labels: dict[str, LabelShape] = attrs.field(
        validator=_check_labels,
        metadata={
            "description": "Label name to a GeoJSON Polygon or MultiPolygon in score space "
            "(x: hour score, y: day-of-week score). Shapes must be disjoint; 'unknown' is "
            "reserved."
        },
    )
    mapping_table: str | None = attrs.field(default=None, validator=_reject_custom_geography)
    geom_table: str | None = attrs.field(default=None, validator=_reject_custom_geography)
    geom_table_join_column: str | None = attrs.field(
        default=None, validator=_reject_custom_geography
    )


def check_label(labels: dict[str, LabelShape], label: str, field: str) -> None:
    """Raise ValueError unless ``label`` names one of ``labels`` or is ``unknown``."""
    if label != UNKNOWN_LABEL and label not in labels:
        allowed = ", ".join(repr(name) for name in [*labels, UNKNOWN_LABEL])
        raise ValueError(f"{field} is {label!r}, which is not one of the labels: {allowed}")
