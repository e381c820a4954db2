"""PHP-style array parameters and Moodle's parameter validation."""

from __future__ import annotations

import pytest
import requests

from credbridge.emulator.errors import MoodleException
from credbridge.emulator.params import Multiple, Single, Value, parse_php_params, validate
from credbridge.emulator.server import DEFAULT_TOKEN, RunningEmulator
from tests.emulator.conftest import ws


def test_nested_arrays_parse_like_php() -> None:
    pairs = [("courseid", "4"), ("options[0][name]", "userfields"), ("options[0][value]", "id,email"),
             ("options[1][name]", "limitnumber"), ("options[1][value]", "5"), ("ids[]", "7"), ("ids[]", "9"),
             ("context[contextlevel]", "system")]
    assert parse_php_params(pairs) == {
        "courseid": "4",
        "options": {"0": {"name": "userfields", "value": "id,email"}, "1": {"name": "limitnumber", "value": "5"}},
        "ids": {"0": "7", "1": "9"}, "context": {"contextlevel": "system"}}


def test_php_last_write_wins_and_unmatched_bracket_is_literal() -> None:
    assert parse_php_params([("a", "1"), ("a[0]", "2")]) == {"a": {"0": "2"}}
    assert parse_php_params([("a[0]", "2"), ("a", "1")]) == {"a": "1"}
    assert parse_php_params([("a[b", "1")]) == {"a_b": "1"}


SPEC = {"courseid": Value("int"), "ids": Multiple(Value("int"), default=[]),
        "options": Multiple(Single({"name": Value("alphanum"), "value": Value("raw")}), default=[]),
        "flag": Value("bool", default=False)}


def test_validation_converts_types_and_applies_defaults() -> None:
    got = validate(SPEC, parse_php_params([("courseid", "2"), ("ids[0]", "5"), ("ids[1]", "6"), ("flag", "1")]))
    assert got == {"courseid": 2, "ids": [5, 6], "options": [], "flag": True}


@pytest.mark.parametrize(("pairs", "debug"), [
    ([], "Missing required key in single structure: courseid"),
    ([("courseid", "abc")], 'the value is "abc", the server was expecting "int" type'),
    ([("courseid", "2"), ("ids", "5")], "Only arrays accepted"),
    ([("courseid[0]", "2")], "Scalar type expected"),
    ([("courseid", "2"), ("options[0][name]", "x")], "Missing required key in single structure: value"),
    ([("courseid", "2"), ("options[0][name]", "a-b"), ("options[0][value]", "1")], "alphanum"),
    ([("courseid", "2"), ("bogus", "1")], "Unexpected keys (bogus)"),
    ([("courseid", "2"), ("flag", "maybe")], '"bool" type'),
])
def test_bad_parameters_raise_invalid_parameter(pairs, debug: str) -> None:
    with pytest.raises(MoodleException) as info:
        validate(SPEC, parse_php_params(pairs))
    assert info.value.errorcode == "invalidparameter"
    assert info.value.message == "Invalid parameter value detected"
    assert debug in (info.value.debuginfo or "")


def test_invalid_parameter_over_http_matches_moodle(emulator: RunningEmulator) -> None:
    body = ws(emulator, "mod_assign_get_grades", **{"assignmentids[0]": "abc"})
    assert body == {"exception": "core\\exception\\invalid_parameter_exception", "errorcode": "invalidparameter",
                    "message": "Invalid parameter value detected"}


def test_debug_mode_adds_debuginfo(site) -> None:
    from credbridge.emulator.server import serve_in_thread

    with serve_in_thread(site, debug=True) as emu:
        body = requests.post(emu.rest_url, data={"wstoken": DEFAULT_TOKEN, "wsfunction": "mod_assign_get_grades",
                                                 "moodlewsrestformat": "json", "assignmentids[0]": "abc"},
                             timeout=10).json()
    assert body["errorcode"] == "invalidparameter"
    assert "assignmentids[0]" in body["debuginfo"]


def test_get_query_string_is_accepted_like_moodle(emulator: RunningEmulator) -> None:
    r = requests.get(emulator.rest_url, params={"wstoken": DEFAULT_TOKEN, "wsfunction": "core_webservice_get_site_info",
                                                "moodlewsrestformat": "json"}, timeout=10)
    assert r.json()["userid"] == 3


def test_without_json_format_moodle_answers_xml(emulator: RunningEmulator) -> None:
    import xml.etree.ElementTree as ET

    r = requests.post(emulator.rest_url, data={"wstoken": DEFAULT_TOKEN, "wsfunction": "mod_quiz_get_user_best_grade",
                                               "quizid": "1", "userid": "5"}, timeout=10)
    assert r.headers["Content-Type"].startswith("application/xml")
    root = ET.fromstring(r.content)  # noqa: S314 - our own loopback server's output
    keys = {k.get("name"): k for k in root.find("SINGLE")}
    assert keys["hasgrade"].find("VALUE").text == "1"
    assert keys["grade"].find("VALUE").text == "10"
    err = requests.post(emulator.rest_url, data={"wstoken": "bad", "wsfunction": "core_webservice_get_site_info"},
                        timeout=10)
    root = ET.fromstring(err.content)  # noqa: S314
    assert (root.tag, root.get("class"), root.findtext("ERRORCODE")) == (
        "EXCEPTION", "core\\exception\\moodle_exception", "invalidtoken")
