"""Everything credbridge holds about one learner, as one JSON-ready document."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from credbridge.connector.store.base import utcnow
from credbridge.connector.store.models import (
    AuditEntry,
    Award,
    Course,
    Credential,
    Enrolment,
    Evidence,
    LaunchSession,
    Learner,
    LearnerIdentity,
    LmsConnection,
    OutboxItem,
    School,
    WorkItem,
)

FORMAT_VERSION = 1
#: the learner id column is INTEGER, which has 32 bits in PostgreSQL
MAX_ID = 2**31 - 1


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def find_learners(session: Session, school_id: int, query: str, limit: int = 50) -> list[Learner]:
    """Learners of one school by id, e-mail, idnumber, Moodle username or a part of the name."""
    text = query.strip()
    if not text:
        return []
    conditions = [Learner.email == text, Learner.idnumber == text, Learner.full_name.ilike(f"%{text}%"),
                  Learner.id.in_(select(LearnerIdentity.learner_id).where(LearnerIdentity.username == text))]
    if text.isascii() and text.isdigit() and int(text) <= MAX_ID:  # beyond any id: no learner (not a database error)
        conditions.append(Learner.id == int(text))
    return list(session.scalars(select(Learner).where(Learner.school_id == school_id, or_(*conditions))
                                .order_by(Learner.full_name, Learner.id).limit(limit)))


def export_learner(session: Session, learner_id: int, *, school_id: int | None = None) -> dict[str, Any]:
    """The whole record of one learner; ``school_id`` (the console's school) refuses anyone else's."""
    learner = session.get(Learner, learner_id)
    if learner is None or (school_id is not None and learner.school_id != school_id):
        raise LookupError(f"no learner {learner_id}" + (" in this school" if school_id is not None else ""))
    school = session.get(School, learner.school_id)
    connections = {c.id: c for c in session.scalars(select(LmsConnection).where(
        LmsConnection.school_id == learner.school_id))}
    courses = {c.id: c for c in session.scalars(select(Course).where(
        Course.id.in_(select(Enrolment.course_id).where(Enrolment.learner_id == learner_id))
        | Course.id.in_(select(Evidence.course_id).where(Evidence.learner_id == learner_id))))}
    awards = list(session.scalars(select(Award).where(Award.learner_id == learner_id).order_by(Award.id)))
    award_ids = [a.id for a in awards]
    credentials = list(session.scalars(select(Credential).where(Credential.award_id.in_(award_ids))
                                       .order_by(Credential.id))) if award_ids else []
    outbox = list(session.scalars(select(OutboxItem).where(OutboxItem.award_id.in_(award_ids))
                                  .order_by(OutboxItem.id))) if award_ids else []
    subjects = [("learner", str(learner_id))] + [("award", str(a)) for a in award_ids] + \
        [("credential", c.uuid) for c in credentials] + [("credential", str(c.id)) for c in credentials]
    audit = list(session.scalars(select(AuditEntry).where(or_(*[
        (AuditEntry.subject_type == kind) & (AuditEntry.subject_id == sid) for kind, sid in subjects]))
        .order_by(AuditEntry.id)))
    sessions = list(session.scalars(select(LaunchSession).where(LaunchSession.learner_id == learner_id)
                                    .order_by(LaunchSession.created_at)))
    work = list(session.scalars(select(WorkItem).where(WorkItem.school_id == learner.school_id,
                                                                WorkItem.key == f"learner:{learner_id}")))
    identities = list(session.scalars(select(LearnerIdentity).where(LearnerIdentity.learner_id == learner_id)))
    evidence = list(session.scalars(select(Evidence).where(Evidence.learner_id == learner_id)
                                    .order_by(Evidence.kind, Evidence.source_key, Evidence.version)))
    return {
        "format": "credbridge learner export", "format_version": FORMAT_VERSION, "exported_at": _when(utcnow()),
        "controller": {"school": school.legal_name if school else None, "slug": school.slug if school else None,
                       "country": school.country if school else None,
                       "homepage": school.homepage if school else None},
        "learner": {"id": learner.id, "full_name": learner.full_name, "given_name": learner.given_name,
                    "family_name": learner.family_name, "email": learner.email, "idnumber": learner.idnumber,
                    "locale": learner.locale, "created_at": _when(learner.created_at),
                    "erased_at": _when(learner.erased_at)},
        "identities": [{"connection": connections[i.connection_id].name if i.connection_id in connections else None,
                        "moodle": connections[i.connection_id].base_url if i.connection_id in connections else None,
                        "moodle_user_id": i.external_id, "username": i.username}
                       for i in identities],
        "enrolments": [{"course": _course(courses.get(e.course_id)), "roles": e.roles, "active": e.active,
                        "last_course_access": e.lastcourseaccess, "updated_at": _when(e.updated_at)}
                       for e in session.scalars(select(Enrolment).where(Enrolment.learner_id == learner_id))],
        "evidence": [{"id": e.id, "course": _course(courses.get(e.course_id)), "kind": e.kind,
                      "source_key": e.source_key, "version": e.version, "current": e.is_current,
                      "withdrawn": e.withdrawn, "value": e.payload, "occurred_at": _when(e.occurred_at),
                      "observed_at": _when(e.observed_at), "source": e.source} for e in evidence],
        "awards": [{"id": a.id, "template": a.template_code, "template_version": a.template_version,
                    "status": a.status, "decided_at": _when(a.decided_at), "decided_by": a.decided_by,
                    "achieved_at": _when(a.achieved_at), "values": a.snapshot, "regression": a.regression}
                   for a in awards],
        "credentials": [{"uuid": c.uuid, "award_id": c.award_id, "format": c.format, "target": c.target,
                         "issued_at": _when(c.issued_at), "revoked_at": _when(c.revoked_at),
                         "revocation_reason": c.revocation_reason, "document": c.document or None}
                        for c in credentials],
        "deliveries": [{"award_id": o.award_id, "target": o.target, "status": o.status, "attempts": o.attempts,
                        "created_at": _when(o.created_at), "updated_at": _when(o.updated_at)} for o in outbox],
        "launches": [{"at": _when(s.created_at), "course": s.context_title, "roles": s.roles, "name": s.name,
                      "email": s.email, "locale": s.locale} for s in sessions],
        "work_items": [{"kind": w.kind, "status": w.status, "updated_at": _when(w.updated_at)} for w in work],
        "audit": [{"at": _when(a.at), "actor": a.actor, "action": a.action, "subject": f"{a.subject_type}:"
                   f"{a.subject_id}", "details": a.details} for a in audit],
    }


def _course(course: Course | None) -> dict[str, Any] | None:
    if course is None:
        return None
    return {"moodle_id": course.moodle_id, "shortname": course.shortname, "fullname": course.fullname}
