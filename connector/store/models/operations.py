"""What running credbridge on several machines needs in the database: the scheduler's lease."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from credbridge.connector.store.base import Base


class SchedulerLease(Base):
    """Which daemon keeps the schedule (:mod:`credbridge.connector.sync.leader`).

    One row per named role; the holder renews ``expires_at`` on every tick, and another daemon takes
    the row over only once it has expired. ``term`` grows by one on every change of holder, so a log
    line or an audit can tell two reigns of the same daemon apart.
    """

    __tablename__ = "scheduler_lease"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(200))
    expires_at: Mapped[datetime | None]
    acquired_at: Mapped[datetime | None]
    term: Mapped[int] = mapped_column(default=0)
