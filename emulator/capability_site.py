"""Rebuild the site behind the capability recordings (fixtures moodle-4.5/capabilities/) from what the
fuller role saw there (``with-module-view/``): course CNC101 (id 2) with a page, an assignment and a quiz,
32 enrolled users (ids 5-36) and their grades, as recorded on a real Moodle 4.5 (Build 20241007).

The recordings are the ground truth: users, enrolments and roles come from
``core_enrol_get_enrolled_users``, grades from ``gradereport_user_get_grade_items``, assignment grades
from ``mod_assign_get_grades``, the quiz from ``mod_quiz_get_quizzes_by_courses``, the one learner's
attempt, completion states and criteria from the per-learner calls. What they do not carry (a learner's
attempt other than aino.virtanen's, the other learners' completion states) is derived from the grades
the way Moodle derives it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from credbridge.emulator.dataset import (
    COMPLETION_INCOMPLETE,
    CRITERIA_TYPE_ACTIVITY,
    CRITERIA_TYPE_GRADE,
    ROLE_EDITINGTEACHER,
    ROLE_STUDENT,
    ROLE_TEACHER,
    ActivityCompletion,
    AssignGrade,
    Category,
    Clock,
    Course,
    CourseCompletion,
    Criterion,
    Enrolment,
    Grade,
    QuizAttempt,
    Section,
    Site,
    SiteConfig,
    Submission,
)

THEME_REV = 1796315063  # the theme revision in every recorded image URL
COURSE_ID = 2
ROLE_IDS = {"editingteacher": ROLE_EDITINGTEACHER, "teacher": ROLE_TEACHER, "student": ROLE_STUDENT}
# Modules of CNC101 as core_course_get_contents lists them: (cmid, modname, instance, contextid, section).
MODULES = ((1, "page", 1, 58, 1), (2, "assign", 1, 59, 2), (3, "quiz", 1, 60, 3))
GRADEPASS = {"assign": 50.0, "quiz": 5.0}  # quiz: mod_quiz_get_user_best_grade "gradetopass"; assign: the pass icon
BONUS_ITEM = 4  # the manual "bonus task" item: graded for one learner, left out of the course total


def _load(folder: Path, function: str) -> Any:
    return json.loads((folder / f"{function}.json").read_text(encoding="utf-8"))["response"]


def build_capability_site(capabilities_dir: str | Path, **kwargs: Any) -> Site:
    folder = Path(capabilities_dir) / "with-module-view"
    users = _load(folder, "core_enrol_get_enrolled_users")
    grades = _load(folder, "gradereport_user_get_grade_items")["usergrades"]
    info = _load(folder, "core_webservice_get_site_info")
    site = Site(clock=Clock(THEME_REV, follow_wall=False),
                config=SiteConfig(sitename=info["sitename"], shortname="vetcollege", theme_rev=THEME_REV,
                                  ws_userid=info["userid"]), **kwargs)
    site.add_user(id=1, username="guest", firstname="Guest user", lastname=" ", email="root@localhost")
    site.add_user(id=2, username="admin", firstname="Admin", lastname="User", email="admin@vet-college.example")
    site.add_user(id=3, username=info["username"], firstname="VET Sync", lastname="Service",
                  email="vet_sync_ws@vet-college.example")
    site.add_user(id=4, username="vet_nocap_ws", firstname="VET NoCap", lastname="Service",
                  email="vet_nocap_ws@vet-college.example")
    for u in users:
        first, _, last = u["fullname"].partition(" ")
        site.add_user(id=u["id"], username=u["username"], firstname=first, lastname=last, email=u["email"],
                      idnumber=u.get("idnumber", ""), department=u.get("department", ""),
                      institution=u.get("institution", ""), city=u.get("city", ""), country=u.get("country", ""))
    site.categories[1] = Category(id=1, name="Category 1", sortorder=10000)
    site.categories[2] = Category(id=2, name="VET – Mechanical engineering", idnumber="VET-ME", sortorder=20000)
    site.courses[1] = Course(id=1, shortname=site.config.shortname, fullname=site.config.sitename, idnumber="",
                             categoryid=0, format="site", contextid=2, sortorder=1, enablecompletion=0)
    for u in users:
        for c in u.get("enrolledcourses", []):
            if c["id"] not in site.courses:
                site.courses[c["id"]] = Course(id=c["id"], shortname=c["shortname"], fullname=c["fullname"],
                                               idnumber="", categoryid=2, contextid=40 + c["id"])
            roleid = ROLE_IDS[u["roles"][0]["shortname"]]
            site.enrolments[(c["id"], u["id"])] = Enrolment(c["id"], u["id"], roleid)
            if roleid == ROLE_STUDENT:
                site.course_completions[(c["id"], u["id"])] = CourseCompletion(c["id"], u["id"], timeenrolled=0)
    course = site.courses[COURSE_ID]
    course.idnumber = grades[0]["courseidnumber"]
    course.sections = [Section(id=i + 1, section=i) for i in range(4)]
    site.reserve_id("course_sections", 4)
    _modules(site, course, folder)
    _grades(site, course, grades, folder)
    _completion(site, course, folder)
    for other in site.courses.values():  # the site's other courses: empty, as the recordings show nothing of them
        if other.id not in (1, COURSE_ID):
            other.sections = [Section(id=site.next_id("course_sections"), section=0)]
            site.add_grade_item(courseid=other.id, itemtype="course", itemname=None, grademax=0.0,
                                iteminstance=other.id, itemnumber=None, idnumber=None)
    site.clock = Clock(max(site.clock.now() + 60, int(time.time())), follow_wall=True)
    return site


def _modules(site: Site, course: Course, folder: Path) -> None:
    names = {m["id"]: m["name"] for s in _load(folder, "core_course_get_contents") for m in s["modules"]}
    quiz = _load(folder, "mod_quiz_get_quizzes_by_courses")["quizzes"][0]
    for cmid, modname, instance, contextid, section in MODULES:
        fields: dict[str, Any] = {"id": cmid, "instance": instance, "contextid": contextid}
        if modname == "page":
            fields.update(completionview=True, settings={"content": ""})
        elif modname == "assign":
            fields.update(completionsubmit=True, completionusegrade=True, settings={"grade": 100})
        else:
            fields.update(completionusegrade=True, completionpassgrade=True, intro=quiz["intro"],
                          settings={"sumgrades": float(quiz["sumgrades"]), "grade": float(quiz["grade"]),
                                    "gradepass": GRADEPASS["quiz"], "timelimit": quiz["timelimit"], "password": "",
                                    "subnet": "", "browsersecurity": quiz["browsersecurity"], "accessrules": []})
        site.add_module(course, modname, names[cmid], section, **fields)


def _grades(site: Site, course: Course, usergrades: list[dict[str, Any]], folder: Path) -> None:
    items = {g["id"]: g for ug in usergrades for g in ug["gradeitems"]}
    for itemid, g in sorted(items.items()):
        site.add_grade_item(id=itemid, courseid=course.id, itemtype=g["itemtype"], itemname=g["itemname"],
                            grademax=float(g["grademax"]), itemmodule=g["itemmodule"], iteminstance=g["iteminstance"],
                            itemnumber=g["itemnumber"], cmid=g.get("cmid"), idnumber=g["idnumber"],
                            categoryid=g["categoryid"], gradepass=GRADEPASS.get(g["itemmodule"] or "", 0.0),
                            in_total=itemid != BONUS_ITEM)
    for ug in usergrades:
        for g in ug["gradeitems"]:
            if g["itemtype"] == "course" or (g["graderaw"] is None and g["gradedatesubmitted"] is None):
                continue
            when = g["gradedategraded"] or g["gradedatesubmitted"]
            raw = None if g["graderaw"] is None else float(g["graderaw"])
            site.grades[(g["id"], ug["userid"])] = Grade(
                g["id"], ug["userid"], raw, when, when, g["gradedategraded"], datesubmitted=g["gradedatesubmitted"],
                feedback=g["feedback"], feedbackformat=g["feedbackformat"])
            if g["itemmodule"] == "assign" and g["gradedatesubmitted"]:  # submitted, maybe not graded yet
                site.submissions[(g["iteminstance"], ug["userid"])] = Submission(
                    id=site.next_id("assign_submission"), assignment=g["iteminstance"], userid=ug["userid"],
                    attemptnumber=0, status="submitted", timecreated=g["gradedatesubmitted"],
                    timemodified=g["gradedatesubmitted"])
    assign = site.instance_module("assign", 1)
    for row in _load(folder, "mod_assign_get_grades")["assignments"][0]["grades"]:
        site.assign_grades[(assign.instance, row["userid"])] = AssignGrade(
            id=row["id"], assignment=assign.instance, userid=row["userid"], attemptnumber=row["attemptnumber"],
            timecreated=row["timecreated"], timemodified=row["timemodified"], grader=row["grader"],
            grade=float(row["grade"]))
        site.submissions.setdefault((assign.instance, row["userid"]), Submission(
            id=site.next_id("assign_submission"), assignment=assign.instance, userid=row["userid"], attemptnumber=0,
            status="submitted", timecreated=row["timecreated"], timemodified=row["timecreated"]))
    site.reserve_id("assign_grades", len(site.assign_grades))
    quiz = site.instance_module("quiz", 1)
    recorded = {a["userid"]: a for a in _load(folder, "mod_quiz_get_user_attempts")["attempts"]}
    next_id = max(recorded, default=0) + 1
    for (itemid, userid), grade in sorted(site.grades.items()):
        if itemid != site.module_grade_item(quiz.id).id or grade.rawgrade is None:
            continue
        a = recorded.get(userid)
        if a is not None:
            attempt = QuizAttempt(id=a["id"], quiz=quiz.instance, userid=userid, attempt=a["attempt"],
                                  state=a["state"], timestart=a["timestart"], timefinish=a["timefinish"],
                                  timemodified=a["timemodified"], sumgrades=float(a["sumgrades"]))
        else:
            finished = grade.datesubmitted or grade.dategraded or 0
            attempt = QuizAttempt(id=next_id, quiz=quiz.instance, userid=userid, attempt=1, state="finished",
                                  timestart=finished, timefinish=finished, timemodified=finished,
                                  sumgrades=round((grade.rawgrade or 0) / quiz.settings["grade"]
                                                  * quiz.settings["sumgrades"]))
            next_id += 1
        site.quiz_attempts[attempt.id] = attempt
    site.reserve_id("quiz_attempts", max(site.quiz_attempts, default=0))
    for (cid, userid) in list(site.course_completions):
        if cid != course.id:
            continue
        total = site.course_total(course.id, userid)
        if total is not None:
            counted = [gi.id for gi in site.course_grade_items(course.id) if gi.itemtype != "course" and gi.in_total]
            when = max((site.grades[(iid, userid)].dategraded or 0) for iid in counted
                       if (iid, userid) in site.grades)
            ci = site.course_grade_item(course.id)
            site.grades[(ci.id, userid)] = Grade(ci.id, userid, total, when, when, when)


def _completion(site: Site, course: Course, folder: Path) -> None:
    """States as recorded for the learner the recordings ask about; derived from the grades for the others."""
    statuses = {s["cmid"]: s for s in _load(folder, "core_completion_get_activities_completion_status")["statuses"]}
    criteria = _load(folder, "core_completion_get_course_completion_status")["completionstatus"]["completions"]
    recorded_user = json.loads((folder / "core_completion_get_activities_completion_status.json")
                               .read_text(encoding="utf-8"))["params"]["userid"]
    for cmid, *_ in MODULES:
        course.criteria.append(Criterion(id=site.next_id("course_completion_criteria"), course=course.id,
                                         criteriatype=CRITERIA_TYPE_ACTIVITY, moduleinstance=cmid))
    grade_row = next(c for c in criteria if c["type"] == CRITERIA_TYPE_GRADE)
    course.criteria.append(Criterion(id=site.next_id("course_completion_criteria"), course=course.id,
                                     criteriatype=CRITERIA_TYPE_GRADE,
                                     gradepass=float(grade_row["details"]["requirement"])))
    page = site.module(1)
    for (cid, userid) in sorted(site.course_completions):
        if cid != course.id:
            continue
        for m in site.course_modules(course.id):
            if userid == recorded_user:
                s = statuses[m.id]
                ac = ActivityCompletion(cmid=m.id, userid=userid, state=s["state"], timemodified=s["timecompleted"],
                                        viewed=m is page)
            else:
                gi = site.module_grade_item(m.id)
                g = site.grades.get((gi.id, userid)) if gi else None
                viewed = m is page and g is None and any(
                    site.grades.get((item.id, userid)) for item in site.course_grade_items(course.id)
                    if item.itemtype == "mod")
                ac = ActivityCompletion(cmid=m.id, userid=userid, state=COMPLETION_INCOMPLETE,
                                        timemodified=(g.dategraded or 0) if g else 0, viewed=viewed)
                ac.state = site.compute_state(m, userid, viewed)
            site.activity_completion[(m.id, userid)] = ac
        for crit in course.criteria:
            if site.criterion_met(crit, userid):
                when = site.activity_state(crit.moduleinstance, userid)[1] if crit.moduleinstance else \
                    site.grades[(site.course_grade_item(course.id).id, userid)].dategraded
                site.crit_completions[(crit.id, userid)] = when or 0
        met = [(crit.id, userid) in site.crit_completions for crit in course.criteria]
        if all(met):
            cc = site.course_completions[(course.id, userid)]
            cc.timecompleted = max(site.crit_completions[(crit.id, userid)] for crit in course.criteria)
            cc.aggregated_at = cc.timecompleted
