"""Plugin discovery: installed plugins, duplicates, broken plugins and misspelt hooks."""

from __future__ import annotations

import importlib.metadata
import logging
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pluggy
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


AddDistribution = Callable[..., None]


@pytest.fixture
def fake_distributions(tmp_path: Path) -> Iterator[AddDistribution]:
    """Put throwaway distributions on sys.path, each in its own folder, in the order added.

    A folder with a ``*.dist-info`` containing METADATA and entry_points.txt is enough for
    importlib.metadata to find a distribution. The plugin modules are plain files beside it.
    """
    folders: list[str] = []
    modules: list[str] = []

    def add(
        name: str, version: str, entry_points: str, files: dict[str, str] | None = None
    ) -> None:
        folder = tmp_path / f"site-{len(folders)}"
        dist_info = folder / f"{name.replace('-', '_')}-{version}.dist-info"
        dist_info.mkdir(parents=True)
        (dist_info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        )
        (dist_info / "entry_points.txt").write_text(f"[flowcore.plugins]\n{entry_points}")
        for module, source in (files or {}).items():
            (folder / f"{module}.py").write_text(textwrap.dedent(source))
            modules.append(module)
        # Ahead of site-packages, so these entry points are found before the installed ones.
        sys.path.insert(len(folders), str(folder))
        folders.append(str(folder))

    # stevedore caches entry points per process, so clear them to let it see the new ones.
    ExtensionManager.ENTRY_POINT_CACHE.clear()
    try:
        yield add
    finally:
        for folder in folders:
            sys.path.remove(folder)
        for module in modules:
            sys.modules.pop(module, None)
        ExtensionManager.ENTRY_POINT_CACHE.clear()


@pytest.fixture
def broken_distribution(fake_distributions: AddDistribution) -> None:
    """A distribution whose flowcore plugin entry point fails to import."""
    fake_distributions(
        "flowcore-broken-plugin",
        "0.0.1",
        "broken = flowcore_broken_plugin_module\n",
        {
            "flowcore_broken_plugin_module": """
                raise ImportError("this plugin needs a library that is not installed")
                """
        },
    )


@pytest.fixture
def exiting_distribution(fake_distributions: AddDistribution) -> None:
    """A distribution whose flowcore plugin module calls sys.exit while being imported."""
    fake_distributions(
        "flowcore-exiting-plugin",
        "0.0.2",
        "exiting = flowcore_exiting_plugin_module\n",
        {
            "flowcore_exiting_plugin_module": """
                import sys

                sys.exit(3)
                """
        },
    )


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


@pytest.mark.usefixtures("exiting_distribution")
def test_exiting_plugin_skipped_with_log(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="flowcore.plugins"):
        registry = load_registry(build_plugin_manager(Settings(strict_plugins=False)))
    assert "daily_location" in registry.kinds
    [record] = [r for r in caplog.records if "flowcore-exiting-plugin" in r.getMessage()]
    assert record.levelno == logging.ERROR
    assert record.getMessage() == (
        "skipping plugin flowcore_exiting_plugin_module from flowcore-exiting-plugin 0.0.2: "
        "it failed to load: it raised SystemExit(3) while being imported"
    )


@pytest.mark.usefixtures("exiting_distribution")
def test_exiting_plugin_fails_in_strict_mode() -> None:
    with pytest.raises(PluginError) as caught:
        build_plugin_manager(Settings(strict_plugins=True))
    assert str(caught.value) == (
        "plugin flowcore_exiting_plugin_module from flowcore-exiting-plugin 0.0.2 failed to "
        "load: it raised SystemExit(3) while being imported"
    )


@pytest.mark.usefixtures("exiting_distribution")
def test_plugins_command_reports_exiting_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWCORE_STRICT_PLUGINS", "true")

    result = CliRunner().invoke(main, ["plugins"])

    assert result.exit_code == 1
    assert result.output == (
        "Error: plugin flowcore_exiting_plugin_module from flowcore-exiting-plugin 0.0.2 "
        "failed to load: it raised SystemExit(3) while being imported\n"
    )


@pytest.mark.usefixtures("exiting_distribution")
def test_plugins_command_skips_exiting_plugin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLOWCORE_STRICT_PLUGINS", "false")

    result = CliRunner().invoke(main, ["plugins"])

    assert result.exit_code == 0
    assert "flowcore-locations" in result.output
    assert "daily_location" in result.output


LOCATIONS_VERSION = importlib.metadata.version("flowcore-locations")
LOCATIONS = f"flowcore-locations {LOCATIONS_VERSION}"


def _names_of(pm: pluggy.PluginManager, prefix: str) -> list[str]:
    """Return the registered plugin names that start with ``prefix``."""
    return [name for name, _ in pm.list_name_plugin() if name.startswith(prefix)]


@pytest.fixture(params=["locations", "borrowed"])
def impostor_distribution(request: pytest.FixtureRequest, fake_distributions: AddDistribution):
    """A distribution, found before flowcore-locations, naming that distribution's plugin module.

    The entry point name is either the one flowcore-locations uses or a different one.
    """
    fake_distributions(
        "flowcore-impostor", "0.0.1", f"{request.param} = flowcore_locations.plugin\n"
    )


@pytest.mark.usefixtures("impostor_distribution")
def test_shared_plugin_stays_with_shipper(caplog: pytest.LogCaptureFixture) -> None:
    from flowcore_locations import plugin

    with caplog.at_level(logging.ERROR, logger="flowcore.plugins"):
        pm = build_plugin_manager(Settings(strict_plugins=False))
        registry = load_registry(pm)

    assert pm.get_name(plugin) == f"{LOCATIONS}:locations"
    assert _names_of(pm, "flowcore-impostor") == []
    assert registry.kinds["daily_location"].distribution == LOCATIONS
    [record] = [r for r in caplog.records if "flowcore-impostor" in r.getMessage()]
    assert record.levelno == logging.ERROR
    assert record.getMessage() == (
        "plugin flowcore_locations.plugin is named by entry points of flowcore-impostor 0.0.1 "
        f"and {LOCATIONS}: registering it under {LOCATIONS} only, "
        "the distribution that ships it"
    )


@pytest.mark.usefixtures("impostor_distribution")
def test_shared_plugin_fails_in_strict_mode() -> None:
    with pytest.raises(PluginError) as caught:
        build_plugin_manager(Settings(strict_plugins=True))
    assert str(caught.value) == (
        "plugin flowcore_locations.plugin is named by entry points of flowcore-impostor 0.0.1 "
        f"and {LOCATIONS}, but only the distribution that ships a plugin may declare it"
    )


@pytest.mark.usefixtures("impostor_distribution")
def test_plugins_command_reports_shared_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWCORE_STRICT_PLUGINS", "true")

    result = CliRunner().invoke(main, ["plugins"])

    assert result.exit_code == 1
    assert result.output == (
        "Error: plugin flowcore_locations.plugin is named by entry points of "
        f"flowcore-impostor 0.0.1 and {LOCATIONS}, but only the distribution that ships a "
        "plugin may declare it\n"
    )


def test_plugin_named_twice_by_one_distribution(
    fake_distributions: AddDistribution, caplog: pytest.LogCaptureFixture
) -> None:
    fake_distributions(
        "flowcore-twice-plugin",
        "0.0.3",
        "first = flowcore_twice_plugin_module\nsecond = flowcore_twice_plugin_module\n",
        {"flowcore_twice_plugin_module": '"""A plugin module without hooks."""\n'},
    )

    with caplog.at_level(logging.WARNING, logger="flowcore.plugins"):
        pm = build_plugin_manager(Settings(strict_plugins=True))

    assert _names_of(pm, "flowcore-twice-plugin") == ["flowcore-twice-plugin 0.0.3:first"]
    assert caplog.records == []


def test_shared_plugin_without_shipper_keeps_first(
    fake_distributions: AddDistribution, caplog: pytest.LogCaptureFixture
) -> None:
    # Neither distribution lists its files, so neither is known to ship the module.
    module = {"flowcore_orphan_plugin_module": '"""A plugin module without hooks."""\n'}
    fake_distributions("flowcore-orphan-first", "0.0.4", "orphan = flowcore_orphan_plugin_module\n")
    fake_distributions(
        "flowcore-orphan-second", "0.0.5", "orphan = flowcore_orphan_plugin_module\n", module
    )

    with caplog.at_level(logging.ERROR, logger="flowcore.plugins"):
        pm = build_plugin_manager(Settings(strict_plugins=False))

    assert _names_of(pm, "flowcore-orphan") == ["flowcore-orphan-first 0.0.4:orphan"]
    [record] = [r for r in caplog.records if "flowcore-orphan" in r.getMessage()]
    assert record.getMessage() == (
        "plugin flowcore_orphan_plugin_module is named by entry points of "
        "flowcore-orphan-first 0.0.4 and flowcore-orphan-second 0.0.5: registering it under "
        "flowcore-orphan-first 0.0.4 only, the first found"
    )
