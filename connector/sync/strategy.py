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
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from credbridge.connector.moodle.errors import CourseNotFound, MoodleError, NotEnrolled, RecordNotFound
from credbridge.connector.moodle.functions import (
    CompetencyInfo,
    EnrolledUser,
    ModuleInfo,
    MoodleApi,
    MoodleCourse,
    QuizInfo,
    UserGrades,
    WsFunction,
)
from credbridge.connector.store.base import utcnow
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import (
    Activity,
    Course,
    CourseCompetency,
    Enrolment,
    GradeItem,
    LearnerIdentity,
    LmsConnection,
    SyncRun,
)
from credbridge.connector.sync import evidence as ev
from credbridge.connector.sync.store import (
    get_cursor,
    learners_for,
    read_position,
    request_evaluations,
    set_position,
)
from credbridge.connector.sync.worker import WorkInterrupted

log = logging.getLogger(__name__)

SITE_INFO_MAX_AGE = timedelta(days=1)
STRUCTURE_MAX_AGE = timedelta(days=1)
ASSIGN_OVERLAP_SECONDS = 3600
#: after a learner's visit, how long the course's gradebook is rechecked, and how often
ACTIVE_WINDOW = timedelta(days=1)
GRADE_RECHECK = timedelta(hours=1)
STUDENT_ROLES = frozenset({"student"})
Progress = Callable[[int, int, str], None]


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

    def line(self) -> str:
        return (f"sync {self.connection} ({self.mode}): {self.courses} courses, {self.dirty_courses} dirty, "
                f"{self.learners_read} learners read, {self.ws_calls} WS calls, {self.counts.new} new / "
                f"{self.counts.changed} changed / {self.counts.withdrawn} withdrawn evidence, "
                f"{len(self.counts.learners)} learners to evaluate, {self.seconds:.1f}s")


@dataclass
class CourseFetch:
    """Everything read from Moodle for one course before its transaction opens."""

    moodle: MoodleCourse
    users: list[EnrolledUser]
    grades: list[UserGrades] | None = None
    learner_reads: dict[int, dict[str, Any]] = field(default_factory=dict)  # moodle userid -> results
    not_enrolled: set[int] = field(default_factory=set)
    gone_cmids: set[int] = field(default_factory=set)  # activities Moodle says no longer exist


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
        return report

    def _finish(self, report: SyncReport, calls_before: dict[str, int], started: float, error: str | None,
                status: str | None = None) -> None:
        report.calls = {k: v - calls_before.get(k, 0) for k, v in self.api.client.calls.items()
                        if v - calls_before.get(k, 0)}
        report.ws_calls = sum(report.calls.values())
        report.seconds = time.monotonic() - started
        with self.db.unit_of_work() as session:
            run = session.get(SyncRun, report.run_id)
            conn = session.get(LmsConnection, self.connection_id)
            if run is not None:
                run.finished_at = utcnow()
                run.status = status or ("failed" if error else "ok")
                run.error = error[:2000] if error else None
                run.ws_calls = report.ws_calls
                run.evidence_new = report.counts.new
                run.evidence_changed = report.counts.changed + report.counts.withdrawn
            if conn is not None and status != "interrupted":
                conn.last_error = error[:2000] if error else None
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
        assign_rows, assign_until = self._assign_grades(courses)
        for index, course in enumerate(courses, start=1):
            if self.options.stop is not None and self.options.stop.is_set():
                raise SyncInterrupted(f"stopped after {index - 1} of {len(courses)} courses")
            self.progress(index - 1, len(courses), f"course {course.shortname}")
            self._sync_course(course, assign_rows.get(course.id, []), report)
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
            cached = {"sitename": info.sitename, "siteurl": info.siteurl, "release": info.release,
                      "version": info.version, "userid": info.userid, "username": info.username,
                      "functions": sorted(info.functions), "fetched_at": now.isoformat()}
            with self.db.unit_of_work() as session:
                session.get(LmsConnection, self.connection_id).site_info = cached
        self.functions = frozenset(cached.get("functions", ()))

    def _courses(self) -> list[MoodleCourse]:
        with self.db.unit_of_work() as session:
            course_filter = dict(session.get(LmsConnection, self.connection_id).course_filter or {})
        return self.api.courses(course_filter)

    def _structure(self, courses: list[MoodleCourse], now: datetime) -> None:
        """Refresh activities, quiz settings and competencies of new/changed/stale courses."""
        with self.db.unit_of_work() as session:
            known = {c.moodle_id: c for c in session.scalars(select(Course).where(
                Course.connection_id == self.connection_id))}
            cursors = {c.id: read_position(session, self.connection_id, str(c.id), "structure") for c in courses}
        stale = []
        for c in courses:
            pos = cursors[c.id]
            refreshed = pos.get("refreshed_at")
            if (c.id not in known or self.options.full or not refreshed
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
                course = self._upsert_course(session, c)
                self._write_structure(session, course, modules, quizzes.get(c.id, []), competencies)
                set_position(get_cursor(session, self.connection_id, str(c.id), "structure"),
                             refreshed_at=now.isoformat(), timemodified=c.timemodified)
        with self.db.unit_of_work() as session:
            for c in courses:
                if c not in stale:
                    self._upsert_course(session, c)

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

    def _write_structure(self, session: Session, course: Course, modules: list[ModuleInfo],
                         quizzes: list[QuizInfo], competencies: list[CompetencyInfo]) -> None:
        existing = {a.cmid: a for a in session.scalars(select(Activity).where(Activity.course_id == course.id))}
        listed = {m.cmid for m in modules}
        for cmid, gone in existing.items():
            if cmid not in listed:  # deleted in Moodle: no more reads for it; its evidence stays as last seen
                session.delete(gone)
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

    def _assign_grades(self, courses: list[MoodleCourse]) -> tuple[dict[int, list[Any]], int]:
        """Assignment grades changed since the cursor (minus an overlap), by Moodle course id."""
        with self.db.unit_of_work() as session:
            position = read_position(session, self.connection_id, "*", "assign_grades")
            rows = session.execute(select(Activity.instance, Course.moodle_id).join(Course).where(
                Course.connection_id == self.connection_id, Activity.modname == "assign",
                Course.moodle_id.in_([c.id for c in courses]))).all()
        course_of = {int(instance): moodle_id for instance, moodle_id in rows if instance}
        full = self.options.full or self.options.naive or self.options.course_moodle_id is not None
        since = 0 if full else max(0, int(position.get("since", 0)) - self.options.assign_overlap_seconds)
        # the cursor is Moodle's own timemodified, never our clock: the two hosts' clocks may differ
        until = int(position.get("since", 0))
        grouped: dict[int, list[Any]] = defaultdict(list)
        if course_of and WsFunction.ASSIGN_GRADES in self.functions:
            for row in self.api.assign_grades(sorted(course_of), since=since):
                grouped[course_of[row.assignmentid]].append(row)
                until = max(until, row.timemodified)
        return grouped, until

    # --- one course: fetch, then one transaction -------------------------------------------------

    def _sync_course(self, moodle: MoodleCourse, assign_rows: list[Any], report: SyncReport) -> None:
        try:
            # only learners: teachers and other roles carry no evidence and are not credential subjects
            users = [u for u in self.api.enrolled_users(moodle.id) if STUDENT_ROLES & set(u.roles)]
        except CourseNotFound:
            log.warning("course %s (%d) disappeared from Moodle; skipped", moodle.shortname, moodle.id)
            return
        fetch = CourseFetch(moodle=moodle, users=users)
        plan = self._plan(fetch, assign_rows)
        if plan["dirty"]:
            report.dirty_courses += 1
            fetch.grades = self.api.grade_items(moodle.id, 0)
        readers = self._learners_to_read(fetch, plan)
        if len(readers) > 1 and self.parallel > 1:
            # per-learner reads are independent; the client's semaphore keeps Moodle's load polite
            with ThreadPoolExecutor(max_workers=self.parallel) as pool:
                list(pool.map(lambda userid: self._read_learner(fetch, plan, userid), sorted(readers)))
        else:
            for userid in sorted(readers):
                self._read_learner(fetch, plan, userid)
        report.learners_read += len(readers)
        if not plan["dirty"]:
            return  # nothing moved: no roster, access or grade change, so nothing to write
        for attempt in (1, 2):
            try:
                with self.db.unit_of_work() as session:
                    counts = self._write_course(session, fetch, plan, assign_rows)
                report.counts.add(counts)
                return
            except IntegrityError:
                # another worker wrote the same course at the same moment; re-compare and write again
                if attempt == 2:
                    raise
                log.info("course %s: concurrent write, retrying", moodle.shortname)

    def _plan(self, fetch: CourseFetch, assign_rows: list[Any]) -> dict[str, Any]:
        with self.db.unit_of_work() as session:
            course = session.scalar(select(Course).where(Course.connection_id == self.connection_id,
                                                         Course.moodle_id == fetch.moodle.id))
            userids = [str(u.id) for u in fetch.users] + [str(r.userid) for r in assign_rows]
            identity = select(LearnerIdentity.external_id, LearnerIdentity.learner_id).where(
                LearnerIdentity.connection_id == self.connection_id)
            identities = dict(session.execute(identity.where(LearnerIdentity.external_id.in_(userids))).all())
            enrolments = {learner_id: (active, access) for learner_id, active, access in session.execute(
                select(Enrolment.learner_id, Enrolment.active, Enrolment.lastcourseaccess).where(
                    Enrolment.course_id == course.id))}
            for external_id, learner_id in session.execute(
                    identity.where(LearnerIdentity.learner_id.in_(list(enrolments)))):
                identities.setdefault(external_id, learner_id)
            writer = ev.EvidenceWriter(session, self.connection_id)
            # comparing needs only hashes; the payloads read are those the plan looks into
            writer.load(course_id=course.id, payload_kinds=("course_completion", "quiz_attempt"))
            completed = {k[0] for k, row in writer.current.items()
                         if k[1] == "course_completion" and not row.withdrawn and row.payload.get("completed")}
            cursor = read_position(session, self.connection_id, str(fetch.moodle.id), "course")
            activities = {a.cmid: a for a in session.scalars(select(Activity).where(Activity.course_id == course.id))}
            quizzes = {a.cmid: (int(a.settings.get("quizid") or a.instance or 0), dict(a.settings or {}))
                       for a in activities.values() if a.modname == "quiz"}
            grademax_by_cm = {g.cmid: g.grademax for g in session.scalars(
                select(GradeItem).where(GradeItem.course_id == course.id, GradeItem.itemmodule == "assign"))}
            assign_max = {a.instance: grademax_by_cm.get(a.cmid) for a in activities.values()
                          if a.modname == "assign"}
            has_competencies = session.scalar(select(CourseCompetency.id).where(
                CourseCompetency.course_id == course.id).limit(1)) is not None
            # which learners' assignment grades differ from what is stored
            assign_changed: set[int] = set()
            cm_of_instance = {a.instance: a.cmid for a in activities.values() if a.modname == "assign"}
            enrolled_now = {u.id for u in fetch.users}
            for row in assign_rows:
                if row.userid not in enrolled_now:
                    continue  # a grade of someone who left: their evidence stays as it was when they left
                learner_id = identities.get(str(row.userid))
                if learner_id is None:
                    assign_changed.add(row.userid)
                    continue
                obs = ev.assignment_grade(learner_id, course.id, cm_of_instance.get(row.assignmentid),
                                          _decimal(assign_max.get(row.assignmentid)), row)
                key = obs.key
                if row.grade is None:
                    if key in writer.current and not writer.current[key].withdrawn:
                        assign_changed.add(row.userid)
                elif writer.would_change(obs):
                    assign_changed.add(row.userid)
            course_id, course_idnumber = course.id, course.idnumber
            current = {k: (row.content_hash, row.withdrawn, row.payload) for k, row in writer.current.items()}
            attempted: dict[int, set[int]] = defaultdict(set)  # learner -> quiz cmids with a current attempt
            for (learner_id, kind, _key), row in writer.current.items():
                if kind == "quiz_attempt" and not row.withdrawn:
                    attempted[learner_id].add(row.payload.get("cmid"))
        students = {u.id for u in fetch.users if STUDENT_ROLES & set(u.roles)}
        access_changed, new_users = set(), set()
        for u in fetch.users:
            learner_id = identities.get(str(u.id))
            known = enrolments.get(learner_id) if learner_id is not None else None
            if known is None or not known[0]:
                new_users.add(u.id)
            elif (known[1] or 0) != (u.lastcourseaccess or 0):
                access_changed.add(u.id)
        active_learners = {lid for lid, (active, _) in enrolments.items() if active}
        present = {identities.get(str(u.id)) for u in fetch.users}
        gone = active_learners - present
        reported = self.report_completed.get(course_idnumber or "", set()) if course_idnumber else set()
        report_changed = {u.id for u in fetch.users if (u.username in reported or u.idnumber in reported)
                          and identities.get(str(u.id)) not in completed}
        full = self.options.full or self.options.naive or self.options.course_moodle_id is not None
        dirty = bool(full or new_users or access_changed or gone or assign_changed or report_changed
                     or not cursor.get("synced_at") or cursor.get("awaiting_cron")
                     or self._grades_due(cursor))
        return {"course_id": course_id, "identities": identities, "students": students, "new": new_users,
                "access": access_changed, "gone": gone, "report": report_changed, "assign": assign_changed,
                "completed": completed,
                "full": full, "dirty": dirty, "quizzes": quizzes,
                # enrolling is not visiting, and a first sync sees every learner as new
                "visited": bool(access_changed or (cursor.get("synced_at") and any(
                    u.lastcourseaccess for u in fetch.users if u.id in new_users))),
                "has_competencies": has_competencies, "awaiting_cron": set(cursor.get("awaiting_cron", [])),
                "current": current, "attempted": attempted}

    def _grades_due(self, cursor: dict[str, Any]) -> bool:
        """A learner visited the course recently (seen by us, so Moodle's clock does not matter) and
        its gradebook was last read longer ago than the recheck interval: a grade may have come
        without a visit (an external tool's grade passback, a teacher grading a non-assignment)."""
        active_until, synced_at = cursor.get("active_until"), cursor.get("synced_at")
        if not active_until or not synced_at:
            return False
        now = utcnow()
        return datetime.fromisoformat(active_until) > now \
            and datetime.fromisoformat(synced_at) <= now - self.options.grade_recheck

    def _learners_to_read(self, fetch: CourseFetch, plan: dict[str, Any]) -> set[int]:
        students = plan["students"]
        if plan["full"]:
            return set(students)
        identities, completed = plan["identities"], plan["completed"]
        grade_changed = set()
        for ug in fetch.grades or []:
            learner_id = identities.get(str(ug.userid))
            if learner_id is None:
                grade_changed.add(ug.userid)
                continue
            for item in ug.items:
                key = (learner_id, "grade_item", f"gi:{item.itemid}")
                stored = plan["current"].get(key)
                if item.raw is None:
                    if stored is not None and not stored[1]:
                        grade_changed.add(ug.userid)
                elif stored is None or stored[1] or stored[0] != ev.content_hash(
                        ev.grade_item(learner_id, plan["course_id"], item).payload):
                    grade_changed.add(ug.userid)
        plan["grade_changed"] = grade_changed
        active = {u for u in plan["access"] | plan["new"]
                  if identities.get(str(u)) not in completed}
        return (active | grade_changed | plan["assign"] | plan["awaiting_cron"] | plan["report"]) & students

    def _read_learner(self, fetch: CourseFetch, plan: dict[str, Any], userid: int) -> None:
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
        learner_id = plan["identities"].get(str(userid))
        attempted = plan["attempted"].get(learner_id, set()) if learner_id is not None else set()
        # the 4.5 function where the service offers it: the old one is deprecated and goes in Moodle 6.0
        function = (WsFunction.QUIZ_USER_ATTEMPTS if WsFunction.QUIZ_USER_ATTEMPTS in self.functions
                    else WsFunction.QUIZ_ATTEMPTS)
        for cmid, (quizid, _settings) in plan["quizzes"].items():
            if quizid and (cmid in graded_quiz_cms or cmid in attempted) and cmid not in fetch.gone_cmids:
                try:
                    attempts[cmid] = self.api.quiz_attempts(quizid, userid, function=function)
                except RecordNotFound:
                    # deleted since the last structure refresh: forget it rather than fail the whole sync;
                    # the attempts already read stay as last seen
                    log.info("course %s: quiz %s (cm %s) was deleted in Moodle", course, quizid, cmid)
                    fetch.gone_cmids.add(cmid)
        result["attempts"] = attempts
        if plan["has_competencies"] and WsFunction.COMPETENCY_REPORT in self.functions:
            result["competencies"] = self.api.user_competencies(course, userid)
        fetch.learner_reads[userid] = result

    def _write_course(self, session: Session, fetch: CourseFetch, plan: dict[str, Any],
                      assign_rows: list[Any]) -> ev.WriteCounts:
        conn = session.get(LmsConnection, self.connection_id)
        course = session.get(Course, plan["course_id"])
        if fetch.gone_cmids:
            session.execute(delete(Activity).where(Activity.course_id == course.id,
                                                   Activity.cmid.in_(fetch.gone_cmids)))
        if fetch.grades:
            idnumber = next((g.courseidnumber for g in fetch.grades if g.courseidnumber), None)
            course.idnumber = idnumber or course.idnumber
        identities = {i.external_id: i for i in session.scalars(
            select(LearnerIdentity).options(selectinload(LearnerIdentity.learner)).where(
                LearnerIdentity.connection_id == self.connection_id,
                LearnerIdentity.external_id.in_([str(u.id) for u in fetch.users])))}
        enrolments = {e.learner_id: e for e in session.scalars(select(Enrolment).where(
            Enrolment.course_id == course.id))}
        writer = ev.EvidenceWriter(session, self.connection_id)
        writer.load(course_id=course.id)
        learners = learners_for(session, conn.school_id, self.connection_id,
                                [u for u in fetch.users if u.id not in fetch.not_enrolled], identities)
        learner_of: dict[int, int] = {}
        for u in fetch.users:
            if u.id in fetch.not_enrolled:
                continue
            learner = learners[u.id]
            learner_of[u.id] = learner.id
            enrolment = enrolments.get(learner.id)
            if enrolment is None:
                enrolment = Enrolment(course_id=course.id, learner_id=learner.id)
                session.add(enrolment)
                enrolments[learner.id] = enrolment
            enrolment.active, enrolment.roles = True, list(u.roles)
            enrolment.lastcourseaccess = u.lastcourseaccess
        # learners no longer (actively) enrolled: suspended, enrolment ended, unenrolled at the end of
        # the year or by a course reset. What they achieved while enrolled still holds, so their evidence
        # is kept as last seen, not withdrawn: withdrawing it would read as a regression and revoke
        # credentials earned. (Moodle itself stops reporting them, so nothing newer can be read.)
        present = set(learner_of.values())
        for learner_id, enrolment in enrolments.items():
            if learner_id not in present and enrolment.active:
                enrolment.active = False
        students = {learner_of[u] for u in plan["students"] if u in learner_of}
        # grade items: a complete re-read of the course's gradebook
        if fetch.grades is not None:
            self._grade_items(session, course, fetch.grades)
            for ug in fetch.grades:
                learner_id = learner_of.get(ug.userid)
                if learner_id is None:
                    continue
                for item in ug.items:
                    if item.raw is not None:
                        writer.upsert(ev.grade_item(learner_id, course.id, item))
            for learner_id in students:
                writer.withdraw_unseen(learner_id=learner_id, kinds={"grade_item"}, course_id=course.id)
        # assignment grades (since the cursor): upsert, or withdraw a removed grade
        activities = {a.instance: a for a in session.scalars(select(Activity).where(
            Activity.course_id == course.id, Activity.modname == "assign"))}
        grademax = {g.cmid: g.grademax for g in session.scalars(select(GradeItem).where(
            GradeItem.course_id == course.id, GradeItem.itemmodule == "assign"))}
        seen_assign = set()
        for row in assign_rows:
            learner_id = learner_of.get(row.userid)
            if learner_id is None:
                continue
            activity = activities.get(row.assignmentid)
            cmid = activity.cmid if activity else None
            obs = ev.assignment_grade(learner_id, course.id, cmid, _decimal(grademax.get(cmid)), row)
            seen_assign.add(obs.key)
            if row.grade is None:
                writer.withdraw(obs.key)
            else:
                writer.upsert(obs)
        if plan["full"]:
            for key, row in list(writer.current.items()):
                if row.kind == "assignment_grade" and key not in seen_assign and key[0] in students:
                    writer.withdraw(key)
        # per-learner reads
        awaiting: list[int] = []
        quizzes = plan["quizzes"]
        for userid, result in fetch.learner_reads.items():
            learner_id = learner_of.get(userid)
            if learner_id is None:
                continue
            status = result.get("course")
            if status is not None:
                writer.upsert(ev.course_completion(learner_id, course.id, fetch.moodle.id, status))
            for row in result["activities"]:
                writer.upsert(ev.activity_completion(learner_id, course.id, row))
            writer.withdraw_unseen(learner_id=learner_id, kinds={"activity_completion"}, course_id=course.id)
            if status is not None and not status.completed and status.criteria_met:
                awaiting.append(userid)  # Moodle's cron will aggregate the course completion later
            for cmid, attempts in result["attempts"].items():
                quizid, settings = quizzes[cmid]
                quiz = QuizInfo(id=quizid, cmid=cmid, course=fetch.moodle.id, name="",
                                sumgrades=_decimal(settings.get("sumgrades")), grade=_decimal(settings.get("grade")),
                                settings=settings)
                keys = set()
                for attempt in attempts:
                    obs = ev.quiz_attempt(learner_id, course.id, quiz, attempt)
                    keys.add(obs.source_key)
                    writer.upsert(obs)
                for key in sorted(writer.keys_of(learner_id)):
                    row = writer.current[key]
                    if row.kind == "quiz_attempt" and row.payload.get("cmid") == cmid and key[2] not in keys:
                        writer.withdraw(key)
            if "competencies" in result:
                for row in result["competencies"]:
                    if row.proficiency is not None or row.grade is not None:
                        writer.upsert(ev.competency(learner_id, course.id, fetch.moodle.id, row))
                writer.withdraw_unseen(learner_id=learner_id, kinds={"competency"}, course_id=course.id)
        writer.flush()
        request_evaluations(session, conn.school_id, writer.counts.learners, reason="evidence_changed",
                            course_ids=[course.id])
        cursor = get_cursor(session, self.connection_id, str(fetch.moodle.id), "course")
        now = utcnow()
        position: dict[str, Any] = {"synced_at": now.isoformat(), "awaiting_cron": sorted(awaiting)}
        if plan["visited"]:
            position["active_until"] = (now + self.options.active_window).isoformat()
        if plan["full"]:
            position["full_at"] = position["synced_at"]
        set_position(cursor, **position)
        return writer.counts

    def _grade_items(self, session: Session, course: Course, grades: list[UserGrades]) -> None:
        existing = {g.moodle_id: g for g in session.scalars(select(GradeItem).where(GradeItem.course_id == course.id))}
        for ug in grades:
            for item in ug.items:
                row = existing.get(item.itemid)
                if row is None:
                    row = GradeItem(course_id=course.id, moodle_id=item.itemid, itemtype=item.itemtype)
                    session.add(row)
                    existing[item.itemid] = row
                row.itemtype, row.itemmodule, row.cmid = item.itemtype, item.itemmodule, item.cmid
                row.idnumber, row.name = item.idnumber, item.itemname or ""
                row.grademax = float(item.grademax) if item.grademax is not None else None
        # a graded module's idnumber is its grade item's (Moodle keeps them equal); contents omit it
        by_cm = {g.cmid: g.idnumber for g in existing.values() if g.cmid and g.idnumber}
        if by_cm:
            for activity in session.scalars(select(Activity).where(Activity.course_id == course.id,
                                                                   Activity.cmid.in_(list(by_cm)))):
                activity.idnumber = activity.idnumber or by_cm[activity.cmid]
        session.flush()


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    return Decimal(str(value))
