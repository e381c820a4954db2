"""`connections check`: whether sync can read everything, proven with Moodle's own data.

A capability missing from the sync user's role does not always make Moodle refuse a call: an activity
the user may not see is simply left out of the course contents, the quiz list, the activity completion
statuses and the user grade report (lib/modinfolib.php, cm_info::uservisible). So beside probing each
function (a refusal names the capability to grant), the check compares, course by course, what the
answers that list every activity show — the course completion criteria, the gradebook's grade items
(``core_grades_get_gradeitems``, Moodle 4.2+) — with what the course contents and the module functions
return, and names every activity Moodle hides and the capability that would show it
(connector/sync/visibility.py). Anything hidden fails the check: "all allowed" is never said beside a
missing activity.
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
    NotEnrolled,
    TransportError,
)
from credbridge.connector.moodle.functions import (
    OPTIONAL_FUNCTIONS,
    REQUIRED_FUNCTIONS,
    SINCE,
    SUCCESSORS,
    CourseCompletionStatus,
    EnrolledUser,
    ModuleInfo,
    MoodleApi,
    MoodleCourse,
    QuizInfo,
    SiteInfo,
    UserGrades,
    WsFunction,
)
from credbridge.connector.sync.visibility import HIDDEN_BY_TEACHER, view_capability

#: activity types whose grades or attempts sync reads with a module function of their own
GRADED_MODULES = ("assign", "quiz")


@dataclass
class Finding:
    check: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


@dataclass
class ActivityVisibility:
    """One activity of one course and where Moodle shows it to the sync user (None: not asked/not known)."""

    course: str
    name: str
    cmid: int | None
    modname: str | None
    contents: bool                 # core_course_get_contents lists it
    gradebook: bool | None         # a grade item of the gradebook belongs to it
    criteria: bool | None          # a course completion criterion names it
    module_function: str = ""      # what the module's own function answered (quiz list, assignment grades…)
    hidden: bool = False
    fix: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"course": self.course, "name": self.name, "cmid": self.cmid, "modname": self.modname,
                "contents": self.contents, "gradebook": self.gradebook, "criteria": self.criteria,
                "module_function": self.module_function, "hidden": self.hidden, "fix": self.fix}


@dataclass
class CheckReport:
    site: dict[str, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    activities: list[ActivityVisibility] = field(default_factory=list)
    courses_checked: int = 0

    @property
    def hidden(self) -> list[ActivityVisibility]:
        return [a for a in self.activities if a.hidden]

    @property
    def ok(self) -> bool:
        return all(f.ok or not f.required for f in self.findings) and not self.hidden

    def hidden_capabilities(self) -> list[str]:
        return sorted({view_capability(a.modname) for a in self.hidden})


# function -> capabilities the WS user needs for it (what to grant when the probe is refused)
CAPABILITIES = {
    WsFunction.COURSES_BY_FIELD: "moodle/course:view, moodle/course:viewhiddencourses",
    WsFunction.COURSE_CONTENTS: "moodle/course:view",
    WsFunction.ENROLLED_USERS: "moodle/course:viewparticipants, moodle/course:enrolreview, moodle/user:viewdetails, "
                               "moodle/user:viewalldetails, moodle/site:viewuseridentity",
    WsFunction.COURSE_COMPLETION: "report/completion:view",
    WsFunction.ACTIVITIES_COMPLETION: "report/progress:view",
    WsFunction.GRADE_ITEMS: "gradereport/user:view, moodle/grade:viewall, moodle/grade:viewhidden",
    WsFunction.ASSIGN_GRADES: "mod/assign:view, mod/assign:grade",
    WsFunction.QUIZZES: "mod/quiz:view",
    WsFunction.QUIZ_ATTEMPTS: "mod/quiz:view, mod/quiz:viewreports",
    WsFunction.QUIZ_USER_ATTEMPTS: "mod/quiz:view, mod/quiz:viewreports",
    WsFunction.COURSE_COMPETENCIES: "moodle/competency:coursecompetencyview",
    WsFunction.COMPETENCY_REPORT: "moodle/competency:usercompetencyview",
}
Progress = Callable[[int, int, str], None]


def check_connection(api: MoodleApi, course_filter: dict[str, Any] | None = None, *,
                     course_ids: list[int] | None = None, progress: Progress | None = None) -> CheckReport:
    """Every course the connection syncs (or ``course_ids``), each compared as the module docstring says."""
    report = CheckReport()
    progress = progress or (lambda _d, _t, _s: None)
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
    report.findings.extend(_function_findings(info))
    probe = _Prober(report, info)
    courses = probe(WsFunction.COURSES_BY_FIELD, lambda: api.courses(course_filter)) or []
    if course_ids:
        courses = [c for c in courses if c.id in set(course_ids)]
    if not courses:
        report.findings.append(Finding("courses", False, "the sync user sees no course",
                                       "grant moodle/course:viewhiddencourses or check the course filter"))
        return report
    quizzes = probe(WsFunction.QUIZZES, lambda: api.quizzes(c.id for c in courses)) or []
    api.take_warnings()
    for index, course in enumerate(courses):
        progress(index, len(courses), course.shortname)
        _check_course(api, info, probe, report, course, [q for q in quizzes if q.course == course.id])
    progress(len(courses), len(courses), "done")
    report.courses_checked = len(courses)
    return report


class _Prober:
    """Runs one call; a refusal becomes a finding (once per function) naming what to grant."""

    def __init__(self, report: CheckReport, info: SiteInfo) -> None:
        self.report, self.info = report, info
        self.reported: set[str] = set()
        self.allowed: set[str] = set()

    def __call__(self, function: WsFunction, call: Callable[[], Any], *, required: bool = True) -> Any:
        if function not in self.info.functions:
            return None
        try:
            result = call()
        except MissingCapability as exc:
            self._refused(function, f"{exc.errorcode}: {exc.moodle_message}",
                          f"grant {CAPABILITIES.get(function, '?')} to the sync user's role", required)
            return None
        except FunctionNotInService as exc:
            self._refused(function, str(exc), f"add {function} to the external service", required)
            return None
        except MoodleError as exc:
            self._refused(function, str(exc), exc.hint, required)
            return None
        if function not in self.allowed and function not in self.reported:
            self.allowed.add(function)
            self.report.findings.append(Finding(f"capability for {function}", True, "allowed", required=required))
        return result

    def _refused(self, function: WsFunction, detail: str, fix: str, required: bool) -> None:
        if function in self.reported:
            return
        self.reported.add(function)
        self.report.findings = [f for f in self.report.findings if f.check != f"capability for {function}"]
        self.allowed.discard(function)
        self.report.findings.append(Finding(f"capability for {function}", False, detail, fix, required=required))


def _function_findings(info: SiteInfo) -> list[Finding]:
    """Is each function in the service? What a release does not have yet is advice, not a failure."""
    findings = []
    release = info.major_minor
    for function in (*REQUIRED_FUNCTIONS, *OPTIONAL_FUNCTIONS):
        required = function in REQUIRED_FUNCTIONS
        present = function in info.functions
        successor = SUCCESSORS.get(function)
        since = SINCE.get(function)
        check = f"function {function}"
        if present:
            findings.append(Finding(check, True, "in the service", required=required))
        elif successor in info.functions:
            findings.append(Finding(check, True, f"not in the service; {successor} replaces it", required=required))
        elif since and release != (0, 0) and release < since:
            findings.append(Finding(check, True, f"not in Moodle {release[0]}.{release[1]} (since "
                                    f"{since[0]}.{since[1]})", required=False))
        else:
            fix = f"add {function} to the external service of the token"
            if successor is not None:
                fix += f" (or, on Moodle 5.0+, {successor})"
            findings.append(Finding(check, False, "missing from the service", fix, required=required))
    return findings


def _check_course(api: MoodleApi, info: SiteInfo, probe: _Prober, report: CheckReport, course: MoodleCourse,
                  quizzes: list[QuizInfo]) -> None:
    modules: list[ModuleInfo] = probe(WsFunction.COURSE_CONTENTS, lambda: api.course_modules(course.id)) or []
    users: list[EnrolledUser] = probe(WsFunction.ENROLLED_USERS, lambda: api.enrolled_users(course.id)) or []
    students = [u for u in users if "student" in u.roles]
    if users and not any(u.idnumber or u.email for u in users):
        report.findings.append(Finding(f"learner identity in {course.shortname}", False,
                                       "enrolled users come without idnumber or email",
                                       "grant moodle/site:viewuseridentity and moodle/user:viewalldetails"))
    grades: list[UserGrades] = probe(WsFunction.GRADE_ITEMS, lambda: api.grade_items(course.id, 0)) or []
    listing = probe(WsFunction.GRADEBOOK_ITEMS, lambda: api.gradebook_items(course.id), required=False)
    if WsFunction.COURSE_COMPETENCIES in info.functions:
        probe(WsFunction.COURSE_COMPETENCIES, lambda: api.course_competencies(course.id), required=False)
    status: CourseCompletionStatus | None = None
    completion_cmids: set[int] | None = None
    for student in students[:1]:
        status = probe(WsFunction.COURSE_COMPLETION, lambda s=student: _completion(api, course.id, s.id))
        rows = probe(WsFunction.ACTIVITIES_COMPLETION, lambda s=student: api.activities_completion(course.id, s.id))
        completion_cmids = {r.cmid for r in rows} if rows is not None else None
        probe(WsFunction.COMPETENCY_REPORT, lambda s=student: api.user_competencies(course.id, s.id), required=False)
    if not students:
        report.findings.append(Finding(f"completion in {course.shortname}", False, "no learner to compare the "
                                       "completion criteria with", "enrol a learner or check another course",
                                       required=False))
    module_answers = _module_answers(api, info, probe, modules, quizzes, grades, students)
    rows = _compare(course, modules, grades, listing, status, completion_cmids, module_answers)
    if WsFunction.COURSE_MODULE in info.functions:
        for row in rows:
            if row.hidden and not row.contents and row.cmid is not None:
                row.module_function = _ask_module(api, row.cmid)
    report.activities.extend(rows)


def _ask_module(api: MoodleApi, cmid: int) -> str:
    """What core_course_get_course_module says of an activity the contents leave out."""
    try:
        api.course_module(cmid)
    except MoodleError as exc:
        why = f" ({exc.debuginfo})" if exc.debuginfo else ""
        return f"{WsFunction.COURSE_MODULE}: {exc.errorcode}{why}"
    return f"{WsFunction.COURSE_MODULE}: answers"


def _completion(api: MoodleApi, courseid: int, userid: int) -> CourseCompletionStatus | None:
    try:
        return api.course_completion(courseid, userid)
    except NotEnrolled:
        return None
    except MoodleError as exc:
        if exc.errorcode == "nocriteriaset":  # allowed, the course just has no completion criteria
            return None
        raise


def _module_answers(api: MoodleApi, info: SiteInfo, probe: _Prober, modules: list[ModuleInfo],
                    quizzes: list[QuizInfo], grades: list[UserGrades], students: list[EnrolledUser]
                    ) -> dict[int, tuple[bool, str]]:
    """cmid -> (answered, what the activity's own function said) for quizzes and assignments."""
    answers: dict[int, tuple[bool, str]] = {}
    listed = {q.cmid: q for q in quizzes}
    attempts_fn = (WsFunction.QUIZ_USER_ATTEMPTS if WsFunction.QUIZ_USER_ATTEMPTS in info.functions
                   else WsFunction.QUIZ_ATTEMPTS)
    graded = {(ug.userid, i.cmid) for ug in grades for i in ug.items if i.cmid and i.raw is not None}
    for m in modules:
        if m.modname == "quiz":
            quiz = listed.get(m.cmid)
            if quiz is None:
                answers[m.cmid] = (False, f"{WsFunction.QUIZZES} leaves it out")
                continue
            learner = next((s for s in students if (s.id, m.cmid) in graded), students[0] if students else None)
            if learner is None or attempts_fn not in info.functions:
                answers[m.cmid] = (True, "listed")
                continue
            try:
                api.quiz_attempts(quiz.id, learner.id, function=attempts_fn)
            except MissingCapability as exc:
                answers[m.cmid] = (False, f"{attempts_fn}: {exc.errorcode}")
            except MoodleError as exc:
                answers[m.cmid] = (True, f"listed; {attempts_fn}: {exc.errorcode}")
            else:
                answers[m.cmid] = (True, "listed, attempts readable")
        elif m.modname == "assign" and WsFunction.ASSIGN_GRADES in info.functions:
            api.take_warnings()
            probe(WsFunction.ASSIGN_GRADES, lambda m=m: api.assign_grades([m.instance], since=0))
            refused = [w for w in api.take_warnings() if w.about_permissions and w.itemid == m.instance]
            answers[m.cmid] = (False, f"{WsFunction.ASSIGN_GRADES}: {refused[0].message}") if refused \
                else (True, "grades readable")
    return answers


def _compare(course: MoodleCourse, modules: list[ModuleInfo], grades: list[UserGrades], listing: Any,
             status: CourseCompletionStatus | None, completion_cmids: set[int] | None,
             module_answers: dict[int, tuple[bool, str]]) -> list[ActivityVisibility]:
    shown_items = {i.itemid for ug in grades for i in ug.items}
    graded_cmids = {i.cmid for ug in grades for i in ug.items if i.cmid}
    criteria = {a.cmid: a for a in status.activities} if status is not None else {}
    rows: list[ActivityVisibility] = []
    for m in modules:
        answered, said = module_answers.get(m.cmid, (True, ""))
        in_gradebook = (m.cmid in graded_cmids) if m.modname in GRADED_MODULES else None
        hidden = not answered
        rows.append(ActivityVisibility(
            course=course.shortname, name=m.name, cmid=m.cmid, modname=m.modname, contents=True,
            gradebook=in_gradebook, criteria=(m.cmid in criteria) if status is not None else None,
            module_function=said, hidden=hidden, fix=_fix(m.modname) if hidden else ""))
    listed = {m.cmid for m in modules}
    for cmid, activity in sorted(criteria.items()):
        if cmid in listed:
            continue
        rows.append(ActivityVisibility(
            course=course.shortname, name=activity.name, cmid=cmid, modname=activity.modname, contents=False,
            gradebook=None, criteria=True, module_function="", hidden=True, fix=_fix(activity.modname)))
    for ug in grades[:1]:
        for item in ug.items:
            if item.cmid and item.cmid not in listed and item.cmid not in criteria:
                rows.append(ActivityVisibility(
                    course=course.shortname, name=item.itemname or "", cmid=item.cmid, modname=item.itemmodule,
                    contents=False, gradebook=True, criteria=None, hidden=True, fix=_fix(item.itemmodule)))
    if listing is not None and grades:  # without a learner the user report shows no item to compare with
        by_name = {r.name: r for r in rows}
        for item in listing:
            if item.id in shown_items:
                continue
            row = by_name.get(item.name)
            if row is not None:  # the same activity, already known from the completion criteria
                row.gradebook = True
                continue
            # a grade item the user grade report leaves out: its activity is hidden (manual items are shown)
            rows.append(ActivityVisibility(course=course.shortname, name=item.name, cmid=None, modname=None,
                                           contents=False, gradebook=True, criteria=None, hidden=True,
                                           fix=_fix(None)))
    if completion_cmids is not None:
        for row in rows:
            if row.cmid in listed and row.cmid not in completion_cmids and row.criteria:
                row.hidden = True
                row.fix = _fix(row.modname)
    return rows


def _fix(modname: str | None) -> str:
    return f"grant {view_capability(modname)} to the sync user's role ({HIDDEN_BY_TEACHER} if a teacher hid it)"


def store_check(connection: Any, report: CheckReport) -> None:
    """Keep the check's findings and activity table on the connection (the console shows them) and make
    what failed the connection's error, so it is not read as healthy while Moodle hides something."""
    from datetime import UTC, datetime

    from credbridge.connector.sync.visibility import HiddenActivity, permission_problem

    connection.site_info = {
        **(connection.site_info or {}), **{k: v for k, v in report.site.items() if k != "functions"},
        "check": [{"check": f.check, "ok": f.ok, "detail": f.detail, "fix": f.fix, "required": f.required}
                  for f in report.findings],
        "check_activities": [a.as_dict() for a in report.activities],
        "checked_at": datetime.now(UTC).isoformat()}
    failed = [f"{f.check}: {f.detail}" for f in report.findings if not f.ok and f.required]
    hidden = permission_problem([HiddenActivity(a.course, a.name, a.cmid, a.modname) for a in report.hidden], [])
    problems = "; ".join([*failed, *([hidden] if hidden else [])])
    connection.last_error = problems[:2000] or None
