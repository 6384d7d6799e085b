"""JSON schemas generated from spec classes: types, enums, required fields and nesting."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, ClassVar, Literal

import attrs
import pytest

from flowcore.kinds import QueryKind
from flowcore.model.base import Aggregate, QuerySpec, SubscriberLocations
from flowcore.model.fields import EventFilters, Hours, SpatialFields
from flowcore.model.jsonschema import TOP_LEVEL_SCHEMA, kind_schema, query_schemas
from flowcore.registry import Registry


@attrs.frozen(kw_only=True)
class Located(SubscriberLocations, SpatialFields, EventFilters):
    """A per-subscriber location kind for the schema tests."""

    query_kind: ClassVar[str] = "test_located"

    date: dt.datetime
    method: Literal["last", "most-common"] = "last"


@attrs.frozen(kw_only=True)
class Counted(Aggregate):
    """A top-level kind nesting a location kind, a list of them and assorted fields."""

    query_kind: ClassVar[str] = "test_counted"
    description: ClassVar[str] = "Counts for the schema tests."

    locations: SubscriberLocations
    more: tuple[SubscriberLocations, ...] = ()
    weights: dict[str, float] | None = None
    threshold: int = attrs.field(default=15, metadata={"json_schema": {"minimum": 0}})
    ratio: float | None = None
    flag: bool = False
    window: Hours | None = None
    pair: tuple[float, float] | None = None


def _build(spec: Any, context: Any) -> Any:
    raise NotImplementedError


@pytest.fixture
def test_registry(registry: Registry) -> Registry:
    """The installed registry's units with two test kinds."""
    fresh = Registry(units=dict(registry.units))
    fresh.add_kind(QueryKind(spec=Located, build=_build, version="1"), "tests")
    example = {
        "query_kind": "test_counted",
        "locations": {
            "query_kind": "test_located",
            "date": "2016-01-01",
            "aggregation_unit": "admin3",
        },
    }
    fresh.add_kind(
        QueryKind(spec=Counted, build=_build, version="1", top_level=True, example=example),
        "tests",
    )
    return fresh


def test_scalar_fields(test_registry: Registry) -> None:
    properties = kind_schema(test_registry, "test_counted")["properties"]

    assert properties["threshold"] == {
        "type": "integer",
        "nullable": True,
        "default": 15,
        "minimum": 0,
    }
    assert properties["ratio"] == {"type": "number", "nullable": True}
    assert properties["flag"] == {"type": "boolean", "nullable": True, "default": False}
    assert properties["weights"] == {
        "type": "object",
        "additionalProperties": {"type": "number"},
        "nullable": True,
    }
    assert properties["pair"] == {
        "type": "array",
        "minItems": 2,
        "maxItems": 2,
        "items": {"type": "number"},
        "nullable": True,
    }


def test_required_fields(test_registry: Registry) -> None:
    counted = kind_schema(test_registry, "test_counted")
    located = kind_schema(test_registry, "test_located")

    assert counted["required"] == ["query_kind", "locations"]
    assert located["required"] == ["query_kind", "aggregation_unit", "date"]
    assert counted["additionalProperties"] is False


def test_enums(test_registry: Registry) -> None:
    properties = kind_schema(test_registry, "test_located")["properties"]

    assert properties["aggregation_unit"] == {
        "type": "string",
        "enum": test_registry.public_units(),
    }
    assert properties["method"]["enum"] == ["last", "most-common"]
    assert properties["method"]["default"] == "last"
    assert properties["query_kind"] == {"type": "string", "enum": ["test_located"]}
    assert properties["event_types"]["items"]["enum"] == ["calls", "sms", "mds", "topups"]
    assert properties["event_types"]["minItems"] == 1


def test_nested_interface_fields(test_registry: Registry) -> None:
    properties = kind_schema(test_registry, "test_counted")["properties"]
    one_of = {
        "oneOf": [{"$ref": "#/components/schemas/test_located"}],
        "discriminator": {
            "propertyName": "query_kind",
            "mapping": {"test_located": "#/components/schemas/test_located"},
        },
    }

    assert properties["locations"] == one_of
    assert properties["more"]["type"] == "array"
    assert properties["more"]["items"] == one_of
    assert properties["more"]["nullable"] is True


def test_plain_attrs_field(test_registry: Registry) -> None:
    window = kind_schema(test_registry, "test_counted")["properties"]["window"]

    assert window["type"] == "object"
    assert window["required"] == ["start_hour", "end_hour"]
    assert window["properties"]["start_hour"] == {"type": "integer", "minimum": 0, "maximum": 23}
    assert window["nullable"] is True


def test_dates(test_registry: Registry) -> None:
    date = kind_schema(test_registry, "test_located")["properties"]["date"]

    assert date["type"] == "string"
    assert date["anyOf"] == [{"format": "date"}, {"format": "date-time"}]


def test_nullable_alternatives_carry_their_type(registry: Registry) -> None:
    # OpenAPI 3.0 ignores "nullable" unless "type" is in the same schema object.
    histogram_range = query_schemas(registry)["histogram_aggregate"]["properties"]["range"]

    assert "nullable" not in histogram_range
    assert [member["type"] for member in histogram_range["oneOf"]] == ["object", "array"]
    assert [member.get("nullable") for member in histogram_range["oneOf"]] == [True, None]
    validator = _validator(registry, "histogram_aggregate")
    spec = dict(registry.kinds["histogram_aggregate"].example)
    for value in (None, [0, 10], {"lower_bound": 0, "upper_bound": 10}):
        assert validator.is_valid({**spec, "range": value}), value
    assert not validator.is_valid({**spec, "range": "0-10"})


def test_every_nullable_has_a_type(registry: Registry) -> None:
    def untyped(schema: Any) -> list[Any]:
        if isinstance(schema, list):
            return [fault for item in schema for fault in untyped(item)]
        if not isinstance(schema, dict):
            return []
        own = [schema] if schema.get("nullable") and not {"type", "allOf"} & set(schema) else []
        return own + [fault for value in schema.values() for fault in untyped(value)]

    assert untyped(query_schemas(registry)) == []


def test_description_and_example(test_registry: Registry) -> None:
    counted = kind_schema(test_registry, "test_counted")
    located = kind_schema(test_registry, "test_located")

    assert counted["description"] == "Counts for the schema tests."
    assert counted["example"]["locations"]["query_kind"] == "test_located"
    assert located["description"] == "A per-subscriber location kind for the schema tests."
    assert "example" not in located


def test_top_level_union(test_registry: Registry) -> None:
    schemas = query_schemas(test_registry)

    assert set(schemas) == {"test_located", "test_counted", TOP_LEVEL_SCHEMA}
    assert schemas[TOP_LEVEL_SCHEMA]["oneOf"] == [{"$ref": "#/components/schemas/test_counted"}]
    assert schemas[TOP_LEVEL_SCHEMA]["discriminator"]["propertyName"] == "query_kind"


def test_interface_without_implementations(registry: Registry) -> None:
    fresh = Registry(units=dict(registry.units))
    fresh.add_kind(QueryKind(spec=Counted, build=_build, version="1", top_level=True), "tests")

    locations = kind_schema(fresh, "test_counted")["properties"]["locations"]

    assert locations["not"] == {}
    assert "No installed query kind" in locations["description"]


def test_installed_kinds_have_schemas(registry: Registry) -> None:
    schemas = query_schemas(registry)

    for name, kind in registry.kinds.items():
        assert issubclass(kind.spec, QuerySpec)
        assert schemas[name]["title"] == name


def test_region_unit_enum(registry: Registry) -> None:
    schemas = query_schemas(registry)
    unit = schemas["meaningful_locations_aggregate"]["properties"]["aggregation_unit"]

    assert unit["enum"] == ["admin0", "admin1", "admin2", "admin3"]


def test_no_null_type_in_openapi_30(registry: Registry) -> None:
    # OpenAPI 3.0 marks nulls with "nullable"; {"type": "null"} exists only from 3.1 on.
    text = json.dumps(query_schemas(registry))

    assert '"type": "null"' not in text


def _with_null_types(schema: Any) -> Any:
    """Rewrite OpenAPI 3.0 ``nullable`` into JSON Schema, so a validator accepts nulls."""
    if isinstance(schema, list):
        return [_with_null_types(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    rewritten = {k: _with_null_types(v) for k, v in schema.items() if k != "nullable"}
    if schema.get("nullable"):
        return {"anyOf": [rewritten, {"type": "null"}]}
    return rewritten


def _validator(registry: Registry, name: str) -> Any:
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    schemas = _with_null_types(query_schemas(registry))
    root = {"$ref": f"#/components/schemas/{name}", "components": {"schemas": schemas}}
    return jsonschema_rs.validator_for(root)


def test_installed_examples_validate(registry: Registry) -> None:
    examples = {name: kind.example for name, kind in registry.kinds.items() if kind.example}

    assert examples
    for name, example in examples.items():
        errors = [str(error) for error in _validator(registry, name).iter_errors(dict(example))]
        assert errors == [], name


def test_explicit_nulls_validate(test_registry: Registry) -> None:
    spec = {
        "query_kind": "test_counted",
        "locations": {
            "query_kind": "test_located",
            "date": "2016-01-01",
            "aggregation_unit": "admin3",
            "method": None,
            "event_types": None,
            "hours": None,
            "mapping_table": None,
        },
        "weights": None,
        "window": None,
    }

    assert _validator(test_registry, "test_counted").is_valid(spec)


@pytest.mark.parametrize(
    "change",
    [
        {"unknown": 1},
        {"threshold": -1},
        {"locations": {"query_kind": "test_counted"}},
        {"pair": [1.0]},
        {"window": {"start_hour": 1}},
    ],
    ids=["unknown field", "below minimum", "wrong nested kind", "short pair", "missing hour"],
)
def test_invalid_specs_fail(test_registry: Registry, change: dict[str, Any]) -> None:
    spec = {
        "query_kind": "test_counted",
        "locations": {
            "query_kind": "test_located",
            "date": "2016-01-01",
            "aggregation_unit": "admin3",
        },
        **change,
    }

    assert not _validator(test_registry, "test_counted").is_valid(spec)
