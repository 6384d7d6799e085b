"""Plugin discovery: installed plugins, duplicates, broken plugins and misspelt hooks."""

from __future__ import annotations

import logging
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from stevedore import ExtensionManager

from flowcore.cli import main
from flowcore.errors import PluginError
from flowcore.hookspecs import hookimpl
from flowcore.plugins import build_plugin_manager, load_registry
from flowcore.settings import Settings


def test_builtin_and_installed_kinds_registered() -> None:
    registry = load_registry(build_plugin_manager())
    assert registry.kinds["daily_location"].distribution.startswith("flowcore-locations")
    assert registry.kinds["first_location"].distribution.startswith("flowcore-example-plugin")
    assert {"admin0", "admin3", "lon-lat", "versioned-site"} <= set(registry.units)
    assert registry.units["admin3"].distribution == "flowcore"


def test_duplicate_kind_names_both_distributions() -> None:
    from flowcore_locations import daily_location

    class Impostor:
        __name__ = "impostor-dist"

        @staticmethod
        @hookimpl
        def flowcore_register_query_kinds(register):  # type: ignore[no-untyped-def]
            register(daily_location.KIND)

    pm = build_plugin_manager(extra_plugins=[Impostor()])
    with pytest.raises(PluginError) as caught:
        load_registry(pm)
    assert "'daily_location'" in str(caught.value)
    assert "flowcore-locations" in str(caught.value)
    assert "impostor-dist" in str(caught.value)


def test_misspelt_hook_fails_loudly() -> None:
    typo = SimpleNamespace(__name__="typo-dist")

    @hookimpl
    def flowcore_register_query_kind(register):  # type: ignore[no-untyped-def]
        """Misspelt: the hook is flowcore_register_query_kinds."""

    typo.flowcore_register_query_kind = flowcore_register_query_kind
    with pytest.raises(PluginError, match="unknown hook"):
        build_plugin_manager(extra_plugins=[typo])


@pytest.fixture
def broken_distribution(tmp_path: Path):
    """A distribution on sys.path whose flowcore plugin entry point fails to import."""
    dist_info = tmp_path / "flowcore_broken_plugin-0.0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: flowcore-broken-plugin\nVersion: 0.0.1\n"
    )
    (dist_info / "entry_points.txt").write_text(
        "[flowcore.plugins]\nbroken = flowcore_broken_plugin_module\n"
    )
    (tmp_path / "flowcore_broken_plugin_module.py").write_text(
        textwrap.dedent(
            """
            raise ImportError("this plugin needs a library that is not installed")
            """
        )
    )
    # stevedore keeps entry points per process; forget them so the new distribution is seen.
    ExtensionManager.ENTRY_POINT_CACHE.clear()
    sys.path.insert(0, str(tmp_path))
    try:
        yield
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("flowcore_broken_plugin_module", None)
        ExtensionManager.ENTRY_POINT_CACHE.clear()


@pytest.mark.usefixtures("broken_distribution")
def test_broken_plugin_skipped_with_log(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="flowcore.plugins"):
        registry = load_registry(build_plugin_manager(Settings(strict_plugins=False)))
    assert "daily_location" in registry.kinds
    [record] = [r for r in caplog.records if "flowcore-broken-plugin" in r.getMessage()]
    assert record.levelno == logging.ERROR
    assert "not installed" in record.getMessage()


@pytest.mark.usefixtures("broken_distribution")
def test_broken_plugin_fails_in_strict_mode() -> None:
    with pytest.raises(PluginError, match="flowcore-broken-plugin"):
        build_plugin_manager(Settings(strict_plugins=True))


@pytest.mark.usefixtures("broken_distribution")
def test_plugins_command_reports_broken_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWCORE_STRICT_PLUGINS", "true")

    result = CliRunner().invoke(main, ["plugins"])

    assert result.exit_code == 1
    assert result.output.startswith("Error: plugin ")
    assert "flowcore-broken-plugin" in result.output
    assert "Traceback" not in result.output
