"""One helper to append to the audit log, so every state transition of an award, an outbox item
or a credential is written the same way (actor, action, subject, details); and the reading side the
console needs: filtered pages of the log, and the names of what each entry is about."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import JSON, func, insert, select
from sqlalchemy.orm import Session

from credbridge.connector.store.base import utcnow
from credbridge.connector.store.models import (
    AdminUser,
    AuditEntry,
    Award,
    Credential,
    Learner,
    LmsConnection,
    LtiRegistration,
    MappingFile,
    OutboxItem,
    School,
    TemplateDefinition,
)

SYSTEM_EVALUATION = "system:evaluation"
SYSTEM_OUTBOX = "system:outbox"


def audit(
    session: Session,
    *,
    school_id: int | None,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: object,
    **details: Any,
) -> AuditEntry:
    entry = AuditEntry(school_id=school_id, actor=actor, action=action, subject_type=subject_type,
                       subject_id=str(subject_id), details=details)
    session.add(entry)
    return entry


def audit_many(session: Session, entries: list[dict[str, Any]]) -> None:
    """Append many entries at once (``audit``'s keyword arguments, ``details`` as a dict): what a batch of
    deliveries writes, without building an ORM object per entry. Written at once, in order."""
    if not entries:
        return
    now = utcnow()
    insert_rows(session, AuditEntry, [{"at": now, "school_id": e["school_id"], "actor": e["actor"],
                                       "action": e["action"], "subject_type": e["subject_type"],
                                       "subject_id": str(e["subject_id"]), "details": e.get("details") or {}}
                                      for e in entries])


def insert_rows(session: Session, model: Any, rows: list[dict[str, Any]]) -> None:
    """A bulk INSERT of ``rows`` (each with every column but the id), in the caller's transaction.

    On PostgreSQL through COPY, psycopg's own bulk path: an executemany there costs the driver a
    statement per row, and a multi-row INSERT is parsed again for every batch (psycopg caches only short
    statements); an end-of-year run writes a dozen rows per award. Elsewhere SQLAlchemy's multi-row
    INSERT (RETURNING selects it). JSON columns are given as Python values."""
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        session.execute(insert(model).returning(model.id), rows)
        return
    columns = list(rows[0])
    json_columns = {c.name for c in model.__table__.columns if isinstance(c.type, JSON)}
    session.flush()  # the rows follow whatever the session still holds
    cursor = session.connection().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY {model.__tablename__} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([json.dumps(row[c], default=str) if c in json_columns and row[c] is not None else row[c]
                            for c in columns])


@dataclass(frozen=True)
class AuditFilter:
    """What the console's audit log is narrowed to; ``action`` is one action or a group ending in
    ``.`` (``award.``); ``until`` is the last day included."""

    actor: str | None = None
    action: str | None = None
    since: date | None = None
    until: date | None = None

    def where(self, school_id: int) -> list[Any]:
        clauses: list[Any] = [AuditEntry.school_id == school_id]
        if self.actor:
            clauses.append(AuditEntry.actor == self.actor)
        if self.action and self.action.endswith("."):
            clauses.append(AuditEntry.action.startswith(self.action, autoescape=True))
        elif self.action:
            clauses.append(AuditEntry.action == self.action)
        if self.since:
            clauses.append(AuditEntry.at >= datetime.combine(self.since, time.min, tzinfo=UTC))
        if self.until:
            clauses.append(AuditEntry.at < datetime.combine(self.until + timedelta(days=1), time.min, tzinfo=UTC))
        return clauses


def audit_entries(session: Session, school_id: int, filters: AuditFilter, page: int,
                  per_page: int = 50) -> tuple[list[AuditEntry], int]:
    """One page of the school's audit log, newest first, and how many entries match."""
    clauses = filters.where(school_id)
    total = session.scalar(select(func.count()).select_from(AuditEntry).where(*clauses)) or 0
    rows = session.scalars(select(AuditEntry).where(*clauses).order_by(AuditEntry.id.desc())
                           .offset((page - 1) * per_page).limit(per_page))
    return list(rows), int(total)


def audit_choices(session: Session, school_id: int, limit: int = 300) -> tuple[list[str], list[str]]:
    """The actors and actions that occur in the school's log (for the filters)."""
    actors = session.scalars(select(AuditEntry.actor).where(AuditEntry.school_id == school_id).distinct()
                             .order_by(AuditEntry.actor).limit(limit))
    actions = session.scalars(select(AuditEntry.action).where(AuditEntry.school_id == school_id).distinct()
                              .order_by(AuditEntry.action).limit(limit))
    return list(actors), list(actions)


@dataclass
class SubjectName:
    """Who or what an entry is about, in the words of the school's data (names, titles, files)."""

    kind: str
    learner: str | None = None
    template: Any = None  # a title, or a language map of it
    text: str | None = None


def subject_names(session: Session, school_id: int,
                  entries: Iterable[AuditEntry]) -> dict[tuple[str, str], SubjectName]:
    """Names for the subjects of ``entries`` (only the school's own rows are looked up)."""
    wanted: dict[str, set[str]] = defaultdict(set)
    learner_ids: set[int] = set()
    for entry in entries:
        wanted[entry.subject_type].add(entry.subject_id)
        if str((entry.details or {}).get("learner_id") or "").isdigit():
            learner_ids.add(int(entry.details["learner_id"]))
    names: dict[tuple[str, str], SubjectName] = {}
    award_ids = {int(i) for i in wanted.get("award", ()) if i.isdigit()}
    items = {int(i) for i in wanted.get("outbox_item", ()) if i.isdigit()}
    item_awards: dict[int, int] = {}
    if items:
        item_awards = dict(session.execute(select(OutboxItem.id, OutboxItem.award_id)
                                           .where(OutboxItem.id.in_(items))).all())
        award_ids |= set(item_awards.values())
    credential_awards: dict[str, int] = {}
    if wanted.get("credential"):
        credential_awards = {str(k): v for k, v in session.execute(
            select(Credential.id, Credential.award_id).where(Credential.school_id == school_id,
                                                             Credential.id.in_(_ints(wanted["credential"]))))
            .all()}
        award_ids |= set(credential_awards.values())
    awards = {a.id: a for a in session.scalars(select(Award).where(Award.school_id == school_id,
                                                                   Award.id.in_(award_ids)))} if award_ids else {}
    learner_ids |= {a.learner_id for a in awards.values()}
    learners = dict(session.execute(select(Learner.id, Learner.full_name).where(
        Learner.school_id == school_id, Learner.id.in_(learner_ids))).all()) if learner_ids else {}
    titles = template_titles(session, school_id)

    def award_name(award_id: int | None) -> SubjectName | None:
        award = awards.get(award_id) if award_id is not None else None
        if award is None:
            return None
        return SubjectName("award", learner=learners.get(award.learner_id),
                           template=titles.get(award.template_code, award.template_code))

    for award_id in awards:
        found = award_name(award_id)
        if found is not None:
            names[("award", str(award_id))] = found
    for item_id, award_id in item_awards.items():
        found = award_name(award_id)
        if found is not None:
            names[("outbox_item", str(item_id))] = found
    for credential_id, award_id in credential_awards.items():
        found = award_name(award_id)
        if found is not None:
            names[("credential", credential_id)] = found
    for learner_id, name in learners.items():
        names[("learner", str(learner_id))] = SubjectName("learner", learner=name)
    simple = (("mapping_file", MappingFile, MappingFile.filename),
              ("lms_connection", LmsConnection, LmsConnection.name),
              ("lti_registration", LtiRegistration, LtiRegistration.issuer),
              ("admin_user", AdminUser, AdminUser.email))
    for kind, model, column in simple:
        ids = _ints(wanted.get(kind, ()))
        if ids:
            for row_id, text in session.execute(select(model.id, column).where(model.school_id == school_id,
                                                                               model.id.in_(ids))):
                names[(kind, str(row_id))] = SubjectName(kind, text=text)
    if wanted.get("school") and str(school_id) in wanted["school"]:
        school = session.get(School, school_id)
        if school is not None:
            names[("school", str(school_id))] = SubjectName("school", text=school.legal_name)
    return names


def template_titles(session: Session, school_id: int) -> dict[str, Any]:
    """Each template code's title as the mapping file gives it (a language map), newest version first."""
    found: dict[str, Any] = {}
    for row in session.scalars(select(TemplateDefinition).where(TemplateDefinition.school_id == school_id)
                               .order_by(TemplateDefinition.version.desc())):
        found.setdefault(row.code, (row.definition or {}).get("title") or row.title)
    return found


def _ints(values: Iterable[str]) -> list[int]:
    return [int(v) for v in values if str(v).isdigit()]
