"""Query results read back from the cache: streamed rows, column names, pandas and SQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import psycopg.errors
from sqlalchemy import Engine, Select
from sqlalchemy.exc import DBAPIError

from flowcore.errors import QueryNotFoundError

if TYPE_CHECKING:
    import pandas

__all__ = ["Result", "CHUNK_ROWS"]

#: Rows fetched per round trip when streaming a result. A cached result of up to this many rows
#: is read at once when a run finds it.
CHUNK_ROWS = 10_000


class Result:
    """The rows of one completed query, read from its cache table.

    ``rows`` contains the rows when they were read together with the cache hit (a small cached
    result). Without it, each iteration reads the rows lazily, in chunks. The cache table can
    be removed (evicted, invalidated, cleared) before an iteration starts. ``recompute`` then
    returns a new result of the same spec, whose rows the iteration yields instead. Without
    ``recompute`` the iteration raises QueryNotFoundError.
    """

    def __init__(
        self,
        *,
        query_id: str,
        query_kind: str,
        engine: Engine,
        select: Select[Any],
        sql: Callable[[], str],
        rows: Sequence[tuple[Any, ...]] | None = None,
        recompute: Callable[[], Result] | None = None,
    ) -> None:
        self.query_id = query_id
        self.query_kind = query_kind
        self._engine = engine
        self._select = select
        self._sql = sql
        self._rows = rows
        self._recompute = recompute
        # Plain strings: SQLAlchemy names can be str subclasses, which orjson rejects as keys.
        self.columns: list[str] = [str(c.name) for c in select.selected_columns]

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        """Stream the rows as tuples; memory stays bounded by the chunk size."""
        if self._rows is not None:
            yield from self._rows
            return
        with self._engine.connect() as connection:
            try:
                rows = connection.execution_options(
                    stream_results=True, yield_per=CHUNK_ROWS
                ).execute(self._select)
            except DBAPIError as error:
                if not isinstance(error.orig, psycopg.errors.UndefinedTable):
                    raise
                rows = None
            if rows is not None:
                # The open transaction keeps a lock on the table, so a removal waits until the end.
                for row in rows:
                    yield tuple(row)
                return
        if self._recompute is None:
            raise QueryNotFoundError(self.query_id)
        yield from self._recompute()

    def rows(self) -> list[tuple[Any, ...]]:
        """Return every row as a list of tuples."""
        # A comprehension, not list(self): list() would call __len__, reading the rows twice.
        return [row for row in self]

    def to_dicts(self) -> list[dict[str, Any]]:
        """Return every row as a dict keyed by column name."""
        return [dict(zip(self.columns, row, strict=True)) for row in self]

    def to_pandas(self) -> pandas.DataFrame:
        """Return the rows as a pandas DataFrame (needs the ``pandas`` extra)."""
        try:
            import pandas
        except ImportError as error:
            raise ImportError("to_pandas() needs pandas: pip install 'flowcore[pandas]'") from error
        return pandas.DataFrame.from_records(self.rows(), columns=self.columns)

    def sql(self) -> str:
        """Return the SQL that computed this result, with nested queries inlined."""
        return self._sql()

    def __len__(self) -> int:
        if self._rows is not None:
            return len(self._rows)
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return f"<Result {self.query_kind} {self.query_id} columns={self.columns}>"
