"""Mapping files into the store, versioned, and back out as the school's current MappingSet.

A template whose definition changed gets version + 1 (awards keep pointing at the version they were
earned under); an unchanged one keeps its version, so re-uploading the same file changes nothing.
Units are versioned the same way. :func:`preview_import` shows the diff before anything is written,
and :func:`version_plan` which templates would get a new version and why.

Every saved file is kept: :func:`mapping_history` lists the versions of the school's mapping, and an
earlier one is restored by importing its text again (a new version whose content is the old one).
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from credbridge.connector.awards.audit import audit
from credbridge.connector.store.models import MappingFile, School, TemplateDefinition, UnitDefinition
from credbridge.mappings import (
    CourseStructure,
    MappingSet,
    completeness,
    diff,
    load_mapping_text,
    national_check,
    resolve,
)


@dataclass
class ImportResult:
    mapping_file_id: int | None
    changes: list[str] = field(default_factory=list)
    template_versions: dict[str, int] = field(default_factory=dict)
    new_versions: list[str] = field(default_factory=list)  # "CODE v2"
    incomplete: dict[str, list[str]] = field(default_factory=dict)


def _read(path_or_text: str | Path) -> tuple[str, str]:
    if isinstance(path_or_text, Path) or (len(str(path_or_text)) < 4096 and "\n" not in str(path_or_text)
                                          and Path(str(path_or_text)).is_file()):
        path = Path(path_or_text)
        return path.read_text("utf-8"), path.name
    return str(path_or_text), "<upload>"


def _template_definition(ms: MappingSet, code: str) -> dict[str, Any]:
    data = ms.template(code).model_dump(mode="json")
    data.pop("version", None)  # the store assigns versions; the file's number is a starting point
    return data


def _units_changed(ms: MappingSet, code: str, current: dict[str, UnitDefinition]) -> bool:
    """Whether a unit of the template reads differently now (its rule, credits, outcomes…).

    A template version fixes what its awards mean: an award is judged, and its Annex I values
    written, under the version it was earned under. So a changed unit makes a new template version;
    otherwise last year's awards would be re-judged by this year's rule, and one version would carry
    two sets of credits.
    """
    for unit_code in ms.template_unit_codes(code):  # its own units and those of templates stacked into it
        row = current.get(unit_code)
        if row is None or row.definition != ms.unit(unit_code).model_dump(mode="json"):
            return True
    return False


def _current_templates(session: Session, school_id: int) -> dict[str, TemplateDefinition]:
    rows = session.scalars(select(TemplateDefinition).where(TemplateDefinition.school_id == school_id,
                                                            TemplateDefinition.is_current.is_(True)))
    return {r.code: r for r in rows}


def _current_units(session: Session, school_id: int) -> dict[str, UnitDefinition]:
    rows = session.scalars(select(UnitDefinition).where(UnitDefinition.school_id == school_id,
                                                        UnitDefinition.is_current.is_(True)))
    return {r.code: r for r in rows}


def _max_version(session: Session, model: Any, school_id: int, code: str) -> int:
    versions = session.scalars(select(model.version).where(model.school_id == school_id, model.code == code))
    return max(versions, default=0)


def active_mapping_file(session: Session, school_id: int) -> MappingFile | None:
    return session.scalars(select(MappingFile).where(MappingFile.school_id == school_id,
                                                     MappingFile.active.is_(True))
                           .order_by(MappingFile.id.desc()).limit(1)).first()


@functools.lru_cache(maxsize=32)
def _parsed(content: str, filename: str) -> MappingSet:
    """A stored mapping file is parsed once per process (the models are frozen, so sharing is safe):
    parsing its YAML was a third of every teacher page (bench/launch.py --profile, bench/RESULTS.md)."""
    return load_mapping_text(content, filename, check_completeness=False)


def current_mapping_set(session: Session, school: School) -> MappingSet | None:
    """The school's mapping set as last imported, with the store's template versions."""
    active = active_mapping_file(session, school.id)
    if active is None:
        return None
    ms = _parsed(active.content, active.filename)
    versions = {code: row.version for code, row in _current_templates(session, school.id).items()}
    return with_versions(ms, versions)


@dataclass(frozen=True)
class PlannedVersion:
    """What saving a file does to one template: ``reason`` is ``added``, ``changed`` (its own
    definition), ``units_changed`` (a unit of it, or of a template stacked into it) or ``unchanged``."""

    code: str
    current: int | None
    next: int
    reason: str

    @property
    def is_new(self) -> bool:
        return self.reason != "unchanged"


def version_plan(session: Session, school: School, new: MappingSet) -> list[PlannedVersion]:
    """Each template of ``new`` with the version it would be stored under, in the file's order."""
    current = _current_templates(session, school.id)
    units = _current_units(session, school.id)
    plan = []
    for tpl in new.templates:
        row = current.get(tpl.code)
        if row is None:
            version = max(tpl.version, _max_version(session, TemplateDefinition, school.id, tpl.code) + 1)
            plan.append(PlannedVersion(tpl.code, None, version, "added"))
        elif row.definition != _template_definition(new, tpl.code):
            plan.append(PlannedVersion(tpl.code, row.version, max(row.version + 1, tpl.version), "changed"))
        elif _units_changed(new, tpl.code, units):
            plan.append(PlannedVersion(tpl.code, row.version, max(row.version + 1, tpl.version), "units_changed"))
        else:
            plan.append(PlannedVersion(tpl.code, row.version, row.version, "unchanged"))
    return plan


def with_versions(ms: MappingSet, versions: dict[str, int]) -> MappingSet:
    """``ms`` with its templates at the store's versions (file positions kept for messages)."""
    templates = [t.model_copy(update={"version": versions.get(t.code, t.version)}) for t in ms.templates]
    updated = ms.model_copy(update={"templates": templates})
    updated._locations = ms._locations
    updated._filename = ms._filename
    return updated


def preview_import(session: Session, school: School, path_or_text: str | Path) -> ImportResult:
    """What an import would change, without writing anything (MappingError if the file is bad)."""
    text, filename = _read(path_or_text)
    new = load_mapping_text(text, filename, check_completeness=False)
    old = current_mapping_set(session, school)
    result = ImportResult(mapping_file_id=None)
    if old is not None:
        result.changes = diff(old.model_copy(update={"templates": [t.model_copy(update={"version": 1})
                                                                   for t in old.templates]}),
                              new.model_copy(update={"templates": [t.model_copy(update={"version": 1})
                                                                   for t in new.templates]}))
    else:
        result.changes = [f"template {t.code}: added" for t in new.templates] + [
            f"unit {u.code}: added" for u in new.units]
    for planned in version_plan(session, school, new):
        result.template_versions[planned.code] = planned.next
        if planned.is_new:
            result.new_versions.append(f"{planned.code} v{planned.next}")
    return result


def import_mapping_file(session: Session, school: School, path_or_text: str | Path, uploaded_by: str, *,
                        structure: CourseStructure | None = None, filename: str | None = None,
                        restored_from: int | None = None) -> ImportResult:
    """Store the file and its units and templates (new versions only where something changed).

    Raises :class:`credbridge.mappings.MappingError` (file, line, problem) and writes nothing when the
    file is bad — including, when ``structure`` (the synced Moodle courses) is given, references to
    courses, activities or competencies the site does not have. Templates missing mandatory Annex I
    elements are stored with ``complete=False`` and the list of what is missing: they will not issue.
    ``filename`` names the stored file (the console keeps the mapping's name across uploads);
    ``restored_from`` is the number of the earlier version whose text this is (see :func:`mapping_history`).
    """
    text, read_name = _read(path_or_text)
    filename = filename or read_name
    ms = load_mapping_text(text, filename, check_completeness=False)
    if structure is not None:
        resolve(ms, structure)  # raises MappingError naming each dangling reference
    result = preview_import(session, school, text)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    for old in session.scalars(select(MappingFile).where(MappingFile.school_id == school.id,
                                                         MappingFile.active.is_(True))):
        old.active = False
    file_row = MappingFile(school_id=school.id, filename=filename, content=text, sha256=digest, active=True,
                           uploaded_by=uploaded_by)
    session.add(file_row)
    session.flush()
    result.mapping_file_id = file_row.id

    units = _current_units(session, school.id)
    for unit in ms.units:
        definition = unit.model_dump(mode="json")
        row = units.pop(unit.code, None)
        if row is not None and row.definition == definition:
            row.mapping_file_id = file_row.id
            continue
        if row is not None:
            row.is_current = False
        version = _max_version(session, UnitDefinition, school.id, unit.code) + 1
        session.add(UnitDefinition(school_id=school.id, code=unit.code, version=version,
                                   title=next(iter(unit.title.values())), definition=definition,
                                   mapping_file_id=file_row.id, is_current=True))
    for gone in units.values():
        gone.is_current = False

    templates = _current_templates(session, school.id)
    for tpl in ms.templates:
        definition = _template_definition(ms, tpl.code)
        missing = [str(m) for m in completeness(tpl, ms)]
        missing += [str(f) for f in national_check(tpl, ms) if f.severity == "error"]
        if missing:
            result.incomplete[tpl.code] = missing
        row = templates.pop(tpl.code, None)
        version = result.template_versions[tpl.code]
        if row is not None and row.version == version:
            row.mapping_file_id = file_row.id
            row.complete, row.missing = not missing, missing
            continue
        if row is not None:
            row.is_current = False
        session.add(TemplateDefinition(school_id=school.id, code=tpl.code, version=version,
                                       title=next(iter(tpl.title.values())), definition=definition,
                                       complete=not missing, missing=missing, mapping_file_id=file_row.id,
                                       is_current=True))
    for gone in templates.values():
        gone.is_current = False
    session.flush()
    audit(session, school_id=school.id, actor=uploaded_by, action="mapping_file.imported",
          subject_type="mapping_file", subject_id=file_row.id, filename=filename, sha256=digest,
          new_versions=result.new_versions, changes=result.changes[:200],
          **({"restored_from": restored_from} if restored_from is not None else {}))
    return result


@dataclass(frozen=True)
class MappingVersion:
    """One saved version of the school's mapping; ``number`` counts from 1 in the order of saving."""

    id: int
    number: int
    filename: str
    sha256: str
    uploaded_by: str
    uploaded_at: Any
    active: bool


def mapping_history(session: Session, school_id: int) -> list[MappingVersion]:
    """Every saved version, newest first."""
    rows = session.execute(select(MappingFile.id, MappingFile.filename, MappingFile.sha256, MappingFile.uploaded_by,
                                  MappingFile.uploaded_at, MappingFile.active)
                           .where(MappingFile.school_id == school_id).order_by(MappingFile.id)).all()
    versions = [MappingVersion(row.id, number, row.filename, row.sha256, row.uploaded_by, row.uploaded_at, row.active)
                for number, row in enumerate(rows, start=1)]
    return versions[::-1]


def mapping_version(session: Session, school_id: int, file_id: int) -> MappingFile | None:
    """A saved version of this school's mapping (None for another school's)."""
    row = session.get(MappingFile, file_id)
    return row if row is not None and row.school_id == school_id else None
