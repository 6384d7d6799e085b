"""JSON schemas of query specs, generated from their attrs classes for the OpenAPI document.

Each registered query kind gets one schema named after the kind. Field types map as follows:

* ``str``, ``int``, ``float`` and ``bool`` to the JSON types, datetimes to date strings;
* ``Literal`` to an ``enum``, ``AggregationUnitName`` to an ``enum`` of the public units, and
  ``RegionUnitName`` to one of the public units of region polygons;
* tuples and lists to arrays, mappings to objects, and other attrs classes (``Hours``,
  ``Sampling``) to inline objects;
* a field typed with a spec class or interface to a ``oneOf`` of references to every
  installed kind that implements it, discriminated on ``query_kind``.

A field is required when it has no default. Fields with a default accept ``null`` as "use the
default" (the converter reads them so, because FlowKit's client sends explicit nulls), so they
are ``nullable``. The schemas describe structure only: cross-field rules (``start_date`` before
``end_date``) are checked by the spec classes and reported as 400 errors. A field may add
keywords to its schema through ``attrs.field(metadata={"json_schema": {...}})``, for example
``{"minimum": 0}``, and a description through ``metadata={"description": "..."}``.

Schemas use the OpenAPI 3.0 dialect: ``nullable`` instead of a ``null`` type.
"""

from __future__ import annotations

import collections.abc
import datetime as dt
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin

import attrs

from flowcore.model.base import QuerySpec
from flowcore.model.fields import AggregationUnitName, QueryId, RegionUnitName
from flowcore.registry import Registry

__all__ = [
    "TOP_LEVEL_SCHEMA",
    "SCHEMA_REF_PREFIX",
    "kind_schema",
    "query_schemas",
    "schema_ref",
]

#: Name of the discriminated union over the kinds accepted at the top of the HTTP API.
TOP_LEVEL_SCHEMA = "FlowmachineQuerySchema"
#: Prefix of references to component schemas in an OpenAPI document.
SCHEMA_REF_PREFIX = "#/components/schemas/"

_JSON_SCALARS = (str, int, float, bool, type(None))


def schema_ref(name: str) -> dict[str, str]:
    """Return a ``$ref`` to the component schema called ``name``."""
    return {"$ref": SCHEMA_REF_PREFIX + name}


def query_schemas(registry: Registry) -> dict[str, dict[str, Any]]:
    """Return a schema per registered kind plus the top-level union, keyed by schema name."""
    schemas = {name: kind_schema(registry, name) for name in sorted(registry.kinds)}
    top_level = [kind.name for kind in registry.top_level_kinds()]
    schemas[TOP_LEVEL_SCHEMA] = {
        "description": "A query the API runs: one of the top-level query kinds.",
        **_one_of_kinds(top_level),
    }
    return schemas


def kind_schema(registry: Registry, name: str) -> dict[str, Any]:
    """Return the JSON schema of the query kind called ``name``."""
    kind = registry.kind(name)
    properties, required = _object_fields(kind.spec, registry)
    schema: dict[str, Any] = {
        "type": "object",
        "title": name,
        "properties": {"query_kind": {"type": "string", "enum": [name]}, **properties},
        "required": ["query_kind", *required],
        "additionalProperties": False,
    }
    description = kind.spec.description or (kind.spec.__doc__ or "").strip().split("\n")[0]
    if description:
        schema["description"] = description
    if kind.example is not None:
        schema["example"] = dict(kind.example)
    return schema


def _object_fields(cls: type, registry: Registry) -> tuple[dict[str, Any], list[str]]:
    """Return the property schemas and required field names of an attrs class."""
    hints = typing.get_type_hints(cls)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for field in attrs.fields(cls):
        if not field.init:
            continue
        schema = _field_schema(field, hints.get(field.name, Any), registry)
        properties[field.name] = schema
        if field.default is attrs.NOTHING:
            required.append(field.name)
    return properties, required


def _field_schema(field: attrs.Attribute[Any], annotation: Any, registry: Registry) -> Any:
    schema = _type_schema(annotation, registry)
    has_default = field.default is not attrs.NOTHING
    if has_default and "$ref" not in schema:
        schema["nullable"] = True
        default = _json_default(field.default)
        if default is not None:
            schema["default"] = default
    elif has_default:
        # Sibling keywords next to "$ref" are ignored in OpenAPI 3.0, so wrap the reference.
        schema = {"allOf": [schema], "nullable": True}
    description = field.metadata.get("description")
    if description:
        schema["description"] = description
    schema.update(field.metadata.get("json_schema", {}))
    return _typed_nullable(schema)


def _typed_nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """Move ``nullable`` into the first typed alternative of a schema without a ``type``.

    OpenAPI 3.0 ignores ``nullable`` without a ``type`` beside it, as in a ``oneOf`` of an
    object and an array. One alternative takes it, so that null matches exactly one of a
    ``oneOf``.
    """
    alternatives = next((key for key in ("oneOf", "anyOf") if key in schema), None)
    if not schema.get("nullable") or "type" in schema or alternatives is None:
        return schema
    members = list(schema[alternatives])
    typed = next((i for i, member in enumerate(members) if "type" in member), None)
    if typed is None:
        return schema
    members[typed] = {**members[typed], "nullable": True}
    rest = {key: value for key, value in schema.items() if key != "nullable"}
    return {**rest, alternatives: members}


def _json_default(default: Any) -> Any:
    """Return a field default in JSON form, or None when it has none worth showing."""
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        return None
    if isinstance(default, tuple | list) and all(isinstance(v, _JSON_SCALARS) for v in default):
        return list(default)
    if isinstance(default, _JSON_SCALARS) and default is not None:
        return default
    return None


def _type_schema(annotation: Any, registry: Registry) -> dict[str, Any]:
    """Return the schema of one field type (see the module docstring for the mapping)."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return _union_schema(annotation, registry)
    if origin is Literal:
        return _literal_schema(get_args(annotation))
    if annotation is AggregationUnitName:
        return {"type": "string", "enum": registry.public_units()}
    if annotation is RegionUnitName:
        return {"type": "string", "enum": registry.region_units()}
    if annotation is QueryId:
        return {
            "type": "string",
            "minLength": 1,
            "description": "Id of a completed query whose subscribers form the subset.",
        }
    supertype = getattr(annotation, "__supertype__", None)
    if supertype is not None:
        return _type_schema(supertype, registry)
    if isinstance(annotation, type) and issubclass(annotation, QuerySpec):
        return _one_of_kinds([k.name for k in registry.implementations([annotation])])
    if origin in (tuple, list, collections.abc.Sequence, set, frozenset):
        return _array_schema(annotation, registry)
    if origin in (dict, collections.abc.Mapping):
        value_type = get_args(annotation)[1] if get_args(annotation) else Any
        return {"type": "object", "additionalProperties": _type_schema(value_type, registry)}
    return _plain_type_schema(annotation, registry)


def _plain_type_schema(annotation: Any, registry: Registry) -> dict[str, Any]:
    if annotation is bool:
        return {"type": "boolean"}
    if annotation is int:
        return {"type": "integer"}
    if annotation is float:
        return {"type": "number"}
    if annotation is str:
        return {"type": "string"}
    if annotation is dt.datetime:
        return {
            "type": "string",
            "anyOf": [{"format": "date"}, {"format": "date-time"}],
            "description": "ISO 8601 date such as 2016-01-01; a date and time is accepted too.",
        }
    if annotation is dt.date:
        return {"type": "string", "format": "date"}
    if isinstance(annotation, type) and attrs.has(annotation):
        properties, required = _object_fields(annotation, registry)
        schema: dict[str, Any] = {
            "type": "object",
            "properties": properties,
            "additionalProperties": False,
        }
        if required:
            schema["required"] = required
        return schema
    # Any, object and types with no JSON counterpart accept any value.
    return {}


def _union_schema(annotation: Any, registry: Registry) -> dict[str, Any]:
    members = [arg for arg in get_args(annotation) if arg is not type(None)]
    nullable = len(members) < len(get_args(annotation))
    if all(isinstance(m, type) and issubclass(m, QuerySpec) for m in members):
        schema = _one_of_kinds([k.name for k in registry.implementations(members)])
    elif len(members) == 1:
        schema = _type_schema(members[0], registry)
    else:
        schema = {"oneOf": [_type_schema(m, registry) for m in members]}
    if not nullable:
        return schema
    if "$ref" in schema:
        return {"allOf": [schema], "nullable": True}
    return {**schema, "nullable": True}


def _literal_schema(values: tuple[Any, ...]) -> dict[str, Any]:
    schema: dict[str, Any] = {"enum": list(values)}
    if all(isinstance(v, bool) for v in values):
        schema["type"] = "boolean"
    elif all(isinstance(v, str) for v in values):
        schema["type"] = "string"
    elif all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        schema["type"] = "integer"
    return schema


def _array_schema(annotation: Any, registry: Registry) -> dict[str, Any]:
    args = [arg for arg in get_args(annotation) if arg is not Ellipsis]
    schema: dict[str, Any] = {"type": "array"}
    if (
        get_origin(annotation) is tuple
        and len(get_args(annotation)) > 1
        and Ellipsis not in (get_args(annotation))
    ):
        # A fixed-length tuple such as tuple[float, float].
        schema["minItems"] = schema["maxItems"] = len(args)
    item_schemas = [_type_schema(arg, registry) for arg in args] or [{}]
    unique = [s for i, s in enumerate(item_schemas) if s not in item_schemas[:i]]
    schema["items"] = unique[0] if len(unique) == 1 else {"oneOf": unique}
    if _is_event_type_list(args):
        schema["minItems"] = 1
    return schema


def _is_event_type_list(args: list[Any]) -> bool:
    return len(args) == 1 and get_origin(args[0]) is Literal and "calls" in get_args(args[0])


def _one_of_kinds(names: list[str]) -> dict[str, Any]:
    """Return a ``oneOf`` of the named kinds' schemas, discriminated on ``query_kind``."""
    if not names:
        return {"not": {}, "description": "No installed query kind can be used here."}
    return {
        "oneOf": [schema_ref(name) for name in names],
        "discriminator": {
            "propertyName": "query_kind",
            "mapping": {name: SCHEMA_REF_PREFIX + name for name in names},
        },
    }
