"""mod_quiz_*, mod_assign_*, mod_page_get_pages_by_courses, mod_lti_get_ltis_by_courses."""

from __future__ import annotations

from typing import Any

from credbridge.emulator.dataset import Module, QuizAttempt
from credbridge.emulator.errors import invalid_parameter, invalid_record
from credbridge.emulator.functions.render import num
from credbridge.emulator.params import Multiple, Value
from credbridge.emulator.ws import Call, ws_function

NOT_ACCESSIBLE = "User is not enrolled or does not have requested capability"


def _accessible_courses(call: Call, courseids: list[int]) -> tuple[list[int], list[dict[str, Any]]]:
    """external_util::validate_courses: (ok course ids, warnings)."""
    site = call.site
    if not courseids:
        courseids = list(site.user_courses(call.principal.userid))
    ok, warnings = [], []
    for cid in dict.fromkeys(courseids):
        accessible = cid in site.courses and (call.principal.can("moodle/course:view")
                                              or site.is_enrolled(cid, call.principal.userid))
        if accessible:
            ok.append(cid)
        else:
            warnings.append({"item": "course", "itemid": cid, "warningcode": "1",
                             "message": "No access rights in course context"})
    return ok, warnings


def _modules(call: Call, courseids: list[int], modname: str) -> list[Module]:
    """get_all_instances_in_courses(): the caller's visible instances only, without a warning for the others."""
    return [m for cid in courseids for m in sorted(call.site.course_modules(cid), key=lambda m: m.instance)
            if m.modname == modname and call.cm_visible(m)]


@ws_function("mod_quiz_get_quizzes_by_courses", {"courseids": Multiple(Value("int"), default=[])})
def get_quizzes_by_courses(call: Call) -> dict[str, Any]:
    ok, warnings = _accessible_courses(call, call.params["courseids"])
    quizzes = []
    # Settings Moodle only exports to users who can manage activities (the read-only sync role cannot).
    manager = call.principal.can("moodle/course:manageactivities")
    for m in sorted(_modules(call, ok, "quiz"), key=lambda m: m.instance):
        s = m.settings
        row = {
            "id": m.instance, "coursemodule": m.id, "course": m.course, "name": m.name, "intro": m.intro,
            "introformat": 1, "introfiles": [], "section": m.section, "visible": bool(m.visible), "groupmode": 0,
            "groupingid": 0, "lang": "", "timeopen": s.get("timeopen", 0), "timeclose": s.get("timeclose", 0),
            "timelimit": s.get("timelimit", 0), "overduehandling": "autosubmit", "graceperiod": 86400,
            "preferredbehaviour": "deferredfeedback", "canredoquestions": 0, "attempts": s.get("attempts", 0),
            "attemptonlast": 0, "grademethod": 1, "decimalpoints": 2, "questiondecimalpoints": -1,
            "reviewattempt": 69904, "reviewcorrectness": 69904, "reviewmaxmarks": 69904, "reviewmarks": 69904,
            "reviewspecificfeedback": 69904, "reviewgeneralfeedback": 69904, "reviewrightanswer": 69904,
            "reviewoverallfeedback": 4368, "questionsperpage": 1, "navmethod": "free",
            **({"shuffleanswers": 1} if manager else {}),
            "sumgrades": num(s.get("sumgrades", 0.0)), "grade": num(s.get("grade", 10.0)),
            **({"timecreated": m.added, "timemodified": m.timemodified, "password": s.get("password", ""),
                "subnet": s.get("subnet", "")} if manager else {}),
            "browsersecurity": s.get("browsersecurity", "-"), "delay1": 0, "delay2": 0, "showuserpicture": 0,
            "showblocks": 0, "completionattemptsexhausted": 0, "completionpass": int(m.completionpassgrade),
            "allowofflineattempts": 0, "autosaveperiod": 60, "hasfeedback": 0, "hasquestions": 1}
        quizzes.append(row)
    return {"quizzes": quizzes, "warnings": warnings}


def _quiz(call: Call, quizid: int) -> Module:
    try:
        m = call.site.instance_module("quiz", quizid)
    except ValueError:
        raise invalid_record("quiz") from None
    call.module_context(m)
    return m


def attempt_row(a: QuizAttempt, m: Module) -> dict[str, Any]:
    slots = int(m.settings.get("sumgrades", 3) or 3)
    finished = a.state == "finished"
    return {"id": a.id, "quiz": a.quiz, "userid": a.userid, "attempt": a.attempt, "uniqueid": a.id,
            "layout": ",".join(f"{i},0" for i in range(1, slots + 1)), "currentpage": 0, "preview": 0,
            "state": a.state, "timestart": a.timestart, "timefinish": a.timefinish, "timemodified": a.timemodified,
            "timemodifiedoffline": 0, "timecheckstate": None,
            "sumgrades": num(a.sumgrades) if a.sumgrades is not None else None, "gradeitemmarks": [],
            "gradednotificationsenttime": a.timefinish if finished else None}


ATTEMPTS_SPEC = {"quizid": Value("int"), "userid": Value("int", default=0),
                 "status": Value("alpha", default="finished"), "includepreviews": Value("bool", default=False)}


# mod_quiz_get_user_quiz_attempts (4.5) replaces mod_quiz_get_user_attempts (deprecated since 5.0, MDL-68806):
# same parameters and attempt structure (mod/quiz/classes/external.php). The new one reports every
# state as it is, marks only on finished attempts; the old one leaves out "notstarted" attempts and
# reports "submitted" ones as "finished" without marks. The recorded service has only the old name;
# the new one answers once added to the service.
@ws_function("mod_quiz_get_user_quiz_attempts", ATTEMPTS_SPEC)
def get_user_quiz_attempts(call: Call) -> dict[str, Any]:
    rows = []
    for a, m in _user_attempts(call):
        row = attempt_row(a, m)
        if a.state != "finished":
            row["sumgrades"] = None
        rows.append(row)
    return {"attempts": rows, "warnings": []}


@ws_function("mod_quiz_get_user_attempts", ATTEMPTS_SPEC)
def get_user_attempts(call: Call) -> dict[str, Any]:
    rows = []
    for a, m in _user_attempts(call):
        if a.state == "notstarted":
            continue  # "for backwards compatibility, do not return Not Started attempts"
        row = attempt_row(a, m)
        if a.state == "submitted":
            row["state"], row["sumgrades"] = "finished", None
        rows.append(row)
    return {"attempts": rows, "warnings": []}


def _user_attempts(call: Call) -> list[tuple[QuizAttempt, Module]]:
    m = _quiz(call, call.params["quizid"])
    status = call.params["status"]
    if status not in ("all", "finished", "unfinished"):
        raise invalid_parameter("status: Invalid status value")
    userid = call.params["userid"] or call.principal.userid
    if userid not in call.site.users:
        raise invalid_record("user")
    if userid != call.principal.userid:
        call.require("mod/quiz:viewreports")
    attempts = sorted((a for a in call.site.attempts_of(m.instance) if a.userid == userid),
                      key=lambda a: a.attempt)
    # the state sets of quiz_get_user_attempts (mod/quiz/lib.php); "all" is what sync asks for
    if status == "finished":
        attempts = [a for a in attempts if a.state in ("finished", "abandoned")]
    elif status == "unfinished":
        attempts = [a for a in attempts if a.state in ("inprogress", "overdue")]
    return [(a, m) for a in attempts]


@ws_function("mod_quiz_get_user_best_grade", {"quizid": Value("int"), "userid": Value("int", default=0)})
def get_user_best_grade(call: Call) -> dict[str, Any]:
    m = _quiz(call, call.params["quizid"])
    userid = call.params["userid"] or call.principal.userid
    if userid not in call.site.users:
        raise invalid_record("user")
    if userid != call.principal.userid:
        call.require("mod/quiz:viewreports")
    gi = call.site.module_grade_item(m.id)
    g = call.site.grades.get((gi.id, userid)) if gi else None
    out: dict[str, Any] = {"hasgrade": g is not None and g.rawgrade is not None}
    if out["hasgrade"]:
        out["grade"] = num(round(g.rawgrade, 5))
    gradepass = m.settings.get("gradepass", gi.gradepass if gi else 0)
    if gradepass:
        out["gradetopass"] = num(gradepass)
    out["warnings"] = []
    return out


@ws_function("mod_assign_get_grades", {"assignmentids": Multiple(Value("int")),
                                       "since": Value("int", default=0)})
def get_grades(call: Call) -> dict[str, Any]:
    site = call.site
    since = call.params["since"]
    assignments, warnings = [], []
    for aid in call.params["assignmentids"]:
        try:
            m = site.instance_module("assign", aid)
        except ValueError:
            m = None
        # validate_context(module) + require_capability('mod/assign:grade'): a hidden module and a missing
        # capability give the same warning (recorded: capabilities/readme-role/mod_assign_get_grades.json)
        if m is None or not call.cm_visible(m) or not call.principal.can("mod/assign:grade"):
            warnings.append({"item": "assignment", "itemid": aid, "warningcode": "1",
                             "message": "No access rights in module context"})
            continue
        # Moodle joins the latest submission of each user and orders by grade id.
        rows = sorted((g for g in site.assign_grades_of(aid) if g.timemodified >= since
                       and (aid, g.userid) in site.submissions), key=lambda g: g.id)
        if not rows:
            warnings.append({"item": "assignment", "itemid": aid, "warningcode": "3", "message": "No grades found"})
            continue
        assignments.append({"assignmentid": aid, "grades": [
            {"id": g.id, "userid": g.userid, "attemptnumber": g.attemptnumber, "timecreated": g.timecreated,
             "timemodified": g.timemodified, "grader": g.grader, "grade": f"{g.grade:.5f}"} for g in rows]})
    return {"assignments": assignments, "warnings": warnings}


@ws_function("mod_assign_get_assignments", {"courseids": Multiple(Value("int"), default=[]),
                                            "capabilities": Multiple(Value("raw"), default=[]),
                                            "includenotenrolledcourses": Value("bool", default=False)})
def get_assignments(call: Call) -> dict[str, Any]:
    site = call.site
    courseids = call.params["courseids"] or site.user_courses(call.principal.userid)
    courses, warnings = [], []
    for cid in dict.fromkeys(courseids):
        # Moodle looks the courses up among the caller's enrolments unless includenotenrolledcourses is set.
        enrolled = site.is_enrolled(cid, call.principal.userid)
        if cid not in site.courses or not (enrolled or call.params["includenotenrolledcourses"]):
            warnings.append({"item": "course", "itemid": cid, "warningcode": "2", "message": NOT_ACCESSIBLE})
            continue
        c = site.courses[cid]
        courses.append({"id": c.id, "fullname": c.fullname, "shortname": c.shortname,
                        "timemodified": c.timemodified, "assignments": [
                            {"id": m.instance, "cmid": m.id, "course": m.course, "name": m.name,
                             "nosubmissions": 0, "submissiondrafts": 0, "sendnotifications": 0,
                             "sendlatenotifications": 0, "sendstudentnotifications": 1,
                             "duedate": m.settings.get("duedate", 0),
                             "allowsubmissionsfromdate": m.settings.get("allowsubmissionsfromdate", 0),
                             "grade": m.settings.get("grade", 100), "timemodified": m.timemodified,
                             "completionsubmit": int(m.completionsubmit), "cutoffdate": 0, "gradingduedate": 0,
                             "teamsubmission": 0, "requireallteammemberssubmit": 0, "teamsubmissiongroupingid": 0,
                             "blindmarking": 0, "hidegrader": 0, "revealidentities": 0,
                             "attemptreopenmethod": "untilpass", "maxattempts": -1, "markingworkflow": 0,
                             "markingallocation": 0, "requiresubmissionstatement": 0,
                             "preventsubmissionnotingroup": 0, "configs": [], "intro": m.intro, "introformat": 1,
                             "introfiles": [], "introattachments": []}
                            for m in site.course_modules(cid) if m.modname == "assign" and call.cm_visible(m)]})
    return {"courses": courses, "warnings": warnings}


@ws_function("mod_assign_get_submissions", {"assignmentids": Multiple(Value("int")),
                                            "status": Value("alpha", default=""),
                                            "since": Value("int", default=0), "before": Value("int", default=0)})
def get_submissions(call: Call) -> dict[str, Any]:
    site = call.site
    out, warnings = [], []
    for aid in call.params["assignmentids"]:
        try:
            m = site.instance_module("assign", aid)
        except ValueError:
            m = None
        if m is None or not call.cm_visible(m):
            warnings.append({"item": "module", "itemid": aid, "warningcode": "1",
                             "message": "No access rights in module context"})
            continue
        subs = sorted((s for s in site.submissions_of(aid)
                       if s.timemodified >= call.params["since"]
                       and (not call.params["before"] or s.timemodified <= call.params["before"])
                       and (not call.params["status"] or s.status == call.params["status"])),
                      key=lambda s: s.id)
        rows = []
        for s in subs:
            ag = site.assign_grades.get((aid, s.userid))
            graded = ag is not None and ag.grade >= 0 and ag.timemodified >= s.timemodified
            rows.append({"id": s.id, "userid": s.userid, "attemptnumber": s.attemptnumber,
                         "timecreated": s.timecreated, "timemodified": s.timemodified, "timestarted": None,
                         "status": s.status, "groupid": 0,
                         "plugins": [{"type": "onlinetext", "name": "Online text",
                                      "fileareas": [{"area": "submissions_onlinetext", "files": []}],
                                      "editorfields": [{"name": "onlinetext", "description": "Online text submissions",
                                                        "text": s.text, "format": 1}]},
                                     {"type": "comments", "name": "Submission comments"}],
                         "gradingstatus": "graded" if graded else "notgraded"})
        out.append({"assignmentid": aid, "submissions": rows})
    return {"assignments": out, "warnings": warnings}


@ws_function("mod_page_get_pages_by_courses", {"courseids": Multiple(Value("int"), default=[])})
def get_pages_by_courses(call: Call) -> dict[str, Any]:
    ok, warnings = _accessible_courses(call, call.params["courseids"])
    pages = [{"id": m.instance, "coursemodule": m.id, "course": m.course, "name": m.name, "intro": m.intro,
              "introformat": 1, "introfiles": [], "section": m.section, "visible": bool(m.visible), "groupmode": 0,
              "groupingid": 0, "lang": None, "content": m.settings.get("content", ""), "contentformat": 1,
              "contentfiles": [], "legacyfiles": 0, "legacyfileslast": None, "display": 0,
              "displayoptions": 'a:2:{s:10:"printintro";i:0;s:17:"printlastmodified";i:1;}', "revision": 0,
              "timemodified": m.timemodified}
             for m in _modules(call, ok, "page")]
    return {"pages": pages, "warnings": warnings}


@ws_function("mod_lti_get_ltis_by_courses", {"courseids": Multiple(Value("int"), default=[])})
def get_ltis_by_courses(call: Call) -> dict[str, Any]:
    ok, warnings = _accessible_courses(call, call.params["courseids"])
    ltis = [{"id": m.instance, "coursemodule": m.id, "course": m.course, "name": m.name, "intro": m.intro,
             "introformat": 1, "introfiles": [], "lang": "", "launchcontainer": 1, "showtitlelaunch": 0,
             "showdescriptionlaunch": 0, "icon": None, "secureicon": None}
            for m in _modules(call, ok, "lti")]
    return {"ltis": ltis, "warnings": warnings}
