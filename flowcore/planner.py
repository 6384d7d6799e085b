"""Planning: a validated spec becomes a tree of planned queries for the executor.

Some checks need the database: data on the requested dates, a stored subscriber subset, an
existing mapping table. Planning builds every query's SQL once with nested queries inlined, so
a spec that cannot be computed fails before any work is queued.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Engine, FromClause, MetaData, Select, Table, inspect

from flowcore.errors import InvalidSpecError
from flowcore.execution.plan import BuiltQuery, PlannedQuery
from flowcore.geography.companions import companion_problems
from flowcore.kinds import UNIT_INDEX, QueryKind
from flowcore.model.base import QuerySpec, iter_children, iter_tree
from flowcore.model.converter import SpecConverter
from flowcore.model.fields import SpatialFields
from flowcore.model.identity import query_id
from flowcore.registry import Registry
from flowcore.sql.availability import Availability
from flowcore.sql.context import BuildContext
from flowcore.sql.sampling import apply_sampling

__all__ = ["Planner", "cache_table_name"]


def cache_table_name(query_id_: str) -> str:
    """Return the cache table name of a query id (without the ``cache`` schema)."""
    return f"x{query_id_}"


class Planner:
    """Builds PlannedQuery trees and inline SQL for specs of one registry and database."""

    def __init__(
        self, registry: Registry, converter: SpecConverter, engine: Engine, is_stored: Any
    ) -> None:
        self.registry = registry
        self.converter = converter
        self.engine = engine
        #: Callable telling whether a query id is completed in the cache.
        self._is_stored = is_stored
        self._tables: dict[str, Table] = {}
        self._tables_lock = threading.Lock()

    def plan(self, spec: QuerySpec) -> PlannedQuery:
        """Validate ``spec`` against the database and return its planned query tree."""
        with self.engine.connect() as connection:
            availability = Availability.load(connection)
            self._check_references(spec, connection)
        self.inline_sql(spec, availability)
        planned: dict[str, PlannedQuery] = {}
        return self._plan_node(spec, availability, planned)

    def _plan_node(
        self, spec: QuerySpec, availability: Availability, planned: dict[str, PlannedQuery]
    ) -> PlannedQuery:
        identity = query_id(spec, self.registry)
        if identity in planned:
            return planned[identity]
        kind = self.registry.kind_of(spec)
        inputs = [child for _, child in iter_children(spec)]
        if kind.stages is not None:
            inputs.extend(kind.stages(spec))
        children = tuple(self._plan_node(child, availability, planned) for child in inputs)
        unique_children = tuple({c.query_id: c for c in children}.values())

        def build() -> BuiltQuery:
            context = BuildContext(
                registry=self.registry, availability=availability, resolve=self._stored_result
            )
            query = self._build(kind, spec, context)
            return BuiltQuery(
                select=query,
                reads=tuple(context.reads),
                subsets=tuple(context.subsets),
                index_columns=self._index_columns(kind, spec),
                planner_settings=kind.planner_settings,
            )

        node = PlannedQuery(
            query_id=identity,
            query_kind=kind.name,
            spec=self.converter.unstructure(spec),
            dependencies=unique_children,
            build=build,
        )
        planned[identity] = node
        return node

    def inline_sql(self, spec: QuerySpec, availability: Availability | None = None) -> Select[Any]:
        """Return the full SELECT of ``spec`` with every nested query inlined.

        Without ``availability`` it is loaded, and the subsets and mapping tables the spec names
        are checked as :meth:`plan` checks them, so SQL is never shown for a spec that would be
        rejected.
        """
        if availability is None:
            with self.engine.connect() as connection:
                availability = Availability.load(connection)
                self._check_references(spec, connection)
        return self._inline(spec, availability, "$")

    def _inline(self, spec: QuerySpec, availability: Availability, path: str) -> Select[Any]:
        paths = {id(child): path + relative for relative, child in iter_children(spec)}

        def resolve(child: QuerySpec) -> FromClause:
            child_path = paths.get(id(child), path)
            return self._inline(child, availability, child_path).subquery()

        context = BuildContext(
            registry=self.registry, availability=availability, resolve=resolve, path=path
        )
        return self._build(self.registry.kind_of(spec), spec, context)

    @staticmethod
    def _build(kind: QueryKind, spec: QuerySpec, context: BuildContext) -> Select[Any]:
        query = kind.build(spec, context)
        if kind.produces_aggregate:
            # Aggregated rows have no subscriber column to sample by, so an aggregate that
            # takes ``sampling`` samples its subscribers in its own builder.
            return query
        return apply_sampling(query, getattr(spec, "sampling", None))

    def _stored_result(self, spec: QuerySpec) -> FromClause:
        return self.stored_table(query_id(spec, self.registry))

    def stored_table(self, query_id_: str) -> Table:
        """Return the cache table of a stored query, reflected once per process.

        A query id always names the same columns, so a table reflected once stays valid even
        if the result is evicted and computed again.
        """
        with self._tables_lock:
            table = self._tables.get(query_id_)
        if table is None:
            table = Table(
                cache_table_name(query_id_), MetaData(), schema="cache", autoload_with=self.engine
            )
            with self._tables_lock:
                self._tables[query_id_] = table
        return table

    def _index_columns(self, kind: QueryKind, spec: QuerySpec) -> tuple[tuple[str, ...], ...]:
        unit_name = spec.spatial_unit()
        unit_columns = self.registry.unit(unit_name).columns if unit_name else ()
        groups: list[tuple[str, ...]] = []
        for group in kind.index_columns:
            expanded: list[str] = []
            for name in group:
                if name.startswith(UNIT_INDEX):
                    suffix = name.removeprefix(UNIT_INDEX)
                    expanded.extend(column + suffix for column in unit_columns)
                else:
                    expanded.append(name)
            if expanded:
                groups.append(tuple(expanded))
        return tuple(groups)

    def _check_references(self, spec: QuerySpec, connection: Any) -> None:
        """Check subscriber subsets and mapping tables that specs refer to by name."""
        problems: list[str] = []
        inspector = inspect(connection)
        for path, node in iter_tree(spec):
            subset = getattr(node, "subscriber_subset", None)
            if subset is not None:
                problems.extend(self._check_subset(path, subset, inspector))
            if isinstance(node, SpatialFields):
                unit = self.registry.unit(node.aggregation_unit)
                problems.extend(companion_problems(path, node, unit, inspector))
        if problems:
            raise InvalidSpecError(problems)

    def _check_subset(self, path: str, subset: str, inspector: Any) -> list[str]:
        """Return the problems of a subscriber subset: not stored, or without subscribers."""
        if not self._is_stored(subset):
            return [
                f"{path}.subscriber_subset: {subset!r} is not the id of a completed query; "
                "run that query first"
            ]
        # Private columns (a leading "_") are never released, so the message leaves them out.
        columns = [
            str(column["name"])
            for column in inspector.get_columns(cache_table_name(subset), schema="cache")
            if not str(column["name"]).startswith("_")
        ]
        if "subscriber" in columns:
            return []
        return [
            f"{path}.subscriber_subset: query {subset!r} has no subscriber column (its columns "
            f"are {', '.join(columns)}); use a query with a subscriber column, such as a "
            "daily_location"
        ]
