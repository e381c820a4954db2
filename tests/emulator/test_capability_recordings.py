"""Acceptance (issue 11): the calls recorded on a real Moodle 4.5 under two roles of the sync user
(tests/data/moodle-4.5/capabilities/) replayed against the emulator built from the same site answer the
same: the same activities left out without a word, the same warnings and the same exceptions, word for
word, and the same data where the role sees it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from credbridge.emulator.dataset import Site
from credbridge.emulator.roles import RECORDED_README_ROLE, RECORDED_WITH_MODULE_VIEW, SYNC_ROLE
from credbridge.emulator.server import RunningEmulator, serve_in_thread
from credbridge.emulator.ws import RECORDED_SERVICE_FUNCTIONS, Principal
from tests.emulator.conftest import FIXTURES, load_json
from tests.emulator.shapes import compare

CAPABILITIES = FIXTURES / "capabilities"
ROLES = {"readme-role": RECORDED_README_ROLE, "with-module-view": RECORDED_WITH_MODULE_VIEW}
TOKENS = {"readme-role": "a" * 32, "with-module-view": "b" * 32, "sync": "c" * 32}
# grade-report HTML differs on purpose (see test_replay_recordings); the rest is compared
SKIP_VALUES = frozenset({"gradeformatted"})


def recordings() -> list[tuple[str, Path]]:
    return [(role, CAPABILITIES / role / f"{entry['function']}.json")
            for role in ROLES for entry in load_json(CAPABILITIES / role / "index.json")]


@pytest.fixture(scope="module")
def capability_site_emulator() -> Iterator[RunningEmulator]:
    site = Site.from_capability_recording(CAPABILITIES)
    tokens = {TOKENS[role]: Principal(3, caps) for role, caps in ROLES.items()}
    tokens[TOKENS["sync"]] = Principal(3, SYNC_ROLE)
    # debug: the recording site ran in developer mode (its exceptions carry debuginfo)
    with serve_in_thread(site, tokens=tokens, functions=RECORDED_SERVICE_FUNCTIONS, debug=True) as emu:
        yield emu


def call(emu: RunningEmulator, token: str, function: str, params: dict[str, Any]) -> Any:
    data = {"wstoken": token, "wsfunction": function, "moodlewsrestformat": "json", **params}
    response = requests.post(emu.rest_url, data=data, timeout=10)
    assert response.status_code == 200
    return response.json()


def ids(rows: list[dict[str, Any]], key: str = "id") -> list[Any]:
    return sorted(r[key] for r in rows)


@pytest.mark.parametrize(("role", "path"), recordings(), ids=[f"{r}/{p.stem}" for r, p in recordings()])
def test_each_recorded_call_answers_as_moodle_did(capability_site_emulator: RunningEmulator, role: str,
                                                  path: Path) -> None:
    recording = load_json(path)
    recorded = recording["response"]
    actual = call(capability_site_emulator, TOKENS[role], recording["function"], recording["params"])
    if recording["function"] == "core_webservice_get_site_info":
        actual = {key: actual[key] for key in recorded}  # the recording kept only these keys
    problems = compare(recorded, actual, skip_values=SKIP_VALUES)
    assert not problems, "\n".join(problems[:40])
    # word for word where Moodle refuses or warns
    if isinstance(recorded, dict) and "exception" in recorded:
        assert actual == recorded
    if isinstance(recorded, dict) and "warnings" in recorded:
        assert actual["warnings"] == recorded["warnings"]


def test_what_each_role_sees_differs_exactly_as_recorded(capability_site_emulator: RunningEmulator) -> None:
    """The README's old role sees only the page, in every listing, and no warning says so."""
    emu = capability_site_emulator
    seen: dict[str, dict[str, Any]] = {}
    for role in ROLES:
        token = TOKENS[role]
        seen[role] = {
            "contents": [m["modname"] for s in call(emu, token, "core_course_get_contents", {"courseid": 2})
                         for m in s["modules"]],
            "quizzes": ids(call(emu, token, "mod_quiz_get_quizzes_by_courses", {"courseids[0]": 2})["quizzes"]),
            "statuses": ids(call(emu, token, "core_completion_get_activities_completion_status",
                                 {"courseid": 2, "userid": 7})["statuses"], "cmid"),
            "items": ids(call(emu, token, "gradereport_user_get_grade_items",
                              {"courseid": 2, "userid": 0})["usergrades"][0]["gradeitems"]),
        }
    assert seen["readme-role"] == {"contents": ["page"], "quizzes": [], "statuses": [1], "items": [1, 4]}
    assert seen["with-module-view"] == {"contents": ["page", "assign", "quiz"], "quizzes": [1],
                                        "statuses": [1, 2, 3], "items": [1, 2, 3, 4]}


def test_the_readme_role_now_sees_what_with_module_view_sees(capability_site_emulator: RunningEmulator) -> None:
    for path in sorted((CAPABILITIES / "with-module-view").glob("*.json")):
        recording = load_json(path)
        if path.name == "index.json" or recording["function"] == "core_webservice_get_site_info":
            continue
        recorded = recording["response"]
        actual = call(capability_site_emulator, TOKENS["sync"], recording["function"], recording["params"])
        if recording["function"] == "core_course_get_contents":
            # the README's role may see hidden activities, so Moodle adds each module's availability
            for section in actual:
                for module in section["modules"]:
                    assert module.pop("availability") is None
        if recording["function"] == "core_enrol_get_enrolled_users":
            # and it may see full names, so Moodle adds their parts (credentials need both)
            for user in actual:
                assert (user.pop("firstname"), user.pop("lastname")) != ("", "")
        problems = compare(recorded, actual, skip_values=SKIP_VALUES)
        assert not problems, f"{path.name}: " + "\n".join(problems[:20])
