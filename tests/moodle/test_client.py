from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest

from credbridge.connector.moodle import errors
from credbridge.connector.moodle.client import MoodleClient, encode_params
from tests.moodle.conftest import json_reply, raw_reply

WS = Path(__file__).resolve().parents[1] / "data" / "moodle-4.5" / "moodle-ws"
TOKEN = "e6a751e9bafd40a949e603240876f70b"


def client(url: str, **kwargs) -> MoodleClient:
    kwargs.setdefault("rate_per_second", None)
    kwargs.setdefault("sleep", lambda _s: None)
    return MoodleClient(url, TOKEN, **kwargs)


def fixture(name: str):
    return json.loads((WS / name).read_text())


ERROR_FIXTURES = [
    ("core_webservice_get_site_info__ERROR_invalid_token.json", errors.InvalidToken, "invalidtoken"),
    ("core_enrol_get_enrolled_users__ERROR_missing_capability_courseid=2.json", errors.MissingCapability,
     "errorcoursecontextnotvalid"),
    ("core_enrol_get_enrolled_users__ERROR_nopermissions_withcapability_courseid=2.json",
     errors.MissingCapability, "nopermissions"),
    ("core_completion_get_course_completion_status__ERROR_missing_capability_courseid=2_userid=5.json",
     errors.MissingCapability, "requireloginerror"),
    ("core_group_get_course_groups__ERROR_nopermissions_courseid=2.json", errors.MissingCapability,
     "nopermissions"),
    ("core_course_get_categories__ERROR_criteriaerror_idnumber=VET-ME.json", errors.MissingCapability,
     "criteriaerror"),
    ("core_user_create_users__ERROR_function_not_in_service.json", errors.FunctionNotInService, "accessexception"),
    ("core_grades_get_grades__ERROR_function_does_not_exist.json", errors.FunctionNotInService, "invalidrecord"),
    ("core_course_get_courses_by_field__ERROR_invalid_parameter_field=bogus.json", errors.InvalidParameter,
     "invalidparameter"),
    ("core_completion_get_course_completion_status__ERROR_invalid_parameter_missing_userid.json",
     errors.InvalidParameter, "invalidparameter"),
    ("mod_assign_get_grades__ERROR_invalid_parameter_type.json", errors.InvalidParameter, "invalidparameter"),
    ("core_completion_get_course_completion_status__ERROR_user_not_enrolled_courseid=4_userid=34.json",
     errors.NotEnrolled, "usernotenroled"),
    ("core_course_get_contents__ERROR_course_not_found_courseid=9999.json", errors.CourseNotFound, "invalidrecord"),
]


def test_every_recorded_error_fixture_is_covered():
    recorded = {p.name for p in WS.glob("*__ERROR_*.json")}
    assert recorded == {name for name, _, _ in ERROR_FIXTURES}


@pytest.mark.parametrize(("name", "expected", "code"), ERROR_FIXTURES)
def test_recorded_error_becomes_typed_exception(scripted, name, expected, code):
    function = name.split("__")[0]
    scripted.reply(json_reply(fixture(name)))
    c = client(scripted.url)
    with pytest.raises(expected) as info:
        c.call(function, {"courseid": 2})
    assert type(info.value) is expected
    assert info.value.function == function and info.value.errorcode == code
    assert str(info.value).startswith(f"{function}: {code}: ")
    assert TOKEN not in str(info.value)
    assert len(scripted.requests) == 1, "a Moodle error object is an answer and is never retried"


def test_request_is_php_style_form_post(scripted):
    scripted.reply(json_reply(fixture("mod_assign_get_grades__assignmentids=1_since=0.json")))
    c = client(scripted.url)
    c.call("mod_assign_get_grades", {"assignmentids": [1, 2], "since": 0,
                                      "options": [{"name": "onlyactive", "value": True}]})
    req = scripted.requests[0]
    assert req["path"] == "/webservice/rest/server.php"
    assert req["form"] == [("wstoken", TOKEN), ("wsfunction", "mod_assign_get_grades"),
                           ("moodlewsrestformat", "json"), ("assignmentids[0]", "1"), ("assignmentids[1]", "2"),
                           ("since", "0"), ("options[0][name]", "onlyactive"), ("options[0][value]", "1")]
    assert c.calls == {"mod_assign_get_grades": 1}


def test_encode_params_nested_dicts():
    assert encode_params({"context": {"contextlevel": "system", "instanceid": 0}, "skip": None}) == [
        ("context[contextlevel]", "system"), ("context[instanceid]", "0")]


def test_warnings_are_logged_and_returned(scripted, caplog):
    body = fixture("mod_assign_get_assignments__courseids=all3.json")
    scripted.reply(json_reply(body))
    with caplog.at_level(logging.INFO, logger="credbridge.connector.moodle.client"):
        result = client(scripted.url).call("mod_assign_get_assignments", {"courseids": [2, 3, 4]})
    assert result["warnings"] == body["warnings"]
    assert "not enrolled or does not have requested capability" in caplog.text


def test_html_error_page_with_200_is_malformed(scripted):
    scripted.reply(raw_reply("<!DOCTYPE html><html><body>Error reading from database</body></html>"))
    with pytest.raises(errors.MalformedResponse, match=r"core_webservice_get_site_info: .*HTML page"):
        client(scripted.url).call("core_webservice_get_site_info")


def test_truncated_json_is_malformed(scripted):
    scripted.reply(raw_reply('{"usergrades": [{"courseid": 2, "us', content_type="application/json"))
    with pytest.raises(errors.MalformedResponse, match="invalid JSON"):
        client(scripted.url).call("gradereport_user_get_grade_items")


def test_unexpected_status_is_malformed(scripted):
    scripted.reply(raw_reply("Not Found", status=404))
    with pytest.raises(errors.MalformedResponse, match="HTTP 404"):
        client(scripted.url).call("core_webservice_get_site_info")


def test_5xx_burst_is_retried_then_succeeds(scripted):
    sleeps: list[float] = []
    scripted.reply(raw_reply("busy", 503), raw_reply("bad gateway", 502), raw_reply("oops", 500),
                   json_reply({"ok": 1}))
    c = client(scripted.url, sleep=sleeps.append, backoff=0.1)
    assert c.call("core_webservice_get_site_info") == {"ok": 1}
    assert len(scripted.requests) == 4 and len(sleeps) == 3
    assert all(0 <= s <= 0.1 * 2 ** i for i, s in enumerate(sleeps))
    assert c.calls["core_webservice_get_site_info"] == 4


def test_5xx_forever_gives_transport_error(scripted):
    scripted.default = raw_reply("down", 503)
    with pytest.raises(errors.TransportError, match="HTTP 503 after 3 attempts"):
        client(scripted.url, retries=2).call("core_webservice_get_site_info")
    assert len(scripted.requests) == 3


def test_429_honours_retry_after(scripted):
    sleeps: list[float] = []
    scripted.reply(raw_reply("slow down", 429, headers={"Retry-After": "2"}), json_reply([]))
    assert client(scripted.url, sleep=sleeps.append).call("core_course_get_courses") == []
    assert sleeps == [2.0]


def test_timeout_is_retried_then_transport_error(scripted):
    def slow(_req):
        time.sleep(0.5)
        return json_reply({})(_req)

    scripted.default = slow
    c = client(scripted.url, timeout=0.1, retries=1)
    with pytest.raises(errors.TransportError, match="Timeout after 2 attempts"):
        c.call("core_webservice_get_site_info")


def test_connection_refused_is_transport_error():
    c = client("http://127.0.0.1:9", retries=1)
    with pytest.raises(errors.TransportError, match="ConnectionError"):
        c.call("core_webservice_get_site_info")


def test_token_never_logged(scripted, caplog):
    from credbridge.connector.logs import RedactingFilter

    scripted.reply(raw_reply("x", 503), json_reply({}))
    handler = logging.Handler()
    handler.addFilter(RedactingFilter())
    seen: list[str] = []
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger().addHandler(handler)
    try:
        c = client(scripted.url)
        logging.getLogger("test").warning("calling %s with %s", c, TOKEN)
        c.call("core_webservice_get_site_info")
    finally:
        logging.getLogger().removeHandler(handler)
    assert seen and all(TOKEN not in line for line in seen)
    assert TOKEN not in repr(c)


def test_rate_limit_spaces_requests(scripted):
    scripted.default = json_reply({})
    c = MoodleClient(scripted.url, TOKEN, rate_per_second=20, max_concurrency=1)
    start = time.monotonic()
    for _ in range(6):
        c.call("core_webservice_get_site_info")
    assert time.monotonic() - start >= 0.2  # 1 burst token, then 5 more at 20/s
