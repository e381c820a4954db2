"""Mapping files as uploaded, and the units and credential templates loaded from them.

The definitions are stored as the mappings layer's own JSON (pydantic dumps), versioned: a template
that changes gets a new version, and awards point at the version they were earned under.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from credbridge.connector.store.base import Base, utcnow


class MappingFile(Base):
    __tablename__ = "mapping_file"

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(300))
    content: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    uploaded_by: Mapped[str] = mapped_column(String(320))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)


class UnitDefinition(Base):
    __tablename__ = "unit_definition"
    __table_args__ = (UniqueConstraint("school_id", "code", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(default=1)
    title: Mapped[str] = mapped_column(String(500))
    definition: Mapped[dict[str, Any]] = mapped_column()
    mapping_file_id: Mapped[int | None] = mapped_column(ForeignKey("mapping_file.id", ondelete="SET NULL"))
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    loaded_at: Mapped[datetime] = mapped_column(default=utcnow)


class TemplateDefinition(Base):
    """A micro-credential template; ``missing`` lists the Annex I elements that block issuing."""

    __tablename__ = "template_definition"
    __table_args__ = (UniqueConstraint("school_id", "code", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(default=1)
    title: Mapped[str] = mapped_column(String(500))
    definition: Mapped[dict[str, Any]] = mapped_column()
    complete: Mapped[bool] = mapped_column(Boolean, default=False)
    missing: Mapped[list[Any]] = mapped_column(default=list)
    mapping_file_id: Mapped[int | None] = mapped_column(ForeignKey("mapping_file.id", ondelete="SET NULL"))
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    loaded_at: Mapped[datetime] = mapped_column(default=utcnow)
