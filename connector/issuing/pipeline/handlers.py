"""Work-item handlers of the issuance side, registered with the sync layer's worker registry:
``evaluate`` (a learner's evidence changed), ``notify`` (e-mail / AGS after issuance) and
``revoke_external`` (tell an external target that a credential was revoked).

Importing this module registers them; the daemon imports it at start-up.
"""

from __future__ import annotations

import logging

from credbridge.connector.awards.actions import REVOKE_EXTERNAL, revoke_issued
from credbridge.connector.awards.audit import audit
from credbridge.connector.awards.decide import evaluate_learner
from credbridge.connector.awards.sources import store_sources
from credbridge.connector.issuing.adapters import AdapterRegistry
from credbridge.connector.issuing.notify import notify_award
from credbridge.connector.issuing.pipeline.outbox import NOTIFY_KIND
from credbridge.connector.issuing.pipeline.payload import build_payload
from credbridge.connector.settings import Settings
from credbridge.connector.store.base import utcnow
from credbridge.connector.store.models import Award, Learner, OutboxItem, School, WorkItem
from credbridge.connector.sync.worker import WorkContext, register_handler

log = logging.getLogger("credbridge.issuing.handlers")
EVALUATE = "evaluate"


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
    register_handler(EVALUATE, handle_evaluate)
    register_handler(NOTIFY_KIND, handle_notify)
    register_handler(REVOKE_EXTERNAL, handle_revoke_external)


register()
