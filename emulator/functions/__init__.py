"""One module per Moodle component; importing a module registers its WS functions."""

from __future__ import annotations

import importlib

MODULES = ("site", "course", "enrol", "users", "completion", "grades", "mods", "competency", "report")


def load_all() -> None:
    for name in MODULES:
        importlib.import_module(f"credbridge.emulator.functions.{name}")
