"""Work-item handlers of the issuance side, registered with the sync layer's worker registry:
``evaluate`` (a learner's evidence changed), ``notify`` (e-mail / AGS after issuance) and
``revoke_external`` (tell an external target that a credential was revoked).

Importing this module registers them; the daemon imports it at start-up.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from credbridge.connector.awards.actions import REVOKE_EXTERNAL, revoke_issued
from credbridge.connector.awards.audit import audit
from credbridge.connector.awards.decide import (
    EvaluationOutcome,
    EvaluationSources,
    enrolments_many,
    evaluate_learner,
    resolved_mappings,
    write_decided,
)
from credbridge.connector.awards.sources import store_sources
from credbridge.connector.issuing.adapters import AdapterRegistry
from credbridge.connector.issuing.notify import notify_award, notify_awards
from credbridge.connector.issuing.pipeline.outbox import NOTIFY_KIND
from credbridge.connector.issuing.pipeline.payload import build_payload
from credbridge.connector.settings import Settings
from credbridge.connector.store.base import utcnow
from credbridge.connector.store.models import Award, Learner, LmsConnection, OutboxItem, School, WorkItem
from credbridge.connector.sync.worker import (
    SYNC_KINDS,
    WorkContext,
    WorkDeferred,
    register_batch_handler,
    register_handler,
)
from credbridge.mappings import MappingError

log = logging.getLogger("credbridge.issuing.handlers")
EVALUATE = "evaluate"
#: learners evaluated in one transaction (the school's mappings are resolved once for all of them)
EVALUATE_BATCH = 100
NOTIFY_BATCH = 50


def handle_evaluate(ctx: WorkContext, item: WorkItem) -> None:
    learner_id = int(item.payload["learner_id"])
    with ctx.db.unit_of_work() as session:
        learner = session.get(Learner, learner_id)
        if learner is None:
            log.info("evaluate: learner %s is gone", learner_id)
            return
        school = session.get(School, learner.school_id)
        assert school is not None
        outcome = evaluate_learner(session, school, learner_id, utcnow(), sources=store_sources())
    log.info("evaluate learner %s: new awards %d, flagged %d, revoked %d", learner_id, len(outcome.created),
             len(outcome.flagged), len(outcome.revoked))


#: how long evaluation waits for a running sync before it tries a mapping's Moodle references again
WAIT_FOR_SYNC_SECONDS = 10.0


def _syncing(session: Session, school_id: int) -> bool:
    """Whether a sync of one of the school's connections is queued or running."""
    connections = {str(c) for c in session.scalars(select(LmsConnection.id)
                                                   .where(LmsConnection.school_id == school_id))}
    payloads = session.scalars(select(WorkItem.payload).where(WorkItem.kind.in_(SYNC_KINDS),
                                                              WorkItem.status.in_(("pending", "running")))).all()
    return any(str((p or {}).get("connection_id")) in connections for p in payloads)


def _prefetched_sources(session: Session, learner_ids: set[int]) -> EvaluationSources:
    """The store's sources, with every learner's current evidence read in one go (a handful of queries for
    the batch instead of five per learner); the same facts :func:`store_sources` gives one by one."""
    sources = store_sources()
    assert sources.evidence_facts_many is not None
    by_learner = sources.evidence_facts_many(session, sorted(learner_ids))
    enrolments = enrolments_many(session, sorted(learner_ids))
    return EvaluationSources(evidence_facts=lambda _session, learner_id: by_learner.get(learner_id, []),
                             course_structure=sources.course_structure,
                             evidence_facts_many=sources.evidence_facts_many,
                             enrolments=lambda learner_id: enrolments.get(learner_id, {}))


def handle_evaluate_batch(ctx: WorkContext, items: Sequence[WorkItem]) -> dict[int, str]:
    """Many learners at once, in one transaction; the school's mappings are resolved once and every
    learner's evidence is read in one go. Should one learner's evaluation fail, the batch is evaluated
    again learner by learner, each in a savepoint, so the error is named in that learner's item and does
    not undo the others' awards.

    A mapping that refers to Moodle courses or activities not stored yet, while a sync of the school is
    queued or running (the first sync of a site writes its courses one by one), is not a failure: the
    learners wait for the sync instead of using up their attempts and being given up."""
    try:
        return _evaluate(ctx, items, isolated=False)
    except WorkDeferred:
        raise
    except Exception:
        log.warning("evaluating %d learners together failed; evaluating them one by one", len(items))
        return _evaluate(ctx, items, isolated=True)


def _evaluate(ctx: WorkContext, items: Sequence[WorkItem], *, isolated: bool) -> dict[int, str]:
    failures: dict[int, str] = {}
    now = utcnow()
    outcomes: list[EvaluationOutcome] = []
    with ctx.db.unit_of_work() as session:
        ids = {int(item.payload["learner_id"]) for item in items}
        learners = {lr.id: lr for lr in session.scalars(select(Learner).where(Learner.id.in_(ids)))}
        sources = _prefetched_sources(session, ids)
        awards: dict[int, list[Award]] = {learner_id: [] for learner_id in ids}
        for award in session.scalars(select(Award).where(Award.learner_id.in_(ids))):
            awards[award.learner_id].append(award)
        schools: dict[int, School] = {}
        resolved: dict[int, object] = {}
        # the new awards wait in the session until write_decided: reading the next learner's awards must not
        # flush them one learner at a time (nothing read here depends on another learner's new awards)
        with contextlib.nullcontext() if isolated else session.no_autoflush:
            for item in items:
                learner = learners.get(int(item.payload["learner_id"]))
                if learner is not None:
                    _evaluate_one(session, item, learner, awards[learner.id], schools, resolved, sources, now,
                                  isolated, outcomes, failures)
        write_decided(session, outcomes)
    created = sum(len(outcome.created) for outcome in outcomes)
    log.info("evaluated %d learners: %d new awards, %d failed", len(items), created, len(failures))
    return failures


def _evaluate_one(session: Session, item: WorkItem, learner: Learner, existing: list[Award], schools: dict[int, School],
                  resolved: dict[int, object], sources: EvaluationSources, now: datetime, isolated: bool,
                  outcomes: list[EvaluationOutcome], failures: dict[int, str]) -> None:
    try:
        with session.begin_nested() if isolated else contextlib.nullcontext():
            school = schools.get(learner.school_id) or session.get(School, learner.school_id)
            assert school is not None
            schools[school.id] = school
            if school.id not in resolved:
                try:
                    resolved[school.id] = resolved_mappings(session, school, sources)
                except MappingError as exc:
                    if _syncing(session, school.id):
                        raise WorkDeferred(f"the mapping refers to what the running sync has not stored yet "
                                           f"({exc.problems[0].message})", WAIT_FOR_SYNC_SECONDS) from exc
                    raise
            outcomes.append(evaluate_learner(session, school, learner.id, now, sources=sources,
                                             resolved=resolved[school.id],  # type: ignore[arg-type]
                                             defer_writes=not isolated, existing=existing))
    except WorkDeferred:
        raise
    except Exception as exc:
        if not isolated:
            raise
        log.exception("evaluate learner %s failed", learner.id)
        failures[item.id] = f"{type(exc).__name__}: {exc}"


def handle_notify_batch(ctx: WorkContext, items: Sequence[WorkItem]) -> dict[int, str]:
    results = notify_awards(ctx.db, _settings(ctx), [int(item.payload["award_id"]) for item in items])
    failures = {}
    for item in items:
        outcome = results.get(int(item.payload["award_id"]))
        if isinstance(outcome, Exception):
            log.error("notify award %s failed: %s", item.payload["award_id"], outcome)
            failures[item.id] = f"{type(outcome).__name__}: {outcome}"
    return failures


def _settings(ctx: WorkContext) -> Settings:
    if ctx.settings is None:
        raise RuntimeError("the issuance handlers need the daemon's settings")
    return ctx.settings


def handle_notify(ctx: WorkContext, item: WorkItem) -> None:
    notify_award(ctx.db, _settings(ctx), int(item.payload["award_id"]))


def handle_revoke_external(ctx: WorkContext, item: WorkItem) -> None:
    """Revoke at the target what it issued: by the recorded external id, or, when the send's outcome
    was never learnt (``lookup``: it timed out, or its worker died), by asking the target first."""
    settings = _settings(ctx)
    reason = str(item.payload.get("reason") or "revoked")
    with ctx.db.unit_of_work() as session:
        outbox = session.get(OutboxItem, int(item.payload["outbox_item_id"]))
        if outbox is None:
            return
        award = session.get(Award, outbox.award_id)
        school = session.get(School, award.school_id) if award else None
        assert award is not None and school is not None
        session.expunge(school)
        target, external_id, key = outbox.target, outbox.external_id, outbox.idempotency_key
        payload = build_payload(session, award) if item.payload.get("lookup") and not external_id else None
    adapter = AdapterRegistry(ctx.db, settings.base_url)(school, target)
    if payload is not None:
        found = adapter.lookup(key, payload)
        if found is None:
            log.info("outbox item %s: %s never issued the revoked award", outbox.id, target)
            return
        external_id = found.external_id
    with ctx.db.unit_of_work() as session:
        # an embedded credential that landed unseen is revoked here, in the store
        award = session.get(Award, outbox.award_id)
        if award is not None and award.status == "revoked":
            revoke_issued(session, award, reason=reason, actor="system:outbox")
    if not external_id:
        return
    adapter.revoke(external_id, reason)
    with ctx.db.unit_of_work() as session:
        audit(session, school_id=school.id, actor="system:outbox", action="outbox.revoked_at_target",
              subject_type="outbox_item", subject_id=item.payload["outbox_item_id"], target=target,
              external_id=external_id)


def register() -> None:
    register_batch_handler(EVALUATE, handle_evaluate_batch, EVALUATE_BATCH)
    register_batch_handler(NOTIFY_KIND, handle_notify_batch, NOTIFY_BATCH)
    register_handler(REVOKE_EXTERNAL, handle_revoke_external)


register()
