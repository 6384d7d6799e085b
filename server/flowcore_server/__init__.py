"""flowcore_server: the FlowAPI-compatible HTTP API of flowcore, with in-process execution."""

from __future__ import annotations

from flowcore_server.app import create_app
from flowcore_server.settings import ServerSettings, SettingsError

__all__ = ["ServerSettings", "SettingsError", "create_app"]
