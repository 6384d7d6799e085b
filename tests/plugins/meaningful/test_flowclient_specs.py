"""Specs built by flowclient 1.34 for the network and meaningful kinds are accepted as sent."""

from __future__ import annotations

from typing import Any

import pytest
from flowcore_meaningful.examples import EXAMPLE_SCORES

from flowcore.errors import InvalidSpecError

aggregates = pytest.importorskip("flowclient.aggregates")

DATES = {"start_date": "2016-01-01", "end_date": "2016-01-08", "aggregation_unit": "admin3"}
SCORES = {
    "labels": EXAMPLE_SCORES["labels"],
    "tower_day_of_week_scores": EXAMPLE_SCORES["tower_day_of_week_scores"],
    "tower_hour_of_day_scores": EXAMPLE_SCORES["tower_hour_of_day_scores"],
}


def flowclient_specs() -> dict[str, dict[str, Any]]:
    """Return one flowclient spec per kind, with every optional field left at its default."""
    totals = aggregates.total_network_objects_spec(**DATES)
    return {
        "location_event_counts": aggregates.location_event_counts_spec(
            count_interval="hour", **DATES
        ),
        "unique_subscriber_counts": aggregates.unique_subscriber_counts_spec(**DATES),
        "location_introversion": aggregates.location_introversion_spec(**DATES),
        "total_network_objects": totals,
        "aggregate_network_objects": aggregates.aggregate_network_objects_spec(
            total_network_objects=totals, statistic="avg", aggregate_by="month"
        ),
        "consecutive_trips_od_matrix": aggregates.consecutive_trips_od_matrix_spec(**DATES),
        "trips_od_matrix": aggregates.trips_od_matrix_spec(**DATES),
        "meaningful_locations_aggregate": aggregates.meaningful_locations_aggregate_spec(
            label="home", **DATES, **SCORES
        ),
        "meaningful_locations_between_label_od_matrix": (
            aggregates.meaningful_locations_between_label_od_matrix_spec(
                label_a="home", label_b="work", **DATES, **SCORES
            )
        ),
        "meaningful_locations_between_dates_od_matrix": (
            aggregates.meaningful_locations_between_dates_od_matrix_spec(
                label="home",
                start_date_a="2016-01-01",
                end_date_a="2016-01-04",
                start_date_b="2016-01-04",
                end_date_b="2016-01-08",
                aggregation_unit="admin3",
                **SCORES,
            )
        ),
    }


@pytest.mark.parametrize("kind", sorted(flowclient_specs()))
def test_flowclient_spec_accepted(converter: Any, kind: str) -> None:
    spec = converter.structure(flowclient_specs()[kind])
    assert spec.query_kind == kind


def test_meaningful_mapping_table_rejected(converter: Any) -> None:
    spec = {**flowclient_specs()["meaningful_locations_aggregate"], "mapping_table": "geo.map"}
    with pytest.raises(InvalidSpecError) as raised:
        converter.structure(spec)
    assert raised.value.messages == [
        "$: mapping_table is 'geo.map'; meaningful locations support only the built-in admin "
        "regions, so leave it null"
    ]
