"""Query ids: stable for equal specs, new for any change."""

from __future__ import annotations

from typing import Any

import attrs

import flowcore.model.identity as identity_module
from flowcore.kinds import QueryKind
from flowcore.model.converter import SpecConverter
from flowcore.model.identity import query_id
from flowcore.registry import Registry

DAILY = {
    "query_kind": "daily_location",
    "date": "2016-01-01",
    "method": "last",
    "aggregation_unit": "admin3",
    "event_types": ["calls", "sms"],
}


def identity(converter: SpecConverter, data: dict) -> str:
    return query_id(converter.structure(data), converter.registry)


def test_id_is_32_hex(converter: SpecConverter) -> None:
    value = identity(converter, DAILY)
    assert len(value) == 32
    assert int(value, 16) >= 0


def test_key_order_does_not_change_id(converter: SpecConverter) -> None:
    reordered = dict(reversed(list(DAILY.items())))
    assert identity(converter, reordered) == identity(converter, DAILY)


def test_order_free_list_does_not_change_id(converter: SpecConverter) -> None:
    swapped = {**DAILY, "event_types": ["sms", "calls"]}
    assert identity(converter, swapped) == identity(converter, DAILY)


def test_date_notation_does_not_change_id(converter: SpecConverter) -> None:
    longhand = {**DAILY, "date": "2016-01-01T00:00:00"}
    assert identity(converter, longhand) == identity(converter, DAILY)


def test_explicit_null_same_as_absent(converter: SpecConverter) -> None:
    assert identity(converter, {**DAILY, "hours": None}) == identity(converter, DAILY)


def test_changed_date_changes_id(converter: SpecConverter) -> None:
    assert identity(converter, {**DAILY, "date": "2016-01-02"}) != identity(converter, DAILY)


def test_changed_method_changes_id(converter: SpecConverter) -> None:
    assert identity(converter, {**DAILY, "method": "most-common"}) != identity(converter, DAILY)


def test_plugin_version_changes_id(converter: SpecConverter, registry: Registry) -> None:
    spec = converter.structure(DAILY)
    bumped = Registry(kinds=dict(registry.kinds), units=dict(registry.units))
    kind: QueryKind = bumped.kinds["daily_location"]
    bumped.kinds["daily_location"] = attrs.evolve(kind, version=kind.version + "-next")
    assert query_id(spec, bumped) != query_id(spec, registry)


def test_nested_spec_id_propagates(converter: SpecConverter) -> None:
    outer = {"query_kind": "spatial_aggregate", "locations": DAILY}
    changed = {"query_kind": "spatial_aggregate", "locations": {**DAILY, "date": "2016-01-03"}}
    assert identity(converter, outer) != identity(converter, changed)
    assert identity(converter, outer) == identity(converter, dict(reversed(list(outer.items()))))


def test_named_table_rules_change_id(converter: SpecConverter, monkeypatch: Any) -> None:
    bridged = {**DAILY, "mapping_table": "geo.cell_regions"}
    plain_before = identity(converter, DAILY)
    bridged_before = identity(converter, bridged)

    monkeypatch.setattr(identity_module, "NAMED_TABLE_RULES", "older")

    assert identity(converter, DAILY) == plain_before
    assert identity(converter, bridged) != bridged_before
