"""Row leases: how several workers (threads, daemons, machines) share work without doing it twice.

A worker claims due rows by writing its name and an expiry into ``lease_owner`` /
``lease_expires_at``. On PostgreSQL the candidates are selected ``FOR UPDATE SKIP LOCKED`` so
concurrent claimers never block on or take each other's rows. SQLite has one writer at a time
(``BEGIN IMMEDIATE`` in :mod:`credbridge.connector.store.db`), which makes the plain
select-then-update safe there. A lease that expires (its worker died) can be claimed again; every
write by the previous owner after that is refused by :func:`still_holds`.

Ownership and expiry play different parts. ``lease_owner`` is the fence: a worker may write a result
only while the row still names it (checked under a row lock, or under SQLite's single writer), and a
takeover always renames the row. ``lease_expires_at`` only tells *others* when they may take it over.
So a worker whose lease ran out while nobody took the row — a heartbeat held up by a long
transaction, a busy machine — still finishes its work and renews its lease, instead of throwing the
result away for nobody's benefit.

A lease is short and kept alive by a :class:`Heartbeat` while its work runs, however long that work
takes: a live worker never loses its rows to an impatient one, and a dead worker's rows are free
again one lease period after its last heartbeat (see :func:`hold_seconds` for how the daemon turns
its ``lease_seconds`` setting into that period).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from credbridge.connector.store.base import utcnow

log = logging.getLogger(__name__)
T = TypeVar("T")

#: a heartbeat renews a lease this many times per lease period, so one late beat never loses it
BEATS_PER_LEASE = 3

#: told of every row a claim takes from another worker whose lease ran out: (table, row id, previous owner,
#: new owner). The operations metrics count them (:func:`credbridge.connector.metrics.count_lease_takeovers`).
TakeoverListener = Callable[[str, int, str, str], None]
_takeover_listeners: list[TakeoverListener] = []


def on_takeover(listener: TakeoverListener) -> None:
    if listener not in _takeover_listeners:
        _takeover_listeners.append(listener)


def hold_seconds(lease_seconds: float, poll_seconds: float) -> float:
    """How long each claim or heartbeat holds a row, so that another worker holds the work of a dead one
    within ``lease_seconds`` of its death: the lease runs out ``lease_seconds - poll_seconds`` after the
    last heartbeat (which came before the death), and an idle worker looks every ``poll_seconds``."""
    return max(1.0, lease_seconds - poll_seconds)


def claim(
    session: Session,
    model: type[T],
    *,
    owner: str,
    lease_seconds: float,
    due: ColumnElement[bool],
    order_by: Any,
    limit: int = 1,
    now: datetime | None = None,
    taken_from: dict[int, str] | None = None,
) -> Sequence[T]:
    """Lease up to ``limit`` rows of ``model`` matching ``due`` whose lease is free or expired.

    The caller commits; the lease counts from then. Rows come back ordered by ``order_by``.
    ``taken_from`` (when given) receives, for each row whose earlier lease had run out, its old owner.
    """
    now = now or utcnow()
    order = order_by if isinstance(order_by, tuple | list) else (order_by,)
    query = select(model).where(and_(due, is_free(model, now))).order_by(*order).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = session.scalars(query).all()
    expires = now + timedelta(seconds=lease_seconds)
    if not rows:
        return rows
    # one UPDATE for the claimed rows (not one per row), then the loaded objects are told the new values
    session.execute(update(model).where(model.id.in_([row.id for row in rows]))  # type: ignore[attr-defined]
                    .values(lease_owner=owner, lease_expires_at=expires)
                    .execution_options(synchronize_session=False))
    for row in rows:
        previous = row.lease_owner  # type: ignore[attr-defined]
        if taken_from is not None and previous is not None:
            taken_from[row.id] = previous  # type: ignore[attr-defined]
        if previous is not None and previous != owner:
            for listener in _takeover_listeners:
                listener(model.__tablename__, row.id, previous, owner)  # type: ignore[attr-defined]
        set_committed_value(row, "lease_owner", owner)
        set_committed_value(row, "lease_expires_at", expires)
    return rows


def is_free(model: Any, now: datetime) -> ColumnElement[bool]:
    """Unleased, or leased by a worker whose lease ran out (it died, or lost touch with the database)."""
    return or_(model.lease_expires_at.is_(None), model.lease_expires_at < now)


def still_holds(session: Session, row: Any, owner: str, now: datetime | None = None) -> bool:
    """True if ``row`` is still ``owner``'s: nobody took it over (checked in the database, not in memory)."""
    return bool(held(session, type(row), [row.id], owner, now))


def held(session: Session, model: Any, ids: Iterable[int], owner: str, now: datetime | None = None) -> set[int]:
    """Which of ``ids`` are still ``owner``'s (nobody took them over); on PostgreSQL the rows stay locked
    until the caller commits, so nobody can take them over between this check and the caller's writes."""
    ids = sorted(set(ids))
    if not ids:
        return set()
    query = select(model.id).where(model.id.in_(ids), model.lease_owner == owner).order_by(model.id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return set(session.scalars(query))


def extend(session: Session, row: Any, owner: str, lease_seconds: float) -> bool:
    """Push the expiry out for a long job; False if the lease was lost meanwhile."""
    return bool(extend_many(session, type(row), [row.id], owner, lease_seconds))


def extend_many(session: Session, model: Any, ids: Iterable[int], owner: str, lease_seconds: float) -> set[int]:
    """Renew ``owner``'s leases on ``ids`` (also one that ran out while nobody took the row over);
    returns the ids it still holds."""
    ids = sorted(set(ids))
    if not ids:
        return set()
    now = utcnow()
    session.execute(
        update(model)
        .where(model.id.in_(ids), model.lease_owner == owner)
        .values(lease_expires_at=now + timedelta(seconds=lease_seconds))
        .execution_options(synchronize_session=False)
    )
    return set(session.scalars(select(model.id).where(model.id.in_(ids), model.lease_owner == owner)))


def release(row: Any) -> None:
    row.lease_owner = None
    row.lease_expires_at = None


class Heartbeat:
    """Keeps ``owner``'s leases on some rows of ``model`` alive while their work runs.

    A background thread renews them every ``lease_seconds / 3`` in its own short transaction. A row
    found lost (its lease ran out — the database was unreachable for a whole lease period, or the
    process was frozen — and another worker took it over) is dropped and reported through :attr:`lost`
    and ``on_lost``: the work should stop at its next safe point, and its writes are refused anyway by
    :func:`held`. ``watch`` (the daemon's stop event) is relayed to
    ``on_stop`` within a fraction of a second, so long work can react to a shutdown too.

    Use as a context manager around the work; :meth:`hold` / :meth:`drop` change the rows it keeps.
    """

    TICK_SECONDS = 0.2

    def __init__(self, db: Any, model: Any, owner: str, lease_seconds: float, *,
                 on_lost: Callable[[set[int]], None] | None = None, watch: threading.Event | None = None,
                 on_stop: Callable[[], None] | None = None, interval: float | None = None) -> None:
        self.db = db
        self.model = model
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.interval = interval if interval is not None else lease_seconds / BEATS_PER_LEASE
        self.on_lost = on_lost
        self.watch = watch
        self.on_stop = on_stop
        self.lost = threading.Event()
        self._ids: set[int] = set()
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._stop_relayed = False

    def hold(self, *ids: int) -> None:
        with self._lock:
            self._ids.update(ids)

    def drop(self, *ids: int) -> None:
        with self._lock:
            self._ids.difference_update(ids)

    def __enter__(self) -> Heartbeat:
        self._thread = threading.Thread(target=self._run, name=f"heartbeat:{self.owner}", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()

    def beat(self) -> set[int]:
        """Renew now; returns the rows lost since the last beat (also reported to ``on_lost``)."""
        with self._lock:
            ids = set(self._ids)
        if not ids:
            return set()
        with self.db.unit_of_work() as session:
            kept = extend_many(session, self.model, ids, self.owner, self.lease_seconds)
        lost = ids - kept
        if lost:
            self.drop(*lost)
            log.warning("%s: lease lost on %s %s (the work must stop; its results will be refused)", self.owner,
                        self.model.__tablename__, sorted(lost))
            self.lost.set()
            if self.on_lost is not None:
                self.on_lost(lost)
        return lost

    def _run(self) -> None:
        next_beat = time.monotonic() + self.interval
        while not self._done.wait(self.TICK_SECONDS):
            if self.watch is not None and self.watch.is_set() and not self._stop_relayed:
                self._stop_relayed = True
                if self.on_stop is not None:
                    self.on_stop()
            if time.monotonic() < next_beat:
                continue
            try:
                self.beat()
                next_beat = time.monotonic() + self.interval
            except Exception:  # the database is unreachable: try again soon, the lease may still be saved
                log.warning("%s: heartbeat failed, retrying", self.owner, exc_info=True)
                next_beat = time.monotonic() + min(self.interval, 1.0)
