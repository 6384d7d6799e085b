"""Permission scopes computed from the structured spec tree."""

from __future__ import annotations

from flowcore.model.converter import SpecConverter
from flowcore.model.scopes import grantable_scopes, required_scopes
from flowcore.registry import Registry


def daily(date: str, unit: str = "admin3") -> dict:
    return {
        "query_kind": "daily_location",
        "date": date,
        "method": "last",
        "aggregation_unit": unit,
    }


def test_daily_location_alone(converter: SpecConverter) -> None:
    spec = converter.structure(daily("2016-01-01"))
    assert required_scopes(spec) == {"admin3:daily_location:daily_location"}


def test_nested_tree_lists_every_kind(converter: SpecConverter) -> None:
    spec = converter.structure(
        {
            "query_kind": "spatial_aggregate",
            "locations": {
                "query_kind": "modal_location",
                "locations": [daily("2016-01-01", "admin1"), daily("2016-01-02", "admin1")],
            },
        }
    )
    assert required_scopes(spec) == {
        "admin1:spatial_aggregate:spatial_aggregate",
        "admin1:spatial_aggregate:modal_location",
        "admin1:spatial_aggregate:daily_location",
    }


def test_flows_scopes_use_inner_unit(converter: SpecConverter) -> None:
    spec = converter.structure(
        {
            "query_kind": "flows",
            "from_location": daily("2016-01-01", "lon-lat"),
            "to_location": daily("2016-01-02", "lon-lat"),
        }
    )
    assert required_scopes(spec) == {"lon-lat:flows:flows", "lon-lat:flows:daily_location"}


def test_grantable_scopes_cover_required(converter: SpecConverter, registry: Registry) -> None:
    spec = converter.structure(
        {"query_kind": "spatial_aggregate", "locations": daily("2016-01-01")}
    )
    grantable = set(grantable_scopes(registry))
    assert required_scopes(spec) <= grantable
    assert {"run", "get_result", "get_available_dates", "admin3:geography:geography"} <= grantable


def test_region_kinds_granted_at_region_units(registry: Registry) -> None:
    grantable = set(grantable_scopes(registry))
    aggregate = "meaningful_locations_aggregate"

    assert f"admin3:{aggregate}:{aggregate}" in grantable
    assert not any(scope.startswith(f"lon-lat:{aggregate}:") for scope in grantable)
    assert "lon-lat:spatial_aggregate:spatial_aggregate" in grantable


def test_grantable_scopes_match_nonspatial_kinds(registry: Registry) -> None:
    """Kinds marked nonspatial are granted at the nonspatial unit only."""
    triplets = [scope.split(":") for scope in grantable_scopes(registry) if ":" in scope]
    for kind in registry.top_level_kinds():
        granted_units = {unit for unit, top, _ in triplets if top == kind.name}
        if kind.spec.nonspatial:
            assert granted_units == {"nonspatial"}, kind.name
        else:
            assert granted_units, kind.name
