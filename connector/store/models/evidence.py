"""Evidence from the LMS, versioned (a changed value is a new row, never an overwrite), and the
sync cursors that advance in the same transaction as the evidence they cover."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from credbridge.connector.store.base import Base, utcnow


class Evidence(Base):
    """One version of one fact about a learner: a completion, a grade, an attempt, a rating.

    ``source_key`` names the fact within its kind (e.g. ``cm:6`` for an activity completion,
    ``attempt:41`` for a quiz attempt); ``content_hash`` tells whether a re-read changed it.
    Exactly one version per (learner, kind, source_key) is current.
    """

    __tablename__ = "evidence"
    __table_args__ = (
        UniqueConstraint("connection_id", "learner_id", "kind", "source_key", "version"),
        Index("ix_evidence_current", "learner_id", "is_current"),
        Index("ix_evidence_course_current", "course_id", "is_current"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int | None] = mapped_column(ForeignKey("lms_connection.id", ondelete="CASCADE"))
    learner_id: Mapped[int] = mapped_column(ForeignKey("learner.id", ondelete="CASCADE"))
    course_id: Mapped[int | None] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(
        String(30),
        doc="course_completion | activity_completion | grade_item | quiz_attempt | assignment_grade "
        "| competency | external",
    )
    source_key: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(default=1)
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    withdrawn: Mapped[bool] = mapped_column(Boolean, default=False, doc="no longer present in the source")
    payload: Mapped[dict[str, Any]] = mapped_column()
    content_hash: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime | None] = mapped_column(doc="the source's own timestamp")
    observed_at: Mapped[datetime] = mapped_column(default=utcnow)
    source: Mapped[str] = mapped_column(String(30), default="moodle_ws", doc="moodle_ws | csv | lti_ags")


class SyncCursor(Base):
    """How far one stream of one connection (optionally one course) has been read."""

    __tablename__ = "sync_cursor"
    __table_args__ = (UniqueConstraint("connection_id", "course_key", "stream"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("lms_connection.id", ondelete="CASCADE"))
    course_key: Mapped[str] = mapped_column(String(50), default="*", doc="Moodle course id, or * for site-wide")
    stream: Mapped[str] = mapped_column(String(50))
    position: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SyncRun(Base):
    """One sync of one connection: what it asked Moodle and what it learned (for operators)."""

    __tablename__ = "sync_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("lms_connection.id", ondelete="CASCADE"), index=True)
    mode: Mapped[str] = mapped_column(String(20), doc="incremental | full | course")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(20), default="running", doc="running | ok | failed")
    ws_calls: Mapped[int] = mapped_column(default=0)
    evidence_new: Mapped[int] = mapped_column(default=0)
    evidence_changed: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(String(2000))
    worker: Mapped[str | None] = mapped_column(String(200))
