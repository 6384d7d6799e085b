"""The registration record of one query kind: spec class, SQL builder and release rules."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
from sqlalchemy import FromClause, Select, and_, func, select

from flowcore.model.base import Aggregate, QuerySpec

if TYPE_CHECKING:
    from flowcore.sql.context import BuildContext

__all__ = [
    "QueryKind",
    "Builder",
    "Redactor",
    "redact_column",
    "redact_labelled",
    "count_by_label",
    "LABEL_COLUMN",
    "UNIT_INDEX",
]

#: A builder turns a validated spec into a SELECT through the build context.
Builder = Callable[[Any, "BuildContext"], Select[Any]]
#: A redactor wraps a stored result (its cache table) into the SELECT that is released.
Redactor = Callable[[FromClause, int], Select[Any]]

#: Marker in ``QueryKind.index_columns``: index the spatial unit's columns of the query. Text
#: after it is appended to each column name, so ``UNIT_INDEX + "_from"`` gives ``pcod_from``.
UNIT_INDEX = "<unit>"

#: Column of a labelled aggregate that contains the label from its label query.
LABEL_COLUMN = "value_label"


def redact_column(column: str = "value") -> Redactor:
    """Return a redactor that drops rows whose ``column`` is at or below the threshold."""

    def redact(result: FromClause, threshold: int) -> Select[Any]:
        released = [c for c in result.c if not c.name.startswith("_")]
        return select(*released).where(result.c[column] > threshold)

    return redact


def redact_labelled(result: FromClause, threshold: int) -> Select[Any]:
    """Select the rows of locations whose every label has a ``value`` above the threshold.

    The location is every released column but ``LABEL_COLUMN`` and ``value``. One small label
    withholds all labels of its location, because subtracting the others from the location's
    total would reveal it. Rows with a null location column are never released, as in FlowKit,
    whose release joins the kept locations back by equality.
    """
    released = [c for c in result.c if not c.name.startswith("_")]
    location = [c for c in released if c.name not in (LABEL_COLUMN, "value")]
    smallest = func.min(result.c.value).over(partition_by=location).label("_smallest")
    ranked = (
        select(*released, smallest)
        .where(and_(*(c.is_not(None) for c in location)))
        .subquery("labelled")
    )
    return select(*(ranked.c[c.name] for c in released)).where(ranked.c._smallest > threshold)


def count_by_label(
    locations: FromClause, labels: FromClause, unit_columns: Sequence[str]
) -> Select[Any]:
    """Select the unit columns, ``value_label`` and ``value``: subscribers per location and label.

    ``locations`` has one row per subscriber with the unit columns, and ``labels`` one row per
    subscriber with a ``value``. A located subscriber without a label counts under a null label.
    """
    location = [locations.c[name] for name in unit_columns]
    return (
        select(*location, labels.c.value.label(LABEL_COLUMN), func.count().label("value"))
        .select_from(locations.outerjoin(labels, labels.c.subscriber == locations.c.subscriber))
        .group_by(*location, labels.c.value)
    )


@attrs.frozen(kw_only=True)
class QueryKind:
    """One query kind as registered by a plugin.

    ``spec`` is the single source of the kind's validation, JSON schema, canonical form and
    query id. ``build`` receives a validated spec and returns a SELECT whose columns are the
    result. Columns whose names start with ``_`` are stored but never released, for example a
    subscriber count that only the redactor reads.
    """

    spec: type[QuerySpec]
    build: Builder
    #: Version of the kind's SQL; part of every query id, so changing it invalidates old results.
    version: str
    #: Exposed as a top-level query through the HTTP API.
    top_level: bool = False
    #: How stored results are released; None releases them unchanged (not redacted).
    redactor: Redactor | None = None
    #: Column groups to index on the cache table, e.g. (("subscriber",), (UNIT_INDEX,)).
    index_columns: tuple[tuple[str, ...], ...] = ()
    #: One example spec for the OpenAPI document.
    example: Mapping[str, Any] | None = None
    #: PostgreSQL settings applied with SET LOCAL while the result is computed, for a query
    #: whose row estimates mislead the planner. Example: (("enable_nestloop", "off"),).
    planner_settings: tuple[tuple[str, str], ...] = ()
    #: Function from a spec to the queries of other kinds that its result is built from,
    #: besides its nested queries: stages computed and stored first, and shared by every query
    #: that needs the same stage. ``build`` reads them with ``context.result_of``. Their ids
    #: are part of the spec's query id, so a new version of a stage's kind gives new ids to
    #: the queries built from it. Their permission scopes are not checked, since they compute
    #: part of what the spec is granted.
    stages: Callable[[Any], Sequence[QuerySpec]] | None = None
    #: Distribution that registered the kind (set by the registry).
    distribution: str = ""

    @property
    def name(self) -> str:
        """The ``query_kind`` string."""
        return self.spec.query_kind

    @property
    def produces_aggregate(self) -> bool:
        """Whether the kind's rows are aggregates fit for release."""
        return issubclass(self.spec, Aggregate)
