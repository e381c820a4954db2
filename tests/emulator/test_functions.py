"""Functions and options beyond the recorded requests: updates since, the completion report, paging."""

from __future__ import annotations

from credbridge.emulator.dataset import Site
from credbridge.emulator.server import RunningEmulator
from tests.emulator.conftest import ws


def test_updates_since_lists_assign_grades_and_quiz_attempts(site: Site, emulator: RunningEmulator) -> None:
    since = site.clock.tick()
    assert ws(emulator, "core_course_get_updates_since", courseid=2, since=since) == {"instances": [],
                                                                                      "warnings": []}
    site.set_grade(34, 2, 80)
    site.finish_quiz_attempt(34, 3, 3)
    got = ws(emulator, "core_course_get_updates_since", courseid=2, since=since)
    by_cm = {i["id"]: {u["name"]: u for u in i["updates"]} for i in got["instances"]}
    assert set(by_cm) == {2, 3}
    assert by_cm[2]["usergrades"]["itemids"] == [site.assign_grades[(1, 34)].id]
    assert by_cm[2]["usergrades"]["timeupdated"] >= since
    assert list(by_cm[2]["usergrades"]) == ["name", "timeupdated", "itemids"]
    assert len(by_cm[3]["userattempts"]["itemids"]) == 1
    assert got["instances"][0]["contextlevel"] == "module"
    filtered = ws(emulator, "core_course_get_updates_since", courseid=2, since=since,
                  **{"filter[0]": "userattempts"})
    assert [i["id"] for i in filtered["instances"]] == [3]


def test_report_lists_course_completions_in_pages(site: Site, emulator: RunningEmulator) -> None:
    first = ws(emulator, "core_reportbuilder_retrieve_report", reportid=1, page=0, perpage=10)
    assert first["data"]["headers"] == ["Course ID number", "Username", "ID number", "Completed", "Time completed"]
    assert first["data"]["totalrowcount"] == 10 + 14 + 5  # recorded completions per course
    assert len(first["data"]["rows"]) == 10
    rows = [r["columns"] for p in range(3)
            for r in ws(emulator, "core_reportbuilder_retrieve_report", reportid=1, page=p, perpage=10)["data"]["rows"]]
    assert len(rows) == 29
    assert rows[0][:4] == ["VET-ME-CNC101", "aino.virtanen", "STU-2026-001", "Yes"]
    assert rows[0][4].endswith("AM") or rows[0][4].endswith("PM")
    assert first["details"]["sourcename"] == "Course participants"
    assert ws(emulator, "core_reportbuilder_retrieve_report", reportid=99)["errorcode"] == "invalidrecord"
    listed = ws(emulator, "core_reportbuilder_list_reports")
    assert [r["id"] for r in listed["reports"]] == [1] and listed["reports"][0] == first["details"]


def test_report_window_only_recent_completions(site: Site, emulator: RunningEmulator) -> None:
    site.report_window_days = 1
    site.clock.advance(3 * 86400)
    assert ws(emulator, "core_reportbuilder_retrieve_report", reportid=1)["data"]["totalrowcount"] == 0
    for cmid in (1, 2, 3):
        site.complete_activity(34, cmid)
    rows = ws(emulator, "core_reportbuilder_retrieve_report", reportid=1)["data"]["rows"]
    assert [r["columns"][1] for r in rows] == ["eva.novak"]


def test_enrolled_users_userfields_paging_and_sort(emulator: RunningEmulator) -> None:
    page = ws(emulator, "core_enrol_get_enrolled_users", courseid=2, **{
        "options[0][name]": "userfields", "options[0][value]": "id,idnumber",
        "options[1][name]": "limitfrom", "options[1][value]": "30",
        "options[2][name]": "limitnumber", "options[2][value]": "5"})
    assert page == [{"id": 35, "fullname": "Mikko Laine", "idnumber": "TCH-001"},
                    {"id": 36, "fullname": "Sarah Becker", "idnumber": "TCH-002"}]
    by_name = ws(emulator, "core_enrol_get_enrolled_users", courseid=4, **{
        "options[0][name]": "sortby", "options[0][value]": "lastname",
        "options[1][name]": "userfields", "options[1][value]": "lastname"})
    names = [u["lastname"] for u in by_name]
    assert names == sorted(names)
    bad = ws(emulator, "core_enrol_get_enrolled_users", courseid=2, **{
        "options[0][name]": "onlyactive", "options[0][value]": "1",
        "options[1][name]": "onlysuspended", "options[1][value]": "1"})
    assert bad["errorcode"] == "invalidparameter"


def test_grade_items_for_all_users_skip_suspended(site: Site, emulator: RunningEmulator) -> None:
    everyone = ws(emulator, "gradereport_user_get_grade_items", courseid=4)["usergrades"]
    assert sorted(u["userid"] for u in everyone) == list(range(15, 30))
    site.withdraw(15, 4)
    after = ws(emulator, "gradereport_user_get_grade_items", courseid=4, userid=0)["usergrades"]
    assert 15 not in [u["userid"] for u in after]


def test_courses_by_field_ids_and_bad_field(emulator: RunningEmulator) -> None:
    got = ws(emulator, "core_course_get_courses_by_field", field="ids", value="2,4")
    assert [c["shortname"] for c in got["courses"]] == ["CNC101", "TD110"]
    assert ws(emulator, "core_course_get_courses_by_field", field="bogus", value="x")["errorcode"] == \
        "invalidparameter"


def test_users_courses_progress(emulator: RunningEmulator) -> None:
    got = {c["shortname"]: c for c in ws(emulator, "core_enrol_get_users_courses", userid=19)}
    assert (got["CNC101"]["progress"], got["WELD201"]["completed"], got["TD110"]["completed"]) == (50, False, True)


def test_withcapability_filters_by_role_when_allowed(site: Site) -> None:
    from credbridge.emulator.server import serve_in_thread
    from credbridge.emulator.ws import VET_SYNC_CAPABILITIES, Principal

    with serve_in_thread(site, tokens={"x" * 32: Principal(3, VET_SYNC_CAPABILITIES | {"moodle/role:review"})}) \
            as emu:
        graders = ws(emu, "core_enrol_get_enrolled_users", token="x" * 32, courseid=2, **{
            "options[0][name]": "withcapability", "options[0][value]": "mod/assign:grade"})
        learners = ws(emu, "core_enrol_get_enrolled_users", token="x" * 32, courseid=2, **{
            "options[0][name]": "withcapability", "options[0][value]": "mod/assign:submit"})
    assert [u["id"] for u in graders] == [35, 36]
    assert len(learners) == 30
