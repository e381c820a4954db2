"""`connections check`: what the Moodle admin must change before sync can work.

Reads site info (which functions the token's service offers), then probes each capability sync
needs with the cheapest call that requires it, on one real course and one enrolled student. Each
failure maps to the capability (or service function) to grant, per the Moodle 4.5 sources
(enrol/externallib.php, completion/classes/external.php, grade/report/user/classes/external/user.php,
mod/assign/externallib.php, mod/quiz/classes/external.php).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from credbridge.connector.moodle.errors import (
    FunctionNotInService,
    InvalidToken,
    MalformedResponse,
    MissingCapability,
    MoodleError,
    TransportError,
)
from credbridge.connector.moodle.functions import (
    OPTIONAL_FUNCTIONS,
    REQUIRED_FUNCTIONS,
    SUCCESSORS,
    MoodleApi,
    WsFunction,
)


@dataclass
class Finding:
    check: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


@dataclass
class CheckReport:
    site: dict[str, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(f.ok or not f.required for f in self.findings)


# function -> capabilities the WS user needs for it (what to grant when the probe is refused)
CAPABILITIES = {
    WsFunction.COURSES_BY_FIELD: "moodle/course:view, moodle/course:viewhiddencourses",
    WsFunction.COURSE_CONTENTS: "moodle/course:view",
    WsFunction.ENROLLED_USERS: "moodle/course:viewparticipants, moodle/course:enrolreview, moodle/user:viewdetails, "
                               "moodle/user:viewalldetails, moodle/site:viewuseridentity",
    WsFunction.COURSE_COMPLETION: "report/completion:view",
    WsFunction.ACTIVITIES_COMPLETION: "report/progress:view",
    WsFunction.GRADE_ITEMS: "gradereport/user:view, moodle/grade:viewall, moodle/grade:viewhidden",
    WsFunction.ASSIGN_GRADES: "mod/assign:grade",
    WsFunction.QUIZZES: "mod/quiz:view",
    WsFunction.QUIZ_ATTEMPTS: "mod/quiz:viewreports",
    WsFunction.QUIZ_USER_ATTEMPTS: "mod/quiz:viewreports",
    WsFunction.COURSE_COMPETENCIES: "moodle/competency:coursecompetencyview",
    WsFunction.COMPETENCY_REPORT: "moodle/competency:usercompetencyview",
}


def check_connection(api: MoodleApi, course_filter: dict[str, Any] | None = None) -> CheckReport:
    report = CheckReport()
    try:
        info = api.site_info()
    except InvalidToken as exc:
        report.findings.append(Finding("token", False, str(exc), "create a new token for the sync user (Site "
                                       "administration > Server > Web services > Manage tokens)"))
        return report
    except (TransportError, MalformedResponse) as exc:
        report.findings.append(Finding("reach Moodle", False, str(exc),
                                       "check the base URL, that web services and the REST protocol are enabled"))
        return report
    report.site = {"sitename": info.sitename, "release": info.release, "username": info.username}
    report.findings.append(Finding("token", True, f"valid for {info.username} on {info.sitename} ({info.release})"))
    for function in (*REQUIRED_FUNCTIONS, *OPTIONAL_FUNCTIONS):
        required = function in REQUIRED_FUNCTIONS
        present = function in info.functions
        successor = SUCCESSORS.get(function)
        if not present and successor in info.functions:
            report.findings.append(Finding(f"function {function}", True, f"not in the service; {successor} "
                                           "replaces it", required=required))
            continue
        fix = f"add {function} to the external service of the token"
        if successor is not None:
            fix += f" (or, on Moodle 4.5+, {successor})"
        report.findings.append(Finding(
            f"function {function}", present, "in the service" if present else "missing from the service",
            "" if present else fix, required=required))

    def probe(function: WsFunction, call: Callable[[], Any], required: bool = True) -> Any:
        if function not in info.functions:
            return None
        try:
            result = call()
        except MissingCapability as exc:
            report.findings.append(Finding(f"capability for {function}", False, f"{exc.errorcode}: "
                                           f"{exc.moodle_message}", f"grant {CAPABILITIES.get(function, '?')} to the "
                                           "sync user's role", required=required))
            return None
        except FunctionNotInService as exc:
            report.findings.append(Finding(f"capability for {function}", False, str(exc),
                                           f"add {function} to the external service", required=required))
            return None
        except MoodleError as exc:
            report.findings.append(Finding(f"capability for {function}", False, str(exc), exc.hint, required=required))
            return None
        report.findings.append(Finding(f"capability for {function}", True, "allowed", required=required))
        return result

    courses = probe(WsFunction.COURSES_BY_FIELD, lambda: api.courses(course_filter)) or []
    if not courses:
        report.findings.append(Finding("courses", False, "the sync user sees no course",
                                       "grant moodle/course:viewhiddencourses or check the course filter"))
        return report
    course = courses[0]
    modules = probe(WsFunction.COURSE_CONTENTS, lambda: api.course_modules(course.id)) or []
    users = probe(WsFunction.ENROLLED_USERS, lambda: api.enrolled_users(course.id)) or []
    students = [u for u in users if "student" in u.roles]
    if users and not any(u.idnumber or u.email for u in users):
        report.findings.append(Finding("learner identity", False, "enrolled users come without idnumber or email",
                                       "grant moodle/site:viewuseridentity and moodle/user:viewalldetails"))
    probe(WsFunction.GRADE_ITEMS, lambda: api.grade_items(course.id, 0))
    assignments = [m.instance for m in modules if m.modname == "assign"]
    if assignments:
        probe(WsFunction.ASSIGN_GRADES, lambda: api.assign_grades(assignments[:1], since=0))
    probe(WsFunction.QUIZZES, lambda: api.quizzes([course.id]))
    if WsFunction.COURSE_COMPETENCIES in info.functions:
        probe(WsFunction.COURSE_COMPETENCIES, lambda: api.course_competencies(course.id), required=False)
    if students:
        student = students[0]
        probe(WsFunction.COURSE_COMPLETION, lambda: _completion(api, course.id, student.id))
        probe(WsFunction.ACTIVITIES_COMPLETION, lambda: api.activities_completion(course.id, student.id))
        probe(WsFunction.COMPETENCY_REPORT, lambda: api.user_competencies(course.id, student.id), required=False)
    else:
        report.findings.append(Finding("completion", False, f"course {course.shortname} has no student to probe "
                                       "completion with", "enrol a student or pick another course", required=False))
    return report


def _completion(api: MoodleApi, courseid: int, userid: int) -> Any:
    try:
        return api.course_completion(courseid, userid)
    except MoodleError as exc:
        if exc.errorcode == "nocriteriaset":  # allowed, the course just has no completion criteria
            return None
        raise
