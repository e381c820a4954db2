"""The outbox worker: claim due rows with a lease, send each to its target, record the outcome.

State machine of an outbox row::

    pending ──claim──> sending ──ok──> sent
                          │
                          ├─ permanent error ──────────────> dead   (an admin can retry it)
                          ├─ transient / ambiguous error ──> failed ──(backoff)──> sending …
                          │                                    └─ failures >= max ──> dead
                          └─ worker died (lease ran out) ──> sending, taken over: a crash, not a failure
                                                               └─ crashes >= max ──> dead

Two transactions per claim: (1) claim the rows, mark them ``sending`` and count the attempt — committed
BEFORE the target is called, so a worker killed during the call leaves a row that says "outcome
unknown"; (2) write the outcome, only for rows still ours (:func:`held`), else the result is dropped
and the next owner learns it through ``lookup``. Every retry (any row with an
earlier attempt) first asks the target whether the key was already issued, so a slow or dying
issuer never yields two credentials. A heartbeat keeps the leases while the work runs, however slow
the target; a killed worker's rows are free again one lease period after its last heartbeat.

External targets are claimed one row at a time (each is an HTTP call of its own). The embedded signer
takes up to ``batch`` rows at once: one transaction that claims them, marks them ``sending`` and
reserves their status-list entries, the signing outside any transaction, and one transaction that stores
every credential, marks the rows ``sent`` and issues the awards — a handful of round trips for the batch
instead of a dozen per award, with the same guarantees (a crash anywhere leaves the batch ``sending``,
and the next owner finds what was stored through the same reconcile step).

An award is issued when its last delivery is recorded, by :func:`complete_awards` under a row lock on
the award, so two workers recording an award's two deliveries at the same moment cannot both miss it.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from credbridge.connector.awards.actions import revocation_reason, revoke_issued
from credbridge.connector.awards.audit import SYSTEM_OUTBOX, audit, audit_many, insert_rows
from credbridge.connector.issuing.adapters.base import (
    AdapterConfigError,
    AwardPayload,
    IssueError,
    IssuerAdapter,
    IssueResult,
    LookupUnsupported,
    PermanentIssueError,
)
from credbridge.connector.issuing.adapters.embedded import (
    EmbeddedAdapter,
    check_learner,
    credential_rows,
    issued_audit,
    sign_award,
)
from credbridge.connector.issuing.keys import current_school_key
from credbridge.connector.issuing.pipeline.backoff import Backoff
from credbridge.connector.issuing.pipeline.outbox import (
    SENDABLE_AWARD_STATES,
    UnknownTarget,
    complete_awards,
    lock_awards,
)
from credbridge.connector.issuing.pipeline.payload import build_payload
from credbridge.connector.issuing.status import allocate_many
from credbridge.connector.leases import Heartbeat, claim, release
from credbridge.connector.store.base import utcnow
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import Award, Credential, Learner, OutboxItem, School

log = logging.getLogger("credbridge.issuing.worker")

AdapterFactory = Callable[[School, str], IssuerAdapter]
DUE_STATES = ("pending", "failed", "sending")
EMBEDDED = "embedded"


@dataclass(frozen=True)
class WorkerConfig:
    owner: str
    lease_seconds: float = 300
    #: embedded deliveries signed and recorded together
    batch: int = 50
    #: failed sends (not crashes) before a row is dead
    max_attempts: int = 8
    #: sends cut short by the worker's death before a row is dead (see the sync worker's MAX_CRASHES);
    #: they are not failures: ``attempts - crashes`` is what counts against ``max_attempts``
    max_crashes: int = 100
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


@dataclass
class _Started:
    """One row marked ``sending``: what is needed to send it, read in the same transaction."""

    item_id: int
    award_id: int
    school: School
    learner: Learner
    target: str
    key: str
    payload: AwardPayload
    reconcile: bool
    status_list_id: int | None = None
    status_index: int | None = None


@dataclass
class _Outcome:
    started: _Started
    result: IssueResult | None = None
    reconciled: bool = False
    error: IssueError | None = None
    documents: dict[str, tuple[str, str]] | None = None  # embedded: signed here, stored with the outcome
    issued_at: datetime | None = None
    key: Any = None


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
        """Lease the next due row; if it is for the embedded signer, up to ``batch`` of those."""
        with self.db.unit_of_work() as session:
            return [row.id for row in self._claim(session, school_id, due_before)]

    def _claim(self, session: Any, school_id: int | None, due_before: datetime | None) -> list[OutboxItem]:
        now = self.clock()
        sendable = select(Award.id).where(Award.status.in_(SENDABLE_AWARD_STATES))
        if school_id is not None:
            sendable = sendable.where(Award.school_id == school_id)
        due = (OutboxItem.status.in_(DUE_STATES) & (OutboxItem.next_attempt_at <= (due_before or now))
               & OutboxItem.award_id.in_(sendable))
        order = (OutboxItem.next_attempt_at, OutboxItem.id)
        rows = list(claim(session, OutboxItem, owner=self.config.owner, lease_seconds=self.config.lease_seconds,
                          due=due, order_by=order, limit=1, now=now))
        first = rows[0] if rows else None
        # a row left "sending" by a dead worker is taken alone, so one that kills its workers
        # cannot take a batch with it
        if first is not None and first.target == EMBEDDED and first.status != "sending" and self.config.batch > 1:
            rows += claim(session, OutboxItem, owner=self.config.owner, lease_seconds=self.config.lease_seconds,
                          due=due & (OutboxItem.target == EMBEDDED) & (OutboxItem.status != "sending")
                          & (OutboxItem.id != first.id),
                          order_by=order, limit=self.config.batch - 1, now=now)
        return rows

    def run_once(self, *, school_id: int | None = None, max_items: int | None = None,
                 on_item: Callable[[int], None] | None = None) -> RunStats:
        """Send everything due when the run starts (a row that fails is left for a later run)."""
        stats = RunStats()
        started = self.clock()
        while max_items is None or stats.claimed < max_items:
            batch = self.run_batch(school_id=school_id, due_before=started, on_item=on_item)
            stats.add(batch)
            if not batch.claimed:
                break
        return stats

    def run_batch(self, *, school_id: int | None = None, due_before: datetime | None = None,
                  on_item: Callable[[int], None] | None = None) -> RunStats:
        """Claim and send one batch (or one external row): the daemon's workers call this between items.
        The claim marks the rows ``sending`` in the same transaction."""
        stats = RunStats()
        with self.db.unit_of_work() as session:
            rows = self._claim(session, school_id, due_before)
            stats.claimed = len(rows)
            started = self._start_rows(session, rows, stats) if rows else []
        if started:
            self._send_all(started, stats, on_item)
        return stats

    # -- sending --------------------------------------------------------------------------------

    def process(self, item_id: int) -> RunStats:
        return self.process_claimed([item_id])

    def process_claimed(self, item_ids: Sequence[int], *, on_item: Callable[[int], None] | None = None) -> RunStats:
        """Send rows this worker claimed earlier (:meth:`claim_batch`): those it still holds."""
        stats = RunStats(claimed=len(item_ids))
        with self.db.unit_of_work() as session:
            items = _mine(session, item_ids, self.config.owner)
            stats.lost_lease += len(set(item_ids) - set(items))
            started = self._start_rows(session, list(items.values()), stats)
        self._send_all(started, stats, on_item)
        return stats

    def _send_all(self, started: list[_Started], stats: RunStats, on_item: Callable[[int], None] | None) -> None:
        with Heartbeat(self.db, OutboxItem, self.config.owner, self.config.lease_seconds) as heartbeat:
            heartbeat.hold(*(item.item_id for item in started))
            embedded: list[tuple[_Started, EmbeddedAdapter]] = []
            for item in started:
                try:
                    adapter = self.adapters(item.school, item.target)
                except (AdapterConfigError, UnknownTarget) as error:
                    self._record([_Outcome(item, error=PermanentIssueError(f"{item.target}: {error}"))], stats)
                    continue
                if isinstance(adapter, EmbeddedAdapter):
                    embedded.append((item, adapter))
                    continue
                self._record([self._send(item, adapter)], stats)
                heartbeat.drop(item.item_id)
                if on_item is not None:
                    on_item(item.item_id)
            if embedded:
                self._record(self._sign([item for item, _a in embedded], embedded[0][1]), stats)
                if on_item is not None:
                    for item, _a in embedded:
                        on_item(item.item_id)

    def _start_rows(self, session: Any, items: list[OutboxItem], stats: RunStats) -> list[_Started]:
        """Mark the rows ``sending`` and count the attempt, in a transaction committed before anything is sent."""
        items = sorted(items, key=lambda i: i.id)
        awards = {a.id: a for a in lock_awards(session, {i.award_id for i in items})}
        schools = {s.id: s for s in session.scalars(
            select(School).where(School.id.in_({a.school_id for a in awards.values()})))}
        learners = {lr.id: lr for lr in session.scalars(
            select(Learner).where(Learner.id.in_({a.learner_id for a in awards.values()})))}
        started: list[tuple[_Started, OutboxItem]] = []
        to_reserve: dict[int, list[OutboxItem]] = {}
        entries: list[dict[str, Any]] = []
        for item in items:
            award = awards.get(item.award_id)
            school = schools.get(award.school_id) if award else None
            if award is None or school is None or award.status not in SENDABLE_AWARD_STATES:
                release(item)
                continue
            if item.status == "sending" and not self._take_over(session, item, award, stats):
                continue
            # an earlier attempt may have reached the target: ask before sending again (a row an
            # admin revived has its attempts reset but stays "failed" for this reason)
            reconcile = item.attempts > 0 or item.status in ("sending", "failed")
            previous = item.status
            item.status = "sending"
            item.attempts += 1
            entries.append({"school_id": school.id, "actor": SYSTEM_OUTBOX, "action": "outbox.sending",
                            "subject_type": "outbox_item", "subject_id": item.id,
                            "details": {"previous": previous, "attempt": item.attempts, "target": item.target,
                                        "reconcile": reconcile, "worker": self.config.owner}})
            if award.status != "issuing":
                entries.append({"school_id": school.id, "actor": SYSTEM_OUTBOX, "action": "award.issuing",
                                "subject_type": "award", "subject_id": award.id,
                                "details": {"previous": award.status}})
                award.status = "issuing"
            if item.target == EMBEDDED and item.status_list_id is None:
                to_reserve.setdefault(school.id, []).append(item)
            started.append((_Started(item.id, award.id, school, learners[award.learner_id], item.target,
                                     item.idempotency_key, build_payload(session, award), reconcile), item))
        for school_id, rows in to_reserve.items():
            # reserved now, in a short transaction, and kept by the row: a retry after a crash signs
            # with the same entry, and the list is not locked while documents are signed
            for row, (list_id, index) in zip(rows, allocate_many(session, school_id, len(rows)), strict=True):
                row.status_list_id, row.status_index = list_id, index
        for entry, item in started:
            entry.status_list_id, entry.status_index = item.status_list_id, item.status_index
        session.flush()
        audit_many(session, entries)
        session.expunge_all()
        return [entry for entry, _item in started]

    def _take_over(self, session: Any, item: OutboxItem, award: Award, stats: RunStats) -> bool:
        """The row was left ``sending``: its worker died (or lost the lease) mid-send. A crash, not a failure."""
        item.crashes += 1
        if item.crashes < self.config.max_crashes:
            log.warning("outbox item %s: its worker stopped mid-send (crash %d); taken over by %s, reconciling first",
                        item.id, item.crashes, self.config.owner)
            return True
        item.status = "dead"
        item.last_error = (f"its worker died or lost its lease {item.crashes} times while sending it; "
                           f"retry it with `credbridge outbox retry {item.id}`")
        release(item)
        audit(session, school_id=award.school_id, actor=SYSTEM_OUTBOX, action="outbox.dead",
              subject_type="outbox_item", subject_id=item.id, target=item.target, error=item.last_error,
              attempts=item.attempts, crashes=item.crashes, permanent=False)
        if award.status != "dead":
            audit(session, school_id=award.school_id, actor=SYSTEM_OUTBOX, action="award.dead",
                  subject_type="award", subject_id=award.id, previous=award.status, target=item.target)
            award.status = "dead"
        stats.dead += 1
        return False

    def _send(self, item: _Started, adapter: IssuerAdapter) -> _Outcome:
        try:
            result: IssueResult | None = None
            if item.reconcile:
                try:
                    result = adapter.lookup(item.key, item.payload)
                except LookupUnsupported:
                    result = None
            if result is not None:
                return _Outcome(item, result=result, reconciled=True)
            return _Outcome(item, result=adapter.issue(item.payload, item.key))
        except IssueError as error:
            return _Outcome(item, error=error)
        except (AdapterConfigError, UnknownTarget) as error:
            # the school's target settings are wrong: retrying cannot help until an admin fixes them
            return _Outcome(item, error=PermanentIssueError(f"{item.target}: {error}"))
        except Exception as error:  # a bug or bad config must not leave the row stuck in "sending"
            log.exception("outbox item %s: unexpected error from target %s", item.item_id, item.target)
            return _Outcome(item, error=IssueError(f"{item.target}: {type(error).__name__}: {error}"))

    def _sign(self, items: list[_Started], adapter: EmbeddedAdapter) -> list[_Outcome]:
        """Embedded deliveries: what a crashed earlier attempt already stored is reconciled, the rest is
        signed here, outside any transaction (stored by :meth:`_record`)."""
        with self.db.unit_of_work() as session:
            stored = _stored_credentials(session, [i.award_id for i in items if i.reconcile])
            keys = {}
            for item in items:
                if item.school.id not in keys:
                    keys[item.school.id] = current_school_key(session, item.school, adapter.base_url)
        issued_at = datetime.now(UTC).replace(microsecond=0)
        outcomes = []
        for item in items:
            if item.award_id in stored:
                outcomes.append(_Outcome(item, result=stored[item.award_id], reconciled=True))
                continue
            try:
                check_learner(item.learner)
                if item.status_list_id is None or item.status_index is None:
                    raise IssueError(f"embedded: outbox item {item.item_id} has no status-list entry reserved")
                key = keys[item.school.id]
                documents = sign_award(item.payload, item.key, school=item.school, learner=item.learner, key=key,
                                       base_url=adapter.base_url, status_list_id=item.status_list_id,
                                       status_index=item.status_index, issued_at=issued_at)
            except IssueError as error:
                outcomes.append(_Outcome(item, error=error))
                continue
            except Exception as error:
                log.exception("outbox item %s: unexpected error while signing", item.item_id)
                outcomes.append(_Outcome(item, error=IssueError(f"embedded: {type(error).__name__}: {error}")))
                continue
            first = next(iter(documents.values()))[0]
            outcomes.append(_Outcome(item, result=IssueResult(external_id=first,
                                                              documents={f: d[0] for f, d in documents.items()}),
                                     documents=documents, issued_at=issued_at, key=key))
        return outcomes

    # -- recording ------------------------------------------------------------------------------

    def _record(self, outcomes: list[_Outcome], stats: RunStats) -> None:
        """Write the outcomes whose rows are still ours, in one transaction: credentials of the embedded
        signer, the rows' states, and the awards that are now complete."""
        for _try in range(2):
            try:
                with self.db.unit_of_work() as session:
                    self._record_in(session, outcomes, stats)
                return
            except IntegrityError:
                # another writer stored some of these credentials first (only a worker whose lease was
                # taken over can): record theirs instead of ours, once
                log.warning("outbox: credentials of %d deliveries were stored concurrently; recording theirs",
                            len(outcomes))
        raise RuntimeError("outbox: could not record the outcome of a batch twice in a row")

    def _record_in(self, session: Any, outcomes: list[_Outcome], stats: RunStats) -> None:
        ids = [o.started.item_id for o in outcomes]
        items = _mine(session, ids, self.config.owner)
        mine = set(items)
        local = RunStats()
        lost = [o for o in outcomes if o.started.item_id not in mine]
        for outcome in lost:
            # another worker owns the row now; it will find this issuance through lookup
            log.warning("outbox item %s: lease lost before recording its outcome", outcome.started.item_id)
        local.lost_lease += len(lost)
        outcomes = [o for o in outcomes if o.started.item_id in mine]
        if not outcomes:
            stats.add(local)
            return
        signed = [o for o in outcomes if o.documents is not None]
        already = _stored_credentials(session, [o.started.award_id for o in signed])
        rows: list[dict[str, Any]] = []
        entries: list[dict[str, Any]] = []
        for outcome in signed:
            if outcome.started.award_id in already:
                outcome.result, outcome.documents, outcome.reconciled = already[outcome.started.award_id], None, True
                continue
            item = outcome.started
            assert outcome.documents is not None and item.status_list_id is not None and item.status_index is not None
            rows += credential_rows(item.payload, outcome.documents, status_list_id=item.status_list_id,
                                    status_index=item.status_index, issued_at=outcome.issued_at or utcnow())
            entries.append(issued_audit(item.payload, outcome.documents, key=outcome.key,
                                        status_list_id=item.status_list_id, status_index=item.status_index))
        if rows:
            # one statement for the batch; a concurrent writer of the same credentials fails it (see _record)
            insert_rows(session, Credential, rows)
        awards = {a.id: a for a in lock_awards(session, {i.award_id for i in items.values()})}
        landed = []
        for outcome in outcomes:
            item = items[outcome.started.item_id]
            award = awards[item.award_id]
            release(item)
            if outcome.error is not None:
                self._failed(session, item, award, outcome.error, local)
                continue
            assert outcome.result is not None
            item.status = "sent"
            item.external_id = outcome.result.external_id
            item.last_error = None
            entries.append({"school_id": award.school_id, "actor": SYSTEM_OUTBOX, "action": "outbox.sent",
                            "subject_type": "outbox_item", "subject_id": item.id,
                            "details": {"target": item.target, "external_id": outcome.result.external_id,
                                        "reconciled": outcome.reconciled, "attempt": item.attempts}})
            landed.append(award)
            local.sent += 1
            local.reconciled += int(outcome.reconciled)
        session.flush()
        for award in {a.id: a for a in landed}.values():
            if award.status == "revoked":
                # revoked while this send was in flight: what just landed must not stand
                revoke_issued(session, award, reason=revocation_reason(session, award), actor=SYSTEM_OUTBOX)
        complete_awards(session, [a.id for a in landed if a.status == "issuing"], notify=self.config.notify,
                        locked=list(awards.values()), entries=entries)
        session.flush()
        audit_many(session, entries)
        stats.add(local)

    def _failed(self, session: Any, item: OutboxItem, award: Award, error: IssueError, stats: RunStats) -> None:
        item.last_error = f"[{error.code}] {error.message}"[:4000]
        permanent = isinstance(error, PermanentIssueError)
        failures = item.attempts - item.crashes
        if permanent or failures >= self.config.max_attempts:
            item.status = "dead"
            audit(session, school_id=award.school_id, actor=SYSTEM_OUTBOX, action="outbox.dead",
                  subject_type="outbox_item", subject_id=item.id, target=item.target, error=item.last_error,
                  attempts=item.attempts, permanent=permanent)
            if award.status != "dead":
                audit(session, school_id=award.school_id, actor=SYSTEM_OUTBOX, action="award.dead",
                      subject_type="award", subject_id=award.id, previous=award.status, target=item.target)
                award.status = "dead"
            stats.dead += 1
            return
        delay = self.config.backoff.delay(failures, error.retry_after, self.rng)
        item.status = "failed"
        item.next_attempt_at = self.clock() + timedelta(seconds=delay)
        audit(session, school_id=award.school_id, actor=SYSTEM_OUTBOX, action="outbox.failed",
              subject_type="outbox_item", subject_id=item.id, target=item.target, error=item.last_error,
              attempts=item.attempts, retry_in_seconds=round(delay, 1))
        stats.failed += 1


def _mine(session: Any, ids: Sequence[int], owner: str) -> dict[int, OutboxItem]:
    """The rows of ``ids`` still ``owner``'s (nobody took them over), locked until the commit on PostgreSQL
    (:func:`credbridge.connector.leases.held`, reading the rows in the same query)."""
    if not ids:
        return {}
    query = (select(OutboxItem).where(OutboxItem.id.in_(set(ids)), OutboxItem.lease_owner == owner)
             .order_by(OutboxItem.id).execution_options(populate_existing=True))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return {item.id: item for item in session.scalars(query)}


def _stored_credentials(session: Any, award_ids: Sequence[int]) -> dict[int, IssueResult]:
    """What the embedded signer already stored for these awards (an earlier attempt that landed)."""
    if not award_ids:
        return {}
    found: dict[int, list[Credential]] = {}
    for row in session.scalars(select(Credential).where(Credential.award_id.in_(set(award_ids)),
                                                        Credential.target == EMBEDDED).order_by(Credential.id)):
        found.setdefault(row.award_id, []).append(row)
    return {award_id: IssueResult(external_id=rows[0].uuid, documents={r.format: r.uuid for r in rows})
            for award_id, rows in found.items()}
