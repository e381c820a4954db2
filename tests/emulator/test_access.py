"""Tokens, services and capabilities answer with Moodle's exact errors."""

from __future__ import annotations

from credbridge.emulator.dataset import Site
from credbridge.emulator.server import NOCAP_TOKEN, RunningEmulator, serve_in_thread
from credbridge.emulator.ws import VET_SYNC_CAPABILITIES, Principal
from tests.emulator.conftest import ws


def test_invalid_token(emulator: RunningEmulator) -> None:
    assert ws(emulator, "core_webservice_get_site_info", token="nope") == {
        "exception": "core\\exception\\moodle_exception", "errorcode": "invalidtoken",
        "message": "Invalid token - token not found"}


def test_unknown_function_and_function_outside_service(emulator: RunningEmulator) -> None:
    assert ws(emulator, "core_grades_get_grades", courseid=2)["errorcode"] == "invalidrecord"
    assert ws(emulator, "core_user_create_users") == {"exception": "webservice_access_exception",
                                                      "errorcode": "accessexception",
                                                      "message": "Access control exception"}


def test_site_info_lists_configured_functions_and_release(site: Site) -> None:
    site.config.release, site.config.version = "4.1.9 (Build: 20240212)", "2022112809"
    functions = ["core_webservice_get_site_info", "core_course_get_courses_by_field"]
    with serve_in_thread(site, functions=functions) as emu:
        info = ws(emu, "core_webservice_get_site_info")
        assert [f["name"] for f in info["functions"]] == ["core_course_get_courses_by_field",
                                                          "core_webservice_get_site_info"]
        assert {f["version"] for f in info["functions"]} == {"2022112809"}
        assert info["release"] == "4.1.9 (Build: 20240212)"
        # Removing a function from the service makes Moodle refuse it.
        assert ws(emu, "core_enrol_get_enrolled_users", courseid=2)["errorcode"] == "accessexception"
        emu.set_functions([*functions, "core_enrol_get_enrolled_users"])
        assert isinstance(ws(emu, "core_enrol_get_enrolled_users", courseid=2), list)


def test_default_service_offers_updates_and_reports(emulator: RunningEmulator) -> None:
    names = {f["name"] for f in ws(emulator, "core_webservice_get_site_info")["functions"]}
    assert {"core_course_get_updates_since", "core_reportbuilder_retrieve_report"} <= names


def test_nocap_token_gets_capability_errors_and_no_identities(emulator: RunningEmulator) -> None:
    assert ws(emulator, "core_enrol_get_enrolled_users", token=NOCAP_TOKEN, courseid=2)["errorcode"] == \
        "errorcoursecontextnotvalid"
    assert ws(emulator, "core_completion_get_course_completion_status", token=NOCAP_TOKEN, courseid=2,
              userid=5)["errorcode"] == "requireloginerror"
    # Without moodle/user:viewdetails other users' profiles are not returned at all.
    assert ws(emulator, "core_user_get_users_by_field", token=NOCAP_TOKEN, field="id",
              **{"values[0]": "5"}) == []


def test_identity_fields_withheld_without_capabilities(site: Site) -> None:
    caps = VET_SYNC_CAPABILITIES - {"moodle/user:viewalldetails", "moodle/site:viewuseridentity",
                                    "moodle/course:useremail"}
    with serve_in_thread(site, tokens={"t" * 32: Principal(3, caps)}) as emu:
        users = ws(emu, "core_enrol_get_enrolled_users", token="t" * 32, courseid=2)
        assert users and all("email" not in u and "idnumber" not in u and "username" not in u for u in users)
        by_field = ws(emu, "core_user_get_users_by_field", token="t" * 32, field="id", **{"values[0]": "5"})
        assert by_field[0]["id"] == 5 and "idnumber" not in by_field[0] and "email" not in by_field[0]


def test_missing_capability_for_report(site: Site) -> None:
    with serve_in_thread(site, tokens={"r" * 32: Principal(3, VET_SYNC_CAPABILITIES - {"report/completion:view"})}) \
            as emu:
        err = ws(emu, "core_completion_get_course_completion_status", token="r" * 32, courseid=2, userid=5)
    assert err == {"exception": "core\\exception\\required_capability_exception", "errorcode": "nopermissions",
                   "message": "Sorry, but you do not currently have permissions to do that (View course completion "
                              "report)."}


def test_course_not_found(emulator: RunningEmulator) -> None:
    assert ws(emulator, "core_course_get_contents", courseid=9999)["message"] == \
        "Can't find data record in database table course."


def test_extensions_register_on_the_app(site: Site) -> None:
    import requests

    seen = {}

    def extension(app, ext_site) -> None:
        seen["site"] = ext_site

        @app.get("/mod/lti/ping")
        def ping() -> str:
            return "pong"

    with serve_in_thread(site, extensions=[extension]) as emu:
        assert requests.get(f"{emu.url}/mod/lti/ping", timeout=10).text == "pong"
    assert seen["site"] is site


def test_new_quiz_attempts_function_only_when_in_the_service(site: Site) -> None:
    from credbridge.emulator.ws import DEFAULT_SERVICE_FUNCTIONS

    with serve_in_thread(site, moodle="5.0") as emu:
        assert ws(emu, "mod_quiz_get_user_quiz_attempts", quizid=1, userid=5)["errorcode"] == "accessexception"
        emu.set_functions([*DEFAULT_SERVICE_FUNCTIONS, "mod_quiz_get_user_quiz_attempts"])
        new = ws(emu, "mod_quiz_get_user_quiz_attempts", quizid=1, userid=5)
        assert new == ws(emu, "mod_quiz_get_user_attempts", quizid=1, userid=5)
        assert new["attempts"][0]["sumgrades"] == 3


def test_quiz_password_and_subnet_only_for_activity_managers(site: Site) -> None:
    site.modules[3].settings.update(password="ispit", subnet="127.0.0.0/8", browsersecurity="safebrowser")
    manager = Principal(3, VET_SYNC_CAPABILITIES | {"moodle/course:manageactivities"})
    with serve_in_thread(site, tokens={"m" * 32: manager, "s" * 32: Principal(3, VET_SYNC_CAPABILITIES)}) as emu:
        full = ws(emu, "mod_quiz_get_quizzes_by_courses", token="m" * 32, **{"courseids[0]": 2})["quizzes"][0]
        plain = ws(emu, "mod_quiz_get_quizzes_by_courses", token="s" * 32, **{"courseids[0]": 2})["quizzes"][0]
    assert (full["password"], full["subnet"], full["browsersecurity"]) == ("ispit", "127.0.0.0/8", "safebrowser")
    assert "password" not in plain and "subnet" not in plain and plain["browsersecurity"] == "safebrowser"
