"""The WS functions credbridge uses and one method per question sync asks Moodle.

Raw responses become small typed records here, at the edge, so nothing further in carries Moodle's
JSON around. Grades that Moodle sends as strings (``"69.00000"``) or floats are parsed exactly with
:class:`~decimal.Decimal` (floats through their shortest repr, so 6.66667 stays 6.66667).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, TypeVar

import requests

from credbridge.connector.moodle.client import MoodleClient
from credbridge.connector.moodle.errors import MalformedResponse

F = TypeVar("F", bound=Callable[..., Any])


class WsFunction(StrEnum):
    SITE_INFO = "core_webservice_get_site_info"
    COURSES_BY_FIELD = "core_course_get_courses_by_field"
    COURSE_CONTENTS = "core_course_get_contents"
    COURSE_MODULE = "core_course_get_course_module"
    ENROLLED_USERS = "core_enrol_get_enrolled_users"
    COURSE_COMPLETION = "core_completion_get_course_completion_status"
    ACTIVITIES_COMPLETION = "core_completion_get_activities_completion_status"
    GRADE_ITEMS = "gradereport_user_get_grade_items"
    ASSIGN_GRADES = "mod_assign_get_grades"
    QUIZZES = "mod_quiz_get_quizzes_by_courses"
    QUIZ_ATTEMPTS = "mod_quiz_get_user_attempts"
    #: Moodle 5.0+ (MDL-68806): QUIZ_ATTEMPTS is deprecated since 5.0 and goes in 6.0 (MDL-80956);
    #: 4.5 builds such as 20241007 do not have it
    QUIZ_USER_ATTEMPTS = "mod_quiz_get_user_quiz_attempts"
    #: Moodle 4.2+: every grade item of a course, whoever may see its activity (the check compares)
    GRADEBOOK_ITEMS = "core_grades_get_gradeitems"
    COURSE_COMPETENCIES = "core_competency_list_course_competencies"
    USER_COMPETENCY_IN_COURSE = "tool_lp_data_for_user_competency_summary_in_course"
    COMPETENCY_REPORT = "report_competency_data_for_report"
    RETRIEVE_REPORT = "core_reportbuilder_retrieve_report"


#: what sync cannot work without, and what it uses when the service offers it
REQUIRED_FUNCTIONS = (
    WsFunction.SITE_INFO, WsFunction.COURSES_BY_FIELD, WsFunction.COURSE_CONTENTS,
    # tells an activity Moodle hides from the sync user from a deleted one (connector/sync/visibility.py)
    WsFunction.COURSE_MODULE,
    WsFunction.ENROLLED_USERS, WsFunction.COURSE_COMPLETION, WsFunction.ACTIVITIES_COMPLETION, WsFunction.GRADE_ITEMS,
    WsFunction.ASSIGN_GRADES, WsFunction.QUIZZES, WsFunction.QUIZ_ATTEMPTS,
)
OPTIONAL_FUNCTIONS = (
    WsFunction.GRADEBOOK_ITEMS, WsFunction.COURSE_COMPETENCIES, WsFunction.COMPETENCY_REPORT,
    WsFunction.RETRIEVE_REPORT, WsFunction.QUIZ_USER_ATTEMPTS,
)
#: the Moodle release (major, minor) a function first appears in, for those newer than 4.1
SINCE = {WsFunction.GRADEBOOK_ITEMS: (4, 2), WsFunction.QUIZ_USER_ATTEMPTS: (5, 0)}
#: a required function whose successor, when the service offers it, takes its place
SUCCESSORS = {WsFunction.QUIZ_ATTEMPTS: WsFunction.QUIZ_USER_ATTEMPTS}


def to_decimal(value: Any) -> Decimal | None:
    """Moodle grade -> Decimal; None for no grade ("", null, -1 for "not graded" in mod_assign)."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    except InvalidOperation:
        return None
    # a grade is DECIMAL(10,5) in Moodle: a magnitude far beyond is no grade (and 1e999999 would
    # overflow the first sum it takes part in)
    return number if number.is_finite() and (not number or -30 <= number.adjusted() <= 15) else None


def _int(value: Any) -> int | None:
    return None if value in (None, "") else int(value)


@dataclass(frozen=True)
class SiteInfo:
    sitename: str
    siteurl: str
    userid: int
    username: str
    release: str
    version: str
    functions: frozenset[str]
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @property
    def major_minor(self) -> tuple[int, int]:
        parts = self.release.split()[0].split(".") if self.release else []
        try:
            return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
        except (ValueError, IndexError):
            return 0, 0


@dataclass(frozen=True)
class MoodleCourse:
    id: int
    shortname: str
    fullname: str
    idnumber: str | None
    categoryid: int | None
    visible: bool
    enablecompletion: bool
    timemodified: int | None


@dataclass(frozen=True)
class ModuleInfo:
    cmid: int
    modname: str
    instance: int
    name: str
    idnumber: str | None = None


@dataclass(frozen=True)
class EnrolledUser:
    id: int
    username: str | None
    firstname: str
    lastname: str
    fullname: str
    email: str | None
    idnumber: str | None
    lastcourseaccess: int | None
    roles: tuple[str, ...]


@dataclass(frozen=True)
class GradeResult:
    itemid: int
    itemname: str | None
    itemtype: str
    itemmodule: str | None
    iteminstance: int | None
    cmid: int | None
    idnumber: str | None
    raw: Decimal | None
    grademin: Decimal | None
    grademax: Decimal | None
    dategraded: int | None
    overridden: bool


@dataclass(frozen=True)
class UserGrades:
    userid: int
    courseid: int
    courseidnumber: str | None
    items: tuple[GradeResult, ...]


@dataclass(frozen=True)
class AssignGradeRow:
    assignmentid: int
    userid: int
    grade: Decimal | None
    attemptnumber: int
    timemodified: int


@dataclass(frozen=True)
class QuizInfo:
    id: int
    cmid: int
    course: int
    name: str
    sumgrades: Decimal | None
    grade: Decimal | None
    settings: dict[str, Any]


@dataclass(frozen=True)
class QuizAttemptRow:
    id: int
    quiz: int
    userid: int
    attempt: int
    state: str
    sumgrades: Decimal | None
    timefinish: int | None
    timemodified: int | None


@dataclass(frozen=True)
class CriterionActivity:
    """An activity a course completion criterion names: Moodle lists it whoever may see the activity."""

    cmid: int
    modname: str
    name: str


@dataclass(frozen=True)
class CourseCompletionStatus:
    completed: bool
    timecompleted: int | None
    #: every criterion is met (or any, for "any" aggregation) but cron has not aggregated it yet
    criteria_met: bool = False
    activities: tuple[CriterionActivity, ...] = ()


@dataclass(frozen=True)
class GradebookItem:
    """A grade item as core_grades_get_gradeitems lists it (no activity, no grade: its id and name)."""

    id: int
    name: str


@dataclass(frozen=True)
class WsWarning:
    """A warning Moodle put beside an answer (``warnings[]``): the call worked, but left something out."""

    function: str
    item: str
    itemid: int | None
    code: str
    message: str

    @property
    def about_permissions(self) -> bool:
        """Moodle's wording when a capability or the module's visibility kept an item out
        (mod_assign_get_grades: "No access rights in module context"; external_util::validate_courses)."""
        text = self.message.lower()
        return "access rights" in text or "capability" in text

    def __str__(self) -> str:
        return f"{self.function}: {self.item} {self.itemid}: {self.message}"


@dataclass(frozen=True)
class ActivityCompletionRow:
    cmid: int
    modname: str
    instance: int | None
    state: int
    timecompleted: int | None
    overridden: bool


@dataclass(frozen=True)
class ReportCompletion:
    """One row of a custom "course completions" report (course idnumber, learner, time completed)."""

    course_idnumber: str | None
    username: str | None
    idnumber: str | None
    timecompleted: int | None


@dataclass(frozen=True)
class CompetencyInfo:
    id: int
    idnumber: str | None
    shortname: str


@dataclass(frozen=True)
class UserCompetencyRow:
    competencyid: int
    idnumber: str | None
    proficiency: bool | None
    grade: int | None
    timemodified: int | None


#: quiz settings that matter for supervision (Annex I "form of participation"/identity checks)
QUIZ_SETTINGS_KEYS = ("timelimit", "browsersecurity", "password", "subnet", "delay1", "delay2", "attempts",
                      "timeopen", "timeclose", "grademethod", "sumgrades", "grade", "hasquestions")


def _quiz(raw: dict[str, Any]) -> QuizInfo:
    settings = {k: raw.get(k) for k in QUIZ_SETTINGS_KEYS if k in raw}
    browsersecurity = raw.get("browsersecurity") or ""
    seb = raw.get("seb_requiresafeexambrowser") or raw.get("requiresafeexambrowser")
    settings["seb_required"] = bool(seb) or browsersecurity == "safebrowser"
    # quiz access rules present on this quiz (password, subnet, delays, time limit, SEB)
    rules = [name for name, on in (("password", bool(raw.get("password") or raw.get("haspassword"))),
                                   ("ipaddress", bool(raw.get("subnet"))),
                                   ("timelimit", bool(raw.get("timelimit"))),
                                   ("delaybetweenattempts", bool(raw.get("delay1") or raw.get("delay2"))),
                                   ("seb", settings["seb_required"]),
                                   ("openclosedate", bool(raw.get("timeopen") or raw.get("timeclose")))) if on]
    settings["access_rules"] = rules
    settings["has_password"] = "password" in rules
    settings.pop("password", None)  # the quiz password itself is never stored
    for key in ("sumgrades", "grade"):
        if key in settings and settings[key] is not None:
            settings[key] = str(to_decimal(settings[key]))
    return QuizInfo(id=int(raw["id"]), cmid=int(raw["coursemodule"]), course=int(raw["course"]),
                    name=str(raw.get("name", "")), sumgrades=to_decimal(raw.get("sumgrades")),
                    grade=to_decimal(raw.get("grade")), settings=settings)


_CRITERION_LINK = re.compile(r'<a href="[^"]*/mod/([a-z0-9_]+)/view\.php\?id=(\d+)"[^>]*>(.*?)</a>', re.S)


def _criterion_activities(criteria: list[dict[str, Any]]) -> tuple[CriterionActivity, ...]:
    found = []
    for c in criteria:
        match = _CRITERION_LINK.search(str((c.get("details") or {}).get("criteria") or ""))
        if int(c.get("type") or 0) == 4 and match:
            found.append(CriterionActivity(cmid=int(match.group(2)), modname=match.group(1),
                                           name=re.sub(r"<[^>]+>", "", match.group(3)).strip()))
    return tuple(found)


#: what a response of an unexpected shape raises while it is read (a missing key, a list where an object
#: was, "abc" or 1e400 where an id was); each becomes a MalformedResponse naming the function
_SHAPE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError, ArithmeticError)
#: the largest id a database integer holds (Moodle's ids are BIGINT too)
MAX_ID = 2**63 - 1


def _out_of_range(value: Any) -> str | None:
    """The first integer of the parsed records no database column can hold, as ``field=value``."""
    if isinstance(value, list | tuple):
        return next((found for item in value if (found := _out_of_range(item))), None)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for item in dataclasses.fields(value):
            field_value = getattr(value, item.name)
            if isinstance(field_value, int) and not isinstance(field_value, bool) \
                    and not -MAX_ID <= field_value <= MAX_ID:
                return f"{item.name}={str(field_value)[:30]}…"
            if isinstance(field_value, list | tuple) and (found := _out_of_range(field_value)):
                return found
    return None


def _parsed(function: WsFunction | None = None) -> Callable[[F], F]:
    """Read a response into records, or raise MalformedResponse naming ``function`` (or the method's
    ``function`` argument) and what was wrong: never a bare KeyError from deep inside."""

    def decorator(method: F) -> F:
        @functools.wraps(method)
        def wrapper(self: MoodleApi, *args: Any, **kwargs: Any) -> Any:
            name = kwargs.get("function") or function or method.__name__
            try:
                result = method(self, *args, **kwargs)
            except requests.RequestException:
                raise
            except _SHAPE_ERRORS as exc:
                raise MalformedResponse(name, f"unexpected shape ({type(exc).__name__}: {str(exc)[:200]})") from exc
            wrong = _out_of_range(result)
            if wrong:
                raise MalformedResponse(name, f"a number no Moodle id or time can be ({wrong})")
            return result

        return wrapper  # type: ignore[return-value]

    return decorator


class MoodleApi:
    """The questions sync asks, one method each, answered with typed records.

    Warnings Moodle puts beside an answer are kept (:meth:`take_warnings`): an answer with a warning
    is an answer with something left out, and the caller decides what that means."""

    def __init__(self, client: MoodleClient) -> None:
        self.client = client
        self._warnings: list[WsWarning] = []
        self._warnings_lock = threading.Lock()

    def _call(self, function: WsFunction, params: dict[str, Any] | None = None) -> Any:
        body = self.client.call(function, params)
        if isinstance(body, dict) and isinstance(body.get("warnings"), list):
            found = [WsWarning(str(function), str(w.get("item", "")), _int(w.get("itemid")),
                               str(w.get("warningcode", "")), str(w.get("message", "")))
                     for w in body["warnings"] if isinstance(w, dict)]
            if found:
                with self._warnings_lock:
                    self._warnings.extend(found)
        return body

    def take_warnings(self) -> list[WsWarning]:
        """The warnings collected since the last call of this method."""
        with self._warnings_lock:
            found, self._warnings = self._warnings, []
        return found

    def _expect(self, function: WsFunction, body: Any, key: str | None, kind: type) -> Any:
        value = body.get(key) if key is not None and isinstance(body, dict) else body
        if not isinstance(value, kind):
            raise MalformedResponse(function, f"expected {kind.__name__}{f' under {key!r}' if key else ''}")
        return value

    @_parsed(WsFunction.SITE_INFO)
    def site_info(self) -> SiteInfo:
        body = self._expect(WsFunction.SITE_INFO, self._call(WsFunction.SITE_INFO), None, dict)
        return SiteInfo(sitename=str(body.get("sitename", "")), siteurl=str(body.get("siteurl", "")),
                        userid=int(body.get("userid", 0)), username=str(body.get("username", "")),
                        release=str(body.get("release", "")), version=str(body.get("version", "")),
                        functions=frozenset(f["name"] for f in body.get("functions", [])), raw=body)

    @_parsed(WsFunction.COURSES_BY_FIELD)
    def courses(self, course_filter: dict[str, Any] | None = None) -> list[MoodleCourse]:
        """All courses the WS user can see, or those the connection's course filter names (one call)."""
        course_filter = course_filter or {}
        params: dict[str, Any] = {}
        if course_filter.get("course_ids"):
            params = {"field": "ids", "value": ",".join(str(int(i)) for i in course_filter["course_ids"])}
        elif course_filter.get("category_id"):
            params = {"field": "category", "value": int(course_filter["category_id"])}
        body = self._call(WsFunction.COURSES_BY_FIELD, params)
        rows = self._expect(WsFunction.COURSES_BY_FIELD, body, "courses", list)
        courses = []
        for c in rows:
            if c.get("format") == "site" or int(c["id"]) == 1:  # the front page is not a course
                continue
            courses.append(MoodleCourse(
                id=int(c["id"]), shortname=str(c.get("shortname", "")), fullname=str(c.get("fullname", "")),
                idnumber=c.get("idnumber") or None, categoryid=_int(c.get("categoryid")),
                visible=bool(c.get("visible", 1)), enablecompletion=bool(c.get("enablecompletion", 1)),
                timemodified=_int(c.get("timemodified"))))
        return courses

    @_parsed(WsFunction.COURSE_CONTENTS)
    def course_modules(self, courseid: int) -> list[ModuleInfo]:
        body = self._call(WsFunction.COURSE_CONTENTS, {
            "courseid": courseid,
            "options": [{"name": "excludecontents", "value": 1}, {"name": "includestealthmodules", "value": 1}]})
        sections = self._expect(WsFunction.COURSE_CONTENTS, body, None, list)
        return [ModuleInfo(cmid=int(m["id"]), modname=str(m["modname"]), instance=int(m.get("instance") or 0),
                           name=str(m.get("name", "")), idnumber=m.get("idnumber") or None)
                for section in sections for m in section.get("modules", [])]

    @_parsed(WsFunction.ENROLLED_USERS)
    def enrolled_users(self, courseid: int, *, onlyactive: bool = True,
                       onlysuspended: bool = False) -> list[EnrolledUser]:
        """The course's users with an active enrolment (default), or only those whose enrolment is not
        active (``onlysuspended``: suspended, ended or not started yet). Both need moodle/course:enrolreview."""
        options = [{"name": "onlysuspended", "value": 1} if onlysuspended
                   else {"name": "onlyactive", "value": 1 if onlyactive else 0},
                   {"name": "userfields",
                    "value": "id,username,firstname,lastname,fullname,email,idnumber,lastcourseaccess,roles"}]
        body = self._call(WsFunction.ENROLLED_USERS, {"courseid": courseid, "options": options})
        rows = self._expect(WsFunction.ENROLLED_USERS, body, None, list)
        return [EnrolledUser(
            id=int(u["id"]), username=u.get("username"), firstname=str(u.get("firstname", "")),
            lastname=str(u.get("lastname", "")),
            fullname=str(u.get("fullname") or f"{u.get('firstname', '')} {u.get('lastname', '')}".strip()),
            email=u.get("email") or None, idnumber=u.get("idnumber") or None,
            lastcourseaccess=_int(u.get("lastcourseaccess")) or None,
            roles=tuple(r.get("shortname", "") for r in u.get("roles", []))) for u in rows]

    @_parsed(WsFunction.GRADE_ITEMS)
    def grade_items(self, courseid: int, userid: int = 0) -> list[UserGrades]:
        """Every user's grade items in a course (userid=0: all users in one call)."""
        body = self._call(WsFunction.GRADE_ITEMS, {"courseid": courseid, "userid": userid})
        rows = self._expect(WsFunction.GRADE_ITEMS, body, "usergrades", list)
        return [UserGrades(userid=int(u["userid"]), courseid=int(u.get("courseid", courseid)),
                           courseidnumber=u.get("courseidnumber") or None,
                           items=tuple(GradeResult(
                               itemid=int(g["id"]), itemname=g.get("itemname"), itemtype=str(g.get("itemtype", "")),
                               itemmodule=g.get("itemmodule"), iteminstance=_int(g.get("iteminstance")),
                               cmid=_int(g.get("cmid")), idnumber=g.get("idnumber") or None,
                               raw=to_decimal(g.get("graderaw")), grademin=to_decimal(g.get("grademin")),
                               grademax=to_decimal(g.get("grademax")), dategraded=_int(g.get("gradedategraded")),
                               overridden=bool(g.get("gradeisoverridden"))) for g in u.get("gradeitems", [])))
                for u in rows]

    @_parsed(WsFunction.ASSIGN_GRADES)
    def assign_grades(self, assignment_ids: Sequence[int], since: int = 0) -> list[AssignGradeRow]:
        if not assignment_ids:
            return []
        body = self._call(WsFunction.ASSIGN_GRADES, {"assignmentids": list(assignment_ids), "since": since})
        rows = self._expect(WsFunction.ASSIGN_GRADES, body, "assignments", list)
        out = []
        for a in rows:
            for g in a.get("grades", []):
                grade = to_decimal(g.get("grade"))
                out.append(AssignGradeRow(assignmentid=int(a["assignmentid"]), userid=int(g["userid"]),
                                          grade=None if grade is not None and grade < 0 else grade,
                                          attemptnumber=int(g.get("attemptnumber") or 0),
                                          timemodified=int(g.get("timemodified") or 0)))
        return out

    @_parsed(WsFunction.QUIZZES)
    def quizzes(self, courseids: Iterable[int]) -> list[QuizInfo]:
        ids = sorted(set(courseids))
        if not ids:
            return []
        body = self._call(WsFunction.QUIZZES, {"courseids": ids})
        return [_quiz(q) for q in self._expect(WsFunction.QUIZZES, body, "quizzes", list)]

    def quiz_attempts(self, quizid: int, userid: int, *,
                      function: WsFunction = WsFunction.QUIZ_ATTEMPTS) -> list[QuizAttemptRow]:
        """A learner's attempts at a quiz, in every state, previews left out.

        ``function`` is QUIZ_USER_ATTEMPTS where the service offers it (same parameters and attempt
        structure, per mod/quiz/classes/external.php). It reports the true states: a ``submitted``
        attempt (5.0+, awaiting grading; the old function calls it ``finished``, both without marks)
        stays ``submitted``, and ``notstarted`` attempts (pre-created by Moodle, 4.5+) are left out, as
        the old function leaves them out: the learner has done nothing yet."""
        if function not in (WsFunction.QUIZ_ATTEMPTS, WsFunction.QUIZ_USER_ATTEMPTS):
            raise ValueError(f"{function} does not list quiz attempts")
        return self._quiz_attempts(quizid, userid, function=function)

    @_parsed()
    def _quiz_attempts(self, quizid: int, userid: int, *, function: WsFunction) -> list[QuizAttemptRow]:
        body = self._call(function, {"quizid": quizid, "userid": userid, "status": "all", "includepreviews": 0})
        rows = [a for a in self._expect(function, body, "attempts", list) if a.get("state") != "notstarted"]
        return [QuizAttemptRow(id=int(a["id"]), quiz=int(a["quiz"]), userid=int(a["userid"]),
                               attempt=int(a["attempt"]), state=str(a.get("state", "")),
                               sumgrades=to_decimal(a.get("sumgrades")), timefinish=_int(a.get("timefinish")) or None,
                               timemodified=_int(a.get("timemodified"))) for a in rows]

    @_parsed(WsFunction.COURSE_COMPLETION)
    def course_completion(self, courseid: int, userid: int) -> CourseCompletionStatus:
        body = self._call(WsFunction.COURSE_COMPLETION, {"courseid": courseid, "userid": userid})
        status = self._expect(WsFunction.COURSE_COMPLETION, body, "completionstatus", dict)
        done = bool(status.get("completed"))
        criteria = status.get("completions", [])
        times = [int(c["timecompleted"]) for c in criteria if c.get("timecompleted")]
        flags = [bool(c.get("complete")) for c in criteria]
        met = bool(flags) and (any(flags) if int(status.get("aggregation") or 1) == 2 else all(flags))
        return CourseCompletionStatus(completed=done, timecompleted=max(times) if done and times else None,
                                      criteria_met=met, activities=_criterion_activities(criteria))

    @_parsed(WsFunction.ACTIVITIES_COMPLETION)
    def activities_completion(self, courseid: int, userid: int) -> list[ActivityCompletionRow]:
        body = self._call(WsFunction.ACTIVITIES_COMPLETION, {"courseid": courseid, "userid": userid})
        rows = self._expect(WsFunction.ACTIVITIES_COMPLETION, body, "statuses", list)
        return [ActivityCompletionRow(cmid=int(s["cmid"]), modname=str(s.get("modname", "")),
                                      instance=_int(s.get("instance")), state=int(s.get("state") or 0),
                                      timecompleted=_int(s.get("timecompleted")) or None,
                                      overridden=s.get("overrideby") is not None)
                for s in rows if s.get("hascompletion", True) and s.get("tracking", 1)]

    @_parsed(WsFunction.COURSE_MODULE)
    def course_module(self, cmid: int) -> ModuleInfo:
        """One activity by its cmid. Tells a hidden activity (MissingCapability: "Activity is hidden") from
        a deleted one (RecordNotFound), which the course contents do not: both are simply left out there."""
        body = self._call(WsFunction.COURSE_MODULE, {"cmid": cmid})
        cm = self._expect(WsFunction.COURSE_MODULE, body, "cm", dict)
        return ModuleInfo(cmid=int(cm["id"]), modname=str(cm.get("modname", "")), instance=int(cm.get("instance") or 0),
                          name=str(cm.get("name", "")), idnumber=cm.get("idnumber") or None)

    @_parsed(WsFunction.GRADEBOOK_ITEMS)
    def gradebook_items(self, courseid: int) -> list[GradebookItem]:
        """Every grade item of a course but the totals (Moodle 4.2+), including those of activities the
        caller cannot see: the gradebook as it is, to compare with what the other functions show."""
        body = self._call(WsFunction.GRADEBOOK_ITEMS, {"courseid": courseid})
        rows = self._expect(WsFunction.GRADEBOOK_ITEMS, body, "gradeItems", list)
        return [GradebookItem(id=int(r["id"]), name=str(r.get("itemname") or "")) for r in rows]

    @_parsed(WsFunction.COURSE_COMPETENCIES)
    def course_competencies(self, courseid: int) -> list[CompetencyInfo]:
        body = self._call(WsFunction.COURSE_COMPETENCIES, {"id": courseid})
        rows = self._expect(WsFunction.COURSE_COMPETENCIES, body, None, list)
        return [CompetencyInfo(id=int(r["competency"]["id"]), idnumber=r["competency"].get("idnumber") or None,
                               shortname=str(r["competency"].get("shortname", ""))) for r in rows]

    @_parsed(WsFunction.RETRIEVE_REPORT)
    def completion_report(self, reportid: int, perpage: int = 1000) -> list[ReportCompletion]:
        """Every row of a custom course-completion report (Moodle 4.1+), in ceil(rows/perpage) calls.

        Columns are found by their header (Course ID number, Username, ID number, Time completed)."""
        rows: list[ReportCompletion] = []
        page = 0
        while True:
            body = self._call(WsFunction.RETRIEVE_REPORT,
                                    {"reportid": reportid, "page": page, "perpage": perpage})
            data = self._expect(WsFunction.RETRIEVE_REPORT, body, "data", dict)
            headers = [REPORT_COLUMNS.get(str(h).strip().lower()) for h in data.get("headers", [])]
            if "timecompleted" not in headers or not ({"username", "idnumber"} & set(headers)):
                raise MalformedResponse(WsFunction.RETRIEVE_REPORT, f"report {reportid} lacks the columns "
                                        "Course ID number, Username or ID number, and Time completed")
            chunk = data.get("rows", [])
            for row in chunk:
                cells = dict(zip(headers, row.get("columns", []), strict=False))
                rows.append(ReportCompletion(course_idnumber=cells.get("course_idnumber") or None,
                                             username=cells.get("username") or None,
                                             idnumber=cells.get("idnumber") or None,
                                             timecompleted=parse_report_date(cells.get("timecompleted"))))
            page += 1
            if not chunk or len(rows) >= int(data.get("totalrowcount") or 0):
                return rows

    @_parsed(WsFunction.COMPETENCY_REPORT)
    def user_competencies(self, courseid: int, userid: int) -> list[UserCompetencyRow]:
        """All of one learner's competency ratings in one course (one call, not one per competency)."""
        body = self._call(WsFunction.COMPETENCY_REPORT, {"courseid": courseid, "userid": userid, "moduleid": 0})
        rows = self._expect(WsFunction.COMPETENCY_REPORT, body, "usercompetencies", list)
        out = []
        for r in rows:
            ucc = r.get("usercompetencycourse") or {}
            comp = (r.get("competency") or {}).get("competency") or {}
            out.append(UserCompetencyRow(
                competencyid=int(ucc.get("competencyid") or comp.get("id")), idnumber=comp.get("idnumber") or None,
                proficiency=None if ucc.get("proficiency") is None else bool(ucc.get("proficiency")),
                grade=_int(ucc.get("grade")) or None, timemodified=_int(ucc.get("timemodified"))))
        return out


REPORT_COLUMNS = {"course id number": "course_idnumber", "username": "username", "id number": "idnumber",
                  "time completed": "timecompleted"}


def parse_report_date(text: str | None) -> int | None:
    """A report cell such as "22 November 2026, 4:05 AM" (userdate, the WS user's timezone = UTC)."""
    if not text:
        return None
    for fmt in ("%d %B %Y, %I:%M %p", "%A, %d %B %Y, %I:%M %p", "%d/%m/%Y, %H:%M", "%Y-%m-%d %H:%M"):
        try:
            return int(datetime.strptime(text.strip(), fmt).replace(tzinfo=UTC).timestamp())
        except ValueError:
            continue
    return None


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
