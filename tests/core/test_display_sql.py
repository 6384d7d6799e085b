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


def test_printed_sql_gives_result_rows(session: Session, testdata_dsn: str) -> None:
    with psycopg.connect(testdata_dsn, options="-c timezone=UTC") as connection:
        for spec in _examples(session):
            expected = session.run(spec).rows()
            printed = connection.execute(session.sql(spec)).fetchall()
            assert len(printed) == len(expected), spec["query_kind"]
            assert len(expected) > 0, spec["query_kind"]


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
