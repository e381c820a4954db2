"""In-memory model of a Moodle 4.5 site: the data behind every emulated Web Services function.

The model keeps Moodle's own tables in spirit (course_modules, grade_items, grade_grades,
assign_grades, quiz_attempts, course_modules_completion, course_completions, competency_*),
so the WS layer can render responses the way Moodle derives them.  Mutation hooks
(`complete_activity`, `set_grade`, ...) update the derived values the way Moodle's event
observers do; course completion aggregation is left to `run_cron()` like Moodle's
`\\core\\task\\completion_regular_task`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Completion states (lib/completionlib.php).
COMPLETION_INCOMPLETE = 0
COMPLETION_COMPLETE = 1
COMPLETION_COMPLETE_PASS = 2
COMPLETION_COMPLETE_FAIL = 3

# Course completion criteria types (completion/criteria/completion_criteria.php).
CRITERIA_TYPE_ACTIVITY = 4
CRITERIA_TYPE_GRADE = 6

ROLE_EDITINGTEACHER = 3
ROLE_TEACHER = 4
ROLE_STUDENT = 5
ROLE_SHORTNAMES = {ROLE_EDITINGTEACHER: "editingteacher", ROLE_TEACHER: "teacher", ROLE_STUDENT: "student"}

ENROL_ACTIVE = 0
ENROL_SUSPENDED = 1


class SiteError(ValueError):
    """A hook was called with ids or values that do not exist / make no sense in this site."""


class Clock:
    """Site time: follows the wall clock from `start`, never goes back, and `tick()` always advances.

    Moodle stamps rows with time(); tests need two successive mutations to get distinct stamps,
    so each mutation takes a fresh tick that is strictly greater than the previous one.
    """

    def __init__(self, start: int | None = None, *, follow_wall: bool = True) -> None:
        self._wall0 = time.time()
        self._start = int(self._wall0) if start is None else int(start)
        self._follow_wall = follow_wall
        self._offset = 0
        self._last = self._start
        self._lock = threading.Lock()

    def _raw(self) -> int:
        elapsed = int(time.time() - self._wall0) if self._follow_wall else 0
        return self._start + elapsed + self._offset

    def now(self) -> int:
        with self._lock:
            self._last = max(self._last, self._raw())
            return self._last

    def tick(self) -> int:
        with self._lock:
            self._last = max(self._last + 1, self._raw())
            return self._last

    def advance(self, seconds: int) -> int:
        """Move site time forward (e.g. "a day passes" for aggregation lag tests)."""
        if seconds < 0:
            raise SiteError("the site clock cannot go backwards")
        with self._lock:
            self._offset += int(seconds)
            self._last = max(self._last + int(seconds), self._raw())
            return self._last


@dataclass(slots=True)
class User:
    id: int
    username: str
    firstname: str
    lastname: str
    email: str
    idnumber: str = ""
    department: str = ""
    institution: str = ""
    city: str = ""
    country: str = ""
    timezone: str = "99"
    lang: str = "en"
    auth: str = "manual"
    suspended: bool = False
    firstaccess: int = 0
    lastaccess: int = 0
    timecreated: int = 0
    timemodified: int = 0

    @property
    def fullname(self) -> str:
        return f"{self.firstname} {self.lastname}"


@dataclass(slots=True)
class Category:
    id: int
    name: str
    idnumber: str = ""
    description: str = ""
    parent: int = 0
    sortorder: int = 10000
    timemodified: int = 0

    @property
    def depth(self) -> int:
        return 1 if not self.parent else 2

    @property
    def path(self) -> str:
        return f"/{self.parent}/{self.id}" if self.parent else f"/{self.id}"


@dataclass(slots=True)
class Section:
    id: int
    section: int
    name: str = ""
    sequence: list[int] = field(default_factory=list)


@dataclass(slots=True)
class Criterion:
    id: int
    course: int
    criteriatype: int
    moduleinstance: int | None = None  # cmid for activity criteria
    gradepass: float | None = None  # course grade criterion


@dataclass(slots=True)
class Course:
    id: int
    shortname: str
    fullname: str
    idnumber: str
    categoryid: int
    summary: str = ""
    startdate: int = 0
    enddate: int = 0
    timecreated: int = 0
    timemodified: int = 0
    contextid: int = 0
    sortorder: int = 10001
    format: str = "topics"
    visible: int = 1
    enablecompletion: int = 1
    completion_aggregation: int = 1  # COMPLETION_AGGREGATION_ALL
    sections: list[Section] = field(default_factory=list)
    criteria: list[Criterion] = field(default_factory=list)
    contacts: list[int] = field(default_factory=list)


@dataclass(slots=True)
class Module:
    """A course module plus its activity instance (mdl_course_modules + mdl_<modname>)."""

    id: int
    course: int
    modname: str
    instance: int
    name: str
    section: int  # section number
    contextid: int = 0
    intro: str = ""
    idnumber: str = ""
    visible: int = 1
    completion: int = 2  # COMPLETION_TRACKING_AUTOMATIC
    completionview: bool = False
    completionusegrade: bool = False
    completionpassgrade: bool = False
    completionsubmit: bool = False
    added: int = 0
    timemodified: int = 0
    # Module-specific settings: quiz (timelimit, password, subnet, browsersecurity, sumgrades,
    # grade, gradepass, accessrules, ...), assign (duedate, allowsubmissionsfromdate, grade), page
    # (content), lti (typeid, toolurl).
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class GradeItem:
    id: int
    courseid: int
    itemtype: str  # course / mod / manual
    itemname: str | None
    grademax: float
    itemmodule: str | None = None
    iteminstance: int | None = None
    itemnumber: int | None = 0
    cmid: int | None = None
    idnumber: str | None = None
    grademin: float = 0.0
    gradepass: float = 0.0
    categoryid: int | None = None
    timemodified: int = 0
    #: counted in the course total (False: an item the aggregation leaves out, shown with weight 0 and
    #: status "novalue", as the bonus item of the capabilities/ recordings)
    in_total: bool = True


@dataclass(slots=True)
class Grade:
    itemid: int
    userid: int
    rawgrade: float | None
    timecreated: int
    timemodified: int
    dategraded: int | None
    datesubmitted: int | None = None
    feedback: str = ""
    feedbackformat: int = 2  # FORMAT_PLAIN... Moodle's default for gradebook-written rows


@dataclass(slots=True)
class AssignGrade:
    id: int
    assignment: int
    userid: int
    attemptnumber: int
    timecreated: int
    timemodified: int
    grader: int
    grade: float  # -1 means "not graded" like Moodle


@dataclass(slots=True)
class Submission:
    id: int
    assignment: int
    userid: int
    attemptnumber: int
    status: str
    timecreated: int
    timemodified: int
    text: str = ""


@dataclass(slots=True)
class QuizAttempt:
    id: int
    quiz: int
    userid: int
    attempt: int
    state: str  # inprogress / overdue / finished / abandoned
    timestart: int
    timefinish: int
    timemodified: int
    sumgrades: float | None  # raw marks (out of quiz.sumgrades), not the scaled grade


@dataclass(slots=True)
class ActivityCompletion:
    cmid: int
    userid: int
    state: int
    timemodified: int
    viewed: bool = False


@dataclass(slots=True)
class Enrolment:
    courseid: int
    userid: int
    roleid: int
    status: int = ENROL_ACTIVE
    timestart: int = 0
    timeend: int = 0
    timecreated: int = 0
    timemodified: int = 0
    lastcourseaccess: int = 0


@dataclass(slots=True)
class CourseCompletion:
    courseid: int
    userid: int
    timeenrolled: int
    timestarted: int = 0
    timecompleted: int | None = None
    aggregated_at: int | None = None  # when cron wrote timecompleted (competency evidence is stamped then)


@dataclass(slots=True)
class Framework:
    id: int
    shortname: str
    idnumber: str
    description: str
    scaleid: int
    scale: dict[int, str]
    proficient: tuple[int, ...]
    timecreated: int = 0
    timemodified: int = 0


@dataclass(slots=True)
class Competency:
    id: int
    frameworkid: int
    shortname: str
    idnumber: str
    description: str
    sortorder: int
    timecreated: int = 0
    timemodified: int = 0


@dataclass(slots=True)
class CourseCompetency:
    id: int
    courseid: int
    competencyid: int
    sortorder: int
    ruleoutcome: int = 1
    timecreated: int = 0
    timemodified: int = 0


@dataclass(slots=True)
class ModuleCompetency:
    id: int
    cmid: int
    competencyid: int
    sortorder: int
    ruleoutcome: int = 1
    timecreated: int = 0
    timemodified: int = 0


@dataclass(slots=True)
class UserCompetencyCourse:
    id: int
    userid: int
    courseid: int
    competencyid: int
    grade: int | None
    proficiency: bool | None
    timecreated: int
    timemodified: int
    usermodified: int
    note: str = ""


@dataclass(slots=True)
class SiteConfig:
    sitename: str = "VET Acceptance Moodle"
    shortname: str = "vetacc"
    site_summary: str = "Loopback-only Moodle acceptance platform for LTI 1.3 / sync connector tests"
    wwwroot: str = "http://127.0.0.1:8080"
    #: which Moodle release the site stands in for (emulator/versions.py): its functions, release and version
    moodle: str = "4.5"
    release: str = "4.5 (Build: 20241007)"
    version: str = "2024100700"
    #: $CFG->grade_report_showonlyactiveenrol (Moodle's default: on). The user grade report of all users
    #: lists suspended enrolments only to a user with moodle/course:viewsuspendedusers when this is off
    #: (or their own preference turns it off): grade/report/user/classes/external/user.php.
    grade_report_showonlyactiveenrol: bool = True
    theme_rev: int = 1795316211
    ws_userid: int = 3
    nocap_userid: int = 4
    admin_userid: int = 2


class Site:
    """The whole emulated site. All access from the WS layer holds `site.lock`."""

    def __init__(self, *, clock: Clock | None = None, config: SiteConfig | None = None,
                 aggregation_lag: int | None = 0) -> None:
        self.lock = threading.RLock()
        self.clock = clock or Clock()
        self.config = config or SiteConfig()
        # Seconds a user's criteria must have been met before cron marks the course complete
        # (0 = at once; N > 0 = checked again on every WS call, like a periodic cron);
        # None = only an explicit run_cron() aggregates (Moodle with cron not yet run).
        self.aggregation_lag = aggregation_lag
        # core_reportbuilder_retrieve_report: only completions of the last N days (None = all).
        self.report_window_days: int | None = None
        self.users: dict[int, User] = {}
        self.categories: dict[int, Category] = {}
        self.courses: dict[int, Course] = {}
        self.modules: dict[int, Module] = {}
        self.grade_items: dict[int, GradeItem] = {}
        self.grades: dict[tuple[int, int], Grade] = {}
        self.assign_grades: dict[tuple[int, int], AssignGrade] = {}
        self.submissions: dict[tuple[int, int], Submission] = {}
        self.quiz_attempts: dict[int, QuizAttempt] = {}
        self.activity_completion: dict[tuple[int, int], ActivityCompletion] = {}
        self.enrolments: dict[tuple[int, int], Enrolment] = {}
        self.course_completions: dict[tuple[int, int], CourseCompletion] = {}
        self.crit_completions: dict[tuple[int, int], int] = {}  # (criterionid, userid) -> timecompleted
        self.frameworks: dict[int, Framework] = {}
        self.competencies: dict[int, Competency] = {}
        self.course_competencies: dict[int, CourseCompetency] = {}
        self.module_competencies: dict[int, ModuleCompetency] = {}
        self.user_comp_course: dict[tuple[int, int, int], UserCompetencyCourse] = {}
        self._ids: dict[str, int] = {}
        # Criteria met but course not yet aggregated: (courseid, userid) -> time all criteria were met.
        self._pending: dict[tuple[int, int], int] = {}
        # Indexes (grade items / modules never move between courses once created).
        self._gi_by_cm: dict[int, GradeItem] = {}
        self._gi_by_course: dict[int, list[GradeItem]] = {}
        self._gi_sorted: dict[int, list[GradeItem]] = {}
        self._mod_by_instance: dict[tuple[str, int], Module] = {}
        # Lazily rebuilt groupings of the big tables (see _grouped); bumped whenever rows are deleted.
        self._deletions = 0
        self.completion_version = 0  # bumped whenever cron writes course completions
        self._groupings: dict[str, tuple[tuple[int, int], dict[Any, list[Any]]]] = {}

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_recording(cls, testdata_path: str | Path, **kwargs: Any) -> Site:
        from credbridge.emulator.recording import build_recorded_site

        return build_recorded_site(Path(testdata_path), **kwargs)

    @classmethod
    def from_capability_recording(cls, capabilities_dir: str | Path, **kwargs: Any) -> Site:
        """The site of fixtures moodle-4.5/capabilities/ (one course, three activities, 32 users)."""
        from credbridge.emulator.capability_site import build_capability_site

        return build_capability_site(Path(capabilities_dir), **kwargs)

    @classmethod
    def generate(cls, courses: int = 3, learners_per_course: int = 30, activities_per_course: int = 4,
                 completion_ratio: float = 0.6, seed: int = 1, **kwargs: Any) -> Site:
        from credbridge.emulator.generate import generate_site

        return generate_site(courses=courses, learners_per_course=learners_per_course,
                             activities_per_course=activities_per_course,
                             completion_ratio=completion_ratio, seed=seed, **kwargs)

    def next_id(self, table: str, at_least: int = 1) -> int:
        value = self._ids.get(table, 0) + 1
        if value < at_least:
            value = at_least
        self._ids[table] = value
        return value

    def reserve_id(self, table: str, value: int) -> int:
        self._ids[table] = max(self._ids.get(table, 0), value)
        return value

    # ------------------------------------------------------------------ lookups
    def _grouped(self, name: str, table: dict[Any, Any], key: Any) -> dict[Any, list[Any]]:
        """Rows of `table` grouped by key(dict_key, row), rebuilt only when rows were added or deleted.

        Builders and hooks write the tables directly, so instead of maintaining indexes on every write
        the grouping is keyed on (row count, deletion counter): adding rows changes the count, and
        every deletion bumps the counter.
        """
        stamp = (len(table), self._deletions)
        cached = self._groupings.get(name)
        if cached is None or cached[0] != stamp:
            groups: dict[Any, list[Any]] = {}
            for k, row in table.items():
                groups.setdefault(key(k, row), []).append(row)
            cached = self._groupings[name] = (stamp, groups)
        return cached[1]

    def enrolments_of_course(self, courseid: int) -> list[Enrolment]:
        return self._grouped("enrol_by_course", self.enrolments, lambda k, _e: k[0]).get(courseid, [])

    def enrolments_of_user(self, userid: int) -> list[Enrolment]:
        return self._grouped("enrol_by_user", self.enrolments, lambda k, _e: k[1]).get(userid, [])

    def assign_grades_of(self, assignment: int) -> list[AssignGrade]:
        return self._grouped("assign_grades", self.assign_grades, lambda k, _g: k[0]).get(assignment, [])

    def submissions_of(self, assignment: int) -> list[Submission]:
        return self._grouped("submissions", self.submissions, lambda k, _s: k[0]).get(assignment, [])

    def attempts_of(self, quiz: int) -> list[QuizAttempt]:
        return self._grouped("attempts", self.quiz_attempts, lambda _k, a: a.quiz).get(quiz, [])

    def user(self, userid: int) -> User:
        try:
            return self.users[userid]
        except KeyError:
            raise SiteError(f"no user with id {userid}") from None

    def course(self, courseid: int) -> Course:
        try:
            return self.courses[courseid]
        except KeyError:
            raise SiteError(f"no course with id {courseid}") from None

    def module(self, cmid: int) -> Module:
        try:
            return self.modules[cmid]
        except KeyError:
            raise SiteError(f"no course module with id {cmid}") from None

    def course_modules(self, courseid: int) -> list[Module]:
        """Modules in course-page order (section, then section sequence)."""
        course = self.course(courseid)
        return [self.modules[cmid] for s in course.sections for cmid in s.sequence if cmid in self.modules]

    def instance_module(self, modname: str, instance: int) -> Module:
        m = self._mod_by_instance.get((modname, instance))
        if m is None:
            raise SiteError(f"no {modname} with id {instance}")
        return m

    def course_grade_item(self, courseid: int) -> GradeItem:
        for gi in self._gi_by_course.get(courseid, ()):
            if gi.itemtype == "course":
                return gi
        raise SiteError(f"course {courseid} has no course total grade item")

    def course_grade_items(self, courseid: int) -> list[GradeItem]:
        """Grade items in gradebook order: activity / manual items by creation, course total last."""
        cached = self._gi_sorted.get(courseid)
        if cached is None:
            items = list(self._gi_by_course.get(courseid, ()))
            # Gradebook sortorder: items in creation order, the course total last.
            items.sort(key=lambda gi: (gi.itemtype == "course", gi.id))
            cached = self._gi_sorted[courseid] = items
        return list(cached)

    def module_grade_item(self, cmid: int) -> GradeItem | None:
        return self._gi_by_cm.get(cmid)

    def enrolled(self, courseid: int, *, onlyactive: bool = False, roleid: int | None = None) -> list[Enrolment]:
        out = list(self.enrolments_of_course(courseid))
        if onlyactive:
            out = [e for e in out if self.is_active(e)]
        if roleid is not None:
            out = [e for e in out if e.roleid == roleid]
        return sorted(out, key=lambda e: e.userid)

    def user_courses(self, userid: int) -> list[int]:
        return sorted((e.courseid for e in self.enrolments_of_user(userid)), reverse=True)

    def is_enrolled(self, courseid: int, userid: int) -> bool:
        return (courseid, userid) in self.enrolments

    def is_active(self, e: Enrolment) -> bool:
        """An active enrolment (get_enrolled_sql onlyactive): not suspended, not ended, account not suspended."""
        now = self.clock.now()
        return e.status == ENROL_ACTIVE and not self.users[e.userid].suspended and (e.timeend == 0 or e.timeend > now)

    def is_tracked(self, courseid: int, userid: int) -> bool:
        """completion_info::is_tracked_user: enrolled with an active enrolment."""
        e = self.enrolments.get((courseid, userid))
        return e is not None and self.is_active(e)

    def competency_by_idnumber(self, idnumber: str) -> Competency:
        for c in self.competencies.values():
            if c.idnumber == idnumber:
                return c
        raise SiteError(f"no competency with idnumber {idnumber!r}")

    # ------------------------------------------------------------------ builders used by generators
    def add_user(self, **fields: Any) -> User:
        uid = fields.pop("id", None) or self.next_id("user")
        self.reserve_id("user", uid)
        now = self.clock.now()
        user = User(id=uid, timecreated=fields.pop("timecreated", now), timemodified=fields.pop("timemodified", now),
                    **fields)
        self.users[uid] = user
        return user

    def add_module(self, course: Course, modname: str, name: str, section: int, **fields: Any) -> Module:
        cmid = fields.pop("id", None) or self.next_id("course_modules")
        self.reserve_id("course_modules", cmid)
        instance = fields.pop("instance", None) or self.next_id(modname)
        self.reserve_id(modname, instance)
        contextid = fields.pop("contextid", None) or self.next_id("context")
        self.reserve_id("context", contextid)
        now = self.clock.now()
        module = Module(id=cmid, course=course.id, modname=modname, instance=instance, name=name, section=section,
                        contextid=contextid, added=fields.pop("added", now),
                        timemodified=fields.pop("timemodified", now), **fields)
        self.modules[cmid] = module
        self._mod_by_instance[(modname, instance)] = module
        while len(course.sections) <= section:
            n = len(course.sections)
            course.sections.append(Section(id=self.next_id("course_sections"), section=n))
        course.sections[section].sequence.append(cmid)
        return module

    def add_grade_item(self, **fields: Any) -> GradeItem:
        gid = fields.pop("id", None) or self.next_id("grade_items")
        self.reserve_id("grade_items", gid)
        gi = GradeItem(id=gid, timemodified=fields.pop("timemodified", self.clock.now()), **fields)
        self.grade_items[gid] = gi
        if gi.cmid is not None:
            self._gi_by_cm[gi.cmid] = gi
        self._gi_by_course.setdefault(gi.courseid, []).append(gi)
        self._gi_sorted.pop(gi.courseid, None)
        return gi

    # ------------------------------------------------------------------ mutation hooks
    def enrol(self, userid: int, courseid: int, *, role: str | int = "student", timestart: int = 0,
              timeend: int = 0) -> Enrolment:
        """Enrol (or reactivate) a user, like enrol_manual: status active, course completion row started."""
        with self.lock:
            self.user(userid)
            self.course(courseid)
            roleid = role if isinstance(role, int) else {v: k for k, v in ROLE_SHORTNAMES.items()}.get(role)
            if roleid not in ROLE_SHORTNAMES:
                raise SiteError(f"unknown role {role!r}")
            now = self.clock.tick()
            existing = self.enrolments.get((courseid, userid))
            if existing:
                existing.status = ENROL_ACTIVE
                existing.roleid = roleid
                existing.timeend = timeend
                existing.timemodified = now
                return existing
            e = Enrolment(courseid=courseid, userid=userid, roleid=roleid, timestart=timestart or now,
                          timeend=timeend, timecreated=now, timemodified=now)
            self.enrolments[(courseid, userid)] = e
            if roleid == ROLE_STUDENT:
                self.course_completions.setdefault(
                    (courseid, userid), CourseCompletion(courseid=courseid, userid=userid, timeenrolled=now))
            return e

    def withdraw(self, userid: int, courseid: int, *, mode: str = "suspend") -> None:
        """Learner leaves a course: `suspend` keeps the enrolment (status=1), `unenrol` deletes it and,
        as Moodle's unenrol does, the user's completion and grades in that course."""
        with self.lock:
            e = self.enrolments.get((courseid, userid))
            if e is None:
                raise SiteError(f"user {userid} is not enrolled in course {courseid}")
            now = self.clock.tick()
            if mode == "suspend":
                e.status = ENROL_SUSPENDED
                e.timemodified = now
            elif mode == "unenrol":
                del self.enrolments[(courseid, userid)]
                self._deletions += 1
                self.course_completions.pop((courseid, userid), None)
                self._pending.pop((courseid, userid), None)
                for crit in self.course(courseid).criteria:
                    self.crit_completions.pop((crit.id, userid), None)
                for m in self.course_modules(courseid):
                    self.activity_completion.pop((m.id, userid), None)
                for gi in self.course_grade_items(courseid):
                    self.grades.pop((gi.id, userid), None)
            else:
                raise SiteError(f"withdraw mode must be 'suspend' or 'unenrol', not {mode!r}")

    def set_release(self, name: str) -> None:
        """Stand in for another Moodle release (4.1, 4.5, 5.0): its function set, release and version."""
        from credbridge.emulator.versions import release

        with self.lock:
            found = release(name)
            self.config.moodle, self.config.release, self.config.version = found.name, found.release, found.version

    def hide_activity(self, cmid: int, hidden: bool = True) -> None:
        """A teacher hides an activity from learners (or shows it again): only users with
        moodle/course:viewhiddenactivities still see it."""
        with self.lock:
            self.module(cmid).visible = 0 if hidden else 1

    def delete_activity(self, cmid: int) -> None:
        """A teacher deletes an activity (course_delete_module): the module, its grade item and grades,
        its attempts and completions go; course.timemodified does not change (only the cache revision)."""
        with self.lock:
            m = self.modules.pop(cmid, None)
            if m is None:
                raise SiteError(f"no course module {cmid}")
            self._mod_by_instance.pop((m.modname, m.instance), None)
            course = self.course(m.course)
            for section in course.sections:
                if cmid in section.sequence:
                    section.sequence.remove(cmid)
            course.criteria = [cr for cr in course.criteria if cr.moduleinstance != cmid]
            gi = self._gi_by_cm.pop(cmid, None)
            if gi is not None:
                self.grade_items.pop(gi.id, None)
                self._gi_by_course[m.course].remove(gi)
                self._gi_sorted.pop(m.course, None)
                for key in [k for k in self.grades if k[0] == gi.id]:
                    del self.grades[key]
            if m.modname == "quiz":
                for key in [k for k, a in self.quiz_attempts.items() if a.quiz == m.instance]:
                    del self.quiz_attempts[key]
            for key in [k for k in self.activity_completion if k[0] == cmid]:
                del self.activity_completion[key]
            self._deletions += 1

    def touch_course(self, courseid: int) -> int:
        """Course settings edited (core_course\\event\\course_updated): bumps course.timemodified."""
        with self.lock:
            course = self.course(courseid)
            course.timemodified = self.clock.tick()
            return course.timemodified

    def complete_activity(self, userid: int, cmid: int) -> ActivityCompletion:
        """The learner does what the activity's completion rule asks: views a page, submits and gets
        a passing grade on an assignment, passes a quiz, gets an LTI grade."""
        with self.lock:
            m = self.module(cmid)
            self._require_student(m.course, userid)
            if m.modname == "assign":
                gi = self.module_grade_item(cmid)
                grade = max(gi.gradepass, gi.grademax * 0.75) if gi else 100.0
                self.submit_assignment(userid, cmid)
                self.set_grade(userid, cmid, grade)
            elif m.modname == "quiz":
                total = float(m.settings.get("sumgrades", 3.0))
                self.finish_quiz_attempt(userid, cmid, total)
            elif m.completionusegrade:
                gi = self.module_grade_item(cmid)
                self.set_grade(userid, cmid, gi.grademax if gi else 100.0)
            else:
                self.view_activity(userid, cmid)
            return self.activity_completion[(cmid, userid)]

    def view_activity(self, userid: int, cmid: int) -> None:
        with self.lock:
            m = self.module(cmid)
            self._require_student(m.course, userid)
            now = self.clock.tick()
            ac = self.activity_completion.setdefault(
                (cmid, userid), ActivityCompletion(cmid=cmid, userid=userid, state=0, timemodified=now))
            ac.viewed = True
            self._touch_access(m.course, userid, now)
            self._recalculate_activity(m, userid, now)

    def submit_assignment(self, userid: int, cmid: int, text: str = "") -> Submission:
        with self.lock:
            m = self.module(cmid)
            if m.modname != "assign":
                raise SiteError(f"course module {cmid} is a {m.modname}, not an assignment")
            self._require_student(m.course, userid)
            now = self.clock.tick()
            sub = self.submissions.get((m.instance, userid))
            if sub is None:
                sub = Submission(id=self.next_id("assign_submission"), assignment=m.instance, userid=userid,
                                 attemptnumber=0, status="submitted", timecreated=now, timemodified=now,
                                 text=text or f"<p>Submission by {self.users[userid].fullname} for {m.name}.</p>")
                self.submissions[(m.instance, userid)] = sub
            else:
                sub.status = "submitted"
                sub.timemodified = now
            gi = self.module_grade_item(cmid)
            if gi is not None:
                g = self.grades.get((gi.id, userid))
                if g is None:
                    self.grades[(gi.id, userid)] = Grade(itemid=gi.id, userid=userid, rawgrade=None, timecreated=now,
                                                         timemodified=now, dategraded=None, datesubmitted=now)
                else:
                    g.datesubmitted = now
            self._touch_access(m.course, userid, now)
            self._recalculate_activity(m, userid, now)
            return sub

    def set_grade(self, userid: int, cmid: int | None, grade: float | None, *, itemid: int | None = None,
                  grader: int | None = None, feedback: str = "") -> None:
        """Grade an activity (by cmid) or a manual grade item (cmid=None, itemid=grade item id).

        For assignments this writes mdl_assign_grades (what mod_assign_get_grades returns) and pushes
        the grade to the gradebook, like assign::update_grade(); the course total and activity
        completion are recalculated.  `grade=None` removes the grade.
        """
        with self.lock:
            if (cmid is None) == (itemid is None):
                raise SiteError("set_grade needs exactly one of cmid or itemid")
            if itemid is not None:
                gi = self.grade_items.get(itemid)
                if gi is None:
                    raise SiteError(f"no grade item with id {itemid}")
                module = self.modules.get(gi.cmid) if gi.cmid else None
            else:
                module = self.module(cmid or 0)
                gi = self.module_grade_item(module.id)
                if gi is None:
                    raise SiteError(f"course module {module.id} ({module.modname}) has no grade item")
            self._require_student(gi.courseid, userid)
            if grade is not None and not (gi.grademin <= grade <= gi.grademax):
                raise SiteError(f"grade {grade} is outside {gi.grademin}..{gi.grademax} for grade item {gi.id}")
            now = self.clock.tick()
            grader = grader if grader is not None else self._course_grader(gi.courseid)
            if module is not None and module.modname == "assign":
                if (module.instance, userid) not in self.submissions:
                    # Grading creates the learner's (empty) latest submission, as assign::get_user_submission.
                    self.submissions[(module.instance, userid)] = Submission(
                        id=self.next_id("assign_submission"), assignment=module.instance, userid=userid,
                        attemptnumber=0, status="new", timecreated=now, timemodified=now)
                ag = self.assign_grades.get((module.instance, userid))
                if ag is None:
                    ag = AssignGrade(id=self.next_id("assign_grades"), assignment=module.instance, userid=userid,
                                     attemptnumber=0, timecreated=now, timemodified=now, grader=grader,
                                     grade=-1.0 if grade is None else float(grade))
                    self.assign_grades[(module.instance, userid)] = ag
                else:
                    ag.grade = -1.0 if grade is None else float(grade)
                    ag.timemodified = now
                    ag.grader = grader
            is_assign = module is not None and module.modname == "assign"
            self._write_grade(gi, userid, grade, now, feedback=feedback, feedbackformat=1 if is_assign else 2)
            if is_assign:
                # assign pushes graded rows without a submission date; an ungraded submission keeps it.
                sub = self.submissions.get((module.instance, userid))
                self.grades[(gi.id, userid)].datesubmitted = None if grade is not None or sub is None \
                    else sub.timemodified
            if module is not None:
                self._recalculate_activity(module, userid, now)
            self._after_grade_change(gi.courseid, userid, now)

    def reverse_grade(self, userid: int, cmid: int, new_grade: float | None = None) -> None:
        """A grade is removed (new_grade=None) or lowered. Activity completion is recalculated
        (pass -> fail / incomplete); an already aggregated course completion stays, as in Moodle."""
        with self.lock:
            m = self.module(cmid)
            if m.modname == "quiz":
                # Regrading / deleting attempts: the best attempt determines the grade.
                attempts = [a for a in self.attempts_of(m.instance) if a.userid == userid]
                now = self.clock.tick()
                if new_grade is None:
                    for a in attempts:
                        del self.quiz_attempts[a.id]
                    self._deletions += 1
                else:
                    scale = float(m.settings.get("sumgrades", 3.0)) / float(m.settings.get("grade", 10.0))
                    for a in attempts:
                        a.sumgrades = min(a.sumgrades or 0.0, new_grade * scale)
                        a.timemodified = now
                gi = self.module_grade_item(cmid)
                if gi is not None:
                    self._write_grade(gi, userid, new_grade, now)
                    self._recalculate_activity(m, userid, now)
                    self._after_grade_change(m.course, userid, now)
                return
            self.set_grade(userid, cmid, new_grade)

    def finish_quiz_attempt(self, userid: int, cmid: int, marks: float, *, state: str = "finished") -> QuizAttempt:
        """Learner finishes a quiz attempt with `marks` raw marks (out of quiz sumgrades); the quiz grade
        (scaled to quiz.grade, highest attempt) goes to the gradebook."""
        with self.lock:
            m = self.module(cmid)
            if m.modname != "quiz":
                raise SiteError(f"course module {cmid} is a {m.modname}, not a quiz")
            self._require_student(m.course, userid)
            total = float(m.settings.get("sumgrades", 3.0))
            if not 0 <= marks <= total:
                raise SiteError(f"marks {marks} outside 0..{total} for quiz {m.instance}")
            if state not in ("finished", "inprogress", "abandoned", "overdue"):
                raise SiteError(f"unknown quiz attempt state {state!r}")
            now = self.clock.tick()
            previous = [a for a in self.attempts_of(m.instance) if a.userid == userid]
            attempt_id = self.next_id("quiz_attempts")
            attempt = QuizAttempt(id=attempt_id, quiz=m.instance, userid=userid, attempt=len(previous) + 1,
                                  state=state, timestart=now, timefinish=now if state == "finished" else 0,
                                  timemodified=now, sumgrades=float(marks) if state == "finished" else None)
            self.quiz_attempts[attempt_id] = attempt
            self._touch_access(m.course, userid, now)
            if state == "finished":
                best = max(a.sumgrades or 0.0 for a in [*previous, attempt] if a.state == "finished")
                grade = round(best / total * float(m.settings.get("grade", 10.0)), 5) if total else 0.0
                gi = self.module_grade_item(cmid)
                if gi is not None:
                    self._write_grade(gi, userid, grade, now, datesubmitted=now)
                    self._recalculate_activity(m, userid, now)
                    self._after_grade_change(m.course, userid, now)
            return attempt

    def rate_competency(self, userid: int, courseid: int, competency: int | str, grade: int | None, *,
                        rater: int | None = None, note: str = "") -> UserCompetencyCourse:
        """Teacher rates a learner's competency in a course (tool_lp "rate" in course)."""
        with self.lock:
            self._require_student(courseid, userid)
            comp = self.competency_by_idnumber(competency) if isinstance(competency, str) \
                else self.competencies.get(competency)
            if comp is None:
                raise SiteError(f"no competency with id {competency}")
            links = self.course_competencies.values()
            if not any(cc.courseid == courseid and cc.competencyid == comp.id for cc in links):
                raise SiteError(f"competency {comp.idnumber} is not linked to course {courseid}")
            fw = self.frameworks[comp.frameworkid]
            if grade is not None and grade not in fw.scale:
                raise SiteError(f"grade {grade} is not on the framework scale {sorted(fw.scale)}")
            now = self.clock.tick()
            key = (userid, courseid, comp.id)
            rater = rater if rater is not None else self._course_grader(courseid)
            ucc = self.user_comp_course.get(key)
            proficiency = None if grade is None else grade in fw.proficient
            if ucc is None:
                ucc = UserCompetencyCourse(id=self.next_id("competency_usercompcourse"), userid=userid,
                                           courseid=courseid, competencyid=comp.id, grade=grade,
                                           proficiency=proficiency, timecreated=now, timemodified=now,
                                           usermodified=rater, note=note)
                self.user_comp_course[key] = ucc
            else:
                ucc.grade, ucc.proficiency, ucc.timemodified, ucc.usermodified = grade, proficiency, now, rater
                ucc.note = note
            return ucc

    def run_cron(self, *, force: bool = False) -> list[tuple[int, int]]:
        """Aggregate course completions (completion_regular_task). Returns newly completed (courseid, userid).

        With aggregation_lag > 0 only users whose criteria were met at least that many seconds ago
        are aggregated; `force=True` ignores the lag.
        """
        with self.lock:
            now = self.clock.now()
            lag = 0 if force or self.aggregation_lag is None else self.aggregation_lag
            done = []
            for key, met_at in sorted(self._pending.items()):
                if met_at + lag > now:
                    continue
                cc = self.course_completions.get(key)
                if cc is not None and cc.timecompleted is None:
                    cc.timecompleted = met_at
                    cc.aggregated_at = now
                    done.append(key)
                    self.completion_version += 1
                del self._pending[key]
            return done

    # ------------------------------------------------------------------ derived values
    def course_total(self, courseid: int, userid: int) -> float | None:
        """Natural aggregation (sum of graded items), as Moodle's default course category."""
        values = [g.rawgrade for gi in self.course_grade_items(courseid) if gi.itemtype != "course" and gi.in_total
                  for g in [self.grades.get((gi.id, userid))] if g is not None and g.rawgrade is not None]
        return round(sum(values), 5) if values else None

    def activity_state(self, cmid: int, userid: int) -> tuple[int, int]:
        ac = self.activity_completion.get((cmid, userid))
        return (ac.state, ac.timemodified) if ac else (0, 0)

    def criterion_completion(self, crit: Criterion, userid: int) -> int | None:
        return self.crit_completions.get((crit.id, userid))

    def course_completed_at(self, courseid: int, userid: int) -> int | None:
        cc = self.course_completions.get((courseid, userid))
        return cc.timecompleted if cc else None

    # ------------------------------------------------------------------ internals
    def _require_student(self, courseid: int, userid: int) -> None:
        self.user(userid)
        if (courseid, userid) not in self.enrolments:
            raise SiteError(f"user {userid} is not enrolled in course {courseid}")

    def _course_grader(self, courseid: int) -> int:
        teachers = [e.userid for e in self.enrolled(courseid) if e.roleid == ROLE_EDITINGTEACHER]
        return teachers[0] if teachers else self.config.admin_userid

    def _touch_access(self, courseid: int, userid: int, now: int) -> None:
        e = self.enrolments.get((courseid, userid))
        if e is not None:
            e.lastcourseaccess = now
        user = self.users[userid]
        if not user.firstaccess:
            user.firstaccess = now
        user.lastaccess = now

    def _write_grade(self, gi: GradeItem, userid: int, value: float | None, now: int, *, feedback: str = "",
                     feedbackformat: int = 2, datesubmitted: int | None = None) -> None:
        g = self.grades.get((gi.id, userid))
        if g is None:
            g = Grade(itemid=gi.id, userid=userid, rawgrade=None, timecreated=now, timemodified=now, dategraded=None)
            self.grades[(gi.id, userid)] = g
        g.rawgrade = None if value is None else float(value)
        g.timemodified = now
        g.dategraded = None if value is None else now
        if datesubmitted is not None:
            g.datesubmitted = datesubmitted
        if feedback:
            g.feedback = feedback
        g.feedbackformat = feedbackformat

    def _after_grade_change(self, courseid: int, userid: int, now: int) -> None:
        total = self.course_total(courseid, userid)
        course_item = self.course_grade_item(courseid)
        g = self.grades.get((course_item.id, userid))
        if total is None:
            if g is not None:
                g.rawgrade, g.dategraded, g.timemodified = None, None, now
        else:
            if g is None:
                g = Grade(itemid=course_item.id, userid=userid, rawgrade=total, timecreated=now, timemodified=now,
                          dategraded=now)
                self.grades[(course_item.id, userid)] = g
            elif g.rawgrade != total:
                g.rawgrade, g.timemodified, g.dategraded = total, now, now
        self._review_criteria(courseid, userid, now)

    def _recalculate_activity(self, m: Module, userid: int, now: int) -> None:
        """completion_info::internal_get_state for the rules this emulator supports."""
        ac = self.activity_completion.get((m.id, userid))
        if ac is None:
            ac = ActivityCompletion(cmid=m.id, userid=userid, state=0, timemodified=0)
            self.activity_completion[(m.id, userid)] = ac
        state = self.compute_state(m, userid, ac.viewed)
        if state != ac.state:
            ac.state = state
            ac.timemodified = now
        self._review_criteria(m.course, userid, now)

    def rule_statuses(self, m: Module, userid: int, viewed: bool | None = None) -> list[tuple[str, int]]:
        """Per-rule status as cm_completion_details::get_details reports it."""
        if viewed is None:
            ac = self.activity_completion.get((m.id, userid))
            viewed = bool(ac and ac.viewed)
        rules: list[tuple[str, int]] = []
        if m.completionview:
            rules.append(("completionview", COMPLETION_COMPLETE if viewed else COMPLETION_INCOMPLETE))
        if m.completionsubmit:
            sub = self.submissions.get((m.instance, userid))
            rules.append(("completionsubmit", COMPLETION_COMPLETE if sub and sub.status == "submitted" else 0))
        if m.completionusegrade or m.completionpassgrade:
            gi = self.module_grade_item(m.id)
            g = self.grades.get((gi.id, userid)) if gi else None
            if g is None or g.rawgrade is None:
                gstate = COMPLETION_INCOMPLETE
            elif gi is not None and gi.gradepass > 0:
                gstate = COMPLETION_COMPLETE_PASS if g.rawgrade >= gi.gradepass else COMPLETION_COMPLETE_FAIL
            else:
                gstate = COMPLETION_COMPLETE
            if m.completionusegrade:
                # With a pass-grade rule a failing grade still meets "receive a grade"; otherwise the
                # rule carries the pass/fail outcome itself (cm_completion_details).
                usegrade = COMPLETION_COMPLETE if (m.completionpassgrade and gstate == COMPLETION_COMPLETE_FAIL) \
                    else gstate
                rules.append(("completionusegrade", usegrade))
            if m.completionpassgrade:
                rules.append(("completionpassgrade", gstate))
        return rules

    def compute_state(self, m: Module, userid: int, viewed: bool) -> int:
        """completion_info::internal_get_state from the per-rule statuses."""
        rules = self.rule_statuses(m, userid, viewed)
        if not rules:
            return COMPLETION_INCOMPLETE
        states = [s for _, s in rules]
        if COMPLETION_INCOMPLETE in states:
            return COMPLETION_INCOMPLETE
        # Any failed grade rule makes the whole activity "complete, failed" (state 3); only with a
        # pass-grade rule does that keep the course criterion unmet (see criterion_met).
        if COMPLETION_COMPLETE_FAIL in states:
            return COMPLETION_COMPLETE_FAIL
        if COMPLETION_COMPLETE_PASS in states:
            return COMPLETION_COMPLETE_PASS
        return COMPLETION_COMPLETE

    def criterion_met(self, crit: Criterion, userid: int) -> bool:
        if crit.criteriatype == CRITERIA_TYPE_ACTIVITY and crit.moduleinstance is not None:
            m = self.modules.get(crit.moduleinstance)
            if m is None:
                return False
            state, _ = self.activity_state(m.id, userid)
            accepted = {COMPLETION_COMPLETE, COMPLETION_COMPLETE_PASS}
            if not m.completionpassgrade:
                accepted.add(COMPLETION_COMPLETE_FAIL)
            return state in accepted
        if crit.criteriatype == CRITERIA_TYPE_GRADE:
            total = self.course_total(crit.course, userid)
            return total is not None and crit.gradepass is not None and total >= crit.gradepass
        return False

    def _review_criteria(self, courseid: int, userid: int, now: int) -> None:
        """Mark newly met criteria (criteria completions are sticky in Moodle) and queue aggregation."""
        course = self.courses[courseid]
        if not course.criteria or (courseid, userid) not in self.course_completions:
            return
        for crit in course.criteria:
            if (crit.id, userid) not in self.crit_completions and self.criterion_met(crit, userid):
                if crit.criteriatype == CRITERIA_TYPE_ACTIVITY:
                    _, t = self.activity_state(crit.moduleinstance or 0, userid)
                    self.crit_completions[(crit.id, userid)] = t or now
                else:
                    self.crit_completions[(crit.id, userid)] = now
        cc = self.course_completions[(courseid, userid)]
        if cc.timecompleted is not None:
            return
        met = [(crit.id, userid) in self.crit_completions for crit in course.criteria]
        complete = all(met) if course.completion_aggregation == 1 else any(met)
        if complete:
            self._pending.setdefault((courseid, userid), max(
                self.crit_completions[(c.id, userid)] for c in course.criteria
                if (c.id, userid) in self.crit_completions))
            if self.aggregation_lag == 0:
                self.run_cron()

    # ------------------------------------------------------------------ summaries
    def summary(self) -> dict[str, Any]:
        with self.lock:
            return {
                "now": self.clock.now(),
                "release": self.config.release,
                "version": self.config.version,
                "aggregation_lag": self.aggregation_lag,
                "users": len(self.users),
                "categories": len(self.categories),
                "courses": [{"id": c.id, "shortname": c.shortname, "idnumber": c.idnumber,
                             "timemodified": c.timemodified,
                             "enrolled": sum(1 for (cid, _u) in self.enrolments if cid == c.id),
                             "completed": sum(1 for (cid, _u), cc in self.course_completions.items()
                                              if cid == c.id and cc.timecompleted is not None),
                             "modules": [{"cmid": m.id, "modname": m.modname, "instance": m.instance,
                                          "idnumber": m.idnumber, "name": m.name}
                                         for m in self.course_modules(c.id)]}
                            for c in sorted(self.courses.values(), key=lambda c: c.id) if c.id != 1],
                "pending_aggregation": len(self._pending),
                "quiz_attempts": len(self.quiz_attempts),
                "grades": len(self.grades),
            }
