"""Rebuild the recorded Moodle 4.5 acceptance site (fixtures moodle-4.5/testdata.json) with its exact ids.

testdata.json holds the ground truth (users, courses, cmids, instances, completion criteria,
per-student results, competencies and ratings); the few things it does not carry (activity names,
course summaries, context ids, grade item ids) are the values the recorded WS responses show and
are listed here.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from credbridge.emulator.dataset import (
    CRITERIA_TYPE_ACTIVITY,
    CRITERIA_TYPE_GRADE,
    ROLE_EDITINGTEACHER,
    ROLE_STUDENT,
    ROLE_TEACHER,
    AssignGrade,
    Category,
    Clock,
    Competency,
    Course,
    CourseCompetency,
    CourseCompletion,
    Criterion,
    Enrolment,
    Framework,
    Grade,
    ModuleCompetency,
    QuizAttempt,
    Section,
    Site,
    Submission,
    UserCompetencyCourse,
)

T0 = 1795316233  # first recorded event (page views)
START, END = 1786953600, 1801238400
DUEDATE = 1790582400

COURSE_TEXT = {
    "CNC101": ("G-code fundamentals, coordinate systems, tool offsets and safe machine start-up.", 20003),
    "WELD201": ("Personal protective equipment, fume extraction, fire prevention and hot-work permits.", 20002),
    "TD110": ("Orthographic projection, ISO line types, dimensioning and tolerances.", 20001),
}
ACTIVITY_NAMES = {
    "CNC101": {"page": "G-code quick reference", "assign": "Program a facing operation",
               "quiz": "CNC fundamentals quiz", "lti": "CNC machining simulator (LTI 1.3)"},
    "WELD201": {"page": "Workshop hot-work safety rules", "assign": "Risk assessment report",
                "quiz": "Welding safety check"},
    "TD110": {"page": "ISO 128 line types and drawing standards", "assign": "Orthographic projection exercise",
              "quiz": "Line types and dimensioning quiz"},
}
PAGE_CONTENT = ("<h3>Common G-codes</h3><ul><li>G00 – rapid positioning</li><li>G01 – linear interpolation</li>"
                "<li>G02/G03 – circular interpolation CW/CCW</li><li>G90/G91 – absolute/incremental</li></ul>")
QUIZ_INTRO = "Three questions, pass mark 6/10. Unlimited attempts."
LTI_INTRO = "Practise a facing operation in the external CNC simulator. Your score is sent back to the gradebook."
SECTION_OF = {"page": 1, "lti": 1, "assign": 2, "quiz": 3}
# Grade item ids as created on the recorded site (course total first, then activities in cm order).
GRADE_ITEM_IDS = {"CNC101": {"course": 1, "assign": 2, "quiz": 3, "lti": 10, "bonus": 11},
                  "WELD201": {"course": 4, "assign": 5, "quiz": 6},
                  "TD110": {"course": 7, "assign": 8, "quiz": 9}}
# Context ids of the course sections' modules follow the course context (recorded: 46 -> 47, 48, 49; 58 lti).
LTI_CONTEXTID = 58
BONUS = {"CNC101": {"userid": 5, "grade": 18.0, "time": T0 + 18}}
LTI_GRADE_TIME = T0 + 17
# Recorded seconds after T0 at which each course's activities were set up and worked through.
COURSE_OFFSET = {2: 0, 3: 4, 4: 6}
CRON_RUN = T0 + 12  # the recorded completion cron run (competency evidence 'course completed')
ASSIGN_FEEDBACK = "Well done – meets the criteria."
LTI_FEEDBACK = "Facing operation completed in the simulator."


def _split_name(fullname: str) -> tuple[str, str]:
    first, _, last = fullname.partition(" ")
    return first, last


def build_recorded_site(testdata_path: Path, **kwargs: Any) -> Site:
    data = json.loads(testdata_path.read_text(encoding="utf-8"))
    site = Site(clock=Clock(T0, follow_wall=False), **kwargs)
    site.users.clear()
    _users(site, data)
    _categories(site, data)
    course_ids = {}
    for shortname, c in data["courses"].items():
        course_ids[shortname] = c["id"]
        _course(site, data, shortname, c)
    _competencies(site, data, course_ids)
    # From now on the site stamps events with the real time, like a live Moodle (never before the recording).
    site.clock = Clock(max(site.clock.now() + 60, int(time.time())), follow_wall=True)
    return site


def _users(site: Site, data: dict[str, Any]) -> None:
    common = {"department": "Mechanical engineering", "institution": "VET College Example", "city": "Tampere",
              "country": "FI", "timezone": "Europe/Helsinki", "timecreated": T0 - 30, "timemodified": T0 - 30}
    site.add_user(id=1, username="guest", firstname="Guest user", lastname=" ", email="root@localhost",
                  timezone="99")
    site.add_user(id=2, username="admin", firstname="Admin", lastname="User", email="admin@vet-college.example",
                  timezone="99")
    site.add_user(id=3, username="vet_sync_ws", firstname="VET Sync", lastname="Service",
                  email="vet_sync_ws@vet-college.example", timezone="99")
    site.add_user(id=4, username="vet_nocap_ws", firstname="VET NoCap", lastname="Service",
                  email="vet_nocap_ws@vet-college.example", timezone="99")
    for person in [*data["students"].values(), *data["teachers"].values()]:
        first, last = _split_name(person["fullname"])
        site.add_user(id=person["id"], username=person["username"], firstname=first, lastname=last,
                      email=person["email"], idnumber=person["idnumber"], **common)
    # Recorded accesses: the two students who launched the LTI tool and the teacher who graded it.
    for uid in (5, 6):
        site.users[uid].firstaccess = site.users[uid].lastaccess = T0 + 16
    site.users[35].firstaccess, site.users[35].lastaccess = T0 + 15, T0 + 17


def _categories(site: Site, data: dict[str, Any]) -> None:
    site.categories[1] = Category(id=1, name="Category 1", sortorder=10000)
    cat = data["category"]
    site.categories[cat["id"]] = Category(
        id=cat["id"], name=cat["name"], idnumber=cat["idnumber"], sortorder=20000,
        description="Vocational education and training: mechanical engineering and metalwork programme.")
    site.reserve_id("course_categories", cat["id"])
    site.courses[1] = Course(id=1, shortname=site.config.shortname, fullname=site.config.sitename, idnumber="",
                             categoryid=0, summary=site.config.site_summary, format="site", contextid=2,
                             sortorder=1, enablecompletion=0, timecreated=T0 - 61,
                             timemodified=T0 - 15)


def _course(site: Site, data: dict[str, Any], shortname: str, c: dict[str, Any]) -> None:
    summary, sortorder = COURSE_TEXT.get(shortname, ("", 20000 + c["id"]))
    names = ACTIVITY_NAMES.get(shortname, {})
    course = Course(id=c["id"], shortname=shortname, fullname=c["fullname"], idnumber=c["idnumber"],
                    categoryid=data["category"]["id"], summary=summary, startdate=START, enddate=END,
                    timecreated=T0 + 3 * (c["id"] - 2), timemodified=T0 + 3 * (c["id"] - 2),
                    contextid=c["contextid"], sortorder=sortorder)
    site.courses[course.id] = course
    site.reserve_id("course", course.id)
    section_ids = {"CNC101": 1, "WELD201": 5, "TD110": 9}.get(shortname, site.next_id("course_sections"))
    course.sections = [Section(id=section_ids + i, section=i) for i in range(4)]
    site.reserve_id("course_sections", section_ids + 3)

    students = data["students"]
    teachers = data["teachers"]
    # Teachers: editing teacher is the course contact; Sarah is also a non-editing teacher in CNC101.
    editing = {"CNC101": "mikko", "WELD201": "sarah", "TD110": "mikko"}.get(shortname, "mikko")
    lead = teachers[editing]["id"]
    course.contacts = [lead]
    site.enrolments[(course.id, lead)] = Enrolment(course.id, lead, ROLE_EDITINGTEACHER, timestart=T0 - 10,
                                                   timecreated=T0 - 10)
    if shortname == "CNC101":
        site.enrolments[(course.id, 36)] = Enrolment(course.id, 36, ROLE_TEACHER, timestart=T0 - 10,
                                                     timecreated=T0 - 10)
        site.enrolments[(course.id, lead)].lastcourseaccess = T0 + 16
    for n in c["enrolled_students"]:
        uid = students[str(n)]["id"]
        site.enrolments[(course.id, uid)] = Enrolment(course.id, uid, ROLE_STUDENT, timestart=T0 - 10,
                                                      timecreated=T0 - 10)
        site.course_completions[(course.id, uid)] = CourseCompletion(course.id, uid, timeenrolled=T0 - 10)
    if shortname == "CNC101":
        for uid in (5, 6):
            site.enrolments[(course.id, uid)].lastcourseaccess = T0 + 16

    gids = GRADE_ITEM_IDS.get(shortname, {})
    course_item = site.add_grade_item(id=gids.get("course"), courseid=course.id, itemtype="course", itemname=None,
                                      grademax=0.0, iteminstance=course.id - 1, itemnumber=None, idnumber=None)
    modules = {}
    for modname in ("page", "assign", "quiz", "lti"):
        if modname not in c["cms"]:
            continue
        cmid, instance = c["cms"][modname], c["instances"][modname]
        contextid = (LTI_CONTEXTID if modname == "lti"
                     else c["contextid"] + 1 + ("page", "assign", "quiz").index(modname))
        created = T0 + COURSE_OFFSET.get(course.id, 0)
        fields: dict[str, Any] = {"id": cmid, "instance": instance, "contextid": contextid, "added": created,
                                  "timemodified": created}
        if modname == "page":
            fields.update(completionview=True, intro="Reading material", settings={"content": PAGE_CONTENT})
        elif modname == "assign":
            fields.update(completionsubmit=True, completionusegrade=True,
                          settings={"duedate": DUEDATE, "allowsubmissionsfromdate": START, "grade": 100})
        elif modname == "quiz":
            fields.update(completionusegrade=True, completionpassgrade=True, intro=QUIZ_INTRO,
                          settings={"sumgrades": 3.0, "grade": 10.0, "gradepass": 6.0, "timelimit": 0,
                                    "password": "", "subnet": "", "browsersecurity": "", "accessrules": []})
        else:
            fields.update(completionusegrade=True, intro=LTI_INTRO, settings={"typeid": 1})
        m = site.add_module(course, modname, names.get(modname, modname.title()), SECTION_OF[modname], **fields)
        modules[modname] = m
        grademax = {"assign": 100.0, "quiz": 10.0, "lti": 100.0}.get(modname)
        if grademax is not None:
            site.add_grade_item(id=gids.get(modname), courseid=course.id, itemtype="mod", itemname=m.name,
                                grademax=grademax, itemmodule=modname, iteminstance=instance, itemnumber=0,
                                cmid=cmid, idnumber="", categoryid=1 if shortname == "CNC101" else None,
                                gradepass={"assign": 50.0, "quiz": 6.0}.get(modname, 0.0))
    if shortname == "CNC101":
        site.add_grade_item(id=gids["bonus"], courseid=course.id, itemtype="manual",
                            itemname="CNC simulator – bonus task", grademax=20.0, itemmodule=None,
                            iteminstance=None, itemnumber=0, idnumber=None, categoryid=1)
    course_item.grademax = sum(gi.grademax for gi in site.grade_items.values()
                               if gi.courseid == course.id and gi.itemtype != "course")
    for gi in site.grade_items.values():
        if gi.courseid == course.id and gi.categoryid is None and gi.itemtype != "course":
            gi.categoryid = course.id - 1
    # Completion criteria: the listed activities plus an optional course grade.
    crit = c["completion_criteria"]
    for modname in crit["activities"]:
        course.criteria.append(Criterion(id=site.next_id("course_completion_criteria"), course=course.id,
                                         criteriatype=CRITERIA_TYPE_ACTIVITY, moduleinstance=modules[modname].id))
    if crit.get("course_grade_min") is not None:
        course.criteria.append(Criterion(id=site.next_id("course_completion_criteria"), course=course.id,
                                         criteriatype=CRITERIA_TYPE_GRADE, gradepass=float(crit["course_grade_min"])))
    _results(site, c, course, modules, students)


def _results(site: Site, c: dict[str, Any], course: Course, modules: dict[str, Any],
             students: dict[str, Any]) -> None:
    plan = c["plan"]
    by_student = {r["student"]: r for r in c["results"]}
    base = COURSE_OFFSET.get(course.id, 0)
    t_view, t_sub, t_grade, t_quiz = T0 + base, T0 + base + 1, T0 + base + 2, T0 + base + 3
    grader = course.contacts[0]
    assign, quiz, page = modules.get("assign"), modules.get("quiz"), modules.get("page")
    for n in c["enrolled_students"]:
        uid = students[str(n)]["id"]
        r = by_student.get(n, {})
        if page is not None and n in plan["page_viewed"]:
            site.activity_completion[(page.id, uid)] = _ac(page.id, uid, t_view if n > 1 or course.id != 2 else T0)
            site.activity_completion[(page.id, uid)].viewed = True
        if assign is not None and n in plan["assign_submitted"]:
            site.submissions[(assign.instance, uid)] = Submission(
                id=site.next_id("assign_submission"), assignment=assign.instance, userid=uid, attemptnumber=0,
                status="submitted", timecreated=t_sub, timemodified=t_sub,
                text=f"<p>Submission by {site.users[uid].fullname} for {assign.name}.</p>")
            gi = site.module_grade_item(assign.id)
            site.grades[(gi.id, uid)] = Grade(gi.id, uid, None, t_sub, t_sub, None, datesubmitted=t_sub)
        if assign is not None and n in plan["assign_graded"]:
            value = float(c["assign_grades"][str(n)])
            site.assign_grades[(assign.instance, uid)] = AssignGrade(
                id=site.next_id("assign_grades"), assignment=assign.instance, userid=uid, attemptnumber=0,
                timecreated=t_grade, timemodified=t_grade, grader=grader, grade=value)
            gi = site.module_grade_item(assign.id)
            g = site.grades[(gi.id, uid)]
            g.rawgrade, g.dategraded, g.timemodified, g.feedback, g.feedbackformat = \
                value, t_grade, t_grade, ASSIGN_FEEDBACK, 1
            g.datesubmitted = None  # Moodle's assign gradebook push does not carry a submission date
        if quiz is not None and r.get("quiz_grade") is not None:
            marks = round(float(r["quiz_grade"]) / 10.0 * 3.0)
            aid = site.next_id("quiz_attempts")
            site.quiz_attempts[aid] = QuizAttempt(id=aid, quiz=quiz.instance, userid=uid, attempt=1, state="finished",
                                                  timestart=t_quiz, timefinish=t_quiz, timemodified=t_quiz,
                                                  sumgrades=float(marks))
            gi = site.module_grade_item(quiz.id)
            site.grades[(gi.id, uid)] = Grade(gi.id, uid, round(marks / 3.0 * 10.0, 5), t_quiz, t_quiz, t_quiz,
                                              datesubmitted=t_quiz)
        lti = modules.get("lti")
        if lti is not None and r.get("lti_grade") is not None:
            gi = site.module_grade_item(lti.id)
            site.grades[(gi.id, uid)] = Grade(gi.id, uid, float(r["lti_grade"]), LTI_GRADE_TIME, LTI_GRADE_TIME,
                                              LTI_GRADE_TIME, feedback=LTI_FEEDBACK)
        bonus = BONUS.get(course.shortname)
        if bonus and bonus["userid"] == uid:
            gi = site.grade_items[GRADE_ITEM_IDS[course.shortname]["bonus"]]
            site.grades[(gi.id, uid)] = Grade(gi.id, uid, bonus["grade"], bonus["time"], bonus["time"], bonus["time"])
        # Activity completion for graded modules, then course total and criteria.
        for m in modules.values():
            if m.modname == "page":
                continue
            gi = site.module_grade_item(m.id)
            g = site.grades.get((gi.id, uid)) if gi else None
            when = (g.dategraded or g.timemodified) if g else 0
            ac = site.activity_completion.get((m.id, uid)) or _ac(m.id, uid, 0)
            state = site.compute_state(m, uid, False)
            if state:
                ac.state, ac.timemodified = state, when
                site.activity_completion[(m.id, uid)] = ac
            elif g is not None:
                ac.timemodified = when
                site.activity_completion[(m.id, uid)] = ac
        total = site.course_total(course.id, uid)
        if total is not None:
            ci = site.course_grade_item(course.id)
            when = max(g.dategraded or 0 for (iid, u), g in site.grades.items()
                       if u == uid and site.grade_items[iid].courseid == course.id)
            site.grades[(ci.id, uid)] = Grade(ci.id, uid, total, when, when, when)
        for crit in course.criteria:
            if site.criterion_met(crit, uid):
                if crit.moduleinstance:
                    t = site.activity_state(crit.moduleinstance, uid)[1]
                else:
                    t = site.grades[(site.course_grade_item(course.id).id, uid)].dategraded or t_quiz
                    t = min(t, r.get("course_timecompleted") or t)
                site.crit_completions[(crit.id, uid)] = t
        if r.get("course_completed"):
            cc = site.course_completions[(course.id, uid)]
            cc.timecompleted = int(r["course_timecompleted"])
            cc.aggregated_at = CRON_RUN


def _ac(cmid: int, uid: int, when: int):
    from credbridge.emulator.dataset import ActivityCompletion

    return ActivityCompletion(cmid=cmid, userid=uid, state=1 if when else 0, timemodified=when)


def _competencies(site: Site, data: dict[str, Any], course_ids: dict[str, int]) -> None:
    comp = data["competencies"]
    fw = comp["framework"]
    t = T0 + 8
    scale = {int(k): v for k, v in fw["scale"].items()}
    site.frameworks[fw["id"]] = Framework(
        id=fw["id"], shortname=fw["shortname"], idnumber=fw["idnumber"],
        description="Competence framework for the VET mechanical engineering programme.", scaleid=fw["scaleid"],
        scale=scale, proficient=(max(scale),), timecreated=t, timemodified=t)
    for sortorder, (idnumber, cinfo) in enumerate(comp["competencies"].items()):
        site.competencies[cinfo["id"]] = Competency(
            id=cinfo["id"], frameworkid=fw["id"], shortname=cinfo["shortname"], idnumber=idnumber,
            description=f"{cinfo['shortname']} (VET qualification unit).", sortorder=sortorder, timecreated=t,
            timemodified=t)
    ccid = 0
    for shortname, links in comp["course_links"].items():
        for sortorder, idnumber in enumerate(links):
            ccid += 1
            cid = course_ids[shortname]
            site.course_competencies[ccid] = CourseCompetency(
                id=ccid, courseid=cid, competencyid=site.competency_by_idnumber(idnumber).id, sortorder=sortorder,
                timecreated=t, timemodified=t)
    site.reserve_id("competency_coursecomp", ccid)
    # The recorded site links each course's quiz to the course's last competency (cmid 6 -> ME-C3).
    mcid = 0
    for shortname, links in comp["course_links"].items():
        cm = next((m for m in site.course_modules(course_ids[shortname]) if m.modname == "quiz"), None)
        if cm is not None and shortname == "WELD201":
            mcid += 1
            site.module_competencies[mcid] = ModuleCompetency(
                id=mcid, cmid=cm.id, competencyid=site.competency_by_idnumber(links[-1]).id, sortorder=0,
                timecreated=t, timemodified=t)
    site.reserve_id("competency_modulecomp", mcid)
    # Ratings: ids follow the recorded order (ME-C2 ratings of CNC101 first, as in the rating plan).
    grader = {"CNC101": 35, "WELD201": 36, "TD110": 35}
    students = data["students"]
    for rating in comp["ratings"]:
        cid = course_ids[rating["course"]]
        comp_id = site.competency_by_idnumber(rating["competency"]).id
        for n in rating["students"]:
            uid = students[str(n)]["id"]
            key = (uid, cid, comp_id)
            if key in site.user_comp_course:
                continue
            grade = int(rating["grade"])
            note = "" if grade in site.frameworks[fw["id"]].proficient else "Not yet demonstrated; reassess next term."
            site.user_comp_course[key] = UserCompetencyCourse(
                id=site.next_id("competency_usercompcourse"), userid=uid, courseid=cid, competencyid=comp_id,
                grade=grade, proficiency=grade in site.frameworks[fw["id"]].proficient, timecreated=t,
                timemodified=t, usermodified=grader.get(rating["course"], 35), note=note)
