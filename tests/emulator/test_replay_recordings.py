"""Acceptance: every request recorded against Moodle 4.5 (moodle-ws/index.json) replayed over HTTP against
an emulator built from the same site must answer with the recorded structure, types and ground-truth values."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from credbridge.emulator.dataset import Site
from credbridge.emulator.roles import RECORDED_SITE_ROLE, REST_ONLY
from credbridge.emulator.server import DEFAULT_TOKEN, NOCAP_TOKEN, RunningEmulator, serve_in_thread
from credbridge.emulator.ws import RECORDED_SERVICE_FUNCTIONS, Principal
from tests.emulator.conftest import TESTDATA, WS_DIR, load_json
from tests.emulator.shapes import compare

INDEX = load_json(WS_DIR / "index.json")
TOKENS = {"valid": DEFAULT_TOKEN, "nocap": NOCAP_TOKEN, "invalid": "0" * 32}
# Values that differ on purpose: timestamps of events the recording stamped to the second, URLs (port),
# grade-report HTML (the emulator renders a plainer table with the same cells) and evidence row ids
# (database sequence numbers that testdata.json does not carry).
SKIP_VALUES = frozenset({"gradeformatted", "evidence"})


@pytest.fixture(scope="module")
def recorded_emulator() -> Iterator[RunningEmulator]:
    site = Site.from_recording(TESTDATA)
    # the vet_sync user of the recorded site had a broader role than the README's (competency frameworks…)
    tokens = {DEFAULT_TOKEN: Principal(site.config.ws_userid, RECORDED_SITE_ROLE),
              NOCAP_TOKEN: Principal(site.config.nocap_userid, REST_ONLY)}
    with serve_in_thread(site, functions=RECORDED_SERVICE_FUNCTIONS, tokens=tokens) as emu:
        yield emu


def replay(emu: RunningEmulator, entry: dict[str, Any], token: str) -> requests.Response:
    data = [("wstoken", token), *[(k, v) for k, v in entry["params"]]]
    return requests.post(emu.rest_url, data=data, timeout=10)


@pytest.mark.parametrize("entry", INDEX, ids=[e["file"] for e in INDEX])
def test_recorded_request_answers_like_moodle(recorded_emulator: RunningEmulator, entry: dict[str, Any]) -> None:
    response = replay(recorded_emulator, entry, TOKENS[entry["token"]])
    assert response.status_code == entry["http_status"]
    recorded = load_json(WS_DIR / entry["file"])
    actual = response.json()
    problems = compare(recorded, actual, skip_values=SKIP_VALUES)
    assert not problems, "\n".join(problems[:40])
    assert ("exception" in actual) == entry["is_error"]


VARIANT = {"core_course_get_courses__all.json": [],
           "core_course_get_courses_by_field__category=2.json": [("field", "category"), ("value", "2")],
           "core_course_get_courses_by_field__idnumber=VET-ME-CNC101.json": [("field", "idnumber"),
                                                                            ("value", "VET-ME-CNC101")]}


@pytest.mark.parametrize("name", sorted(VARIANT))
def test_course_update_capability_exposes_idnumber_and_timemodified(name: str) -> None:
    """variant-with-course-update/: a role with moodle/course:update gets the full course records."""
    site = Site.from_recording(TESTDATA)
    token = "f" * 32
    principal = Principal(3, RECORDED_SITE_ROLE | {"moodle/course:update"})
    with serve_in_thread(site, tokens={token: principal}) as emu:
        function = name.split("__")[0]
        data = [("wstoken", token), ("wsfunction", function), ("moodlewsrestformat", "json"), *VARIANT[name]]
        actual = requests.post(emu.rest_url, data=data, timeout=10).json()
    recorded = load_json(WS_DIR / "variant-with-course-update" / name)
    problems = compare(recorded, actual, skip_values=SKIP_VALUES | {"sortorder", "categorysortorder", "cacherev"})
    assert not problems, "\n".join(problems[:40])
