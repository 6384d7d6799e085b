"""Validation and scopes of flow specs."""

from __future__ import annotations

from typing import Any

import flowcore_flows.plugin
import flowcore_locations.plugin
import pytest
from flows_helpers import daily, flows

from flowcore.errors import InvalidSpecError
from flowcore.model.converter import SpecConverter
from flowcore.model.identity import query_id
from flowcore.model.scopes import required_scopes
from flowcore.plugins import build_plugin_manager, load_registry
from flowcore.registry import Registry
from flowcore.settings import Settings

#: Kinds accepted on either side of a flow with the locations and flows plugins.
FLOW_SIDES = (
    "coalesced_location, daily_location, majority_location, modal_location, "
    "most_frequent_location, unique_locations, visited_most_days"
)
JOIN_TYPES = "inner, full outer, left, right, left outer, right outer"


@pytest.fixture(scope="module")
def registry() -> Registry:
    """A registry with the core, the locations and the flows kinds only."""
    manager = build_plugin_manager(
        Settings(),
        discover=False,
        extra_plugins=[flowcore_locations.plugin, flowcore_flows.plugin],
    )
    return load_registry(manager)


@pytest.fixture(scope="module")
def converter(registry: Registry) -> SpecConverter:
    """The spec converter of that registry."""
    return SpecConverter(registry)


FIRST, SECOND = daily("2016-01-01"), daily("2016-01-02")

BAD_SPECS: list[tuple[str, dict[str, Any], list[str]]] = [
    (
        "mixed units",
        flows(FIRST, daily("2016-01-02", "lon-lat")),
        [
            "$: 'from_location' and 'to_location' parameters must have the same aggregation "
            "unit (found admin3 and lon-lat)"
        ],
    ),
    (
        "inflows mixed units",
        flows(FIRST, daily("2016-01-02", "admin2"), "left", query_kind="inflows"),
        [
            "$: 'from_location' and 'to_location' parameters must have the same aggregation "
            "unit (found admin3 and admin2)"
        ],
    ),
    (
        "unknown join type",
        flows(FIRST, SECOND, "outer"),
        [f"$.join_type: 'outer' is not one of {JOIN_TYPES}"],
    ),
    (
        "join type in capitals",
        flows(FIRST, SECOND, "INNER"),
        [f"$.join_type: 'INNER' is not one of {JOIN_TYPES}"],
    ),
    (
        "missing destination",
        {"query_kind": "outflows", "from_location": FIRST},
        ["$.to_location: missing required field; expected a query spec object"],
    ),
    (
        "weights as a side",
        flows(FIRST, {"query_kind": "location_visits", "locations": [SECOND]}),
        [f"$.to_location.query_kind: 'location_visits' is not one of {FLOW_SIDES}"],
    ),
    (
        "aggregate as a side",
        flows({"query_kind": "spatial_aggregate", "locations": FIRST}, SECOND),
        [f"$.from_location.query_kind: 'spatial_aggregate' is not one of {FLOW_SIDES}"],
    ),
    (
        "flows as a side",
        flows(flows(FIRST, SECOND), SECOND),
        [f"$.from_location.query_kind: 'flows' is not one of {FLOW_SIDES}"],
    ),
    (
        "bad nested field",
        flows(FIRST, {**SECOND, "method": "first"}),
        ["$.to_location.method: 'first' is not one of last, most-common"],
    ),
]


@pytest.mark.parametrize(
    ("spec", "messages"), [c[1:] for c in BAD_SPECS], ids=[c[0] for c in BAD_SPECS]
)
def test_bad_spec_messages(
    converter: SpecConverter, spec: dict[str, Any], messages: list[str]
) -> None:
    with pytest.raises(InvalidSpecError) as raised:
        converter.structure(spec)

    assert raised.value.messages == messages


def test_null_join_type_means_inner(converter: SpecConverter, registry: Registry) -> None:
    with_null = converter.structure(flows(FIRST, SECOND, join_type=None) | {"join_type": None})
    explicit = converter.structure(flows(FIRST, SECOND, "inner"))

    assert with_null == explicit
    assert query_id(with_null, registry) == query_id(explicit, registry)


def test_join_type_changes_identity(converter: SpecConverter, registry: Registry) -> None:
    inner = converter.structure(flows(FIRST, SECOND, "inner"))
    left = converter.structure(flows(FIRST, SECOND, "left"))

    assert query_id(inner, registry) != query_id(left, registry)


@pytest.mark.parametrize("kind", ["flows", "inflows", "outflows"])
def test_flows_scopes(converter: SpecConverter, kind: str) -> None:
    spec = converter.structure(flows(FIRST, SECOND, query_kind=kind))

    assert required_scopes(spec) == {f"admin3:{kind}:{kind}", f"admin3:{kind}:daily_location"}


def test_flows_of_modal_scopes(converter: SpecConverter) -> None:
    modal = {"query_kind": "modal_location", "locations": [FIRST, SECOND]}
    spec = converter.structure(flows(modal, daily("2016-01-03", "admin3")))

    assert required_scopes(spec) == {
        "admin3:flows:flows",
        "admin3:flows:modal_location",
        "admin3:flows:daily_location",
    }
