"""How far a submitted query's tree is from being stored."""

from __future__ import annotations

import attrs
from sqlalchemy import Connection, text

__all__ = ["Progress", "read_progress"]


@attrs.frozen
class Progress:
    """Counts over a query's tree, the query included, as FlowAPI's poll reports them.

    ``eligible`` counts the queries not yet stored; ``queued`` and ``running`` count those
    waiting for a worker and those executing. All three are 0 once the query is stored.
    """

    eligible: int
    queued: int
    running: int

    def as_dict(self) -> dict[str, int]:
        """Return the counts under FlowAPI's keys."""
        return {"eligible": self.eligible, "queued": self.queued, "running": self.running}


def read_progress(connection: Connection, query_id: str) -> Progress | None:
    """Count the unstored, queued and executing queries in a tree; None for an unknown id."""
    row = connection.execute(
        text(
            "WITH RECURSIVE tree (query_id) AS ("
            "  SELECT CAST(:query_id AS character(32))"
            "  UNION"
            "  SELECT t.depends_on FROM cache.query_tree AS t"
            "  JOIN tree ON t.query_id = tree.query_id"
            ") "
            "SELECT count(s.query_id) AS known, "
            "count(*) FILTER (WHERE s.state <> 'completed') AS eligible, "
            "count(*) FILTER (WHERE s.state = 'queued') AS queued, "
            "count(*) FILTER (WHERE s.state = 'executing') AS running, "
            "bool_or(s.query_id = CAST(:query_id AS character(32)) "
            "AND s.state = 'completed') AS stored "
            "FROM tree JOIN cache.query_states AS s ON s.query_id = tree.query_id"
        ),
        {"query_id": query_id},
    ).one()
    if row.known == 0:
        return None
    if row.stored:
        return Progress(0, 0, 0)
    return Progress(eligible=row.eligible, queued=row.queued, running=row.running)
