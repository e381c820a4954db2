"""The sync of one connection: what to ask Moodle, and when, so that a quiet site costs ~1 call per
course while nothing that matters is missed for longer than one reconciliation period.

Per incremental sync (C courses, D dirty courses, L learners with changed signals):

* site info, cached a day (0-1 call); courses by field (1 call); course structure (contents,
  quizzes, competencies) only for new courses, on a changed course ``timemodified`` or once a day;
* ``mod_assign_get_grades`` for every assignment since the cursor minus an overlap (1 call);
* enrolled users per course (C calls): the roster and ``lastcourseaccess``, the cheapest signal
  that a learner did something;
* ``gradereport_user_get_grade_items(userid=0)`` only for dirty courses (D calls): a new or
  withdrawn learner, a changed ``lastcourseaccess``, a changed assignment grade, or a course where
  a learner was active in the last day and whose gradebook was last read over an hour ago (so a
  grade an external tool sends back after the visit arrives within the hour, at one call per
  active course per hour);
* per-learner completion (course + activities), quiz attempts and competency calls only for the L
  learners whose signals changed (access or grades) and who are not complete yet, plus those whose
  activities are done but whose course completion waits for Moodle's cron.

A full reconciliation (``full=True``; nightly by default) re-reads everything, which catches
what leaves no signal: cron-aggregated completions, teacher overrides, competency ratings,
reversed quiz grades, and grades an external tool (LTI) or a teacher gives to a non-assignment
activity more than a day after the learner's last visit (grade_grades changes move no
``lastcourseaccess``; the hourly recheck of active courses covers the day after a visit).

Crash safety: each course is fetched first and then written in ONE transaction with its
enrolments, evidence, evaluation requests and cursor, so a process killed at any point leaves
every course either fully before or fully after; the site-wide assignment cursor moves only after
every course is written. Re-reading is harmless because the upsert is idempotent.

Hidden is never gone: an activity the course contents, the gradebook or the completion statuses stop
showing is asked about by its cmid (connector/sync/visibility.py) before anything of it is forgotten. An
activity Moodle hides from the sync user keeps its evidence as last seen, its course is flagged, and what
Moodle hides or refuses becomes the connection's error until the sync user's role lets sync see it.

The decisions — which courses and learners to read, and why — are the pure planner's (``plan.py``);
this module fetches around it and ``write.py`` writes each course in its transaction.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from credbridge.connector.moodle.errors import (
    CourseNotFound,
    MissingCapability,
    MoodleError,
    NotEnrolled,
    RecordNotFound,
)
from credbridge.connector.moodle.functions import (
    CompetencyInfo,
    ModuleInfo,
    MoodleApi,
    MoodleCourse,
    QuizInfo,
    WsFunction,
    WsWarning,
)
from credbridge.connector.store.base import utcnow
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import (
    Activity,
    Course,
    CourseCompetency,
    LmsConnection,
    SyncRun,
)
from credbridge.connector.sync import evidence as ev
from credbridge.connector.sync.plan import (
    STUDENT_ROLES,
    CoursePlan,
    CourseState,
    Signals,
    learners_to_read,
    plan_course,
)
from credbridge.connector.sync.store import get_cursor, read_course_state, read_position, set_position
from credbridge.connector.sync.visibility import HiddenActivity, permission_problem, probe_missing
from credbridge.connector.sync.worker import WorkInterrupted
from credbridge.connector.sync.write import CourseFetch, write_course

log = logging.getLogger(__name__)

SITE_INFO_MAX_AGE = timedelta(days=1)
STRUCTURE_MAX_AGE = timedelta(days=1)
ASSIGN_OVERLAP_SECONDS = 3600
#: after a learner's visit, how long the course's gradebook is rechecked, and how often
ACTIVE_WINDOW = timedelta(days=1)
GRADE_RECHECK = timedelta(hours=1)
Progress = Callable[[int, int, str], None]
__all__ = ["STUDENT_ROLES", "ConnectionSync", "CourseFetch", "Progress", "SyncOptions", "SyncReport"]


@dataclass
class SyncOptions:
    full: bool = False
    course_moodle_id: int | None = None
    #: the naive strategy: every learner's completion read on every sync (for the benchmark)
    naive: bool = False
    assign_overlap_seconds: int = ASSIGN_OVERLAP_SECONDS
    active_window: timedelta = ACTIVE_WINDOW
    grade_recheck: timedelta = GRADE_RECHECK
    #: set by the daemon on SIGTERM: the sync stops between courses (each finished course is committed)
    stop: threading.Event | None = None

    @property
    def reads_everything(self) -> bool:
        return self.full or self.naive or self.course_moodle_id is not None


class SyncInterrupted(WorkInterrupted):
    pass


@dataclass
class SyncReport:
    connection: str
    mode: str
    courses: int = 0
    dirty_courses: int = 0
    learners_read: int = 0
    ws_calls: int = 0
    calls: dict[str, int] = field(default_factory=dict)
    counts: ev.WriteCounts = field(default_factory=ev.WriteCounts)
    seconds: float = 0.0
    run_id: int | None = None
    #: what Moodle hid from or refused the sync user (the connection's error), None when nothing
    problem: str | None = None

    def line(self) -> str:
        return (f"sync {self.connection} ({self.mode}): {self.courses} courses, {self.dirty_courses} dirty, "
                f"{self.learners_read} learners read, {self.ws_calls} WS calls, {self.counts.new} new / "
                f"{self.counts.changed} changed / {self.counts.withdrawn} withdrawn evidence, "
                f"{len(self.counts.learners)} learners to evaluate, {self.seconds:.1f}s")


class Problems:
    """What Moodle hid from or refused the sync user during one sync (threads add to it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.hidden: dict[tuple[str, int | None, str], HiddenActivity] = {}
        self.warnings: list[WsWarning] = []
        self.notes: list[str] = []

    def hide(self, course: str, cmid: int | None, modname: str | None, name: str, seen_in: str) -> None:
        with self._lock:
            self.hidden.setdefault((course, cmid, name), HiddenActivity(course, name, cmid, modname, (seen_in,)))

    def warn(self, warnings: Iterable[WsWarning]) -> None:
        with self._lock:
            self.warnings.extend(w for w in warnings if w.about_permissions)

    def note(self, text: str) -> None:
        with self._lock:
            self.notes.append(text)

    def summary(self) -> str | None:
        return permission_problem(self.hidden.values(), self.warnings, self.notes)


class ConnectionSync:
    def __init__(self, db: Database, connection_id: int, api: MoodleApi, options: SyncOptions | None = None,
                 *, progress: Progress | None = None, worker: str | None = None) -> None:
        self.db = db
        self.connection_id = connection_id
        self.api = api
        self.options = options or SyncOptions()
        self.progress = progress or (lambda _d, _t, _s: None)
        self.worker = worker
        self.functions: frozenset[str] = frozenset()
        self.parallel = max(1, getattr(api.client, "max_concurrency", 1))
        self.report_completed: dict[str, set[str]] = {}
        self.problems = Problems()
        self.refreshed: set[int] = set()  # courses whose structure this sync read

    # --- entry point ---------------------------------------------------------------------------

    def run(self) -> SyncReport:
        started = time.monotonic()
        calls_before = dict(self.api.client.calls)
        mode = "course" if self.options.course_moodle_id else ("full" if self.options.full else "incremental")
        with self.db.unit_of_work() as session:
            conn = session.get(LmsConnection, self.connection_id)
            if conn is None:
                raise LookupError(f"no LMS connection with id {self.connection_id}")
            report = SyncReport(connection=conn.name, mode=mode)
            run = SyncRun(connection_id=conn.id, mode=mode, worker=self.worker)
            session.add(run)
            session.flush()
            report.run_id = run.id
        self.api.take_warnings()
        try:
            self._run(report)
        except SyncInterrupted as exc:
            self._finish(report, calls_before, started, error=f"interrupted: {exc}", status="interrupted")
            log.info("sync %s (%s) interrupted: %s", report.connection, mode, exc)
            raise
        except Exception as exc:
            self._finish(report, calls_before, started, error=f"{type(exc).__name__}: {exc}")
            raise
        self._finish(report, calls_before, started, error=None)
        log.info("%s", report.line())
        if report.problem:
            log.warning("sync %s: %s", report.connection, report.problem)
        return report

    def _finish(self, report: SyncReport, calls_before: dict[str, int], started: float, error: str | None,
                status: str | None = None) -> None:
        report.calls = {k: v - calls_before.get(k, 0) for k, v in self.api.client.calls.items()
                        if v - calls_before.get(k, 0)}
        report.ws_calls = sum(report.calls.values())
        report.seconds = time.monotonic() - started
        self.problems.warn(self.api.take_warnings())
        report.problem = self.problems.summary()
        # a sync that read everything Moodle let it read, but not everything, is "incomplete"
        outcome = error or report.problem
        with self.db.unit_of_work() as session:
            run = session.get(SyncRun, report.run_id)
            conn = session.get(LmsConnection, self.connection_id)
            if run is not None:
                run.finished_at = utcnow()
                run.status = status or ("failed" if error else "incomplete" if report.problem else "ok")
                run.error = outcome[:2000] if outcome else None
                run.ws_calls = report.ws_calls
                run.evidence_new = report.counts.new
                run.evidence_changed = report.counts.changed + report.counts.withdrawn
            if conn is not None and status != "interrupted":
                conn.last_error = outcome[:2000] if outcome else None
                if not error:
                    conn.last_sync_at = utcnow()
                    if report.mode == "full":
                        conn.last_full_sync_at = utcnow()

    def _run(self, report: SyncReport) -> None:
        now = utcnow()
        self.progress(0, 0, "site")
        self._site_info(now)
        courses = self._courses()
        if self.options.course_moodle_id is not None:
            courses = [c for c in courses if c.id == self.options.course_moodle_id]
            if not courses:
                raise CourseNotFound(WsFunction.COURSES_BY_FIELD, "notfound",
                                     f"course {self.options.course_moodle_id} is not visible to the sync user")
        report.courses = len(courses)
        self._structure(courses, now)
        self.report_completed = self._completion_report()
        assign_rows, assign_until, refused = self._assign_grades(courses)
        # Moodle refused an assignment: the role may have changed since the course's structure was read
        suspect = {c.id for c in courses for h in self.problems.hidden.values() if h.course == c.shortname}
        self._structure([c for c in courses if c.id in suspect and c.id not in self.refreshed], now, force=True)
        for index, course in enumerate(courses, start=1):
            if self.options.stop is not None and self.options.stop.is_set():
                raise SyncInterrupted(f"stopped after {index - 1} of {len(courses)} courses")
            self.progress(index - 1, len(courses), f"course {course.shortname}")
            self._sync_course(course, assign_rows.get(course.id, []), refused, report)
        self.progress(len(courses), len(courses), "done")
        if self.options.course_moodle_id is None:
            with self.db.unit_of_work() as session:
                cursor = get_cursor(session, self.connection_id, "*", "assign_grades")
                set_position(cursor, since=assign_until)

    # --- site-wide reads ------------------------------------------------------------------------

    def _site_info(self, now: datetime) -> None:
        with self.db.unit_of_work() as session:
            conn = session.get(LmsConnection, self.connection_id)
            cached = dict(conn.site_info or {})
        fetched = cached.get("fetched_at")
        fresh = fetched and now - datetime.fromisoformat(fetched) < SITE_INFO_MAX_AGE
        if not fresh or self.options.full or not cached.get("functions"):
            info = self.api.site_info()
            fields = {"sitename": info.sitename, "siteurl": info.siteurl, "release": info.release,
                      "version": info.version, "userid": info.userid, "username": info.username,
                      "functions": sorted(info.functions), "fetched_at": now.isoformat()}
            with self.db.unit_of_work() as session:
                conn = session.get(LmsConnection, self.connection_id)
                conn.site_info = {**(conn.site_info or {}), **fields}  # the last check's table stays
            cached = fields
        self.functions = frozenset(cached.get("functions", ()))

    def _courses(self) -> list[MoodleCourse]:
        with self.db.unit_of_work() as session:
            course_filter = dict(session.get(LmsConnection, self.connection_id).course_filter or {})
        return self.api.courses(course_filter)

    def _structure(self, courses: list[MoodleCourse], now: datetime, *, force: bool = False) -> None:
        """Refresh activities, quiz settings and competencies of new/changed/stale courses, and of courses
        where Moodle hid activities (so a fixed role shows at the next sync); ``force``: of every course."""
        if not courses:
            return
        with self.db.unit_of_work() as session:
            known = {c.moodle_id: c for c in session.scalars(select(Course).where(
                Course.connection_id == self.connection_id))}
            cursors = {c.id: read_position(session, self.connection_id, str(c.id), "structure") for c in courses}
        stale = []
        for c in courses:
            pos = cursors[c.id]
            refreshed = pos.get("refreshed_at")
            if (force or c.id not in known or self.options.full or not refreshed or pos.get("hidden")
                    or (c.timemodified is not None and c.timemodified != pos.get("timemodified"))
                    or now - datetime.fromisoformat(refreshed) > STRUCTURE_MAX_AGE):
                stale.append(c)
        quizzes: dict[int, list[QuizInfo]] = defaultdict(list)
        if stale and WsFunction.QUIZZES in self.functions:
            for quiz in self.api.quizzes(c.id for c in stale):
                quizzes[quiz.course].append(quiz)
        for c in stale:
            modules = self.api.course_modules(c.id)
            competencies: list[CompetencyInfo] = []
            if WsFunction.COURSE_COMPETENCIES in self.functions:
                try:
                    competencies = self.api.course_competencies(c.id)
                except MoodleError as exc:
                    log.warning("course %s: competencies not readable: %s", c.shortname, exc)
            with self.db.unit_of_work() as session:
                stored = {a.cmid: (a.modname, a.name) for a in session.scalars(
                    select(Activity).join(Course).where(Course.connection_id == self.connection_id,
                                                        Course.moodle_id == c.id))}
            listed = {m.cmid for m in modules}
            missing = set(stored) - listed
            found = probe_missing(self.api, missing, self.functions)
            if {int(k) for k in cursors[c.id].get("hidden") or {}} & listed:
                with self.db.unit_of_work() as session:  # read the whole course at this sync
                    set_position(get_cursor(session, self.connection_id, str(c.id), "course"), reread=True)
            hidden = {cmid: stored[cmid] for cmid in found.hidden | found.unknown | found.visible}
            if hidden:
                self._flag_shrunk(c, hidden, unconfirmed=found.unknown)
            with self.db.unit_of_work() as session:
                course = self._upsert_course(session, c)
                _write_structure(session, course, modules, quizzes.get(c.id, []), competencies, found.gone)
                set_position(get_cursor(session, self.connection_id, str(c.id), "structure"),
                             refreshed_at=now.isoformat(), timemodified=c.timemodified,
                             hidden={str(k): {"modname": v[0], "name": v[1]} for k, v in hidden.items()})
            self.refreshed.add(c.id)
        with self.db.unit_of_work() as session:
            for c in courses:
                if c not in stale:
                    self._upsert_course(session, c)

    def _flag_shrunk(self, c: MoodleCourse, hidden: dict[int, tuple[str, str]], unconfirmed: set[int]) -> None:
        """A course that suddenly shows fewer activities: flagged, its activities and evidence kept."""
        for cmid, (modname, name) in sorted(hidden.items()):
            self.problems.hide(c.shortname, cmid, modname, name, "stored course structure")
        if unconfirmed:
            self.problems.note(f"course {c.shortname}: {len(unconfirmed)} activities vanished from the course "
                               f"contents and Moodle cannot say whether they were deleted or hidden: add "
                               f"{WsFunction.COURSE_MODULE} to the external service")
        log.warning("course %s shows %d fewer activities than before; kept as hidden, not deleted: %s",
                    c.shortname, len(hidden), ", ".join(name for _m, name in hidden.values()))

    def _completion_report(self) -> dict[str, set[str]]:
        """Course completions from a custom report (Moodle 4.1+), when the connection names one
        (``course_filter.completion_report_id``): completions Moodle's cron aggregated without any
        other signal are found in ceil(rows/perpage) calls instead of one call per learner.
        Returns course idnumber -> usernames and idnumbers of learners who completed it."""
        with self.db.unit_of_work() as session:
            report_id = (session.get(LmsConnection, self.connection_id).course_filter or {}).get(
                "completion_report_id")
        if not report_id or WsFunction.RETRIEVE_REPORT not in self.functions:
            return {}
        completed: dict[str, set[str]] = defaultdict(set)
        for row in self.api.completion_report(int(report_id)):
            if row.course_idnumber:
                completed[row.course_idnumber].update(k for k in (row.username, row.idnumber) if k)
        return completed

    def _upsert_course(self, session: Session, c: MoodleCourse) -> Course:
        course = session.scalar(select(Course).where(Course.connection_id == self.connection_id,
                                                     Course.moodle_id == c.id))
        if course is None:
            course = Course(connection_id=self.connection_id, moodle_id=c.id, shortname=c.shortname,
                            fullname=c.fullname)
            session.add(course)
        course.shortname, course.fullname, course.visible = c.shortname, c.fullname, c.visible
        course.category_id = c.categoryid
        course.idnumber = c.idnumber or course.idnumber
        course.timemodified = c.timemodified
        session.flush()
        return course

    def _assign_grades(self, courses: list[MoodleCourse]) -> tuple[dict[int, list[Any]], int, set[int]]:
        """Assignment grades changed since the cursor (minus an overlap), by Moodle course id; and the
        assignments Moodle refused (a warning in place of their grades)."""
        with self.db.unit_of_work() as session:
            position = read_position(session, self.connection_id, "*", "assign_grades")
            rows = session.execute(select(Activity.instance, Activity.name, Course.moodle_id, Course.shortname)
                                   .join(Course).where(Course.connection_id == self.connection_id,
                                                       Activity.modname == "assign",
                                                       Course.moodle_id.in_([c.id for c in courses]))).all()
        course_of = {int(instance): (moodle_id, shortname, name) for instance, name, moodle_id, shortname in rows
                     if instance}
        since = 0 if self.options.reads_everything else max(
            0, int(position.get("since", 0)) - self.options.assign_overlap_seconds)
        # the cursor is Moodle's own timemodified, never our clock: the two hosts' clocks may differ
        until = int(position.get("since", 0))
        grouped: dict[int, list[Any]] = defaultdict(list)
        refused: set[int] = set()
        if course_of and WsFunction.ASSIGN_GRADES in self.functions:
            self.problems.warn(self.api.take_warnings())
            for row in self.api.assign_grades(sorted(course_of), since=since):
                grouped[course_of[row.assignmentid][0]].append(row)
                until = max(until, row.timemodified)
            for warning in self.api.take_warnings():
                if warning.about_permissions and warning.itemid in course_of:
                    refused.add(warning.itemid)
                    _course, shortname, name = course_of[warning.itemid]
                    self.problems.hide(shortname, None, "assign", name, str(warning))
        return grouped, until, refused

    # --- one course: fetch, then one transaction -------------------------------------------------

    def _sync_course(self, moodle: MoodleCourse, assign_rows: list[Any], refused: set[int],
                     report: SyncReport) -> None:
        try:
            # only learners: teachers and other roles carry no evidence and are not credential subjects
            users = [u for u in self.api.enrolled_users(moodle.id) if STUDENT_ROLES & set(u.roles)]
        except CourseNotFound:
            log.warning("course %s (%d) disappeared from Moodle; skipped", moodle.shortname, moodle.id)
            return
        with self.db.unit_of_work() as session:
            state = read_course_state(session, self.connection_id, moodle.id,
                                      [u.id for u in users] + [r.userid for r in assign_rows])
        course_idnumber = state.idnumber or moodle.idnumber
        reported = frozenset(self.report_completed.get(course_idnumber or "", set())) if course_idnumber \
            else frozenset()
        plan = plan_course(state, Signals(users=users, assign_rows=assign_rows, reported=reported, now=utcnow()),
                           full=self.options.reads_everything, grade_recheck=self.options.grade_recheck)
        fetch = CourseFetch(moodle=moodle, users=users, spared_cmids=set(state.hidden_cmids),
                            refused_assignments={a for a in refused if a in state.assignments})
        for cmid, (modname, name) in state.hidden.items():
            self.problems.hide(moodle.shortname, cmid, modname, name, "stored course structure")
        if plan.dirty:
            report.dirty_courses += 1
            fetch.grades = self.api.grade_items(moodle.id, 0)
            self._confirm_gradebook(fetch, state)
        if plan.gone and WsFunction.ENROLLED_USERS in self.functions:
            fetch.suspended = {u.id for u in self.api.enrolled_users(moodle.id, onlysuspended=True)}
        reads = learners_to_read(state, plan, fetch.grades)
        if len(reads.userids) > 1 and self.parallel > 1:
            # per-learner reads are independent; the client's semaphore keeps Moodle's load polite
            with ThreadPoolExecutor(max_workers=self.parallel) as pool:
                list(pool.map(lambda userid: self._read_learner(fetch, state, userid), reads.userids))
        else:
            for userid in reads.userids:
                self._read_learner(fetch, state, userid)
        report.learners_read += len(reads.userids)
        self._confirm_completion(fetch, state)
        if not plan.dirty:
            return  # nothing moved: no roster, access or grade change, so nothing to write
        self._write(fetch, state, plan, assign_rows, report)

    def _write(self, fetch: CourseFetch, state: CourseState, plan: CoursePlan, assign_rows: list[Any],
               report: SyncReport) -> None:
        hidden = {h.cmid: h for h in self.problems.hidden.values()
                  if h.course == fetch.moodle.shortname and h.cmid is not None}
        for attempt in (1, 2):
            try:
                with self.db.unit_of_work() as session:
                    counts = write_course(session, self.connection_id, fetch, state, plan, assign_rows,
                                          active_window=self.options.active_window)
                    if hidden:  # kept with the structure: the next syncs re-check them and keep their evidence
                        cursor = get_cursor(session, self.connection_id, str(fetch.moodle.id), "structure")
                        known = dict((cursor.position or {}).get("hidden") or {})
                        known.update({str(cmid): {"modname": h.modname, "name": h.name} for cmid, h in hidden.items()})
                        set_position(cursor, hidden=known)
                report.counts.add(counts)
                return
            except IntegrityError:
                # another worker wrote the same course at the same moment; re-compare and write again
                if attempt == 2:
                    raise
                log.info("course %s: concurrent write, retrying", fetch.moodle.shortname)

    def _confirm_gradebook(self, fetch: CourseFetch, state: CourseState) -> None:
        """Grade items of activities the gradebook showed before and leaves out now: hidden or deleted?"""
        shown = {i.itemid for ug in fetch.grades or [] for i in ug.items}
        if not fetch.grades:
            return
        vanished = {cmid for itemid, cmid in state.grade_items.items()
                    if itemid not in shown and cmid not in fetch.spared_cmids}
        self._confirm(fetch, state, vanished, "gradebook")

    def _confirm_completion(self, fetch: CourseFetch, state: CourseState) -> None:
        """Activities whose completion a learner had and whose status Moodle no longer returns."""
        vanished = set()
        completed_cms: dict[int, set[int]] = defaultdict(set)  # learner -> cmids of their completions on record
        for (owner, kind, key), (_h, withdrawn, _p) in state.facts.items():
            if kind == "activity_completion" and not withdrawn:
                completed_cms[owner].add(int(key.removeprefix("cm:")))
        for userid, result in fetch.learner_reads.items():
            listed = {row.cmid for row in result["activities"]}
            vanished |= completed_cms.get(state.learner(userid) or 0, set()) - listed - fetch.spared_cmids
            status = result.get("course")
            for activity in (status.activities if status is not None else ()):
                if activity.cmid not in state.activities and activity.cmid not in fetch.spared_cmids \
                        and activity.cmid not in fetch.gone_cmids:
                    vanished.add(activity.cmid)
        names = {a.cmid: (a.modname, a.name) for r in fetch.learner_reads.values() if r.get("course") is not None
                 for a in r["course"].activities}
        self._confirm(fetch, state, vanished, "completion", names)

    def _confirm(self, fetch: CourseFetch, state: CourseState, cmids: set[int], seen_in: str,
                 names: dict[int, tuple[str, str]] | None = None) -> None:
        if not cmids:
            return
        found = probe_missing(self.api, cmids, self.functions)
        for cmid in found.hidden | found.unknown:
            modname, name = (names or {}).get(cmid) or state.activities.get(cmid) or (None, f"activity {cmid}")
            fetch.spared_cmids.add(cmid)
            self.problems.hide(fetch.moodle.shortname, cmid, modname, name, seen_in)
        if found.unknown:
            self.problems.note(f"course {fetch.moodle.shortname}: Moodle no longer shows {len(found.unknown)} "
                               f"activities and cannot say whether they were deleted or hidden: add "
                               f"{WsFunction.COURSE_MODULE} to the external service")
        if found.visible - set(state.activities):
            # a new activity the stored structure does not know yet: read the structure at the next sync
            with self.db.unit_of_work() as session:
                set_position(get_cursor(session, self.connection_id, str(fetch.moodle.id), "structure"),
                             refreshed_at=None)

    def _read_learner(self, fetch: CourseFetch, state: CourseState, userid: int) -> None:
        course = fetch.moodle.id
        result: dict[str, Any] = {}
        try:
            result["course"] = self.api.course_completion(course, userid)
        except NotEnrolled:
            fetch.not_enrolled.add(userid)
            return
        except MoodleError as exc:
            if exc.errorcode != "nocriteriaset":
                raise
            result["course"] = None
        result["activities"] = self.api.activities_completion(course, userid)
        # quiz attempts only where this learner has a quiz grade (or one that changed)
        attempts = {}
        graded_quiz_cms = set()
        for ug in fetch.grades or []:
            if ug.userid == userid:
                graded_quiz_cms = {i.cmid for i in ug.items if i.itemmodule == "quiz" and i.raw is not None}
        learner_id = state.learner(userid)
        attempted = state.attempted.get(learner_id, frozenset()) if learner_id is not None else frozenset()
        # the 5.0 function where the service offers it: the old one is deprecated and goes in Moodle 6.0
        function = (WsFunction.QUIZ_USER_ATTEMPTS if WsFunction.QUIZ_USER_ATTEMPTS in self.functions
                    else WsFunction.QUIZ_ATTEMPTS)
        for cmid, (quizid, _settings) in state.quizzes.items():
            if not quizid or cmid in fetch.gone_cmids or cmid in fetch.spared_cmids:
                continue
            if cmid not in graded_quiz_cms and cmid not in attempted:
                continue
            try:
                attempts[cmid] = self.api.quiz_attempts(quizid, userid, function=function)
            except RecordNotFound:
                # deleted since the last structure refresh: forget it rather than fail the whole sync;
                # the attempts already read stay as last seen
                log.info("course %s: quiz %s (cm %s) was deleted in Moodle", course, quizid, cmid)
                fetch.gone_cmids.add(cmid)
            except MissingCapability as exc:
                # hidden from the sync user since the last structure refresh: its attempts stay as last seen
                modname, name = state.activities.get(cmid, ("quiz", f"quiz {quizid}"))
                fetch.spared_cmids.add(cmid)
                self.problems.hide(fetch.moodle.shortname, cmid, modname, name, f"{function}: {exc.errorcode}")
        result["attempts"] = attempts
        if state.has_competencies and WsFunction.COMPETENCY_REPORT in self.functions:
            result["competencies"] = self.api.user_competencies(course, userid)
        fetch.learner_reads[userid] = result


def _write_structure(session: Session, course: Course, modules: list[ModuleInfo], quizzes: list[QuizInfo],
                     competencies: list[CompetencyInfo], gone: set[int]) -> None:
    """The course's activities as Moodle lists them; an activity Moodle said is deleted goes (its evidence
    stays as last seen), one it hides stays with its settings."""
    existing = {a.cmid: a for a in session.scalars(select(Activity).where(Activity.course_id == course.id))}
    for cmid in gone & set(existing):
        session.delete(existing.pop(cmid))
    quiz_by_cm = {q.cmid: q for q in quizzes}
    for m in modules:
        activity = existing.get(m.cmid)
        if activity is None:
            activity = Activity(course_id=course.id, cmid=m.cmid, modname=m.modname, name=m.name)
            session.add(activity)
        activity.modname, activity.instance, activity.name = m.modname, m.instance, m.name
        activity.idnumber = m.idnumber or activity.idnumber
        if m.cmid in quiz_by_cm:
            activity.settings = {**(activity.settings or {}), **quiz_by_cm[m.cmid].settings,
                                 "quizid": quiz_by_cm[m.cmid].id}
    have = {cc.competency_id: cc for cc in session.scalars(
        select(CourseCompetency).where(CourseCompetency.course_id == course.id))}
    for comp in competencies:
        row = have.get(comp.id)
        if row is None:
            session.add(CourseCompetency(course_id=course.id, competency_id=comp.id, idnumber=comp.idnumber,
                                         shortname=comp.shortname))
        else:
            row.idnumber, row.shortname = comp.idnumber, comp.shortname
