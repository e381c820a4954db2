"""Awards (the decision that a learner earned a template version), the issuance outbox, issued
credentials and the status lists that can revoke them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from credbridge.connector.store.base import Base, utcnow

AWARD_STATES = (
    "pending_approval", "approved", "held", "issuing", "issued", "failed", "dead", "revoked",
    "flagged",
)


class Award(Base):
    """Exactly one per (learner, template, version): the unique constraint is the guarantee."""

    __tablename__ = "award"
    __table_args__ = (UniqueConstraint("learner_id", "template_code", "template_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id", ondelete="CASCADE"), index=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("learner.id", ondelete="CASCADE"), index=True)
    template_code: Mapped[str] = mapped_column(String(100))
    template_version: Mapped[int]
    status: Mapped[str] = mapped_column(String(20), doc=" | ".join(AWARD_STATES))
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)
    achieved_at: Mapped[datetime | None]
    snapshot: Mapped[dict[str, Any]] = mapped_column(
        default=dict, doc="resolved Annex I values with provenance, grade, evidence ids"
    )
    decided_by: Mapped[str] = mapped_column(String(320), default="evaluation")
    regression: Mapped[dict[str, Any] | None] = mapped_column(JSON, doc="why the evidence no longer holds")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    outbox: Mapped[list[OutboxItem]] = relationship(back_populates="award")


class OutboxItem(Base):
    """One award to one issuing target; sent by a leased worker with an idempotency key."""

    __tablename__ = "outbox_item"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        Index("ix_outbox_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    award_id: Mapped[int] = mapped_column(ForeignKey("award.id", ondelete="CASCADE"), index=True)
    target: Mapped[str] = mapped_column(String(50), doc="embedded | edc | badgr | credly | accredible | webhook")
    idempotency_key: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(
        String(20), default="pending", doc="pending | sending | sent | failed | dead"
    )
    attempts: Mapped[int] = mapped_column(default=0, doc="sends started, including those a crash cut short")
    crashes: Mapped[int] = mapped_column(default=0, server_default="0",
                                         doc="sends whose worker died or lost the lease before the outcome was known")
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(String(300))
    status_list_id: Mapped[int | None] = mapped_column(
        ForeignKey("status_list.id"), doc="embedded target: the status-list entry reserved for the credentials")
    status_index: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    award: Mapped[Award] = relationship(back_populates="outbox")


class Credential(Base):
    """An issued credential document in one format (``ob3-jwt``, ``ob3-di``, ``elm``, or external)."""

    __tablename__ = "credential"
    __table_args__ = (UniqueConstraint("award_id", "format"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, doc="urn:uuid of the credential")
    award_id: Mapped[int] = mapped_column(ForeignKey("award.id", ondelete="RESTRICT"), index=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id", ondelete="CASCADE"), index=True)
    format: Mapped[str] = mapped_column(String(20))
    target: Mapped[str] = mapped_column(String(50), default="embedded")
    document: Mapped[str] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(String(300))
    status_list_id: Mapped[int | None] = mapped_column(ForeignKey("status_list.id"))
    status_index: Mapped[int | None]
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    revocation_reason: Mapped[str | None] = mapped_column(
        Text, doc="the revoker's own words: private (the school's console and audit log), never published")
    revocation_code: Mapped[str | None] = mapped_column(
        String(40), doc="the public reason, one of connector.awards.actions.PUBLIC_REVOCATION_REASONS")


class StatusList(Base):
    """A W3C Bitstring Status List of one school; indexes are allocated from ``next_index``."""

    __tablename__ = "status_list"

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(20), default="revocation")
    size_bits: Mapped[int] = mapped_column(default=131072)
    bits: Mapped[bytes] = mapped_column(LargeBinary)
    next_index: Mapped[int] = mapped_column(default=0)
    full: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
