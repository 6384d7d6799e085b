"""The clusters stage that the meaningful-locations kinds share (``meaningful_clusters``)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from flowcore_meaningful.examples import EXAMPLE_SCORES

import flowcore
from flowcore.session import Session

PERIOD = {"start_date": "2016-01-01", "end_date": "2016-01-08"}
CLUSTERING = {key: value for key, value in EXAMPLE_SCORES.items() if key != "labels"}


def _aggregate(label: str) -> dict[str, Any]:
    return {
        "query_kind": "meaningful_locations_aggregate",
        **PERIOD,
        "aggregation_unit": "admin1",
        "label": label,
        **copy.deepcopy(EXAMPLE_SCORES),
    }


BETWEEN_LABELS = {
    "query_kind": "meaningful_locations_between_label_od_matrix",
    **PERIOD,
    "aggregation_unit": "admin1",
    "label_a": "home",
    "label_b": "work",
    **copy.deepcopy(EXAMPLE_SCORES),
}
BETWEEN_DATES = {
    "query_kind": "meaningful_locations_between_dates_od_matrix",
    "start_date_a": "2016-01-01",
    "end_date_a": "2016-01-04",
    "start_date_b": "2016-01-04",
    "end_date_b": "2016-01-08",
    "aggregation_unit": "admin1",
    "label": "home",
    **copy.deepcopy(EXAMPLE_SCORES),
}
CLUSTERS = {"query_kind": "meaningful_clusters", **PERIOD, **copy.deepcopy(CLUSTERING)}


@pytest.fixture
def session(counted_dsn: str) -> Iterator[Session]:
    """A session on a private copy of the test data, with an empty cache."""
    with flowcore.connect(counted_dsn) as connected:
        connected.cache.clear()
        yield connected
        connected.cache.clear()


def _stored_kinds(session: Session) -> list[str]:
    return sorted(entry.query_kind for entry in session.cache.entries())


def test_aggregate_plans_clusters_stage(session: Session) -> None:
    plan = session.plan(_aggregate("home"))

    stages = [node for node in plan.dependencies if node.query_kind == "meaningful_clusters"]
    assert len(stages) == 1
    assert stages[0].query_id == session.query_id(CLUSTERS)


def test_between_dates_plans_two_stages(session: Session) -> None:
    plan = session.plan(BETWEEN_DATES)

    stages = {node.spec["start_date"]: node.spec for node in plan.dependencies}
    assert len(plan.dependencies) == 2
    assert sorted(stages) == ["2016-01-01", "2016-01-04"]
    assert stages["2016-01-01"]["end_date"] == "2016-01-04"
    assert stages["2016-01-04"]["end_date"] == "2016-01-08"


def test_labels_share_one_stage(session: Session) -> None:
    home = session.run(_aggregate("home"), timeout=120)
    work = session.run(_aggregate("work"), timeout=120)
    matrix = session.run(BETWEEN_LABELS, timeout=120)

    assert home.to_dicts()
    assert work.to_dicts()
    assert matrix.to_dicts()
    assert _stored_kinds(session).count("meaningful_clusters") == 1
    assert len(_stored_kinds(session)) == 4


def test_stage_results_match_inline_sql(session: Session) -> None:
    stored = session.run(BETWEEN_DATES, timeout=120).to_dicts()
    with session.engine.connect() as connection:
        inline = connection.exec_driver_sql(session.sql(BETWEEN_DATES)).mappings().all()

    def key(row: Any) -> str:
        return repr(sorted((name, str(value)) for name, value in dict(row).items()))

    assert stored
    assert sorted(map(key, stored)) == sorted(map(key, inline))


def test_clusters_run_in_python_api(session: Session) -> None:
    result = session.run(CLUSTERS, timeout=120)
    rows = result.to_dicts()

    assert result.columns == ["subscriber", "cluster", "lon", "lat", "score_hour", "score_dow"]
    assert rows
    first_clusters = {row["cluster"] for row in rows if row["cluster"] == 1}
    assert first_clusters == {1}
    subscribers = {row["subscriber"] for row in rows}
    assert len(subscribers) == sum(1 for row in rows if row["cluster"] == 1)
    assert all(-1 <= row["score_hour"] <= 1 for row in rows)
    assert all(-1 <= row["score_dow"] <= 1 for row in rows)


def test_stage_scopes_not_required(session: Session) -> None:
    scopes = session.scopes(_aggregate("home"))

    assert scopes
    assert not any("meaningful_clusters" in scope for scope in scopes)
