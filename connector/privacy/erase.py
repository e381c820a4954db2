"""Erasure on request: a learner's personal data leaves credbridge; what was issued stays valid.

In one transaction:

* the learner row stays (awards and credentials refer to it) but is pseudonymised: name, e-mail,
  idnumber and locale are removed, the name becomes "Erased learner <id>", ``erased_at`` is set and
  evaluation skips the learner from then on;
* their Moodle identities, enrolments, every evidence version, LTI launch sessions and queued
  evaluations are deleted;
* awards not issued (waiting for approval, held, failed, flagged) are deleted with their outbox rows:
  nothing more is issued to someone who asked to be forgotten; an award being issued at this very
  moment makes the erasure refuse (try again a minute later);
* issued credentials stay valid for their holder: the signature, the school's key in its DID
  document and the status-list entry are untouched (the school can still revoke), but credbridge's
  stored copy of each document is deleted (its verification page answers 410 Gone) and the salt of the
  hashed e-mail in the award is dropped, so the hash in the holder's copy can no longer be linked to
  an address by credbridge; a revocation keeps its public reason, and the revoker's private note (free
  text, which may name the learner) is removed from the credentials and from the deliveries' errors;
* the audit log gets one ``learner.erased`` entry with who, why and how many rows — never the data.

If the learner is still enrolled in the school's Moodle, the next sync reads them again as a new
learner: erase (or unenrol) them in Moodle first. Entries written to the append-only audit log
before the erasure name learners only by id, but keep the notes people typed (a hold's or a
revocation's reason) as they were written, so such notes should say what happened, not who asked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from credbridge.connector.awards.audit import audit
from credbridge.connector.issuing.pipeline.outbox import NOTIFY_KIND
from credbridge.connector.store.base import utcnow
from credbridge.connector.store.models import (
    Award,
    Credential,
    Enrolment,
    Evidence,
    LaunchSession,
    Learner,
    LearnerIdentity,
    OutboxItem,
    WorkItem,
)

KEPT_AWARD_STATES = ("issued", "revoked")


class ErasureRefused(Exception):
    """The erasure cannot run now; the message says why and what to do. Nothing was changed."""


@dataclass
class ErasureReport:
    learner_id: int
    evidence: int = 0
    enrolments: int = 0
    identities: int = 0
    sessions: int = 0
    work_items: int = 0
    awards_withdrawn: list[str] = field(default_factory=list)
    credentials_kept: int = 0

    def as_dict(self) -> dict[str, object]:
        return {"evidence": self.evidence, "enrolments": self.enrolments, "identities": self.identities,
                "sessions": self.sessions, "work_items": self.work_items,
                "awards_withdrawn": len(self.awards_withdrawn), "credentials_kept_valid": self.credentials_kept}


def pseudonym(learner_id: int) -> str:
    return f"Erased learner {learner_id}"


def erase_learner(session: Session, learner_id: int, *, actor: str, reason: str, school_id: int | None = None,
                  now: datetime | None = None) -> ErasureReport:
    """Erase one learner's personal data (the caller's unit of work commits it, or nothing)."""
    now = now or utcnow()
    if not reason.strip():
        raise ErasureRefused("give the reason for the erasure (e.g. the request's reference); it goes to the audit log")
    learner = session.get(Learner, learner_id, with_for_update=True)
    if learner is None or (school_id is not None and learner.school_id != school_id):
        raise ErasureRefused(f"no learner {learner_id}" + (" in this school" if school_id is not None else ""))
    if learner.erased_at is not None:
        raise ErasureRefused(f"learner {learner_id} was already erased on {learner.erased_at:%Y-%m-%d %H:%M} UTC")
    awards = list(session.scalars(select(Award).where(Award.learner_id == learner_id).with_for_update()))
    in_flight = [a for a in awards if a.status == "issuing"]
    if in_flight:
        raise ErasureRefused(f"award {in_flight[0].id} ({in_flight[0].template_code}) is being issued right now; "
                             "run the erasure again in a minute")
    report = ErasureReport(learner_id)

    def count_and_delete(model: type, *where: object) -> int:
        result = session.execute(delete(model).where(*where))  # type: ignore[arg-type]
        return int(result.rowcount or 0)

    report.evidence = count_and_delete(Evidence, Evidence.learner_id == learner_id)
    report.enrolments = count_and_delete(Enrolment, Enrolment.learner_id == learner_id)
    report.identities = count_and_delete(LearnerIdentity, LearnerIdentity.learner_id == learner_id)
    report.sessions = count_and_delete(LaunchSession, LaunchSession.learner_id == learner_id)
    report.work_items = count_and_delete(WorkItem, WorkItem.school_id == learner.school_id,
                                         WorkItem.key == f"learner:{learner_id}")
    with_credentials = set(session.scalars(select(Credential.award_id).where(
        Credential.award_id.in_([a.id for a in awards])))) if awards else set()
    kept = [a for a in awards if a.status in KEPT_AWARD_STATES or a.id in with_credentials]
    withdrawn = [a for a in awards if a not in kept]
    for award in kept:
        award.snapshot = {k: v for k, v in (award.snapshot or {}).items() if k != "identity_salt"}
    report.awards_withdrawn = [f"{a.template_code} v{a.template_version} ({a.status})" for a in withdrawn]
    award_keys = [f"award:{a.id}" for a in awards]
    if award_keys:  # no e-mail or score is sent for a learner who asked to be forgotten
        report.work_items += count_and_delete(WorkItem, WorkItem.kind == NOTIFY_KIND, WorkItem.key.in_(award_keys))
    if withdrawn:
        ids = [a.id for a in withdrawn]
        session.execute(delete(OutboxItem).where(OutboxItem.award_id.in_(ids)))
        for award in withdrawn:
            session.expunge(award)
        session.execute(delete(Award).where(Award.id.in_(ids)))
    if kept:
        kept_ids = [a.id for a in kept]
        # the revoker's private note is free text about the learner; the public reason code stays
        report.credentials_kept = int(session.execute(
            update(Credential).where(Credential.award_id.in_(kept_ids))
            .values(document="", revocation_reason=None)).rowcount or 0)
        # a delivery stopped by the revocation quotes that note in its error
        session.execute(update(OutboxItem).where(OutboxItem.award_id.in_(kept_ids), OutboxItem.last_error.is_not(None))
                        .values(last_error="erased on request"))
    learner.full_name = pseudonym(learner_id)
    learner.given_name = learner.family_name = learner.email = learner.idnumber = learner.locale = None
    learner.erased_at = now
    audit(session, school_id=learner.school_id, actor=actor, action="learner.erased", subject_type="learner",
          subject_id=learner_id, reason=reason.strip()[:500], **report.as_dict())
    session.flush()
    return report
