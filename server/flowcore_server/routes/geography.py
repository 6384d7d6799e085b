"""The geography route: every region (or cell point) of an aggregation unit as GeoJSON."""

from __future__ import annotations

from typing import Any

from flowcore_auth import Identity
from litestar import Response, get
from litestar.response import Stream

from flowcore_server.auth import GET_RESULT, geography_paths, geography_scope, require
from flowcore_server.errors import ApiError, validation_error_body
from flowcore_server.formats import feature_collection_chunks, guarded
from flowcore_server.geojson import geography_features, geography_units
from flowcore_server.service import QueryService

__all__ = ["get_geography"]


@get("/geography/{aggregation_unit:str}", operation_id="get_geography", sync_to_thread=True)
def get_geography(
    aggregation_unit: str, identity: Identity, service: QueryService
) -> Response[Any]:
    """Stream the boundaries (or points) of an aggregation unit as a GeoJSON FeatureCollection."""
    registry = service.session.registry
    allowed = geography_units(registry)
    if aggregation_unit not in allowed:
        raise ApiError(
            400,
            validation_error_body(
                {"query_kind": "geography", "aggregation_unit": aggregation_unit},
                [f"$.aggregation_unit: {aggregation_unit!r} is not one of {', '.join(allowed)}"],
            ),
        )
    require(
        identity,
        {GET_RESULT},
        {geography_scope(aggregation_unit)},
        paths=geography_paths(aggregation_unit),
    )
    features = geography_features(registry.unit(aggregation_unit))
    content = guarded(
        feature_collection_chunks(service.stream_rows(features.statement), features.feature),
        f"the geography of {aggregation_unit}",
    )
    return Stream(
        content=content,
        media_type="application/geo+json",
        headers={"Content-Disposition": f"attachment;filename={aggregation_unit}.geojson"},
    )
