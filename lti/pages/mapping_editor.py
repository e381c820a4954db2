"""The console's mapping editor: check a text (errors at their line), diff against the current
version, a dry-run table of what it defines, and saving."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from credbridge.connector.awards.catalogue import import_mapping_file
from credbridge.connector.store.models import MappingFile, School
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
        # incomplete templates are not errors here: they are stored and shown as not ready to issue
        ms = load_mapping_text(text, filename, check_completeness=False)
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
    """Import through the awards catalogue (stores the file, new unit/template versions where
    something changed, completeness), keeping the name the administrator gave the file."""
    school = session.get(School, school_id)
    if school is None:
        raise LookupError(f"school {school_id} does not exist")
    result = import_mapping_file(session, school, text, actor)
    row = session.get(MappingFile, result.mapping_file_id)
    assert row is not None
    row.filename = filename
    return row
