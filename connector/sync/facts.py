"""Evidence rows and stored course structure as the mapping layer sees them.

:func:`to_evidence_fact` turns one stored :class:`Evidence` version into an
:class:`~credbridge.mappings.evidence.EvidenceFact`; :func:`current_facts` does it for all of a
learner's current evidence; :func:`course_structure` builds the
:class:`~credbridge.mappings.structure.CourseStructure` that mapping files resolve against.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from credbridge.connector.store.models import (
    Activity,
    Course,
    CourseCompetency,
    Evidence,
    GradeItem,
    LmsConnection,
)
from credbridge.mappings import structure as st
from credbridge.mappings.evidence import EvidenceFact, EvidenceKind, freeze

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _dec(value: Any) -> Decimal | None:
    return None if value is None or value == "" else Decimal(str(value))


def fact_id(row: Evidence) -> str:
    return f"{row.source}:{row.connection_id or 0}:{row.kind}:{row.learner_id}:{row.source_key}:v{row.version}"


def connection_of(fact: str) -> int | None:
    """The connection a :func:`fact_id` names (None for evidence of no connection, e.g. an imported sheet)."""
    parts = fact.split(":")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() and parts[1] != "0" else None


def to_evidence_fact(row: Evidence, course: Course | None = None, activity: Activity | None = None,
                     grade_item: GradeItem | None = None, competency: CourseCompetency | None = None, *,
                     quiz_settings: Mapping[str, Any] | None = None) -> EvidenceFact:
    """``row`` and the structure rows may be ORM objects or column rows with the same attribute names;
    ``quiz_settings`` is the activity's, already frozen (:func:`facts_for` freezes each quiz's once)."""
    p = row.payload or {}
    kind = EvidenceKind(row.kind)
    cmid = p.get("cmid") if p.get("cmid") is not None else (activity.cmid if activity else None)
    fields: dict[str, Any] = {
        "id": fact_id(row), "kind": kind, "occurred_at": row.occurred_at or row.observed_at or _EPOCH,
        "course_id": course.moodle_id if course else None,
        "course_shortname": course.shortname if course else None,
        "course_idnumber": course.idnumber if course else None,
        "cmid": cmid, "modname": p.get("modname") or p.get("itemmodule") or (activity.modname if activity else None),
        "activity_idnumber": activity.idnumber if activity else None,
        "activity_name": activity.name if activity else None,
        "withdrawn": row.withdrawn,
    }
    if kind is EvidenceKind.COURSE_COMPLETION:
        fields["completed"] = bool(p.get("completed"))
    elif kind is EvidenceKind.ACTIVITY_COMPLETION:
        fields["state"] = int(p.get("state") or 0)
        fields["completed"] = fields["state"] in (1, 2)
    elif kind is EvidenceKind.GRADE_ITEM:
        fields.update(grade_item_id=p.get("itemid"), grade_item_idnumber=p.get("idnumber") or (
            grade_item.idnumber if grade_item else None), raw=_dec(p.get("raw")), max=_dec(p.get("max")),
            percent=_dec(p.get("percent")))
        if p.get("itemtype") == "course":
            fields["modname"] = None
    elif kind is EvidenceKind.ASSIGNMENT_GRADE:
        fields.update(raw=_dec(p.get("raw")), max=_dec(p.get("max")), percent=_dec(p.get("percent")),
                      modname="assign")
    elif kind is EvidenceKind.QUIZ_ATTEMPT:
        fields.update(attempt=p.get("attempt"), attempt_state=p.get("state"), raw=_dec(p.get("raw")),
                      max=_dec(p.get("max")), percent=_dec(p.get("percent")), modname="quiz",
                      quiz_settings=quiz_settings if quiz_settings is not None else _quiz_settings(activity))
    elif kind is EvidenceKind.COMPETENCY:
        fields.update(proficient=p.get("proficiency"),
                      competency_idnumber=p.get("idnumber") or (competency.idnumber if competency else None))
    elif kind is EvidenceKind.EXTERNAL:
        fields.update(activity_idnumber=p.get("assessment"), activity_name=p.get("assessment_name"),
                      raw=_dec(p.get("raw")), max=_dec(p.get("max")), percent=_dec(p.get("percent")),
                      completed=p.get("passed"), external=dict(p))
    return EvidenceFact(**fields)


def _quiz_settings(activity: Any) -> Mapping[str, Any]:
    settings = (activity.settings or {}) if activity is not None else {}
    return freeze({k: v for k, v in settings.items() if k != "quizid"})  # type: ignore[return-value]


#: what a fact is made of: read as columns, not as ORM objects (a course page turns hundreds of rows
#: into facts, and building and tracking an ORM object per row cost more than the fact itself)
FACT_COLUMNS = (Evidence.source, Evidence.connection_id, Evidence.kind, Evidence.learner_id, Evidence.source_key,
                Evidence.version, Evidence.course_id, Evidence.payload, Evidence.occurred_at, Evidence.observed_at,
                Evidence.withdrawn)


def current_facts(session: Session, learner_id: int, *, include_withdrawn: bool = True) -> list[EvidenceFact]:
    """Every current evidence version of a learner, across connections and sources."""
    query = select(*FACT_COLUMNS).where(Evidence.learner_id == learner_id, Evidence.is_current.is_(True))
    if not include_withdrawn:
        query = query.where(Evidence.withdrawn.is_(False))
    return facts_for(session, session.execute(query.order_by(Evidence.id)).all())


def current_facts_many(session: Session, learner_ids: Iterable[int], *,
                       include_withdrawn: bool = True) -> dict[int, list[EvidenceFact]]:
    """:func:`current_facts` of many learners in one query (a course page reads 25 or 300 at once)."""
    ids = list(learner_ids)
    found: dict[int, list[EvidenceFact]] = {learner_id: [] for learner_id in ids}
    if not ids:
        return found
    query = select(*FACT_COLUMNS).where(Evidence.learner_id.in_(ids), Evidence.is_current.is_(True))
    if not include_withdrawn:
        query = query.where(Evidence.withdrawn.is_(False))
    rows = session.execute(query.order_by(Evidence.id)).all()
    for row, fact in zip(rows, facts_for(session, rows), strict=True):
        found[row.learner_id].append(fact)
    return found


def facts_for(session: Session, rows: Iterable[Any]) -> list[EvidenceFact]:
    """Facts of stored evidence versions (:class:`Evidence` objects or rows of :data:`FACT_COLUMNS`),
    with the names and idnumbers of their courses, activities, grade items and competencies."""
    rows = list(rows)
    course_ids = {r.course_id for r in rows if r.course_id}
    if not course_ids:
        return [to_evidence_fact(row) for row in rows]
    courses = {c.id: c for c in session.execute(
        select(Course.id, Course.moodle_id, Course.shortname, Course.idnumber).where(Course.id.in_(course_ids)))}
    activities = {(a.course_id, a.cmid): a for a in session.execute(
        select(Activity.course_id, Activity.cmid, Activity.modname, Activity.idnumber, Activity.name,
               Activity.settings).where(Activity.course_id.in_(course_ids)))}
    # a grade item's or a competency's idnumber is looked up only where the row does not carry it
    item_courses = _lacking_idnumber(rows, EvidenceKind.GRADE_ITEM, "itemid")
    items = {(g.course_id, g.moodle_id): g for g in session.execute(
        select(GradeItem.course_id, GradeItem.moodle_id, GradeItem.idnumber)
        .where(GradeItem.course_id.in_(item_courses)))} if item_courses else {}
    comp_courses = _lacking_idnumber(rows, EvidenceKind.COMPETENCY, "competencyid")
    comps = {(c.course_id, c.competency_id): c for c in session.execute(
        select(CourseCompetency.course_id, CourseCompetency.competency_id, CourseCompetency.idnumber)
        .where(CourseCompetency.course_id.in_(comp_courses)))} if comp_courses else {}
    quiz_settings: dict[tuple[int, int], Mapping[str, Any]] = {}  # each quiz's, frozen once for all its attempts
    out = []
    for row in rows:
        p = row.payload or {}
        cmid, settings = p.get("cmid"), None
        activity = activities.get((row.course_id, cmid)) if cmid is not None else None
        item = items.get((row.course_id, p.get("itemid"))) if p.get("itemid") is not None else None
        comp = comps.get((row.course_id, p.get("competencyid"))) if p.get("competencyid") is not None else None
        if row.kind == EvidenceKind.QUIZ_ATTEMPT:
            key = (row.course_id, cmid)
            settings = quiz_settings.get(key)
            if settings is None:
                settings = quiz_settings[key] = _quiz_settings(activity)
        out.append(to_evidence_fact(row, courses.get(row.course_id) if row.course_id else None, activity, item, comp,
                                    quiz_settings=settings))
    return out


def _lacking_idnumber(rows: list[Any], kind: EvidenceKind, key: str) -> set[int]:
    """Courses of the rows of ``kind`` whose payload names the item (``key``) but not its idnumber."""
    return {r.course_id for r in rows if r.kind == kind and r.course_id and (p := r.payload or {}).get(key) is not None
            and not p.get("idnumber")}


def course_structure(session: Session, connection: LmsConnection | int) -> st.CourseStructure:
    connection_id = connection if isinstance(connection, int) else connection.id
    courses = session.scalars(select(Course).where(Course.connection_id == connection_id)
                              .order_by(Course.moodle_id)).all()
    ids = [c.id for c in courses]
    activities: dict[int, list[Activity]] = {}
    for a in session.scalars(select(Activity).where(Activity.course_id.in_(ids)).order_by(Activity.cmid)):
        activities.setdefault(a.course_id, []).append(a)
    items: dict[int, list[GradeItem]] = {}
    for g in session.scalars(select(GradeItem).where(GradeItem.course_id.in_(ids)).order_by(GradeItem.moodle_id)):
        items.setdefault(g.course_id, []).append(g)
    competencies: dict[int, st.CompetencyRef] = {}
    for c in session.scalars(select(CourseCompetency).where(CourseCompetency.course_id.in_(ids))):
        competencies.setdefault(c.competency_id, st.CompetencyRef(id=c.competency_id, idnumber=c.idnumber or "",
                                                                   shortname=c.shortname))
    return st.CourseStructure(
        courses=tuple(st.Course(
            id=c.moodle_id, shortname=c.shortname, fullname=c.fullname, idnumber=c.idnumber, declared_mode=c.mode,
            activities=tuple(st.Activity(cmid=a.cmid, modname=a.modname, instance=a.instance or 0, name=a.name,
                                         idnumber=a.idnumber) for a in activities.get(c.id, [])),
            grade_items=tuple(st.GradeItem(id=g.moodle_id, itemname=g.name or None, idnumber=g.idnumber,
                                           itemtype=g.itemtype, itemmodule=g.itemmodule, cmid=g.cmid,
                                           grademax=_dec(g.grademax)) for g in items.get(c.id, [])))
            for c in courses),
        competencies=tuple(sorted(competencies.values(), key=lambda c: c.id)))
