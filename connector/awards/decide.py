"""Evaluation -> award decisions, for one learner, in the caller's transaction.

For every earned template that passes the completeness gate and the national rules and has no
award yet, an Award (approved, or pending_approval when the template asks for a teacher) and its
outbox rows are inserted together. The unique (learner, template, version) constraint is the
guarantee against concurrent evaluators: each insert runs in a savepoint, and losing the race just
means the other evaluator's award stands.

A regression (an awarded template whose evidence no longer holds) flags the award — a flagged award
is never sent — and, when the school's policy says ``revoke_on_regression: auto``, revokes it.

A learner who earned a template but is no longer actively enrolled in the courses its evidence comes
from (suspended or ended in Moodle, or unenrolled) is decided by ``suspended_enrolment``: ask the
teacher (``teacher_approval``, the default), issue as the template says (``issue``), or hold it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from credbridge.connector import school_policy
from credbridge.connector.awards import actions
from credbridge.connector.awards.audit import SYSTEM_EVALUATION, audit, audit_many
from credbridge.connector.awards.catalogue import current_mapping_set
from credbridge.connector.awards.snapshot import build_snapshot
from credbridge.connector.issuing.pipeline.outbox import created_audits, enqueue, may_have_issued, targets_of
from credbridge.connector.store.models import Award, Course, Enrolment, Learner, OutboxItem, School
from credbridge.connector.sync.facts import connection_of
from credbridge.mappings import (
    CourseStructure,
    EarnedTemplate,
    EvidenceFact,
    LearnerEvaluation,
    Regression,
    ResolvedMappings,
    evaluate,
    resolve,
)

log = logging.getLogger("credbridge.awards")

#: awards whose evidence is still watched for regressions
WATCHED = ("pending_approval", "approved", "held", "issuing", "issued", "failed", "dead", "flagged")
#: School.policy["suspended_enrolment"] -> the status of an award of a learner no longer actively enrolled
SUSPENDED_ENROLMENT = {"teacher_approval": "pending_approval", "hold": "held", "issue": None}


@dataclass(frozen=True)
class EvaluationSources:
    """Where evaluation reads a learner's evidence and the school's course structure (the sync layer)."""

    evidence_facts: Callable[[Session, int], Sequence[EvidenceFact]]
    course_structure: Callable[[Session, School], CourseStructure]
    #: many learners' facts at once (learner id -> facts), for pages that show a whole course
    evidence_facts_many: Callable[[Session, list[int]], Mapping[int, Sequence[EvidenceFact]]] | None = None
    #: a learner's enrolment states by (connection id, Moodle course id), when a batch read those of all its
    #: learners at once (:func:`enrolments_many`); otherwise each award asks the database
    enrolments: Callable[[int], Mapping[tuple[int, int], set[str]]] | None = None


@dataclass
class EvaluationOutcome:
    learner_id: int
    created: list[int] = field(default_factory=list)
    blocked: dict[str, list[str]] = field(default_factory=dict)  # template -> what stops it issuing
    flagged: list[int] = field(default_factory=list)
    revoked: list[int] = field(default_factory=list)
    unflagged: list[int] = field(default_factory=list)
    lost_races: int = 0
    #: awards decided with ``defer_writes=True``, not flushed yet (see :func:`write_decided`)
    deferred: list[tuple[Award, list[OutboxItem], EarnedTemplate, str]] = field(default_factory=list)


def resolved_mappings(session: Session, school: School, sources: EvaluationSources) -> ResolvedMappings | None:
    mapping_set = current_mapping_set(session, school)
    if mapping_set is None:
        return None
    return resolve(mapping_set, sources.course_structure(session, school))


def evaluate_learner(session: Session, school: School, learner_id: int, now: datetime, *,
                     sources: EvaluationSources, resolved: ResolvedMappings | None = None,
                     defer_writes: bool = False, existing: Sequence[Award] | None = None) -> EvaluationOutcome:
    """Decide the learner's awards; the caller's unit of work commits everything at once.

    ``defer_writes=True`` is for a caller that evaluates many learners in one transaction and starts
    again learner by learner if anything fails (the batch handler): new awards and their outbox rows
    are only added to the session, without a savepoint each, and :func:`write_decided` writes those of
    the whole batch at once (a lost race then fails the whole transaction instead of one savepoint).
    ``existing``: the learner's awards, when the caller read those of many learners at once."""
    outcome = EvaluationOutcome(learner_id)
    learner = session.get(Learner, learner_id)
    if learner is None or learner.school_id != school.id:
        raise LookupError(f"learner {learner_id} is not a learner of school {school.slug}")
    if learner.erased_at is not None:
        return outcome  # erased on request: no evidence is left, and what was issued stands (connector/privacy)
    resolved = resolved or resolved_mappings(session, school, sources)
    if resolved is None:
        return outcome
    if existing is None:
        existing = session.scalars(select(Award).where(Award.learner_id == learner_id)).all()
    awards = {(a.template_code, a.template_version): a for a in existing}
    watched = {k for k, a in awards.items() if a.status in WATCHED}
    facts = sources.evidence_facts(session, learner_id)
    evaluation: LearnerEvaluation = evaluate(resolved, facts, watched)
    targets = targets_of(school)
    facts_by_id = {f.id: f for f in facts}

    for code, earned in sorted(evaluation.earned_templates.items()):
        existing = awards.get((code, earned.version))
        if existing is not None:
            if existing.status == "flagged":
                _unflag(session, existing, earned)
                outcome.unflagged.append(existing.id)
            continue
        if not earned.can_issue:
            outcome.blocked[code] = [str(m) for m in earned.missing] + [
                str(f) for f in earned.national if f.severity == "error"]
            continue
        enrolment = enrolment_state(session, learner_id, [facts_by_id[i] for i in earned.evidence_ids
                                                          if i in facts_by_id],
                                    known=sources.enrolments(learner_id) if sources.enrolments else None)
        if defer_writes:
            outcome.deferred.append(_decide(session, school, learner_id, earned, resolved, targets, now, enrolment))
            continue
        award_id = _create(session, school, learner_id, earned, resolved, targets, now, enrolment)
        if award_id is None:
            outcome.lost_races += 1
        else:
            outcome.created.append(award_id)

    policy = (school.policy or {}).get("revoke_on_regression", "ask")
    for regression in evaluation.regressions:
        award = awards.get((regression.code, regression.version))
        if award is None or award.status in ("flagged", "revoked") or _dismissed(award, regression):
            continue
        details = {"reasons": list(regression.reasons),
                   "withdrawn_evidence_ids": list(regression.withdrawn_evidence_ids),
                   "previous_status": award.status, "detected_at": now.isoformat()}
        award.regression = details
        audit(session, school_id=school.id, actor=SYSTEM_EVALUATION, action="award.flagged", subject_type="award",
              subject_id=award.id, previous=award.status, **details)
        had_credentials = may_have_issued(session, award)
        award.status = "flagged"
        outcome.flagged.append(award.id)
        if policy == "auto" and had_credentials:
            reason = "the evidence no longer holds: " + ("; ".join(regression.reasons) or "evidence withdrawn")
            actions.revoke(session, school.id, award.id, reason=reason[:1000], actor=SYSTEM_EVALUATION, now=now,
                           public_reason="assessment_changed")
            outcome.revoked.append(award.id)
    return outcome


def enrolment_state(session: Session, learner_id: int, facts: Sequence[EvidenceFact], *,
                    known: Mapping[tuple[int, int], set[str]] | None = None) -> str:
    """``active`` if the learner is actively enrolled in a course the facts come from (or they come from
    no course), else ``suspended`` (suspended or ended in Moodle) or ``left``. ``known``: the learner's
    states as :func:`enrolments_many` read them, instead of a query per course."""
    courses = {(connection_of(f.id), f.course_id) for f in facts if f.course_id is not None}
    courses.discard((None, None))
    states = set()
    for connection_id, moodle_id in courses:
        if connection_id is None:
            continue
        if known is not None:
            states.update(known.get((connection_id, moodle_id), ()))
            continue
        states.update(session.scalars(select(Enrolment.state).join(Course, Course.id == Enrolment.course_id).where(
            Enrolment.learner_id == learner_id, Course.connection_id == connection_id, Course.moodle_id == moodle_id)))
    if not states or "active" in states:
        return "active"
    return "suspended" if "suspended" in states else "left"


def enrolments_many(session: Session, learner_ids: Sequence[int]) -> dict[int, dict[tuple[int, int], set[str]]]:
    """Every enrolment state of many learners in one query: learner id -> (connection id, Moodle course id)
    -> states (what :func:`enrolment_state` otherwise reads per award and course)."""
    found: dict[int, dict[tuple[int, int], set[str]]] = {learner_id: {} for learner_id in learner_ids}
    rows = session.execute(select(Enrolment.learner_id, Course.connection_id, Course.moodle_id, Enrolment.state)
                           .join(Course, Course.id == Enrolment.course_id)
                           .where(Enrolment.learner_id.in_(list(learner_ids))))
    for learner_id, connection_id, moodle_id, state in rows:
        found[learner_id].setdefault((connection_id, moodle_id), set()).add(state)
    return found


def _new_award(school: School, learner_id: int, earned: EarnedTemplate, resolved: ResolvedMappings,
               now: datetime, enrolment: str) -> Award:
    status = "pending_approval" if earned.annex.issue_policy == "teacher_approval" else "approved"
    if enrolment != "active":
        status = SUSPENDED_ENROLMENT[school_policy.value(school, "suspended_enrolment")] or status
    return Award(school_id=school.id, learner_id=learner_id, template_code=earned.code,
                 template_version=earned.version, status=status, decided_at=now, achieved_at=earned.achieved_at,
                 snapshot=build_snapshot(earned, resolved.mapping_set), decided_by="evaluation")


def _decided_audit(award: Award, earned: EarnedTemplate, enrolment: str) -> dict[str, object]:
    return {"school_id": award.school_id, "actor": SYSTEM_EVALUATION, "action": "award.decided",
            "subject_type": "award", "subject_id": award.id,
            "details": {"status": award.status, "template": earned.code, "version": earned.version,
                        "learner_id": award.learner_id, "evidence_ids": list(earned.evidence_ids),
                        "enrolment": enrolment}}


def _decide(session: Session, school: School, learner_id: int, earned: EarnedTemplate, resolved: ResolvedMappings,
            targets: list[str], now: datetime, enrolment: str) -> tuple[Award, list[OutboxItem], EarnedTemplate, str]:
    award = _new_award(school, learner_id, earned, resolved, now, enrolment)
    session.add(award)
    return award, enqueue(session, award, school, targets, write=False), earned, enrolment


def write_decided(session: Session, outcomes: Sequence[EvaluationOutcome]) -> None:
    """Write the awards of ``defer_writes`` evaluations, their outbox rows and audit entries: one INSERT per
    table for the whole batch. Fills each outcome's ``created``."""
    pending = [(outcome, entry) for outcome in outcomes for entry in outcome.deferred]
    if not pending:
        return
    session.flush()
    entries: list[dict[str, object]] = []
    for outcome, (award, items, earned, enrolment) in pending:
        entries += created_audits(items, award.school_id)
        entries.append(_decided_audit(award, earned, enrolment))
        outcome.created.append(award.id)
    audit_many(session, entries)  # type: ignore[arg-type]
    for outcome in outcomes:
        outcome.deferred.clear()


def _create(session: Session, school: School, learner_id: int, earned: EarnedTemplate, resolved: ResolvedMappings,
            targets: list[str], now: datetime, enrolment: str = "active") -> int | None:
    try:
        with session.begin_nested():
            award = _new_award(school, learner_id, earned, resolved, now, enrolment)
            session.add(award)
            session.flush()
            enqueue(session, award, school, targets)
            audit_many(session, [_decided_audit(award, earned, enrolment)])  # type: ignore[list-item]
            return award.id
    except IntegrityError:
        # another evaluator inserted the same (learner, template, version) first
        log.info("award %s v%s for learner %s already decided elsewhere", earned.code, earned.version, learner_id)
        return None


def _dismissed(award: Award, regression: Regression) -> bool:
    """A teacher already decided this credential stands despite this same evidence change."""
    previous = award.regression or {}
    return bool(previous.get("dismissed_by")) and set(regression.withdrawn_evidence_ids) <= set(
        previous.get("withdrawn_evidence_ids") or []) and set(regression.reasons) <= set(previous.get("reasons") or [])


def _unflag(session: Session, award: Award, earned: EarnedTemplate) -> None:
    previous = actions.status_after_flag(session, award)
    award.status = previous
    audit(session, school_id=award.school_id, actor=SYSTEM_EVALUATION, action="award.unflagged",
          subject_type="award", subject_id=award.id, restored=previous, evidence_ids=list(earned.evidence_ids))
