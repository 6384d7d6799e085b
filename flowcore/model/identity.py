"""Query identity: a 32-hex digest of a spec's canonical form and its kind's version.

The canonical form sorts keys, sorts lists whose order carries no meaning (fields marked
``ORDER_FREE``), writes datetimes in one ISO form and replaces each nested spec by its own id,
so the same query written in any key order or date notation gets the same id in every process.
The ids of the stages a kind names (``QueryKind.stages``) are part of it too, so a new version
of a stage's kind gives new ids to the queries built from that stage. So is the version of the
rules for mapping and point tables, in the ids of specs that name such tables.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

import attrs

from flowcore.geography.units import NAMED_TABLE_RULES
from flowcore.model.base import QuerySpec
from flowcore.model.fields import SpatialFields
from flowcore.registry import Registry

__all__ = ["ID_SCHEME", "canonical_form", "query_id"]

#: Changes whenever the canonical form itself changes, so old ids are never reused wrongly.
ID_SCHEME = "flowcore-id-1"


def _canonical_value(value: Any, registry: Registry, order_free: bool) -> Any:
    if isinstance(value, QuerySpec):
        return {"query_id": query_id(value, registry)}
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple | frozenset | set):
        items = [_canonical_value(v, registry, False) for v in value]
        if order_free or isinstance(value, frozenset | set):
            items.sort(key=lambda item: json.dumps(item, sort_keys=True))
        return items
    if isinstance(value, dict):
        return {str(k): _canonical_value(v, registry, False) for k, v in value.items()}
    if attrs.has(type(value)):
        return {
            f.name: _canonical_value(
                getattr(value, f.name), registry, bool(f.metadata.get("order_free"))
            )
            for f in attrs.fields(type(value))
        }
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def canonical_form(spec: QuerySpec, registry: Registry) -> dict[str, Any]:
    """Return the canonical JSON-ready form of ``spec`` used to compute its id."""
    kind = registry.kind_of(spec)
    form: dict[str, Any] = {
        "id_scheme": ID_SCHEME,
        "query_kind": spec.query_kind,
        "kind_version": kind.version,
    }
    for field in attrs.fields(type(spec)):
        form[field.name] = _canonical_value(
            getattr(spec, field.name), registry, bool(field.metadata.get("order_free"))
        )
    if isinstance(spec, SpatialFields) and (spec.mapping_table or spec.geom_table):
        # The tables' meaning is no field of the spec either, so its version joins the id.
        form["named_table_rules"] = NAMED_TABLE_RULES
    if kind.stages is not None:
        # A stage is no field of the spec, so its version would otherwise not reach this id.
        form["stages"] = [query_id(stage, registry) for stage in kind.stages(spec)]
    return form


def query_id(spec: QuerySpec, registry: Registry) -> str:
    """Return the 32-hex id of ``spec``: stable across processes, new for any change."""
    text = json.dumps(canonical_form(spec, registry), sort_keys=True, separators=(",", ":"))
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()
