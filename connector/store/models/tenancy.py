"""Schools (the tenants, each an awarding body) and the people who administer them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from credbridge.connector.store.base import Base, utcnow


class School(Base):
    """A tenant and its awarding-body identity (Annex I: awarding body, country)."""

    __tablename__ = "school"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    legal_name: Mapped[str] = mapped_column(String(300))
    country: Mapped[str] = mapped_column(String(2), doc="ISO 3166-1 alpha-2")
    homepage: Mapped[str | None] = mapped_column(String(500))
    identifiers: Mapped[dict[str, Any]] = mapped_column(default=dict, doc="e.g. {'OIB': '…', 'VAT': '…'}")
    qa_status: Mapped[dict[str, Any]] = mapped_column(default=dict)
    policy: Mapped[dict[str, Any]] = mapped_column(
        default=dict, doc="revoke_on_regression: auto|ask, ags_score: bool, notify_email: bool"
    )
    #: what the pages and certificates show besides the legal name (all optional)
    logo: Mapped[bytes | None] = mapped_column(LargeBinary, doc="PNG, JPEG or SVG, served at /schools/<slug>/logo")
    logo_type: Mapped[str | None] = mapped_column(String(50), doc="the logo's media type")
    brand_colour: Mapped[str | None] = mapped_column(String(7), doc="#rrggbb of the page header's accent")
    locality: Mapped[str | None] = mapped_column(String(120), doc="the place written on certificates")
    signatory_name: Mapped[str | None] = mapped_column(String(200), doc="who signs the certificates")
    signatory_role: Mapped[str | None] = mapped_column(String(200), doc="e.g. Principal")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    admins: Mapped[list[AdminUser]] = relationship(back_populates="school")


class AdminUser(Base):
    """A school administrator who logs in to the console directly (not only via an LTI launch)."""

    __tablename__ = "admin_user"
    __table_args__ = (UniqueConstraint("email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(Text, doc="scrypt hash (hashlib), never the password")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]

    school: Mapped[School] = relationship(back_populates="admins")
