"""One operated installation for the whole walk (set up by the command line, synced from the emulated
Moodle 4.5 site, evaluated and issued: see tests/pages/synced_world.py) and one headless Chromium,
shared by every language."""

from __future__ import annotations

import functools
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from credbridge.connector.moodle.client import MoodleClient
from credbridge.connector.store.db import Database
from credbridge.connector.sync import runner
from tests.pages.browser_support import CHROMIUM_ARGS
from tests.pages.conftest import ADMIN_PASSWORD
from tests.pages.synced_world import SCHOOL, SyncedWorld, synced_world
from tests.pages.walk.checks import AXE

ADMIN_EMAIL = "admin@vet-college.example"


@pytest.fixture(scope="session")
def walk_world(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SyncedWorld]:
    assert AXE.is_file(), f"{AXE} is missing: `make test` installs it (npm ci --prefix tests/pages/axe)"
    path = tmp_path_factory.mktemp("walk") / "credbridge.db"
    shutil.copyfile(sqlite_template, path)
    database = Database(f"sqlite:///{path}")
    try:
        with pytest.MonkeyPatch.context() as patch, synced_world(database) as world:
            patch.setattr(runner, "client_factory", functools.partial(MoodleClient, rate_per_second=None))
            world.set_up_as_operator()
            world.sync_and_issue()
            world.cli("admins", "add", "--school", SCHOOL, "--email", ADMIN_EMAIL, "--name", "School admin",
                      "--password", ADMIN_PASSWORD)
            yield world
    finally:
        database.dispose()


# the package's, not the session's: Playwright's sync API allows one running instance per thread, and
# later test modules (tests/security's SVG check, the next run of tests/pages' browser) start their own
@pytest.fixture(scope="package")
def walk_browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
