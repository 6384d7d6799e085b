"""``CREATE TABLE ... AS <select>`` as a statement whose values stay bound parameters."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement, Executable

__all__ = ["CreateTableAs"]


class CreateTableAs(Executable, ClauseElement):
    """Create a table from the rows of a SELECT.

    It compiles as an ordinary statement (not DDL), so SQLAlchemy applies each parameter's type
    processing and the driver sends the values separately from the SQL text.
    """

    inherit_cache = False

    def __init__(self, schema: str, name: str, select: Select[Any]) -> None:
        self.schema = schema
        self.name = name
        self.select = select


@compiles(CreateTableAs)
def _compile_create_table_as(element: CreateTableAs, compiler: SQLCompiler, **kw: Any) -> str:
    preparer = compiler.preparer
    target = f"{preparer.quote_schema(element.schema)}.{preparer.quote(element.name)}"
    return f"CREATE TABLE {target} AS {compiler.process(element.select, **kw)}"
