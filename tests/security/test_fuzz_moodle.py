"""Property: whatever a Moodle (or something answering in its place) sends back, reading it gives
typed records or an error naming the WS function and what was wrong (MoodleError with its errorcode,
MalformedResponse, TransportError), never a bare KeyError, TypeError or ValueError from deep inside.

Bodies are the recorded Moodle 4.5 responses (tests/data/moodle-4.5/moodle-ws/), mutated value by
value or byte by byte, served over real HTTP on 127.0.0.1 to the real client.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.wrappers import Request, Response

from credbridge.connector.moodle.client import MoodleClient
from credbridge.connector.moodle.errors import MalformedResponse, MoodleError, TransportError
from credbridge.connector.moodle.functions import MoodleApi, WsFunction
from tests.conftest import FIXTURES
from tests.lti.support import serve
from tests.security.strategies import FUZZ, apply, mutations

RECORDINGS = FIXTURES / "moodle-ws"

#: which recording answers which question of sync
CALLS: dict[str, Callable[[MoodleApi], Any]] = {
    "core_webservice_get_site_info__noargs": lambda api: api.site_info(),
    "core_course_get_courses_by_field__category=2": lambda api: api.courses({"category_id": 2}),
    "core_course_get_courses_by_field__idnumber=VET-ME-CNC101": lambda api: api.courses(),
    "core_course_get_contents__courseid=2": lambda api: api.course_modules(2),
    "core_enrol_get_enrolled_users__courseid=2": lambda api: api.enrolled_users(2),
    "gradereport_user_get_grade_items__courseid=2": lambda api: api.grade_items(2),
    "mod_assign_get_grades__assignmentids=all3": lambda api: api.assign_grades([1, 2, 3]),
    "mod_quiz_get_quizzes_by_courses__courseids=all3": lambda api: api.quizzes([2, 3, 4]),
    "mod_quiz_get_user_attempts__quizid=1_userid=5": lambda api: api.quiz_attempts(1, 5),
    "core_completion_get_course_completion_status__courseid=2_userid=5": lambda api: api.course_completion(2, 5),
    "core_completion_get_activities_completion_status__courseid=2_userid=5":
        lambda api: api.activities_completion(2, 5),
    "core_competency_list_course_competencies__id=2": lambda api: api.course_competencies(2),
    "report_competency_data_for_report__courseid=2_userid=5": lambda api: api.user_competencies(2, 5),
    "core_completion_get_course_completion_status__ERROR_missing_capability_courseid=2_userid=5":
        lambda api: api.course_completion(2, 5),
    "core_webservice_get_site_info__ERROR_invalid_token": lambda api: api.site_info(),
}
BODIES = {name: json.loads((RECORDINGS / f"{name}.json").read_text("utf-8")) for name in CALLS}
REPORT = {"data": {"headers": ["Course ID number", "Username", "ID number", "Time completed"],
                   "rows": [{"columns": ["VET-ME-CNC101", "aino.virtanen", "STU-2026-001",
                                         "22 November 2026, 4:05 AM"]}], "totalrowcount": 1}}
READ_AS_NAMED = (MoodleError, MalformedResponse, TransportError)


class Answer:
    """The one thing the fake Moodle says next: status and body bytes."""

    def __init__(self) -> None:
        self.status = 200
        self.body = b"{}"
        self.lock = threading.Lock()

    def __call__(self, environ: Any, start_response: Any) -> Any:
        Request(environ).get_data()
        with self.lock:
            response = Response(self.body, status=self.status, mimetype="application/json")
        return response(environ, start_response)


@pytest.fixture(scope="module")
def moodle() -> Iterator[tuple[Answer, MoodleApi]]:
    answer = Answer()
    with serve(answer) as url:
        client = MoodleClient(url, "fuzz-token-0123456789abcdef", retries=0, rate_per_second=None, timeout=5)
        yield answer, MoodleApi(client)
        client.close()


def _read(api: MoodleApi, call: Callable[[MoodleApi], Any], what: str) -> None:
    try:
        call(api)
    except READ_AS_NAMED as error:
        assert str(error).split(":", 1)[0] in {f.value for f in WsFunction}, f"{what}: {error!r} names no function"


ALL_CASES = st.sampled_from(sorted(CALLS)).flatmap(lambda name: st.tuples(st.just(name), mutations(BODIES[name],
                                                                                                   depth=4)))


@settings(FUZZ, max_examples=400)
@given(case=ALL_CASES)
def test_mutated_recorded_answers_are_read_or_refused_by_name(moodle: tuple[Answer, MoodleApi],
                                                                 case: tuple[str, list]) -> None:
    answer, api = moodle
    name, changes = case
    answer.status, answer.body = 200, json.dumps(apply(BODIES[name], changes)).encode()
    _read(api, CALLS[name], f"{name} with {changes!r}"[:1500])


@settings(FUZZ, max_examples=150)
@given(name=st.sampled_from(sorted(CALLS)), cut=st.integers(min_value=0, max_value=5000),
       insert=st.binary(max_size=20), status=st.sampled_from([200, 200, 200, 301, 403, 404, 500, 503]))
def test_truncated_or_corrupted_bytes_are_refused_by_name(moodle: tuple[Answer, MoodleApi], name: str, cut: int,
                                                          insert: bytes, status: int) -> None:
    answer, api = moodle
    raw = json.dumps(BODIES[name]).encode()
    cut = min(cut, len(raw))
    answer.status, answer.body = status, raw[:cut] + insert + raw[cut + len(insert):]
    _read(api, CALLS[name], f"{name} cut at {cut} with {insert!r}, HTTP {status}")


@settings(FUZZ, max_examples=80)
@given(changes=mutations(REPORT, depth=5))
def test_mutated_custom_reports_are_read_or_refused_by_name(moodle: tuple[Answer, MoodleApi], changes: list) -> None:
    answer, api = moodle
    answer.status, answer.body = 200, json.dumps(apply(REPORT, changes)).encode()
    _read(api, lambda a: a.completion_report(7, perpage=1000), repr(changes)[:1500])


@pytest.mark.parametrize("body", [b'{"courses": [{"id": 1e400}]}',
                                  b'[{"id": 1, "modules": [{"id": NaN, "modname": "quiz"}]}]',
                                  b'{"courses": [{"id": "' + b"9" * 5000 + b'"}]}',
                                  b'{"courses": [{"id": ' + b"9" * 30 + b"}]}"])
def test_numbers_no_moodle_sends_are_refused_by_name(moodle: tuple[Answer, MoodleApi], body: bytes) -> None:
    answer, api = moodle
    answer.status, answer.body = 200, body
    with pytest.raises(MalformedResponse) as refused:
        api.courses() if b"courses" in body else api.course_modules(2)
    assert refused.value.function in (WsFunction.COURSES_BY_FIELD, WsFunction.COURSE_CONTENTS)


def test_every_mapped_recording_exists() -> None:
    assert all((RECORDINGS / f"{name}.json").exists() for name in CALLS)
    assert Path(RECORDINGS).is_dir()
