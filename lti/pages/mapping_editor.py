"""The console's mapping editor: check a text (errors at their line), diff against the current
version, a dry-run table of what it defines, and saving."""

from __future__ import annotations

import hashlib
import importlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from credbridge.connector.awards.audit import audit
from credbridge.connector.store.models import MappingFile
from credbridge.mappings.completeness import completeness
from credbridge.mappings.errors import MappingError, Problem
from credbridge.mappings.loader import diff, load_mapping_text, warnings_of


@dataclass
class PreviewRow:
    kind: str  # unit | template
    code: str
    version: int | None
    title: dict[str, str]
    units: list[str]
    missing: list[str]


@dataclass
class MappingCheck:
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    changes: list[str] | None = None  # None: no previous version to compare with
    rows: list[PreviewRow] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def by_line(self) -> dict[int, list[Problem]]:
        found: dict[int, list[Problem]] = defaultdict(list)
        for problem in self.problems + self.warnings:
            found[problem.line].append(problem)
        return found


def check_mapping(text: str, filename: str, previous_text: str | None) -> MappingCheck:
    try:
        ms = load_mapping_text(text, filename)
    except MappingError as error:
        return MappingCheck(problems=list(error.problems))
    result = MappingCheck(warnings=list(warnings_of(ms)))
    if previous_text is not None:
        try:
            result.changes = diff(load_mapping_text(previous_text, filename, check_completeness=False), ms)
        except MappingError:
            result.changes = [f"the current version of {filename} no longer loads; everything is new"]
    for unit in ms.units:
        result.rows.append(PreviewRow("unit", unit.code, None, dict(unit.title), [], []))
    for template in ms.templates:
        missing = [f"{m.element}: {m.message}" for m in completeness(template, ms)]
        result.rows.append(PreviewRow("template", template.code, template.version, dict(template.title),
                                      ms.template_unit_codes(template.code), missing))
    return result


def save_mapping(session: Session, school_id: int, filename: str, text: str, *, actor: str) -> MappingFile:
    """Hand the file to the awards service (which loads units and templates) or, until it exists,
    store the new version and retire the old one so the daemon's importer picks it up."""
    try:
        service = getattr(importlib.import_module("credbridge.connector.awards.mapping_import"),
                          "import_mapping_file", None)
    except ImportError:
        service = None
    if callable(service):
        return service(session, school_id, filename, text, uploaded_by=actor)
    for old in session.scalars(select(MappingFile).where(MappingFile.school_id == school_id,
                                                         MappingFile.filename == filename,
                                                         MappingFile.active.is_(True))):
        old.active = False
    row = MappingFile(school_id=school_id, filename=filename, content=text,
                      sha256=hashlib.sha256(text.encode()).hexdigest(), active=True, uploaded_by=actor,
                      uploaded_at=datetime.now(UTC))
    session.add(row)
    session.flush()
    audit(session, school_id=school_id, actor=actor, action="mapping_file.uploaded", subject_type="mapping_file",
          subject_id=row.id, filename=filename, sha256=row.sha256)
    return row
