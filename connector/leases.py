"""Row leases: how several workers (threads, daemons, machines) share work without doing it twice.

A worker claims due rows by writing its name and an expiry into ``lease_owner`` /
``lease_expires_at``. On PostgreSQL the candidates are selected ``FOR UPDATE SKIP LOCKED`` so
concurrent claimers never block on or take each other's rows. SQLite has one writer at a time
(``BEGIN IMMEDIATE`` in :mod:`credbridge.connector.store.db`), which makes the plain
select-then-update safe there. A lease that expires (its worker died) can be claimed again; every
write by the previous owner after that is refused by :func:`still_holds`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import Session

from credbridge.connector.store.base import utcnow

T = TypeVar("T")


def claim(
    session: Session,
    model: type[T],
    *,
    owner: str,
    lease_seconds: int,
    due: ColumnElement[bool],
    order_by: Any,
    limit: int = 1,
    now: datetime | None = None,
) -> Sequence[T]:
    """Lease up to ``limit`` rows of ``model`` matching ``due`` whose lease is free or expired.

    The caller commits; the lease counts from then. Rows come back ordered by ``order_by``.
    """
    now = now or utcnow()
    free = or_(model.lease_expires_at.is_(None), model.lease_expires_at < now)  # type: ignore[attr-defined]
    query = select(model).where(and_(due, free)).order_by(order_by).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = session.scalars(query).all()
    expires = now + timedelta(seconds=lease_seconds)
    for row in rows:
        row.lease_owner = owner  # type: ignore[attr-defined]
        row.lease_expires_at = expires  # type: ignore[attr-defined]
    session.flush()
    return rows


def still_holds(session: Session, row: Any, owner: str, now: datetime | None = None) -> bool:
    """True if ``owner``'s lease on ``row`` is current (checked in the database, not in memory)."""
    model = type(row)
    now = now or utcnow()
    query = select(model.lease_owner, model.lease_expires_at).where(model.id == row.id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    current = session.execute(query).one_or_none()
    return current is not None and current[0] == owner and current[1] is not None and current[1] >= now


def extend(session: Session, row: Any, owner: str, lease_seconds: int) -> bool:
    """Push the expiry out for a long job; False if the lease was lost meanwhile."""
    model = type(row)
    now = utcnow()
    result = session.execute(
        update(model)
        .where(model.id == row.id, model.lease_owner == owner, model.lease_expires_at >= now)
        .values(lease_expires_at=now + timedelta(seconds=lease_seconds))
    )
    return result.rowcount == 1


def release(row: Any) -> None:
    row.lease_owner = None
    row.lease_expires_at = None
