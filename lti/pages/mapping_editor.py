"""The console's mapping editor: check a text (errors at their line), compare it with the current
version, a dry run of what saving would do, saving, and the history of saved versions.

The dry run answers the questions an administrator has before saving: which templates get a new
version (and so a new round of credentials for learners who still meet it), and which learners
would newly earn what, by running the real evaluation over the evidence already synced, without
writing anything. Saving asks for confirmation whenever it would create a template version.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from credbridge.connector.awards.catalogue import (
    PlannedVersion,
    current_mapping_set,
    import_mapping_file,
    version_plan,
    with_versions,
)
from credbridge.connector.awards.decide import EvaluationSources
from credbridge.connector.store.models import Award, Learner, MappingFile, School
from credbridge.mappings.completeness import completeness
from credbridge.mappings.errors import MappingError, Problem
from credbridge.mappings.evaluate import evaluate, resolve
from credbridge.mappings.evidence import EvidenceFact
from credbridge.mappings.loader import diff, load_mapping_text, warnings_of

#: beyond this many learners the dry run names the first ones and counts the rest
DRY_RUN_ROWS = 500


@dataclass
class PreviewRow:
    kind: str  # unit | template
    code: str
    version: int | None
    title: dict[str, str]
    units: list[str]
    missing: list[tuple[str, str]]  # (Annex I element, what to do), for templates


@dataclass
class Change:
    """One line of the comparison with the current version: ``what`` is added, removed or changed;
    ``where`` the mapping's own path (``unit TD-READ.title.en``); values as the file has them."""

    where: str
    what: str
    before: str | None = None
    after: str | None = None


@dataclass
class NewEarner:
    learner_id: int
    learner: str
    code: str
    version: int
    kind: str  # new: holds nothing of this template | new_version: holds an earlier version
    needs_approval: bool
    can_issue: bool


@dataclass
class MappingCheck:
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    changes: list[Change] | None = None  # None: no previous version to compare with
    rows: list[PreviewRow] = field(default_factory=list)
    versions: list[PlannedVersion] = field(default_factory=list)
    titles: dict[str, Any] = field(default_factory=dict)  # template code -> title (language map)
    earners: list[NewEarner] = field(default_factory=list)
    earners_total: int = 0
    dry_run_problems: list[Problem] = field(default_factory=list)  # why who-earns-what could not be worked out
    learners_checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def by_line(self) -> dict[int, list[Problem]]:
        found: dict[int, list[Problem]] = defaultdict(list)
        for problem in self.problems + self.warnings:
            found[problem.line].append(problem)
        return found

    @property
    def new_versions(self) -> list[PlannedVersion]:
        return [v for v in self.versions if v.is_new]

    def earners_by_template(self) -> dict[str, list[NewEarner]]:
        found: dict[str, list[NewEarner]] = defaultdict(list)
        for earner in self.earners:
            found[earner.code].append(earner)
        return dict(found)


_CHANGE_PATTERNS = (
    (re.compile(r"^(?P<where>(?:unit|template) \S+): (?P<what>added|removed)$"), None),
    (re.compile(r"^(?P<where>.+?): removed \(was (?P<before>.*)\)$", re.S), "removed"),
    (re.compile(r"^(?P<where>.+?): added (?P<after>.*)$", re.S), "added"),
    (re.compile(r"^(?P<where>.+?): (?P<before>.*) -> (?P<after>.*)$", re.S), "changed"),
)


def describe_changes(lines: list[str]) -> list[Change]:
    """The mappings layer's change lines as rows a page can label in the reader's language."""
    found = []
    for line in lines:
        for pattern, what in _CHANGE_PATTERNS:
            match = pattern.match(line)
            if match:
                parts = match.groupdict()
                found.append(Change(parts["where"], what or parts["what"], parts.get("before"), parts.get("after")))
                break
        else:
            found.append(Change(line, "changed"))
    return found


def check_mapping(text: str, filename: str, previous_text: str | None, *, session: Session | None = None,
                  school: School | None = None, sources: EvaluationSources | None = None) -> MappingCheck:
    """Load ``text``; with the store (``session``, ``school``, ``sources``) also plan the versions and
    run the evaluation dry."""
    try:
        # incomplete templates are not errors here: they are stored and shown as not ready to issue
        ms = load_mapping_text(text, filename, check_completeness=False)
    except MappingError as error:
        return MappingCheck(problems=list(error.problems))
    result = MappingCheck(warnings=list(warnings_of(ms)))
    if previous_text is not None:
        try:
            result.changes = describe_changes(diff(load_mapping_text(previous_text, filename,
                                                                     check_completeness=False), ms))
        except MappingError:
            result.changes = [Change(filename, "unreadable")]
    for unit in ms.units:
        result.rows.append(PreviewRow("unit", unit.code, None, dict(unit.title), [], []))
    for template in ms.templates:
        missing = [(m.element, m.message) for m in completeness(template, ms)]
        result.rows.append(PreviewRow("template", template.code, template.version, dict(template.title),
                                      ms.template_unit_codes(template.code), missing))
        result.titles[template.code] = dict(template.title)
    if session is not None and school is not None:
        result.versions = version_plan(session, school, ms)
        if sources is not None:
            _dry_run(session, school, with_versions(ms, {v.code: v.next for v in result.versions}), sources, result)
    return result


def _dry_run(session: Session, school: School, ms: Any, sources: EvaluationSources, result: MappingCheck) -> None:
    """Who would newly earn what under ``ms``: the real evaluation over each learner's current evidence."""
    try:
        resolved = resolve(ms, sources.course_structure(session, school))
    except MappingError as error:
        result.dry_run_problems = list(error.problems)
        return
    held: dict[int, dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
    for learner_id, code, version, status in session.execute(
            select(Award.learner_id, Award.template_code, Award.template_version, Award.status)
            .where(Award.school_id == school.id)):
        if status != "revoked":
            held[learner_id][code].add(version)
    learners = session.execute(select(Learner.id, Learner.full_name).where(Learner.school_id == school.id)
                               .order_by(Learner.full_name, Learner.id)).all()
    for learner_id, name, facts in _learners_with_facts(session, sources, learners):
        if not facts:
            continue
        result.learners_checked += 1
        mine = held.get(learner_id, {})
        watched = {(code, v) for code, versions in mine.items() for v in versions}
        evaluation = evaluate(resolved, facts, watched)
        for code, earned in sorted(evaluation.earned_templates.items()):
            versions = mine.get(code, set())
            if earned.version in versions:
                continue
            result.earners_total += 1
            if len(result.earners) < DRY_RUN_ROWS:
                result.earners.append(NewEarner(
                    learner_id, name, code, earned.version, "new_version" if versions else "new",
                    needs_approval=earned.annex.issue_policy == "teacher_approval", can_issue=earned.can_issue))


#: learners whose evidence one query reads during a dry run (a school of thousands is not one query
#: per learner, nor one result set of everything)
DRY_RUN_BATCH = 400


def _learners_with_facts(session: Session, sources: EvaluationSources,
                         learners: Sequence[Row[tuple[int, str]]]) -> Iterator[tuple[int, str, list[EvidenceFact]]]:
    for start in range(0, len(learners), DRY_RUN_BATCH):
        batch = learners[start:start + DRY_RUN_BATCH]
        if sources.evidence_facts_many is not None:
            many = sources.evidence_facts_many(session, [learner_id for learner_id, _ in batch])
            for learner_id, name in batch:
                yield learner_id, name, list(many.get(learner_id, ()))
        else:
            for learner_id, name in batch:
                yield learner_id, name, list(sources.evidence_facts(session, learner_id))


def confirmation_token(text: str, check: MappingCheck, current: MappingFile | None) -> str:
    """Ties a "yes, save" to exactly what the administrator was shown: this text, these versions,
    against this current file. Anything else changed in between asks again."""
    parts = [hashlib.sha256(text.encode("utf-8")).hexdigest(), current.sha256 if current is not None else "-",
             *(f"{v.code}:{v.next}" for v in check.new_versions), str(check.earners_total)]
    return hashlib.sha256("|".join(parts).encode("utf-8")).hexdigest()[:32]


def needs_confirmation(check: MappingCheck) -> bool:
    return bool(check.new_versions or check.earners_total)


def save_mapping(session: Session, school_id: int, filename: str, text: str, *, actor: str,
                 restored_from: int | None = None) -> MappingFile:
    """Import through the awards catalogue (stores the file, new unit/template versions where
    something changed, completeness), under the name the mapping already has."""
    school = session.get(School, school_id)
    if school is None:
        raise LookupError(f"school {school_id} does not exist")
    result = import_mapping_file(session, school, text, actor, filename=filename, restored_from=restored_from)
    row = session.get(MappingFile, result.mapping_file_id)
    assert row is not None
    return row


@dataclass
class DiffLine:
    kind: str  # context | added | removed | hunk
    old: int | None
    new: int | None
    text: str


def text_diff(old: str, new: str, context: int = 3) -> list[DiffLine]:
    """A line diff of two versions (difflib's unified diff, with line numbers for the page)."""
    lines: list[DiffLine] = []
    a, b = old.splitlines(), new.splitlines()
    for group in difflib.SequenceMatcher(None, a, b, autojunk=False).get_grouped_opcodes(context):
        first, last = group[0], group[-1]
        lines.append(DiffLine("hunk", first[1] + 1, first[3] + 1, f"@@ -{first[1] + 1},{last[2] - first[1]} "
                                                                    f"+{first[3] + 1},{last[4] - first[3]} @@"))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines += [DiffLine("context", i1 + k + 1, j1 + k + 1, a[i1 + k]) for k in range(i2 - i1)]
                continue
            if tag in ("replace", "delete"):
                lines += [DiffLine("removed", i1 + k + 1, None, a[i1 + k]) for k in range(i2 - i1)]
            if tag in ("replace", "insert"):
                lines += [DiffLine("added", None, j1 + k + 1, b[j1 + k]) for k in range(j2 - j1)]
    return lines


def current_titles(session: Session, school: School) -> dict[str, Any]:
    ms = current_mapping_set(session, school)
    return {t.code: dict(t.title) for t in ms.templates} if ms is not None else {}


def mapping_changes(old_text: str, new_text: str, filename: str) -> list[Change] | None:
    """What changed between two saved versions in the mapping's terms (None: one no longer loads,
    e.g. after the file format grew stricter; the line diff still shows the change)."""
    try:
        return describe_changes(diff(load_mapping_text(old_text, filename, check_completeness=False),
                                     load_mapping_text(new_text, filename, check_completeness=False)))
    except MappingError:
        return None
