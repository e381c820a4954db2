"""Work items claimed with row leases, so several daemons can share one PostgreSQL.

On PostgreSQL a worker claims with ``SELECT … FOR UPDATE SKIP LOCKED``; on SQLite, where there is a
single writer anyway, a conditional UPDATE on the lease columns does the same job.

``attempts`` counts runs that failed (the handler raised); ``crashes`` counts runs whose worker died
or lost its lease mid-way (killed, out of memory, a frozen machine). They are kept apart because a
crash says nothing about the item: killing a daemon five times must not retire a connection's sync.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from credbridge.connector.store.base import Base, utcnow


class WorkItem(Base):
    __tablename__ = "work_item"
    __table_args__ = (
        UniqueConstraint("kind", "key"),
        Index("ix_work_item_due", "status", "run_after"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int | None] = mapped_column(ForeignKey("school.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30), doc="sync_connection | sync_course | evaluate | …")
    key: Mapped[str] = mapped_column(String(200), doc="dedupe key: one pending item per kind+key")
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default="pending",
                                        doc="pending | running | done | failed | stuck")
    run_after: Mapped[datetime] = mapped_column(default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0, doc="failed runs since the last success or request")
    crashes: Mapped[int] = mapped_column(default=0, server_default="0",
                                         doc="runs in a row whose worker died or lost the lease mid-way")
    last_error: Mapped[str | None] = mapped_column(Text)
    progress: Mapped[dict[str, Any]] = mapped_column(default=dict, doc="done/total for live progress")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
