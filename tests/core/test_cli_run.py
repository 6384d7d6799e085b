"""The ``flowcore run`` and ``flowcore plugins`` commands."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from flowcore_meaningful.examples import EXAMPLE_SCORES

from flowcore.cli import main

SPEC = {
    "query_kind": "spatial_aggregate",
    "locations": {
        "query_kind": "daily_location",
        "date": "2016-01-02",
        "method": "last",
        "aggregation_unit": "admin1",
    },
}


def test_run_prints_csv(testdata_dsn: str, tmp_path: Path) -> None:
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(SPEC))
    outcome = CliRunner().invoke(main, ["run", str(spec_file), "--dsn", testdata_dsn])
    assert outcome.exit_code == 0, outcome.output
    rows = list(csv.reader(io.StringIO(outcome.output)))
    assert rows[0] == ["pcod", "value"]
    assert sum(int(value) for _, value in rows[1:]) > 400


def test_run_csv_calendar_json_arrays(testdata_dsn: str, tmp_path: Path) -> None:
    spec = {"query_kind": "calendar_activity", "start_date": "2016-01-01", "total_periods": 2}
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(spec))
    outcome = CliRunner().invoke(main, ["run", str(spec_file), "--dsn", testdata_dsn])
    assert outcome.exit_code == 0, outcome.output
    rows = list(csv.reader(io.StringIO(outcome.output)))
    assert rows[0] == ["grp", "value"]
    # The subscribers active on the first day, on the second, or on both.
    assert sorted(json.loads(calendar) for calendar, _ in rows[1:]) == [
        ["2016-01-01T00:00:00"],
        ["2016-01-01T00:00:00", "2016-01-02T00:00:00"],
        ["2016-01-02T00:00:00"],
    ]


def test_run_prints_json_redacted(testdata_dsn: str, tmp_path: Path) -> None:
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(SPEC))
    outcome = CliRunner().invoke(
        main, ["run", str(spec_file), "--format", "json", "--redact", "--dsn", testdata_dsn]
    )
    assert outcome.exit_code == 0, outcome.output
    payload = json.loads(outcome.output)
    assert len(payload["query_id"]) == 32
    assert payload["query_result"]
    assert all(row["value"] > 15 for row in payload["query_result"])


def test_run_json_numeric_numbers(testdata_dsn: str, tmp_path: Path) -> None:
    # The shares of a meaningful-locations aggregate are NUMERIC in PostgreSQL.
    spec = {
        "query_kind": "meaningful_locations_aggregate",
        "start_date": "2016-01-01",
        "end_date": "2016-01-03",
        "aggregation_unit": "admin1",
        "label": "home",
        **EXAMPLE_SCORES,
    }
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(spec))
    outcome = CliRunner().invoke(
        main, ["run", str(spec_file), "--format", "json", "--dsn", testdata_dsn]
    )
    assert outcome.exit_code == 0, outcome.output
    values = [row["value"] for row in json.loads(outcome.output)["query_result"]]
    assert values
    assert all(isinstance(value, float) for value in values)


def test_run_reports_invalid_spec(testdata_dsn: str, tmp_path: Path) -> None:
    spec_file = tmp_path / "spec.json"
    bad = {**SPEC, "locations": {**SPEC["locations"], "aggregation_unit": "admin9"}}
    spec_file.write_text(json.dumps(bad))
    outcome = CliRunner().invoke(main, ["run", str(spec_file), "--dsn", testdata_dsn])
    assert outcome.exit_code == 1
    assert "$.locations.aggregation_unit: 'admin9' is not one of" in outcome.output
    assert "Traceback" not in outcome.output


def test_run_reports_available_dates(testdata_dsn: str, tmp_path: Path) -> None:
    spec_file = tmp_path / "spec.json"
    late = {**SPEC, "locations": {**SPEC["locations"], "date": "2019-01-02"}}
    spec_file.write_text(json.dumps(late))
    outcome = CliRunner().invoke(main, ["run", str(spec_file), "--dsn", testdata_dsn])
    assert outcome.exit_code == 1
    assert "no calls, sms data between 2019-01-02T00:00:00" in outcome.output
    assert "calls 2016-01-01 to 2016-01-07 (7 days)" in outcome.output
    assert "sms 2016-01-01 to 2016-01-07 (7 days)" in outcome.output


def test_run_reports_bad_json(tmp_path: Path) -> None:
    spec_file = tmp_path / "spec.json"
    spec_file.write_text("{not json")
    outcome = CliRunner().invoke(main, ["run", str(spec_file)])
    assert outcome.exit_code == 1
    assert "is not valid JSON" in outcome.output


def test_plugins_lists_distributions() -> None:
    outcome = CliRunner().invoke(main, ["plugins"], terminal_width=200)
    assert outcome.exit_code == 0, outcome.output
    assert "flowcore-locations" in outcome.output
    assert "daily_location" in outcome.output
    assert "flowcore-example-plugin" in outcome.output
    assert "admin3" in outcome.output
    assert "versioned-site †" in outcome.output
    assert "admin3 †" not in outcome.output


@pytest.mark.parametrize("command", [["plugins"], ["run", "-"]])
def test_bad_setting_is_an_error_not_traceback(
    command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWCORE_MAX_WORKERS", "0")
    outcome = CliRunner().invoke(main, command, input="{}")
    assert outcome.exit_code == 1
    assert "Error: FLOWCORE_MAX_WORKERS must be at least 1, got '0'" in outcome.output
    assert "Traceback" not in outcome.output


def test_version_option_prints_version() -> None:
    from importlib.metadata import version

    outcome = CliRunner().invoke(main, ["--version"])
    assert outcome.exit_code == 0
    assert outcome.output.strip() == f"flowcore, version {version('flowcore')}"
