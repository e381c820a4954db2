"""Teacher and admin actions on awards, as service functions (the web pages and the command line
call these). Each checks the award belongs to the caller's school, refuses a transition that makes
no sense with :class:`ActionRefused`, and writes an audit entry naming the actor."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from credbridge.connector.awards.audit import audit
from credbridge.connector.issuing.pipeline.outbox import all_sent, enqueue_notification
from credbridge.connector.issuing.status import revoke_credential
from credbridge.connector.store.base import utcnow
from credbridge.connector.store.models import AuditEntry, Award, Credential, OutboxItem, WorkItem

REVOKE_EXTERNAL = "revoke_external"


class ActionRefused(Exception):
    """The award is not in a state that allows the action; ``code`` is stable for the UI."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _award(session: Session, school_id: int, award_id: int) -> Award:
    award = session.get(Award, award_id)
    if award is None or award.school_id != school_id:
        # the same answer whether it does not exist or belongs to another school
        raise ActionRefused("not_found", f"award {award_id} not found")
    return award


def _transition(session: Session, award: Award, new: str, actor: str, action: str, **details: object) -> None:
    previous = award.status
    award.status = new
    award.decided_by = actor if action in ("award.approved", "award.held") else award.decided_by
    audit(session, school_id=award.school_id, actor=actor, action=action, subject_type="award",
          subject_id=award.id, previous=previous, **details)


def _require(award: Award, allowed: tuple[str, ...], action: str) -> None:
    if award.status not in allowed:
        raise ActionRefused("wrong_state", f"award {award.id} is {award.status}; {action} needs one of "
                                           f"{', '.join(allowed)}")


def approve(session: Session, school_id: int, award_id: int, *, actor: str) -> Award:
    award = _award(session, school_id, award_id)
    _require(award, ("pending_approval", "held"), "approve")
    _transition(session, award, "approved", actor, "award.approved")
    return award


def hold(session: Session, school_id: int, award_id: int, *, actor: str, reason: str = "") -> Award:
    award = _award(session, school_id, award_id)
    _require(award, ("pending_approval", "approved", "failed", "dead"), "hold")
    _transition(session, award, "held", actor, "award.held", reason=reason)
    return award


def keep_flagged(session: Session, school_id: int, award_id: int, *, actor: str, note: str) -> Award:
    """A teacher looked at a flagged award and decided the credential stands (e.g. the grade change
    was a correction that still passes): back to the state it had, with the decision audited."""
    if not note or not note.strip():
        raise ActionRefused("note_required", "say why the credential stands despite the changed evidence")
    award = _award(session, school_id, award_id)
    _require(award, ("flagged",), "keep")
    previous = status_after_flag(session, award)
    # remembered so that the same evidence change does not flag it again at the next evaluation
    award.regression = {**(award.regression or {}), "dismissed_by": actor, "dismissed_note": note,
                        "dismissed_at": utcnow().isoformat()}
    _transition(session, award, previous, actor, "award.flag_dismissed", note=note)
    return award


def status_after_flag(session: Session, award: Award) -> str:
    """The status a flagged award returns to when its flag is lifted (kept by a teacher, or the
    evidence holds again). An award flagged while it was being sent, whose sends all landed in the
    meantime, is issued now: the outbox worker does not finish an award it found flagged."""
    previous = str((award.regression or {}).get("previous_status", "approved"))
    if previous == "issuing" and all_sent(session, award.id):
        enqueue_notification(session, award)
        return "issued"
    return previous


def _due_now(session: Session, award: Award, now: datetime, *, revive_dead: bool) -> int:
    states = ("pending", "failed", "dead") if revive_dead else ("pending", "failed")
    count = 0
    for item in session.scalars(select(OutboxItem).where(OutboxItem.award_id == award.id,
                                                         OutboxItem.status.in_(states))):
        if item.status == "dead":
            item.status = "failed" if item.attempts else "pending"
            item.attempts = item.crashes = 0
            audit(session, school_id=award.school_id, actor="system:outbox", action="outbox.revived",
                  subject_type="outbox_item", subject_id=item.id, target=item.target)
        item.next_attempt_at = now
        count += 1
    return count


def issue_now(session: Session, school_id: int, award_id: int, *, actor: str, now: datetime | None = None) -> Award:
    """Approve if needed and make its outbox rows due immediately (skipping any backoff)."""
    award = _award(session, school_id, award_id)
    _require(award, ("pending_approval", "held", "approved", "failed", "issuing"), "issue now")
    if award.status != "issuing":
        _transition(session, award, "approved", actor, "award.issue_now")
    _due_now(session, award, now or utcnow(), revive_dead=False)
    return award


def retry_dead(session: Session, school_id: int, award_id: int, *, actor: str, now: datetime | None = None) -> Award:
    """Give dead outbox rows a fresh set of attempts (after the admin fixed the target or the data).

    Rows that had attempts keep ``failed`` so the worker reconciles with the target before sending."""
    award = _award(session, school_id, award_id)
    _require(award, ("dead",), "retry")
    revived = _due_now(session, award, now or utcnow(), revive_dead=True)
    _transition(session, award, "approved", actor, "award.retried", outbox_items=revived)
    return award


#: the public reasons a revocation may give, by code, with the English text external targets get
#: (the pages translate the code; the revoker's own words stay private)
PUBLIC_REVOCATION_REASONS = {
    "issued_in_error": "Issued in error",
    "wrong_learner": "Issued to the wrong person",
    "assessment_changed": "The assessment result it records has changed",
    "replaced": "Replaced by a corrected credential",
    "learner_request": "Withdrawn at the learner's request",
}
#: what external targets are told when a revocation gave no public reason (before reasons had codes)
NO_PUBLIC_REASON = "Revoked by the issuer"


def public_reason_text(code: str | None) -> str:
    """The public reason in English, for targets outside credbridge (Badgr, Credly, a webhook)."""
    return PUBLIC_REVOCATION_REASONS.get(code or "", NO_PUBLIC_REASON)


def revoke(session: Session, school_id: int, award_id: int, *, reason: str = "", actor: str,
           now: datetime | None = None, public_reason: str | None = None) -> Award:
    """Revoke every credential of the award: status bit + Credential stamp for embedded ones, and a
    durable request to each external target that issued it.

    ``public_reason`` is the code the verification page shows (one of
    :data:`PUBLIC_REVOCATION_REASONS`); ``reason`` is the revoker's own note, kept private. A
    revocation needs at least one of them.
    """
    note = (reason or "").strip()
    if public_reason is not None and public_reason not in PUBLIC_REVOCATION_REASONS:
        raise ActionRefused("unknown_reason", f"{public_reason!r} is not one of the public revocation reasons: "
                                              f"{', '.join(PUBLIC_REVOCATION_REASONS)}")
    if public_reason is None and not note:
        raise ActionRefused("reason_required", "a revocation needs a reason the learner can be shown")
    award = _award(session, school_id, award_id)
    if award.status == "revoked":
        raise ActionRefused("wrong_state", f"award {award.id} is already revoked")
    revoke_issued(session, award, reason=note, actor=actor, now=now, public_reason=public_reason)
    _transition(session, award, "revoked", actor, "award.revoked", reason=note, public_reason=public_reason)
    return award


def revoke_issued(session: Session, award: Award, *, reason: str, actor: str, now: datetime | None = None,
                  public_reason: str | None = None) -> None:
    """Revoke whatever of the award exists right now: the embedded credentials (status bit) and, for
    each external target that issued it, a durable revoke request; unsent rows are stopped. Also
    used by the outbox worker when an issuance lands after its award was revoked (the public reason
    is then the one the revocation recorded)."""
    now = now or utcnow()
    if public_reason is None:
        public_reason = revocation_code(session, award)
    for credential in session.scalars(select(Credential).where(Credential.award_id == award.id,
                                                               Credential.revoked_at.is_(None))):
        revoke_credential(session, credential, reason=reason or public_reason_text(public_reason), actor=actor,
                          now=now)
        credential.revocation_code = public_reason
    # targets outside credbridge publish what they are sent: the public reason, never the private note
    public = public_reason_text(public_reason)
    for item in session.scalars(select(OutboxItem).where(OutboxItem.award_id == award.id)):
        if item.status == "sent" and item.target != "embedded" and item.external_id:
            _revoke_at_target(session, award, item, public, key=f"outbox:{item.id}")
        elif item.status in ("pending", "failed", "dead", "sending"):
            # an earlier attempt may have reached the target (it timed out after committing, or its
            # worker died): ask the target, and revoke what it finds. A send still in flight that
            # lands later is revoked by the outbox worker itself.
            maybe_issued = item.attempts > 0 or item.status == "sending"
            item.status = "dead"
            item.last_error = f"award revoked before sending: {reason or public}"
            if maybe_issued:
                _revoke_at_target(session, award, item, public, key=f"outbox:{item.id}:lookup", lookup=True)


def _revoke_at_target(session: Session, award: Award, item: OutboxItem, reason: str, *, key: str,
                      lookup: bool = False) -> None:
    if session.scalar(select(WorkItem.id).where(WorkItem.kind == REVOKE_EXTERNAL, WorkItem.key == key)) is None:
        payload = {"outbox_item_id": item.id, "reason": reason, **({"lookup": True} if lookup else {})}
        session.add(WorkItem(school_id=award.school_id, kind=REVOKE_EXTERNAL, key=key, payload=payload))


def _revocation_entry(session: Session, award: Award) -> AuditEntry | None:
    return session.scalars(select(AuditEntry).where(AuditEntry.subject_type == "award",
                                                    AuditEntry.subject_id == str(award.id),
                                                    AuditEntry.action == "award.revoked")
                           .order_by(AuditEntry.id.desc()).limit(1)).first()


def revocation_reason(session: Session, award: Award) -> str:
    """The revoker's note given when the award was revoked (from the audit log)."""
    entry = _revocation_entry(session, award)
    details = (entry.details or {}) if entry else {}
    return str(details.get("reason") or public_reason_text(details.get("public_reason")) if entry else "revoked")


def revocation_code(session: Session, award: Award) -> str | None:
    """The public reason code the award's revocation gave, if any."""
    entry = _revocation_entry(session, award)
    code = (entry.details or {}).get("public_reason") if entry else None
    return str(code) if code in PUBLIC_REVOCATION_REASONS else None
