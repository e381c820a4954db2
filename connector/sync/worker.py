"""Work items and the handlers that run them.

Other areas plug in with :func:`register_handler`::

    from credbridge.connector.sync.worker import register_handler

    def evaluate(ctx: WorkContext, item: WorkItem) -> None: ...
    register_handler("evaluate", evaluate)

A handler gets the claimed item (detached: read ``item.payload``) and a :class:`WorkContext`
(database, settings, ``report_progress``). It returns normally when done, or raises: the item goes
back to pending with an exponential delay, and to ``failed`` after ``MAX_ATTEMPTS``. Items are
claimed with row leases (:mod:`credbridge.connector.leases`), so any number of daemons can share
one database; a request that arrives while its item runs is kept (see ``requested_at``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, select

from credbridge.connector import leases
from credbridge.connector.logs import job_context
from credbridge.connector.settings import Settings
from credbridge.connector.store.base import utcnow
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import Course, LmsConnection, WorkItem

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
SYNC_CONNECTION = "sync_connection"
SYNC_COURSE = "sync_course"


@dataclass
class WorkContext:
    db: Database
    settings: Settings | None
    owner: str
    item_id: int
    stop: threading.Event = field(default_factory=threading.Event)
    lease_seconds: int = 300

    def report_progress(self, done: int, total: int, stage: str) -> None:
        """Store live progress (and extend the lease); safe to call often."""
        with self.db.unit_of_work() as session:
            item = session.get(WorkItem, self.item_id)
            if item is None or item.lease_owner != self.owner:
                return
            item.progress = {"done": done, "total": total, "stage": stage}
            leases.extend(session, item, self.owner, self.lease_seconds)


class WorkInterrupted(Exception):
    """Raised by a handler that stopped early because the daemon is shutting down; the item is put
    back as pending (not counted as a failed attempt) for the next worker."""


Handler = Callable[[WorkContext, WorkItem], None]
_handlers: dict[str, Handler] = {}


def register_handler(kind: str, handler: Handler) -> None:
    _handlers[kind] = handler


def registered_kinds() -> list[str]:
    return sorted(_handlers)


def enqueue(session: Any, kind: str, key: str, payload: dict[str, Any], *, school_id: int | None = None) -> WorkItem:
    """Queue work once per (kind, key): an item already pending or running is left as it is, except
    that a newer request is remembered so a running item is re-run once it finishes."""
    item = session.scalar(select(WorkItem).where(WorkItem.kind == kind, WorkItem.key == key))
    now = utcnow()
    stamped = {**payload, "requested_at": now.isoformat()}
    if item is None:
        item = WorkItem(kind=kind, key=key, payload=stamped, school_id=school_id, status="pending", run_after=now,
                        progress={})
        session.add(item)
    elif item.status in ("done", "failed"):
        item.status, item.payload, item.run_after, item.attempts, item.last_error = "pending", stamped, now, 0, None
        item.progress = {}
    elif item.status == "running":
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


class Worker:
    """Claims due items one at a time and runs their handler; ``stop`` ends it between items."""

    def __init__(self, db: Database, owner: str, *, settings: Settings | None = None, lease_seconds: int = 300,
                 kinds: list[str] | None = None, stop: threading.Event | None = None) -> None:
        self.db = db
        self.owner = owner
        self.settings = settings
        self.lease_seconds = lease_seconds
        self.kinds = kinds
        self.stop = stop or threading.Event()

    def claim(self) -> WorkItem | None:
        kinds = self.kinds or registered_kinds()
        if not kinds:
            return None
        now = utcnow()
        with self.db.unit_of_work() as session:
            due = and_(WorkItem.status.in_(("pending", "running")), WorkItem.run_after <= now,
                       WorkItem.kind.in_(kinds), WorkItem.attempts < MAX_ATTEMPTS)
            rows = leases.claim(session, WorkItem, owner=self.owner, lease_seconds=self.lease_seconds, due=due,
                                order_by=WorkItem.run_after, limit=1, now=now)
            if not rows:
                return None
            item = rows[0]
            if item.kind in (SYNC_CONNECTION, SYNC_COURSE) and self._connection_busy(session, item):
                leases.release(item)
                item.run_after = now + timedelta(seconds=5)
                return None
            item.status = "running"
            item.attempts += 1
            session.flush()
            session.expunge(item)
            return item

    def _connection_busy(self, session: Any, item: WorkItem) -> bool:
        """One sync per connection at a time, whichever daemon runs it.

        Locking the connection row serialises this check between claimers on PostgreSQL (SQLite has
        one writer anyway), so two workers cannot both see the connection idle."""
        connection_id = item.payload.get("connection_id")
        lock = select(LmsConnection.id).where(LmsConnection.id == connection_id)
        if session.get_bind().dialect.name == "postgresql":
            lock = lock.with_for_update()
        session.execute(lock)
        others = session.scalars(select(WorkItem).where(
            WorkItem.kind.in_((SYNC_CONNECTION, SYNC_COURSE)), WorkItem.id != item.id,
            WorkItem.status == "running", WorkItem.lease_expires_at >= utcnow())).all()
        return any(o.payload.get("connection_id") == connection_id for o in others)

    def run_one(self) -> bool:
        item = self.claim()
        if item is None:
            return False
        handler = _handlers.get(item.kind)
        ctx = WorkContext(self.db, self.settings, self.owner, item.id, self.stop, self.lease_seconds)
        requested = item.payload.get("requested_at")
        try:
            if handler is None:
                raise LookupError(f"no handler registered for work kind {item.kind!r}")
            with job_context(f"{item.kind}:{item.id}"):  # every log line of the handler names its item
                handler(ctx, item)
        except WorkInterrupted:
            log.info("work %s %s: interrupted by shutdown, released for the next worker", item.kind, item.key)
            self.release_current(item.id, give_back_attempt=True)
            return True
        except Exception as exc:
            log.exception("work %s %s failed (attempt %d)", item.kind, item.key, item.attempts)
            self._finish(item, requested, error=f"{type(exc).__name__}: {exc}")
            return True
        self._finish(item, requested, error=None)
        return True

    def _finish(self, item: WorkItem, requested: str | None, *, error: str | None) -> None:
        with self.db.unit_of_work() as session:
            row = session.get(WorkItem, item.id)
            if row is None or not leases.still_holds(session, row, self.owner):
                log.warning("work %s %s: lease lost before it finished; result dropped", item.kind, item.key)
                return
            leases.release(row)
            if error is not None:
                row.last_error = error[:4000]
                failed = row.attempts >= MAX_ATTEMPTS
                row.status = "failed" if failed else "pending"
                row.run_after = utcnow() + timedelta(seconds=min(3600, 30 * 2 ** row.attempts))
                return
            row.last_error = None
            if (row.payload or {}).get("requested_at") != requested:
                row.status, row.run_after, row.attempts = "pending", utcnow(), 0  # asked again meanwhile
            else:
                row.status = "done"

    def release_current(self, item_id: int, *, give_back_attempt: bool = False) -> None:
        with self.db.unit_of_work() as session:
            row = session.get(WorkItem, item_id)
            if row is not None and row.lease_owner == self.owner:
                leases.release(row)
                row.status = "pending"
                if give_back_attempt:
                    row.attempts = max(0, row.attempts - 1)

    def run_until_idle(self, max_items: int | None = None) -> int:
        done = 0
        while not self.stop.is_set() and (max_items is None or done < max_items):
            if not self.run_one():
                break
            done += 1
        return done


def courses_of(session: Any, connection_id: int) -> list[Course]:
    return list(session.scalars(select(Course).where(Course.connection_id == connection_id)))
