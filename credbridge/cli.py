"""The `credbridge` command line: a thin entry point over the layers.

Each area keeps its commands beside its code (``connector/commands/…``, ``lti/commands.py``);
this module only names them. Subcommands are imported when invoked (click's lazy-group recipe), so
``credbridge --help`` stays fast and a broken optional area cannot stop the others.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from credbridge import __version__

# name -> "module:attribute"; grouped by noun as a school admin thinks of them
SUBCOMMANDS: dict[str, str] = {
    "init": "credbridge.connector.commands.setup:init",
    "db": "credbridge.connector.commands.setup:db",
    "schools": "credbridge.connector.commands.setup:schools",
    "admins": "credbridge.connector.commands.setup:admins",
    "serve": "credbridge.lti.commands:serve",
    "daemon": "credbridge.connector.commands.daemon:daemon",
    "sync": "credbridge.connector.commands.sync:sync",
    "connections": "credbridge.connector.commands.sync:connections",
    "import-results": "credbridge.connector.commands.sync:import_results",
    "issue": "credbridge.connector.commands.issue:issue",
    "credentials": "credbridge.connector.commands.issue:credentials",
    "outbox": "credbridge.connector.commands.issue:outbox",
    "work": "credbridge.connector.commands.work:work",
    "mappings": "credbridge.connector.commands.mappings:mappings",
    "lti": "credbridge.connector.commands.lti:lti",
    "keys": "credbridge.connector.commands.lti:keys",
    "learners": "credbridge.connector.privacy.commands:learners",
    "retention": "credbridge.connector.privacy.commands:retention",
    "demo": "credbridge.demo:demo",
    "emulator": "credbridge.demo:emulator",
}


class LazyGroup(click.Group):
    def __init__(self, *args: Any, lazy: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self._lazy:
            module_name, attribute = self._lazy[cmd_name].split(":")
            command = getattr(importlib.import_module(module_name), attribute)
            if not isinstance(command, click.Command):
                raise TypeError(f"{self._lazy[cmd_name]} is not a click command")
            return command
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, lazy=SUBCOMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="credbridge")
def main() -> None:
    """credbridge turns what a school's Moodle knows into EU micro-credentials.

    Settings come from CREDBRIDGE_* environment variables or credbridge.toml (see `credbridge init`).
    """


def run() -> None:  # pragma: no cover - console entry point
    sys.exit(main())
