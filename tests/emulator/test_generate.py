"""Site.generate: deterministic per seed, realistic, and rendered with Moodle's shapes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from credbridge.emulator.dataset import ROLE_STUDENT, Site
from credbridge.emulator.server import RunningEmulator, serve_in_thread
from tests.emulator.conftest import WS_DIR, load_json, ws
from tests.emulator.shapes import compare_shape


def fingerprint(site: Site) -> tuple[Any, ...]:
    return (sorted((u.id, u.username, u.idnumber, u.email) for u in site.users.values()),
            sorted((c.id, c.shortname, c.idnumber) for c in site.courses.values()),
            sorted((k, g.rawgrade) for k, g in site.grades.items()),
            sorted((k, cc.timecompleted is not None) for k, cc in site.course_completions.items()),
            sorted((a.id, a.sumgrades) for a in site.quiz_attempts.values()))


def test_same_seed_same_site_other_seed_other_site() -> None:
    a = Site.generate(courses=4, learners_per_course=12, seed=7, start=1_800_000_000)
    b = Site.generate(courses=4, learners_per_course=12, seed=7, start=1_800_000_000)
    c = Site.generate(courses=4, learners_per_course=12, seed=8, start=1_800_000_000)
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a) != fingerprint(c)


def test_generated_site_looks_like_a_regional_vet_school() -> None:
    site = Site.generate(courses=6, learners_per_course=20, activities_per_course=5, completion_ratio=0.6, seed=3)
    courses = [c for c in site.courses.values() if c.id != 1]
    assert len(courses) == 6
    assert all(c.idnumber.startswith("VET-") and c.shortname for c in courses)
    assert len({c.idnumber for c in courses}) == 6
    learners = [u for u in site.users.values() if u.idnumber.startswith("UC-")]
    assert any(ch in "čćšžđČĆŠŽĐ" for u in learners for ch in u.lastname + u.firstname)
    assert len({u.username for u in site.users.values()}) == len(site.users)
    assert all(u.username.isascii() and "@" in u.email for u in learners)
    for c in courses:
        students = [e for e in site.enrolled(c.id) if e.roleid == ROLE_STUDENT]
        assert len(students) == 20
        kinds = {m.modname for m in site.course_modules(c.id)}
        assert {"page", "assign", "quiz", "lti"} <= kinds
    completed = sum(1 for cc in site.course_completions.values() if cc.timecompleted)
    assert 0.3 * 120 < completed < 0.9 * 120
    quizzes = [m for m in site.modules.values() if m.modname == "quiz"]
    assert {m.settings["browsersecurity"] for m in quizzes} <= {"-", "safebrowser"}


def test_course_shortnames_and_idnumbers_are_unique_at_scale() -> None:
    site = Site.generate(courses=200, learners_per_course=1, activities_per_course=1, seed=4)
    courses = [c for c in site.courses.values() if c.id != 1]
    assert len({c.shortname for c in courses}) == len({c.idnumber for c in courses}) == 200
    assert len({u.username for u in site.users.values()}) == len(site.users)
    assert len({u.idnumber for u in site.users.values() if u.idnumber}) == sum(
        1 for u in site.users.values() if u.idnumber)


def test_generator_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="completion_ratio"):
        Site.generate(courses=1, learners_per_course=1, completion_ratio=2)
    with pytest.raises(ValueError, match=">= 1"):
        Site.generate(courses=0, learners_per_course=1)


@pytest.fixture(scope="module")
def generated() -> Iterator[RunningEmulator]:
    site = Site.generate(courses=3, learners_per_course=15, activities_per_course=5, seed=11)
    with serve_in_thread(site) as emu:
        yield emu


def _pick(site: Site) -> dict[str, Any]:
    course = next(c for c in sorted(site.courses.values(), key=lambda c: c.id) if c.id != 1)
    mods = site.course_modules(course.id)
    student = next(e.userid for e in site.enrolled(course.id) if e.roleid == ROLE_STUDENT)
    quiz = next(m for m in mods if m.modname == "quiz")
    assign = next(m for m in mods if m.modname == "assign")
    comp = next(cc.competencyid for cc in site.course_competencies.values() if cc.courseid == course.id)
    finished = next((a.userid for a in site.attempts_of(quiz.instance)), student)
    return {"course": course, "student": student, "quiz": quiz, "assign": assign, "competency": comp,
            "quiz_user": finished}


CASES = [
    ("core_course_get_courses_by_field__idnumber=VET-ME-CNC101.json", "core_course_get_courses_by_field",
     lambda p: {"field": "idnumber", "value": p["course"].idnumber}),
    ("core_enrol_get_enrolled_users__courseid=2.json", "core_enrol_get_enrolled_users",
     lambda p: {"courseid": p["course"].id}),
    ("core_completion_get_course_completion_status__courseid=2_userid=5.json",
     "core_completion_get_course_completion_status", lambda p: {"courseid": p["course"].id, "userid": p["student"]}),
    ("core_completion_get_activities_completion_status__courseid=2_userid=5.json",
     "core_completion_get_activities_completion_status",
     lambda p: {"courseid": p["course"].id, "userid": p["student"]}),
    ("gradereport_user_get_grade_items__courseid=2.json", "gradereport_user_get_grade_items",
     lambda p: {"courseid": p["course"].id}),
    ("mod_assign_get_grades__assignmentids=all3.json", "mod_assign_get_grades",
     lambda p: {"assignmentids[0]": p["assign"].instance}),
    ("mod_quiz_get_quizzes_by_courses__courseids=all3.json", "mod_quiz_get_quizzes_by_courses",
     lambda p: {"courseids[0]": p["course"].id}),
    ("core_course_get_contents__courseid=2.json", "core_course_get_contents", lambda p: {"courseid": p["course"].id}),
    ("core_enrol_get_users_courses__userid=19.json", "core_enrol_get_users_courses",
     lambda p: {"userid": p["student"]}),
    ("core_user_get_users_by_field__id=5,6.json", "core_user_get_users_by_field",
     lambda p: {"field": "id", "values[0]": p["student"]}),
    ("mod_quiz_get_user_attempts__quizid=1_userid=5.json", "mod_quiz_get_user_attempts",
     lambda p: {"quizid": p["quiz"].instance, "userid": p["quiz_user"], "status": "all"}),
    ("mod_assign_get_submissions__assignmentids=1.json", "mod_assign_get_submissions",
     lambda p: {"assignmentids[0]": p["assign"].instance}),
    ("core_competency_list_course_competencies__id=2.json", "core_competency_list_course_competencies",
     lambda p: {"id": p["course"].id}),
    ("report_competency_data_for_report__courseid=2_userid=5.json", "report_competency_data_for_report",
     lambda p: {"courseid": p["course"].id, "userid": p["student"]}),
    ("tool_lp_data_for_course_competencies_page__courseid=2.json", "tool_lp_data_for_course_competencies_page",
     lambda p: {"courseid": p["course"].id}),
    ("gradereport_overview_get_course_grades__userid=5.json", "gradereport_overview_get_course_grades",
     lambda p: {"userid": p["student"]}),
    ("core_course_get_categories__all.json", "core_course_get_categories", lambda p: {}),
    ("core_course_get_courses__all.json", "core_course_get_courses", lambda p: {}),
]


@pytest.mark.parametrize(("recording", "function", "params"), CASES, ids=[c[0] for c in CASES])
def test_generated_site_answers_with_recorded_shapes(generated: RunningEmulator, recording: str, function: str,
                                                     params) -> None:
    actual = ws(generated, function, **params(_pick(generated.site)))
    problems = compare_shape(load_json(WS_DIR / recording), actual)
    assert not problems, "\n".join(problems[:20])


def test_generated_states_agree_with_the_site_rules() -> None:
    """The generator writes rows directly for speed; its states must be what the hooks would compute."""
    site = Site.generate(courses=5, learners_per_course=25, activities_per_course=6, seed=5)
    checked = 0
    for (cmid, userid), ac in site.activity_completion.items():
        m = site.modules[cmid]
        assert ac.state == site.compute_state(m, userid, ac.viewed), (cmid, userid)
        checked += 1
    for course in site.courses.values():
        for crit in course.criteria:
            for (cid, userid), cc in site.course_completions.items():
                if cid == course.id:
                    assert site.criterion_met(crit, userid) == ((crit.id, userid) in site.crit_completions)
                    if cc.timecompleted is not None:
                        assert (crit.id, userid) in site.crit_completions
    for (cid, userid), _cc in site.course_completions.items():
        total = site.course_total(cid, userid)
        stored = site.grades.get((site.course_grade_item(cid).id, userid))
        assert (stored.rawgrade if stored else None) == total
    assert checked > 300


def test_hooks_work_on_a_generated_site() -> None:
    site = Site.generate(courses=2, learners_per_course=10, seed=2)
    course = next(c for c in site.courses.values() if c.id != 1)
    learner = next(e.userid for e in site.enrolled(course.id) if e.roleid == ROLE_STUDENT)
    for m in site.course_modules(course.id):
        site.complete_activity(learner, m.id)
    assert site.course_completed_at(course.id, learner) is not None
