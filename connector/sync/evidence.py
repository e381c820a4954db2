"""Normalised evidence and its idempotent, versioned upsert.

An :class:`Observation` is one fact as a source shows it now. :class:`EvidenceWriter` compares it
with the current version by content hash (sha256 of the canonical JSON of the payload): unchanged
-> nothing written; changed -> a new version and the previous one stops being current; a fact that
a complete re-read no longer shows -> a new version with ``withdrawn=True``. Everything a writer
does happens in the caller's transaction, next to the cursor that covers it.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import case, event, insert, null, select, update
from sqlalchemy.orm import ORMExecuteState, Session

from credbridge.connector.moodle.functions import (
    ActivityCompletionRow,
    AssignGradeRow,
    CourseCompletionStatus,
    GradeResult,
    QuizAttemptRow,
    QuizInfo,
    UserCompetencyRow,
    canonical_json,
)
from credbridge.connector.store.base import utcnow
from credbridge.connector.store.models import Evidence

PERCENT_PLACES = Decimal("0.00001")


def content_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


def from_epoch(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value else None


def dec(value: Decimal | None) -> str | None:
    """Decimals travel in JSON as normalised strings so that 81 and 81.00000 hash the same."""
    if value is None:
        return None
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def percent(raw: Decimal | None, low: Decimal | None, high: Decimal | None) -> Decimal | None:
    if raw is None or high is None:
        return None
    low = low or Decimal(0)
    if high <= low:
        return None
    return ((raw - low) * 100 / (high - low)).quantize(PERCENT_PLACES)


@dataclass(frozen=True)
class Observation:
    kind: str
    source_key: str
    learner_id: int
    course_id: int | None
    payload: dict[str, Any]
    occurred_at: datetime | None

    @property
    def key(self) -> tuple[int, str, str]:
        return (self.learner_id, self.kind, self.source_key)


# --- normalisers: Moodle records -> observations --------------------------------------------------

def course_completion(learner_id: int, course_id: int, moodle_course: int,
                      status: CourseCompletionStatus) -> Observation:
    return Observation("course_completion", f"course:{moodle_course}", learner_id, course_id,
                       {"completed": status.completed, "timecompleted": status.timecompleted},
                       from_epoch(status.timecompleted))


def activity_completion(learner_id: int, course_id: int, row: ActivityCompletionRow) -> Observation:
    return Observation("activity_completion", f"cm:{row.cmid}", learner_id, course_id,
                       {"cmid": row.cmid, "modname": row.modname, "state": row.state,
                        "timecompleted": row.timecompleted, "overridden": row.overridden},
                       from_epoch(row.timecompleted))


def grade_item(learner_id: int, course_id: int, item: GradeResult) -> Observation:
    return Observation("grade_item", f"gi:{item.itemid}", learner_id, course_id,
                       {"itemid": item.itemid, "itemtype": item.itemtype, "itemmodule": item.itemmodule,
                        "cmid": item.cmid, "idnumber": item.idnumber, "raw": dec(item.raw),
                        "min": dec(item.grademin), "max": dec(item.grademax),
                        "percent": dec(percent(item.raw, item.grademin, item.grademax)),
                        "dategraded": item.dategraded, "overridden": item.overridden},
                       from_epoch(item.dategraded))


def assignment_grade(learner_id: int, course_id: int, cmid: int | None, grademax: Decimal | None,
                     row: AssignGradeRow) -> Observation:
    return Observation("assignment_grade", f"assign:{row.assignmentid}", learner_id, course_id,
                       {"assignmentid": row.assignmentid, "cmid": cmid, "raw": dec(row.grade),
                        "max": dec(grademax), "percent": dec(percent(row.grade, Decimal(0), grademax)),
                        "attemptnumber": row.attemptnumber, "timemodified": row.timemodified},
                       from_epoch(row.timemodified))


def quiz_attempt(learner_id: int, course_id: int, quiz: QuizInfo, row: QuizAttemptRow) -> Observation:
    """Raw marks (attempt sumgrades, out of quiz.sumgrades) are rescaled to the quiz grade
    (out of quiz.grade), which is what the gradebook and pass marks use."""
    scaled = None
    if row.sumgrades is not None and quiz.sumgrades and quiz.grade is not None:
        scaled = (row.sumgrades * quiz.grade / quiz.sumgrades).quantize(PERCENT_PLACES)
    return Observation("quiz_attempt", f"attempt:{row.id}", learner_id, course_id,
                       {"quizid": quiz.id, "cmid": quiz.cmid, "attempt": row.attempt, "state": row.state,
                        "sumgrades": dec(row.sumgrades), "maxmarks": dec(quiz.sumgrades), "raw": dec(scaled),
                        "max": dec(quiz.grade), "percent": dec(percent(scaled, Decimal(0), quiz.grade)),
                        "timefinish": row.timefinish},
                       from_epoch(row.timefinish or row.timemodified))


def competency(learner_id: int, course_id: int, moodle_course: int, row: UserCompetencyRow) -> Observation:
    # a competency can be rated in several courses: one fact per course (source keys are site-wide)
    return Observation("competency", f"course:{moodle_course}:competency:{row.competencyid}", learner_id, course_id,
                       {"competencyid": row.competencyid, "idnumber": row.idnumber,
                        "proficiency": row.proficiency, "grade": row.grade},
                       from_epoch(row.timemodified))


# --- the versioned upsert --------------------------------------------------------------------------

@dataclass
class WriteCounts:
    new: int = 0
    changed: int = 0
    withdrawn: int = 0
    learners: set[int] = field(default_factory=set)

    def add(self, other: WriteCounts) -> None:
        self.new += other.new
        self.changed += other.changed
        self.withdrawn += other.withdrawn
        self.learners |= other.learners


@dataclass(slots=True)
class Version:
    """The current version of one fact, as the writer compares against it (a plain record, not an
    ORM object: a course holds tens of thousands of facts, and identity-mapped entities cost several
    times as much to load and to insert)."""

    learner_id: int
    kind: str
    source_key: str
    course_id: int | None
    version: int
    withdrawn: bool
    payload: dict[str, Any]
    content_hash: str
    occurred_at: datetime | None
    id: int | None = None  # None while the version is still pending in this writer
    row: dict[str, Any] | None = None  # the pending INSERT values (None once read from the database)

    @property
    def key(self) -> tuple[int, str, str]:
        return (self.learner_id, self.kind, self.source_key)


_VERSION_COLUMNS = (Evidence.id, Evidence.learner_id, Evidence.kind, Evidence.source_key, Evidence.course_id,
                    Evidence.version, Evidence.withdrawn, Evidence.payload, Evidence.content_hash,
                    Evidence.occurred_at)
_CHUNK = 500  # rows per statement: well under SQLite's bound-parameter limit


class EvidenceWriter:
    """Upserts observations for one connection in the caller's session.

    ``load`` reads the current versions for a scope once (a course, or some learners), so a course
    with thousands of facts costs one query, not one per fact. New versions are collected and
    written by :meth:`flush` as one bulk INSERT (plus one UPDATE retiring the versions they replace);
    like the session's autoflush, the writer also flushes itself before any query of the session
    and before it commits, so callers read their own writes, and the rows commit in the caller's
    transaction.
    """

    def __init__(self, session: Session, connection_id: int | None, *, source: str = "moodle_ws") -> None:
        self.session = session
        self.connection_id = connection_id
        self.source = source
        self._current: dict[tuple[int, str, str], Version] = {}
        self._by_learner: dict[int, set[tuple[int, str, str]]] = defaultdict(set)
        self.seen: set[tuple[int, str, str]] = set()
        self.counts = WriteCounts()
        self._inserts: list[dict[str, Any]] = []
        self._retire: list[int] = []
        self.read_only = False
        event.listen(session, "before_commit", self._flush_before_commit)
        event.listen(session, "do_orm_execute", self._flush_before_select)

    @property
    def current(self) -> dict[tuple[int, str, str], Version]:
        return self._current

    @current.setter
    def current(self, versions: dict[tuple[int, str, str], Version]) -> None:
        """Narrow the scope a caller loaded (e.g. to one external assessment) before comparing."""
        self._current = dict(versions)
        self._by_learner = defaultdict(set)
        for key in self._current:
            self._by_learner[key[0]].add(key)

    def load(self, *, course_id: int | None = None, learner_ids: Iterable[int] | None = None,
             payload_kinds: Iterable[str] | None = None) -> None:
        """Read the current versions of a scope. With ``payload_kinds``, only those kinds' payloads
        are read (the others come as ``{}``): decoding every payload is most of a no-change sync's
        comparison, which needs only hashes. Such a writer compares but refuses to write."""
        self.flush()
        columns = list(_VERSION_COLUMNS)
        if payload_kinds is not None:
            self.read_only = True
            columns[_VERSION_COLUMNS.index(Evidence.payload)] = case(
                (Evidence.kind.in_(sorted(payload_kinds)), Evidence.payload), else_=null())
        query = select(*columns).where(
            Evidence.connection_id.is_(None) if self.connection_id is None
            else Evidence.connection_id == self.connection_id,
            Evidence.is_current.is_(True))
        if course_id is not None:
            query = query.where(Evidence.course_id == course_id)
        if learner_ids is not None:
            query = query.where(Evidence.learner_id.in_(list(learner_ids)))
        for (id_, learner_id, kind, source_key, course, version, withdrawn, payload, digest,
             occurred_at) in self.session.execute(query):
            key = (learner_id, kind, source_key)
            self._current[key] = Version(learner_id, kind, source_key, course, version, withdrawn,
                                         payload if payload is not None else {}, digest, occurred_at, id=id_)
            self._by_learner[learner_id].add(key)

    def keys_of(self, learner_id: int) -> set[tuple[int, str, str]]:
        """The keys of a learner's current facts in the loaded scope."""
        return self._by_learner.get(learner_id, set())

    def would_change(self, obs: Observation) -> bool:
        row = self._current.get(obs.key)
        return row is None or row.withdrawn or row.content_hash != content_hash(obs.payload)

    def upsert(self, obs: Observation) -> str | None:
        """Write ``obs`` if it is new or different; returns "new", "changed" or None."""
        self.seen.add(obs.key)
        digest = content_hash(obs.payload)
        row = self._current.get(obs.key)
        if row is not None and not row.withdrawn and row.content_hash == digest:
            return None
        outcome = "new" if row is None else "changed"
        self._new_version(obs.key, obs.course_id, obs.payload, digest, obs.occurred_at, row, withdrawn=False)
        if outcome == "new":
            self.counts.new += 1
        else:
            self.counts.changed += 1
        return outcome

    def withdraw_unseen(self, *, learner_id: int | None = None, kinds: Iterable[str] | None = None,
                        course_id: int | None = None, source_keys: Iterable[str] | None = None,
                        spare: Callable[[Version], bool] | None = None) -> int:
        """After a complete re-read of a scope: withdraw its current facts the read did not show, except
        those ``spare`` keeps (facts the read could not show: an activity Moodle hides from the reader)."""
        kinds = set(kinds) if kinds is not None else None
        keys = set(source_keys) if source_keys is not None else None
        candidates = self.keys_of(learner_id) if learner_id is not None else self._current.keys()
        count = 0
        for key in sorted(candidates):  # sorted: the same rows in the same order on every run
            row = self._current[key]
            if row.withdrawn or key in self.seen:
                continue
            if kinds is not None and row.kind not in kinds:
                continue
            if course_id is not None and row.course_id != course_id:
                continue
            if keys is not None and row.source_key not in keys:
                continue
            if spare is not None and spare(row):
                continue
            self.withdraw(key)
            count += 1
        return count

    def withdraw(self, key: tuple[int, str, str]) -> bool:
        row = self._current.get(key)
        if row is None or row.withdrawn:
            return False
        payload = dict(row.payload)
        self._new_version(key, row.course_id, payload, content_hash({"withdrawn": True, **payload}),
                          row.occurred_at, row, withdrawn=True)
        self.counts.withdrawn += 1
        return True

    def flush(self) -> None:
        """Write the collected versions: retire the ones they replace, then insert them."""
        retire, inserts = self._retire, self._inserts
        self._retire, self._inserts = [], []
        for start in range(0, len(retire), _CHUNK):
            self.session.execute(update(Evidence).where(Evidence.id.in_(retire[start:start + _CHUNK]))
                                 .values(is_current=False).execution_options(synchronize_session=False))
        for start in range(0, len(inserts), _CHUNK):
            self.session.execute(insert(Evidence), inserts[start:start + _CHUNK])

    def _flush_before_commit(self, _session: Session) -> None:
        self.flush()

    def _flush_before_select(self, state: ORMExecuteState) -> None:
        if (self._inserts or self._retire) and state.is_select and state.session.autoflush:
            self.flush()

    def _new_version(self, key: tuple[int, str, str], course_id: int | None, payload: dict[str, Any], digest: str,
                     occurred_at: datetime | None, previous: Version | None, *, withdrawn: bool) -> None:
        if self.read_only:
            raise RuntimeError("this writer loaded only some payloads: it compares, it cannot write")
        learner_id, kind, source_key = key
        if previous is not None:
            if previous.row is not None:  # replaced before it was written: it is written as not current
                previous.row["is_current"] = False
            elif previous.id is not None:
                self._retire.append(previous.id)
        version = (previous.version + 1) if previous else 1
        row = {"connection_id": self.connection_id, "learner_id": learner_id, "course_id": course_id,
               "kind": kind, "source_key": source_key, "version": version, "is_current": True,
               "withdrawn": withdrawn, "payload": payload, "content_hash": digest, "occurred_at": occurred_at,
               "observed_at": utcnow(), "source": self.source}
        self._inserts.append(row)
        self._current[key] = Version(learner_id, kind, source_key, course_id, version, withdrawn, payload, digest,
                                     occurred_at, row=row)
        self._by_learner[learner_id].add(key)
        self.counts.learners.add(learner_id)
