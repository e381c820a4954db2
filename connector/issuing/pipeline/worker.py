"""The outbox worker: claim due rows with a lease, send each to its target, record the outcome.

State machine of an outbox row::

    pending ──claim──> sending ──ok──> sent
                          │
                          ├─ permanent error ──────────────> dead   (an admin can retry it)
                          └─ transient / ambiguous error ──> failed ──(backoff)──> sending …
                                                               └─ attempts >= max ──> dead

Three transactions per row: (1) claim; (2) mark ``sending`` and count the attempt — committed
BEFORE the target is called, so a worker killed during the call leaves a row that says "outcome
unknown"; (3) write the outcome, only if the lease is still ours (:func:`still_holds`), else the
result is dropped and the next owner learns it through ``lookup``. Every retry (any row with an
earlier attempt) first asks the target whether the key was already issued, so a slow or dying
issuer never yields two credentials. The lease must outlast one lookup plus one send.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select

from credbridge.connector.awards.actions import revocation_reason, revoke_issued
from credbridge.connector.awards.audit import SYSTEM_OUTBOX, audit
from credbridge.connector.issuing.adapters.base import (
    AdapterConfigError,
    AwardPayload,
    IssueError,
    IssuerAdapter,
    IssueResult,
    LookupUnsupported,
    PermanentIssueError,
)
from credbridge.connector.issuing.pipeline.backoff import Backoff
from credbridge.connector.issuing.pipeline.outbox import (
    SENDABLE_AWARD_STATES,
    UnknownTarget,
    all_sent,
    enqueue_notification,
)
from credbridge.connector.issuing.pipeline.payload import build_payload
from credbridge.connector.leases import claim, release, still_holds
from credbridge.connector.store.base import utcnow
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import Award, OutboxItem, School

log = logging.getLogger("credbridge.issuing.worker")

AdapterFactory = Callable[[School, str], IssuerAdapter]
DUE_STATES = ("pending", "failed", "sending")


@dataclass(frozen=True)
class WorkerConfig:
    owner: str
    lease_seconds: int = 300
    batch: int = 20
    max_attempts: int = 8
    backoff: Backoff = field(default_factory=Backoff)
    notify: bool = True


@dataclass
class RunStats:
    claimed: int = 0
    sent: int = 0
    reconciled: int = 0
    failed: int = 0
    dead: int = 0
    lost_lease: int = 0

    def add(self, other: RunStats) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


class OutboxWorker:
    def __init__(self, db: Database, adapters: AdapterFactory, config: WorkerConfig, *,
                 clock: Callable[[], datetime] = utcnow, rng: random.Random | None = None) -> None:
        self.db = db
        self.adapters = adapters
        self.config = config
        self.clock = clock
        self.rng = rng or random.Random()

    # -- claiming -------------------------------------------------------------------------------

    def claim_batch(self, school_id: int | None = None, due_before: datetime | None = None) -> list[int]:
        now = self.clock()
        sendable = select(Award.id).where(Award.status.in_(SENDABLE_AWARD_STATES))
        if school_id is not None:
            sendable = sendable.where(Award.school_id == school_id)
        due = (OutboxItem.status.in_(DUE_STATES) & (OutboxItem.next_attempt_at <= (due_before or now))
               & OutboxItem.award_id.in_(sendable))
        with self.db.unit_of_work() as session:
            rows = claim(session, OutboxItem, owner=self.config.owner, lease_seconds=self.config.lease_seconds,
                         due=due, order_by=OutboxItem.next_attempt_at, limit=self.config.batch,
                         now=now)
            return [row.id for row in rows]

    def run_once(self, *, school_id: int | None = None, max_items: int | None = None,
                 on_item: Callable[[int], None] | None = None) -> RunStats:
        """Send everything due when the run starts (a row that fails is left for a later run)."""
        stats = RunStats()
        started = self.clock()
        while max_items is None or stats.claimed < max_items:
            ids = self.claim_batch(school_id, due_before=started)
            if not ids:
                break
            for item_id in ids:
                stats.claimed += 1
                stats.add(self.process(item_id))
                if on_item is not None:
                    on_item(item_id)
        return stats

    # -- one row --------------------------------------------------------------------------------

    def process(self, item_id: int) -> RunStats:
        stats = RunStats()
        started = self._start(item_id)
        if started is None:
            stats.lost_lease += 1
            return stats
        school, target, key, payload, reconcile = started
        try:
            adapter = self.adapters(school, target)
            result: IssueResult | None = None
            reconciled = False
            if reconcile:
                try:
                    result = adapter.lookup(key, payload)
                    reconciled = result is not None
                except LookupUnsupported:
                    result = None
            if result is None:
                result = adapter.issue(payload, key)
        except IssueError as error:
            return self._failed(item_id, error, stats)
        except (AdapterConfigError, UnknownTarget) as error:
            # the school's target settings are wrong: retrying cannot help until an admin fixes them
            return self._failed(item_id, PermanentIssueError(f"{target}: {error}"), stats)
        except Exception as error:  # a bug or bad config must not leave the row stuck in "sending"
            log.exception("outbox item %s: unexpected error from target %s", item_id, target)
            return self._failed(item_id, IssueError(f"{target}: {type(error).__name__}: {error}"), stats)
        return self._sent(item_id, result, reconciled, stats)

    def _start(self, item_id: int) -> tuple[School, str, str, AwardPayload, bool] | None:
        with self.db.unit_of_work() as session:
            item = session.get(OutboxItem, item_id)
            if item is None or not still_holds(session, item, self.config.owner, self.clock()):
                return None
            award = session.get(Award, item.award_id)
            school = session.get(School, award.school_id) if award else None
            if award is None or school is None or award.status not in SENDABLE_AWARD_STATES:
                release(item)
                return None
            # an earlier attempt may have reached the target: ask before sending again
            reconcile = item.attempts > 0 or item.status == "sending"
            previous = item.status
            item.status = "sending"
            item.attempts += 1
            audit(session, school_id=school.id, actor=SYSTEM_OUTBOX, action="outbox.sending",
                  subject_type="outbox_item", subject_id=item.id, previous=previous, attempt=item.attempts,
                  target=item.target, reconcile=reconcile, worker=self.config.owner)
            if award.status != "issuing":
                audit(session, school_id=school.id, actor=SYSTEM_OUTBOX, action="award.issuing",
                      subject_type="award", subject_id=award.id, previous=award.status)
                award.status = "issuing"
            payload = build_payload(session, award)
            session.expunge(school)
            return school, item.target, item.idempotency_key, payload, reconcile

    def _sent(self, item_id: int, result: IssueResult, reconciled: bool, stats: RunStats) -> RunStats:
        with self.db.unit_of_work() as session:
            item = session.get(OutboxItem, item_id)
            if item is None or not still_holds(session, item, self.config.owner, self.clock()):
                # another worker owns the row now; it will find this issuance through lookup
                log.warning("outbox item %s: lease lost before recording %s", item_id, result.external_id)
                stats.lost_lease += 1
                return stats
            award = session.get(Award, item.award_id)
            item.status = "sent"
            item.external_id = result.external_id
            item.last_error = None
            release(item)
            audit(session, school_id=award.school_id, actor=SYSTEM_OUTBOX, action="outbox.sent",
                  subject_type="outbox_item", subject_id=item.id, target=item.target,
                  external_id=result.external_id, reconciled=reconciled, attempt=item.attempts)
            session.flush()
            if award.status == "revoked":
                # revoked while this send was in flight: what just landed must not stand
                revoke_issued(session, award, reason=revocation_reason(session, award), actor=SYSTEM_OUTBOX)
            elif award.status == "issuing" and all_sent(session, award.id):
                award.status = "issued"
                audit(session, school_id=award.school_id, actor=SYSTEM_OUTBOX, action="award.issued",
                      subject_type="award", subject_id=award.id)
                if self.config.notify:
                    enqueue_notification(session, award)
            stats.sent += 1
            stats.reconciled += int(reconciled)
            return stats

    def _failed(self, item_id: int, error: IssueError, stats: RunStats) -> RunStats:
        with self.db.unit_of_work() as session:
            item = session.get(OutboxItem, item_id)
            if item is None or not still_holds(session, item, self.config.owner, self.clock()):
                stats.lost_lease += 1
                return stats
            award = session.get(Award, item.award_id)
            item.last_error = f"[{error.code}] {error.message}"[:4000]
            release(item)
            permanent = isinstance(error, PermanentIssueError)
            if permanent or item.attempts >= self.config.max_attempts:
                item.status = "dead"
                audit(session, school_id=award.school_id, actor=SYSTEM_OUTBOX, action="outbox.dead",
                      subject_type="outbox_item", subject_id=item.id, target=item.target, error=item.last_error,
                      attempts=item.attempts, permanent=permanent)
                if award.status != "dead":
                    audit(session, school_id=award.school_id, actor=SYSTEM_OUTBOX, action="award.dead",
                          subject_type="award", subject_id=award.id, previous=award.status, target=item.target)
                    award.status = "dead"
                stats.dead += 1
            else:
                delay = self.config.backoff.delay(item.attempts, error.retry_after, self.rng)
                item.status = "failed"
                item.next_attempt_at = self.clock() + timedelta(seconds=delay)
                audit(session, school_id=award.school_id, actor=SYSTEM_OUTBOX, action="outbox.failed",
                      subject_type="outbox_item", subject_id=item.id, target=item.target, error=item.last_error,
                      attempts=item.attempts, retry_in_seconds=round(delay, 1))
                stats.failed += 1
            return stats


