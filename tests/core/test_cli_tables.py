"""Tables printed to a pipe keep every name whole."""

from __future__ import annotations

from click.testing import CliRunner

from flowcore.cli import main


def test_piped_plugins_table_names_whole() -> None:
    result = CliRunner().invoke(main, ["plugins"])

    assert result.exit_code == 0, result.output
    assert "…" not in result.output
    assert "active_at_reference_location_counts *" in result.output
    assert "meaningful_locations_between_dates_od_matrix *" in result.output
    assert "unique_subscriber_counts *" in result.output
