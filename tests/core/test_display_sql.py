"""``Session.sql`` and ``flowcore run --sql`` print SQL that runs as printed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

import flowcore
from flowcore.cli import main
from flowcore.errors import InvalidSpecError
from flowcore.session import Session


@pytest.fixture(scope="module")
def session(testdata_dsn: str) -> Iterator[Session]:
    """A session on the test dataset."""
    with flowcore.connect(testdata_dsn) as opened:
        yield opened


def _examples(session: Session) -> list[dict]:
    """Return the example spec of every top-level kind that has one."""
    return [kind.example for kind in session.registry.top_level_kinds() if kind.example]


def test_examples_print_no_placeholders(session: Session) -> None:
    examples = _examples(session)
    assert len(examples) >= 18
    for spec in examples:
        text = session.sql(spec)
        assert "%(" not in text, spec["query_kind"]
        assert "POSTCOMPILE" not in text, spec["query_kind"]
        assert "-- parameters" not in text, spec["query_kind"]
        assert text.startswith("-- Run with the time zone UTC"), spec["query_kind"]


def _comparable(value: object) -> object:
    """Return a value to compare: floats to 12 significant digits.

    Sums of floats depend on the order PostgreSQL adds the rows in, which two runs of the
    same statement need not share, so the last digits may differ.
    """
    return float(f"{value:.12g}") if isinstance(value, float) else value


def _sorted(rows: list) -> list[tuple]:
    """Return rows as comparable tuples in a fixed order (values compared as text)."""
    comparable = (tuple(_comparable(value) for value in row) for row in rows)
    return sorted(comparable, key=lambda row: [repr(value) for value in row])


def _columns(cursor: psycopg.Cursor, names: list[str]) -> list[tuple]:
    """Return a cursor's rows with only the named columns, in that order.

    The printed SQL also selects the private columns that redaction reads.
    """
    assert cursor.description is not None
    positions = [[column.name for column in cursor.description].index(name) for name in names]
    return [tuple(row[position] for position in positions) for row in cursor.fetchall()]


def test_printed_sql_gives_result_rows(session: Session, testdata_dsn: str) -> None:
    with psycopg.connect(testdata_dsn, options="-c timezone=UTC") as connection:
        for spec in _examples(session):
            result = session.run(spec)
            expected = result.rows()
            printed = _columns(connection.execute(session.sql(spec)), result.columns)
            assert len(expected) > 0, spec["query_kind"]
            assert _sorted(printed) == _sorted(expected), spec["query_kind"]


def test_printed_floats_and_percent(session: Session, testdata_dsn: str) -> None:
    # Meaningful-location counts divide by n_clusters in double precision, and the label is
    # free text: both must come out of the printed SQL as they come out of the query.
    spec = next(
        kind.example
        for kind in session.registry.top_level_kinds()
        if kind.name == "meaningful_locations_aggregate"
    )
    labels = dict(spec["labels"])
    labels["50% home's"] = labels.pop(spec["label"])
    spec = {**spec, "labels": labels, "label": "50% home's"}

    text = session.sql(spec)
    result = session.run(spec)
    expected = result.rows()
    with psycopg.connect(testdata_dsn, options="-c timezone=UTC") as connection:
        printed = _columns(connection.execute(text), result.columns)

    assert "AS DOUBLE PRECISION" in text
    assert "'50% home''s'" in text
    assert len(expected) > 0
    assert _sorted(printed) == _sorted(expected)
    assert {row[0] for row in printed} == {"50% home's"}


def test_cli_sql_runs_in_database(testdata_dsn: str, tmp_path: Path) -> None:
    spec = {
        "query_kind": "location_event_counts",
        "start_date": "2016-01-01",
        "end_date": "2016-01-03",
        "interval": "hour",
        "direction": "both",
        "aggregation_unit": "admin3",
    }
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(spec))
    outcome = CliRunner().invoke(main, ["run", str(spec_file), "--sql", "--dsn", testdata_dsn])
    assert outcome.exit_code == 0, outcome.output
    assert "'2016-01-02'" in outcome.output
    with psycopg.connect(testdata_dsn, options="-c timezone=UTC") as connection:
        rows = connection.execute(outcome.output).fetchall()
    assert len(rows) > 100


def test_sql_of_unknown_subset_is_rejected(
    session: Session, testdata_dsn: str, tmp_path: Path
) -> None:
    spec = {
        "query_kind": "daily_location",
        "date": "2016-01-01",
        "method": "last",
        "aggregation_unit": "admin3",
        "subscriber_subset": "0" * 32,
    }
    with pytest.raises(InvalidSpecError) as raised:
        session.sql(spec)
    assert raised.value.messages == [
        f"$.subscriber_subset: '{'0' * 32}' is not the id of a completed query; "
        "run that query first"
    ]
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(spec))
    outcome = CliRunner().invoke(main, ["run", str(spec_file), "--sql", "--dsn", testdata_dsn])
    assert outcome.exit_code == 1
    assert "is not the id of a completed query" in outcome.output
    assert "SELECT" not in outcome.output
