from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from credbridge.emulator.dataset import Site
from credbridge.emulator.server import DEFAULT_TOKEN, RunningEmulator, serve_in_thread

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "moodle-4.5"
TESTDATA = FIXTURES / "testdata.json"
WS_DIR = FIXTURES / "moodle-ws"


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture
def site() -> Site:
    return Site.from_recording(TESTDATA)


@pytest.fixture
def emulator(site: Site) -> Iterator[RunningEmulator]:
    with serve_in_thread(site) as emu:
        yield emu


def ws(emu: RunningEmulator, function: str, token: str = DEFAULT_TOKEN, **params: Any) -> Any:
    """POST one REST call with already PHP-flattened params and return the decoded JSON."""
    data = {"wstoken": token, "wsfunction": function, "moodlewsrestformat": "json", **params}
    response = requests.post(emu.rest_url, data=data, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()
