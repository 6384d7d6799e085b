"""The clusters stage that the meaningful-locations kinds share (``meaningful_clusters``)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import attrs
import pytest
from flowcore_meaningful.clusters import clusters_of
from flowcore_meaningful.examples import EXAMPLE_SCORES
from flowcore_meaningful.od_matrix import BETWEEN_DATES_KIND

import flowcore
from flowcore.model.converter import SpecConverter
from flowcore.model.identity import query_id
from flowcore.registry import Registry
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
# The kind's example: home at admin1, the first three days against the last four.
BETWEEN_DATES = copy.deepcopy(BETWEEN_DATES_KIND.example)
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


def _stage_id(converter: SpecConverter, data: dict[str, Any]) -> str:
    """Return the id of the clusters stage of a meaningful_locations_aggregate spec."""
    spec = converter.structure(data)
    return query_id(clusters_of(spec, spec.start_date, spec.end_date), converter.registry)


def test_equal_specs_share_stage(converter: SpecConverter) -> None:
    home = _aggregate("home")
    written_otherwise = {
        **_aggregate("work"),
        "start_date": "2016-01-01T00:00:00",
        "end_date": "2016-01-08T00:00:00+00:00",
        "tower_hour_of_day_scores": [float(score) for score in home["tower_hour_of_day_scores"]],
        "tower_cluster_radius": int(home["tower_cluster_radius"]),
    }

    assert _stage_id(converter, written_otherwise) == _stage_id(converter, home)
    assert _stage_id(converter, {**home, "event_types": ["sms", "calls"]}) == _stage_id(
        converter, {**home, "event_types": ["calls", "sms"]}
    )


@pytest.mark.parametrize(
    "change",
    [
        {"end_date": "2016-01-07"},
        {"event_types": ["calls"]},
        {"subscriber_subset": "0" * 32},
        {"tower_cluster_radius": 2.5},
        {"tower_cluster_call_threshold": 2},
        {"tower_hour_of_day_scores": [0.5] * 24},
    ],
    ids=lambda change: next(iter(change)),
)
def test_different_clustering_has_its_own_stage(
    converter: SpecConverter, change: dict[str, Any]
) -> None:
    home = _aggregate("home")

    assert _stage_id(converter, {**home, **change}) != _stage_id(converter, home)


@pytest.mark.parametrize(
    "data", [_aggregate("home"), BETWEEN_LABELS, BETWEEN_DATES], ids=lambda data: data["query_kind"]
)
def test_stage_version_changes_query_id(
    converter: SpecConverter, registry: Registry, data: dict[str, Any]
) -> None:
    # A stage is no field of the spec, so a new version of the clusters must reach the ids of
    # the queries built from them, or their results computed from the old clusters are reused.
    spec = converter.structure(data)
    bumped = Registry(kinds=dict(registry.kinds), units=dict(registry.units))
    kind = bumped.kinds["meaningful_clusters"]
    bumped.kinds["meaningful_clusters"] = attrs.evolve(kind, version=kind.version + "-next")

    assert query_id(spec, bumped) != query_id(spec, registry)
