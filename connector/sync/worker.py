"""Work items and the handlers that run them.

Other areas plug in with :func:`register_handler`::

    from credbridge.connector.sync.worker import register_handler

    def evaluate(ctx: WorkContext, item: WorkItem) -> None: ...
    register_handler("evaluate", evaluate)

A handler gets the claimed item (detached: read ``item.payload``) and a :class:`WorkContext`
(database, settings, ``report_progress``, ``stop``). It returns normally when done, or raises: the
item goes back to pending with an exponential delay, and to ``failed`` after ``MAX_ATTEMPTS``
failures. Many small items of one kind can be run together by a batch handler
(:func:`register_batch_handler`), which answers which of them failed.

Items are claimed with row leases (:mod:`credbridge.connector.leases`), so any number of daemons can
share one database; a request that arrives while its item runs is kept (see ``requested_at``). The
lease is renewed by a heartbeat for as long as the handler runs; if it is lost anyway, ``ctx.stop``
is set and the handler should stop at its next safe point (its result is refused in any case).

A worker that dies mid-run (killed, out of memory) is not a failure of the item: the next claim
counts it in ``crashes``, not ``attempts``. Only ``max_crashes`` crashes in a row (the setting,
default ``MAX_CRASHES``) — an item that
keeps killing its workers — set it aside as ``stuck``, listed by ``credbridge work list`` until an
administrator retries it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, select, update

from credbridge.connector import leases
from credbridge.connector.logs import job_context
from credbridge.connector.settings import Settings
from credbridge.connector.store.base import utcnow
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import Course, LmsConnection, WorkItem
from credbridge.connector.sync.recovery import close_interrupted_runs

log = logging.getLogger(__name__)

#: failed runs (the handler raised) before an item is ``failed``; a new request starts it again
MAX_ATTEMPTS = 5
#: runs in a row whose worker died before an item is ``stuck``: high, because killing a daemon is no
#: fault of the item it was running, but finite, so an item that kills every worker cannot do so for ever
#: (the default of the ``max_crashes`` setting)
MAX_CRASHES = 100
SYNC_CONNECTION = "sync_connection"
SYNC_COURSE = "sync_course"
SYNC_KINDS = (SYNC_CONNECTION, SYNC_COURSE)
#: due syncs are claimed before other due work: a first sync of many schools queues tens of thousands
#: of evaluations, and oldest-first would make the next interval's syncs (and a teacher's "sync this
#: course now") wait behind all of them (bench/RESULTS.md, "Many schools"). A sync is one item per
#: connection or course, so the work behind them is delayed, never starved.
CLAIM_ORDER = (case((WorkItem.kind.in_(SYNC_KINDS), 0), else_=1), WorkItem.run_after, WorkItem.id)
#: items in these states may be claimed (``running`` only once its lease ran out: its worker died)
CLAIMABLE = ("pending", "running")


@dataclass
class WorkContext:
    db: Database
    settings: Settings | None
    owner: str
    item_id: int
    #: set when the daemon shuts down or the lease was lost: stop at the next safe point
    stop: threading.Event
    lease_seconds: float = 300

    def report_progress(self, done: int, total: int, stage: str) -> None:
        """Store live progress (and extend the lease); safe to call often."""
        with self.db.unit_of_work() as session:
            item = session.get(WorkItem, self.item_id)
            if item is None or item.lease_owner != self.owner:
                return
            item.progress = {"done": done, "total": total, "stage": stage}
            leases.extend(session, item, self.owner, self.lease_seconds)


class WorkInterrupted(Exception):
    """Raised by a handler that stopped early because the daemon is shutting down (or its lease was
    lost); the item is put back as pending (neither a failure nor a crash) for the next worker."""


class WorkDeferred(WorkInterrupted):
    """Raised by a handler whose work cannot be done yet (it waits for other work, such as a sync that
    has not stored everything the item needs): put back, due again in ``delay`` seconds, not a failure."""

    def __init__(self, reason: str, delay: float) -> None:
        super().__init__(reason)
        self.delay = delay


Handler = Callable[[WorkContext, WorkItem], None]
#: runs several items of one kind at once; returns {item id: error} for those that failed
BatchHandler = Callable[[WorkContext, Sequence[WorkItem]], dict[int, str]]


@dataclass(frozen=True)
class Batch:
    handler: BatchHandler
    size: int


_handlers: dict[str, Handler | Batch] = {}


def register_handler(kind: str, handler: Handler) -> None:
    _handlers[kind] = handler


def register_batch_handler(kind: str, handler: BatchHandler, size: int = 100) -> None:
    """Items of ``kind`` are claimed up to ``size`` at a time and run by one call (one lease, one heartbeat,
    one transaction to finish them): for many small items, such as evaluating one learner each."""
    _handlers[kind] = Batch(handler, max(1, size))


def registered_kinds() -> list[str]:
    return sorted(_handlers)


def enqueue(session: Any, kind: str, key: str, payload: dict[str, Any], *, school_id: int | None = None) -> WorkItem:
    """Queue work once per (kind, key): an item already pending or running is left as it is, except
    that a newer request is remembered so a running item is re-run once it finishes. A ``stuck`` item
    stays stuck: it killed its workers too often to be started again without an administrator."""
    item = session.scalar(select(WorkItem).where(WorkItem.kind == kind, WorkItem.key == key))
    now = utcnow()
    stamped = {**payload, "requested_at": now.isoformat()}
    if item is None:
        item = WorkItem(kind=kind, key=key, payload=stamped, school_id=school_id, status="pending", run_after=now,
                        progress={}, attempts=0, crashes=0)
        session.add(item)
    elif item.status in ("done", "failed"):
        item.status, item.payload, item.run_after, item.attempts, item.last_error = "pending", stamped, now, 0, None
        item.progress = {}
    elif item.status in ("running", "stuck"):
        item.payload = {**item.payload, **payload, "requested_at": now.isoformat()}
    session.flush()
    return item


def request_course_sync(session: Any, connection_id: int, course_moodle_id: int, requested_by: str) -> WorkItem:
    """A teacher's "sync this course now": progress appears in ``WorkItem.progress``."""
    conn = session.get(LmsConnection, connection_id)
    if conn is None:
        raise LookupError(f"no LMS connection with id {connection_id}")
    return enqueue(session, SYNC_COURSE, f"connection:{connection_id}:course:{course_moodle_id}",
                   {"connection_id": connection_id, "course_moodle_id": course_moodle_id,
                    "requested_by": requested_by}, school_id=conn.school_id)


def request_connection_sync(session: Any, connection_id: int, *, full: bool = False) -> WorkItem:
    conn = session.get(LmsConnection, connection_id)
    if conn is None:
        raise LookupError(f"no LMS connection with id {connection_id}")
    key = f"connection:{connection_id}:{'full' if full else 'incremental'}"
    return enqueue(session, SYNC_CONNECTION, key, {"connection_id": connection_id, "full": full},
                   school_id=conn.school_id)


def retry_stuck(session: Any, item_ids: Sequence[int] | None = None) -> list[WorkItem]:
    """An administrator's "try again" for stuck or failed items (all of them when no ids are given)."""
    query = select(WorkItem).where(WorkItem.status.in_(("stuck", "failed")))
    if item_ids:
        query = query.where(WorkItem.id.in_(item_ids))
    items = list(session.scalars(query.order_by(WorkItem.id)))
    now = utcnow()
    for item in items:
        item.status, item.run_after, item.attempts, item.crashes = "pending", now, 0, 0
        item.last_error = None
        leases.release(item)
    session.flush()
    return items


class Worker:
    """Claims due items (one, or a batch of one kind) and runs their handler; ``stop`` ends it between items."""

    def __init__(self, db: Database, owner: str, *, settings: Settings | None = None, lease_seconds: float = 300,
                 kinds: list[str] | None = None, stop: threading.Event | None = None,
                 retry_seconds: float | None = None, max_crashes: int | None = None) -> None:
        self.db = db
        self.owner = owner
        self.settings = settings
        self.lease_seconds = lease_seconds
        self.retry_seconds = retry_seconds if retry_seconds is not None else (
            settings.retry_seconds if settings is not None else 30.0)
        self.max_crashes = max_crashes if max_crashes is not None else (
            settings.max_crashes if settings is not None else MAX_CRASHES)
        self.kinds = kinds
        self.stop = stop or threading.Event()

    # -- claiming -------------------------------------------------------------------------------

    def claim(self) -> WorkItem | None:
        """Claim one due item (the first of a batch, if its kind is run in batches)."""
        items = self.claim_many(batch=False)
        return items[0] if items else None

    def claim_many(self, *, batch: bool = True) -> list[WorkItem]:
        kinds = self.kinds or registered_kinds()
        if not kinds:
            return []
        now = utcnow()
        with self.db.unit_of_work() as session:
            due = and_(WorkItem.status.in_(CLAIMABLE), WorkItem.run_after <= now, WorkItem.kind.in_(kinds))
            first = None
            for _ in range(20):  # an item found stuck or blocked is set aside and the next one tried
                taken: dict[int, str] = {}
                rows = leases.claim(session, WorkItem, owner=self.owner, lease_seconds=self.lease_seconds, due=due,
                                    order_by=CLAIM_ORDER, limit=1, now=now, taken_from=taken)
                if not rows:
                    return []
                if self._take_over(rows[0], taken, now) and self._may_start(session, rows[0], now):
                    first = rows[0]
                    break
            if first is None:
                return []
            items = [first]
            registered = _handlers.get(first.kind)
            size = registered.size if batch and isinstance(registered, Batch) else 1
            if size > 1 and first.crashes == 0:
                # an item whose worker died runs alone, so one that kills its workers cannot take a batch with it
                taken = {}
                more = leases.claim(session, WorkItem, owner=self.owner, lease_seconds=self.lease_seconds,
                                    due=and_(due, WorkItem.kind == first.kind, WorkItem.id != first.id,
                                             WorkItem.crashes == 0, WorkItem.status == "pending"),
                                    order_by=(WorkItem.run_after, WorkItem.id), limit=size - 1, now=now,
                                    taken_from=taken)
                items.extend(more)
            for item in items:
                item.status = "running"
            session.flush()
            for item in items:
                session.expunge(item)
            return items

    def _take_over(self, item: WorkItem, taken: dict[int, str], now: datetime) -> bool:
        """Count a crash when the item was left running by a worker that died; False if it is now stuck."""
        if item.status != "running":
            return True
        item.crashes += 1
        previous = taken.get(item.id, "?")
        if item.crashes >= self.max_crashes:
            item.status = "stuck"
            item.last_error = (f"set aside after its worker died or lost its lease {item.crashes} times in a row while "
                               f"running it (last: {previous}); retry it with `credbridge work retry {item.id}`")[:4000]
            leases.release(item)
            log.error("work %s %s: stuck after %d crashes in a row; not started again until an administrator "
                      "retries it", item.kind, item.key, item.crashes)
            return False
        log.warning("work %s %s: lease of %s ran out while it was running (crash %d); taken over by %s",
                    item.kind, item.key, previous, item.crashes, self.owner)
        return True

    def _may_start(self, session: Any, item: WorkItem, now: datetime) -> bool:
        if item.kind not in SYNC_KINDS:
            return True
        connection_id = item.payload.get("connection_id")
        if self._connection_busy(session, item, connection_id, now):
            leases.release(item)
            item.status = "pending"
            item.run_after = now + timedelta(seconds=5)
            return False
        if connection_id is not None:
            close_interrupted_runs(session, int(connection_id), now=now)
        return True

    def _connection_busy(self, session: Any, item: WorkItem, connection_id: Any, now: datetime) -> bool:
        """One sync per connection at a time, whichever daemon runs it.

        Locking the connection row serialises this check between claimers on PostgreSQL (SQLite has
        one writer anyway), so two workers cannot both see the connection idle."""
        lock = select(LmsConnection.id).where(LmsConnection.id == connection_id)
        if session.get_bind().dialect.name == "postgresql":
            lock = lock.with_for_update()
        session.execute(lock)
        others = session.scalars(select(WorkItem).where(
            WorkItem.kind.in_(SYNC_KINDS), WorkItem.id != item.id,
            WorkItem.status == "running", WorkItem.lease_expires_at >= now)).all()
        return any(o.payload.get("connection_id") == connection_id for o in others)

    # -- running --------------------------------------------------------------------------------

    def run_one(self) -> int:
        """Claim and run one item or one batch; the number of items run (0: nothing was due)."""
        items = self.claim_many()
        if not items:
            return 0
        first = items[0]
        item_stop = threading.Event()
        if self.stop.is_set():
            item_stop.set()
        ctx = WorkContext(self.db, self.settings, self.owner, first.id, item_stop, self.lease_seconds)
        with leases.Heartbeat(self.db, WorkItem, self.owner, self.lease_seconds, on_lost=lambda _ids: item_stop.set(),
                              watch=self.stop, on_stop=item_stop.set) as heartbeat:
            heartbeat.hold(*(item.id for item in items))
            if isinstance(_handlers.get(first.kind), Batch):
                self._run_batch(ctx, items)
            else:
                self._run_single(ctx, first)
        return len(items)

    def _run_single(self, ctx: WorkContext, item: WorkItem) -> None:
        handler = _handlers.get(item.kind)
        assert not isinstance(handler, Batch)
        requested = item.payload.get("requested_at")
        try:
            if handler is None:
                raise LookupError(f"no handler registered for work kind {item.kind!r}")
            with job_context(f"{item.kind}:{item.id}"):  # every log line of the handler names its item
                handler(ctx, item)
        except WorkDeferred as exc:
            log.info("work %s %s: not yet (%s); again in %.0f s", item.kind, item.key, exc, exc.delay)
            self.release_current(item.id, delay=exc.delay)
            return
        except WorkInterrupted:
            log.info("work %s %s: interrupted (shutdown or lost lease), released for the next worker",
                     item.kind, item.key)
            self.release_current(item.id)
            return
        except Exception as exc:
            log.exception("work %s %s failed (attempt %d)", item.kind, item.key, item.attempts + 1)
            self._finish_many([(item, requested, f"{type(exc).__name__}: {exc}")])
            return
        self._finish_many([(item, requested, None)])

    def _run_batch(self, ctx: WorkContext, items: list[WorkItem]) -> None:
        registered = _handlers[items[0].kind]
        assert isinstance(registered, Batch)
        handler = registered.handler
        try:
            failures = handler(ctx, items)
        except WorkInterrupted as exc:
            delay = exc.delay if isinstance(exc, WorkDeferred) else 0.0
            if delay:
                log.info("work %s: %d items not yet (%s); again in %.0f s", items[0].kind, len(items), exc, delay)
            for item in items:
                self.release_current(item.id, delay=delay)
            return
        except Exception as exc:
            log.exception("work %s: a batch of %d failed", items[0].kind, len(items))
            failures = {item.id: f"{type(exc).__name__}: {exc}" for item in items}
        self._finish_many([(item, item.payload.get("requested_at"), failures.get(item.id)) for item in items])

    def _finish(self, item: WorkItem, requested: str | None, *, error: str | None) -> None:
        self._finish_many([(item, requested, error)])

    def _finish_many(self, results: Sequence[tuple[WorkItem, str | None, str | None]]) -> None:
        with self.db.unit_of_work() as session:
            # the rows still ours (nobody took them over), locked until the commit on PostgreSQL
            query = select(WorkItem).where(WorkItem.id.in_([item.id for item, _r, _e in results]),
                                           WorkItem.lease_owner == self.owner)
            if self.db.is_postgres:
                query = query.with_for_update()
            rows = {row.id: row for row in session.scalars(query)}
            now = utcnow()
            done = []
            for item, requested, error in results:
                row = rows.get(item.id)
                if row is None:
                    log.warning("work %s %s: lease lost before it finished; result dropped", item.kind, item.key)
                    continue
                if error is None and (row.payload or {}).get("requested_at") == requested:
                    done.append(row.id)  # the common case, written for all of them in one statement below
                    continue
                leases.release(row)
                row.crashes = 0  # this run reached its end: whatever killed earlier runs did not repeat
                if error is not None:
                    row.attempts += 1
                    row.last_error = error[:4000]
                    row.status = "failed" if row.attempts >= MAX_ATTEMPTS else "pending"
                    row.run_after = now + timedelta(seconds=min(3600, self.retry_seconds * 2 ** (row.attempts - 1)))
                    if row.status == "failed":
                        log.error("work %s %s: failed %d times, given up until it is requested again: %s",
                                  row.kind, row.key, row.attempts, row.last_error)
                    continue
                row.last_error = None
                row.status, row.run_after, row.attempts = "pending", now, 0  # asked again meanwhile
            if done:
                session.execute(update(WorkItem).where(WorkItem.id.in_(done))
                                .values(status="done", lease_owner=None, lease_expires_at=None, crashes=0,
                                        last_error=None).execution_options(synchronize_session=False))

    def release_current(self, item_id: int, *, delay: float = 0.0) -> None:
        with self.db.unit_of_work() as session:
            row = session.get(WorkItem, item_id)
            if row is not None and row.lease_owner == self.owner:
                leases.release(row)
                row.status = "pending"
                if delay:
                    row.run_after = utcnow() + timedelta(seconds=delay)

    def run_until_idle(self, max_items: int | None = None) -> int:
        done = 0
        while not self.stop.is_set() and (max_items is None or done < max_items):
            ran = self.run_one()
            if not ran:
                break
            done += ran
        return done


def courses_of(session: Any, connection_id: int) -> list[Course]:
    return list(session.scalars(select(Course).where(Course.connection_id == connection_id)))
