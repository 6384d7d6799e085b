"""Path scopes of FlowKit 1.10 to 1.17 tokens: expansion, request paths and grant decisions."""

from __future__ import annotations

import pytest
from flowcore_auth import Identity, PermissionDeniedError, is_allowed, require
from flowcore_auth.grants import holds_action
from flowcore_auth.path_scopes import expand_path_scopes, geography_paths, request_paths

DAILY = {"query_kind": "daily_location", "date": "2016-01-01", "aggregation_unit": "admin3"}
SPATIAL_DAILY = {"query_kind": "spatial_aggregate", "locations": DAILY}
SPATIAL_DAILY_PATH = "spatial_aggregate.locations.daily_location.aggregation_unit.admin3"


def identity(*scopes: str) -> Identity:
    """Build an identity for 'alice' holding the path grants of ``scopes``."""
    return Identity(subject="alice", roles={}, path_grants=expand_path_scopes(scopes))


def test_expand_comma_alternatives() -> None:
    # Each comma alternative is a whole part, as FlowAuth squashed scopes that differ in one part.
    admin2 = "daily_location.aggregation_unit.admin2"
    admin3 = "daily_location.aggregation_unit.admin3"

    grants = expand_path_scopes([f"get_result,run&{admin2},{admin3}"])

    assert grants == {
        frozenset({"get_result", admin2}),
        frozenset({"get_result", admin3}),
        frozenset({"run", admin2}),
        frozenset({"run", admin3}),
    }


def test_expand_several_paths() -> None:
    grants = expand_path_scopes(
        ["run&flows.from_location.a&flows.to_location.b,flows.to_location.c"]
    )

    assert grants == {
        frozenset({"run", "flows.from_location.a", "flows.to_location.b"}),
        frozenset({"run", "flows.from_location.a", "flows.to_location.c"}),
    }


@pytest.mark.parametrize(
    ("spec", "paths"),
    [
        pytest.param(SPATIAL_DAILY, {SPATIAL_DAILY_PATH}, id="spatial aggregate"),
        pytest.param(
            {
                "query_kind": "flows",
                "from_location": DAILY,
                "to_location": {**DAILY, "date": "2016-01-02"},
                "join_type": "inner",
            },
            {
                "flows.from_location.daily_location.aggregation_unit.admin3",
                "flows.to_location.daily_location.aggregation_unit.admin3",
            },
            id="flows",
        ),
        pytest.param(
            {
                "query_kind": "spatial_aggregate",
                "locations": {
                    "query_kind": "modal_location",
                    "locations": [DAILY, {**DAILY, "date": "2016-01-02"}],
                },
            },
            {
                "spatial_aggregate.locations.modal_location.locations.daily_location"
                ".aggregation_unit.admin3"
            },
            id="list items add no step",
        ),
        pytest.param(
            {
                "query_kind": "joined_spatial_aggregate",
                "locations": DAILY,
                "metric": {"query_kind": "radius_of_gyration", "start_date": "2016-01-01"},
                "method": "avg",
            },
            {
                "joined_spatial_aggregate.locations.daily_location.aggregation_unit.admin3",
                "joined_spatial_aggregate.metric.radius_of_gyration",
            },
            id="query without unit",
        ),
        pytest.param(
            {
                "query_kind": "location_event_counts",
                "aggregation_unit": "admin2",
                "hours": {"start_hour": 1, "end_hour": 5},
                "event_types": None,
            },
            {"location_event_counts.aggregation_unit.admin2"},
            id="top-level unit and plain objects",
        ),
        pytest.param({"query_kind": "dummy_query"}, {"dummy_query"}, id="no unit anywhere"),
        pytest.param(
            {"query_kind": "daily_location", "aggregation_unit": None},
            {"daily_location"},
            id="null unit",
        ),
    ],
)
def test_request_paths(spec: dict[str, object], paths: set[str]) -> None:
    assert request_paths(spec) == paths


def test_exact_grant_allows() -> None:
    alice = identity(f"run&{SPATIAL_DAILY_PATH}")

    assert is_allowed(alice, {"run"}, (), paths=request_paths(SPATIAL_DAILY))


def test_other_action_denied() -> None:
    alice = identity(f"run&{SPATIAL_DAILY_PATH}")

    assert not is_allowed(alice, {"get_result"}, (), paths=request_paths(SPATIAL_DAILY))


def test_other_unit_denied() -> None:
    alice = identity(f"run&{SPATIAL_DAILY_PATH}")
    admin2 = {**SPATIAL_DAILY, "locations": {**DAILY, "aggregation_unit": "admin2"}}

    assert not is_allowed(alice, {"run"}, (), paths=request_paths(admin2))


def test_grant_with_more_paths_denied() -> None:
    # A grant is matched as a whole: it does not cover a request for part of its paths.
    alice = identity(f"run&{SPATIAL_DAILY_PATH}&flows.to_location.daily_location")

    assert not is_allowed(alice, {"run"}, (), paths=request_paths(SPATIAL_DAILY))


def test_poll_accepts_either_action() -> None:
    alice = identity(f"get_result&{SPATIAL_DAILY_PATH}")

    assert is_allowed(alice, {"run", "get_result"}, (), paths=request_paths(SPATIAL_DAILY))


def test_triplet_scopes_ignored() -> None:
    alice = identity("run")

    with pytest.raises(PermissionDeniedError):
        require(alice, {"run"}, {"admin3:spatial_aggregate:spatial_aggregate"}, paths={"x"})


def test_available_dates_grant() -> None:
    assert holds_action(identity("get_result&available_dates"), {"get_available_dates"})
    assert not holds_action(identity(f"get_result&{SPATIAL_DAILY_PATH}"), {"get_available_dates"})


def test_geography_grant() -> None:
    alice = identity(
        "get_result&geography.aggregation_unit.admin1,geography.aggregation_unit.admin3"
    )

    assert is_allowed(alice, {"get_result"}, (), paths=geography_paths("admin3"))
    assert not is_allowed(alice, {"get_result"}, (), paths=geography_paths("admin2"))


def test_request_without_paths_denied() -> None:
    # A bare action scope never matches a request, which always names paths.
    alice = identity("get_result")

    assert not is_allowed(alice, {"get_result"}, {"admin3:spatial_aggregate:spatial_aggregate"})
