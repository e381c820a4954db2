"""Read-only queries behind the pages.

The course matrix: awards and credentials give the decided states; for the rest, a read-only run of
the mappings evaluation over each learner's current evidence tells achieved units (and when), and
what is still missing. Without evaluation sources, current evidence rows tell "in progress" from
"not started".
"""

from __future__ import annotations

import logging
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from babel.core import Locale, UnknownLocaleError
from babel.numbers import format_decimal, format_percent
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, defer

from credbridge.connector.awards.decide import EvaluationSources, resolved_mappings
from credbridge.connector.issuing.formats.errors import ContentError
from credbridge.connector.issuing.formats.frameworks import national_framework
from credbridge.connector.store.models import (
    Award,
    Course,
    Credential,
    Enrolment,
    Evidence,
    Learner,
    LmsConnection,
    ResourceLinkTemplate,
    School,
    SyncRun,
    TemplateDefinition,
    UnitDefinition,
)
from credbridge.connector.sync.facts import facts_for
from credbridge.lti.launch.claims import numeric_id
from credbridge.lti.pages import explain, vocabulary
from credbridge.mappings.evaluate import evaluate
from credbridge.mappings.evidence import EvidenceFact

log = logging.getLogger(__name__)

#: cell states, in the order the legend and the charts show them
STATES = ("not_started", "in_progress", "achieved", "pending_approval", "approved", "held", "issued",
          "failed", "flagged", "revoked")
_AWARD_STATE = {"pending_approval": "pending_approval", "approved": "approved", "issuing": "approved",
                "held": "held", "issued": "issued", "failed": "failed", "dead": "failed",
                "revoked": "revoked", "flagged": "flagged"}
#: what the awards service allows from each award status (connector/awards/actions.py)
ACTIONS_BY_STATUS = {
    "pending_approval": ("approve", "hold", "issue_now", "revoke"),
    "held": ("approve", "issue_now", "revoke"),
    "approved": ("hold", "issue_now", "revoke"),
    "failed": ("hold", "issue_now", "revoke"),
    "dead": ("hold", "revoke"),
    "issuing": ("issue_now", "revoke"),
    "issued": ("revoke",),
    "flagged": ("revoke",),
}


@dataclass
class Column:
    kind: str  # template | unit
    code: str
    version: int
    title: str  # in the reader's language where the mapping file gives it
    lang: str | None = None  # the title's language


@dataclass
class Cell:
    state: str
    date: datetime | None = None
    #: what is still to do, for the presentation step to say (explain.sentence)
    needs: list[explain.Need] = field(default_factory=list)
    #: the same in the domain's own terms, for the "details" toggle
    technical: list[str] = field(default_factory=list)
    award: Award | None = None
    credentials: list[Credential] = field(default_factory=list)
    annex: list[AnnexRow] = field(default_factory=list)

    @property
    def actions(self) -> tuple[str, ...]:
        return ACTIONS_BY_STATUS.get(self.award.status, ()) if self.award is not None else ()


@dataclass
class AnnexRow:
    element: str
    value: str
    source: explain.Source | None = None
    #: the language of a value written in the mapping file, when it is one language map
    lang: str | None = None


@dataclass
class Matrix:
    course: Course
    columns: list[Column]
    learners: list[Learner]
    cells: dict[tuple[int, str], Cell]
    last_synced: datetime | None = None
    #: learners whose enrolment is suspended or ended in Moodle (shown with that state)
    suspended: frozenset[int] = frozenset()

    def cell(self, learner_id: int, code: str) -> Cell:
        return self.cells.get((learner_id, code)) or Cell("not_started")


def title_text(title: Any, locale: str = "en") -> str:
    """A language map (``{"en": …, "hr": …}``) in the reader's language, else English, else any."""
    if isinstance(title, dict):
        language = locale.split("_")[0]
        for key in (language, "en"):
            if title.get(key):
                return str(title[key])
        return str(next(iter(title.values()), ""))
    return "" if title is None else str(title)


def find_course(session: Session, school_id: int, context_id: str | None, connection_id: int) -> Course | None:
    """The school's course on this connection whose Moodle id is the LTI context id."""
    moodle_id = numeric_id(context_id)
    if moodle_id is None:  # not a Moodle course id, or beyond any database id
        return None
    query = (select(Course).join(LmsConnection, Course.connection_id == LmsConnection.id)
             .where(LmsConnection.school_id == school_id, Course.moodle_id == moodle_id,
                    Course.connection_id == connection_id))
    return session.scalars(query).first()


def _mentions_course(node: Any, keys: set[str]) -> bool:
    if isinstance(node, dict):
        course = node.get("course")
        if course is not None and str(course) in keys:
            return True
        return any(_mentions_course(v, keys) for v in node.values())
    if isinstance(node, list):
        return any(_mentions_course(v, keys) for v in node)
    return False


def _course_keys(course: Course) -> set[str]:
    return {k for k in (course.shortname, course.idnumber, str(course.moodle_id)) if k}


def _current(session: Session, model: Any, school_id: int) -> list[Any]:
    return list(session.scalars(select(model).where(model.school_id == school_id, model.is_current.is_(True))
                                .order_by(model.code)))


def course_columns(session: Session, school_id: int, course: Course, context_id: str | None,
                   locale: str = "en") -> list[Column]:
    """Units whose evidence rules name the course, templates made of them or attached to its links."""
    keys = _course_keys(course)
    units = [u for u in _current(session, UnitDefinition, school_id) if _mentions_course(u.definition, keys)]
    unit_codes = {u.code for u in units}
    attached = set(session.scalars(select(ResourceLinkTemplate.template_code)
                                   .where(ResourceLinkTemplate.context_id == str(context_id))))
    candidates = _current(session, TemplateDefinition, school_id)
    chosen: set[str] = set()
    for tpl in candidates:
        parts = set(map(str, (tpl.definition or {}).get("units") or []))
        if tpl.code in attached or parts & unit_codes or _mentions_course(tpl.definition, keys):
            chosen.add(tpl.code)
    # a template stacked into one of these (e.g. a shared basics unit) is part of what the course awards
    for tpl in candidates:
        if set(map(str, (tpl.definition or {}).get("part_of") or [])) & chosen:
            chosen.add(tpl.code)
    templates = [t for t in candidates if t.code in chosen]

    def column(kind: str, row: Any) -> Column:
        title = (row.definition or {}).get("title")
        return Column(kind, row.code, row.version, title_text(title, locale) or row.title, language_of(title, locale))

    return [column("template", t) for t in templates] + [column("unit", u) for u in units]


def shown_enrolment() -> Any:
    """Enrolments a teacher sees in the course matrix: active ones, and those suspended or ended in Moodle
    (shown with that state); not those of learners who left the course."""
    return or_(Enrolment.active.is_(True), Enrolment.state == "suspended")


def course_learners(session: Session, course: Course, search: str = "") -> list[Learner]:
    query = (select(Learner).join(Enrolment, Enrolment.learner_id == Learner.id)
             .where(Enrolment.course_id == course.id, shown_enrolment())
             .order_by(Learner.full_name))
    learners = list(session.scalars(query))
    needle = search.strip().casefold()
    return [lr for lr in learners if needle in lr.full_name.casefold()] if needle else learners


#: Annex I elements in the order of the Recommendation, as keys of the award snapshot
ANNEX_KEYS = ("title", "awarding_body", "country", "learning_outcomes", "credits", "hours", "eqf_level", "nqf",
              "assessment_types", "mode", "quality_assurance", "prerequisites", "supervision", "grades",
              "part_of", "further_information", "units")


def language_of(title: Any, locale: str = "en") -> str | None:
    """The language :func:`title_text` picks from a language map (for ``lang`` attributes)."""
    if not isinstance(title, dict) or not title:
        return None
    language = locale.split("_")[0]
    for key in (language, "en"):
        if title.get(key):
            return key
    return str(next(iter(title)))


def annex_rows(snapshot: dict[str, Any] | None, locale: str = "en",
               facts_by_id: dict[str, EvidenceFact] | None = None) -> list[AnnexRow]:
    """The Annex I values an award will carry, in the reader's language, with where each came from.

    Values derived from evidence are kept as ``{"value", "source", "provenance": [{rule, reason,
    evidence_ids}]}``; every other value was written in the mapping file. Unit codes never show:
    units, grades and stacking name units and credentials by their titles.
    """
    snapshot = snapshot or {}
    titles = {str(u.get("code")): u.get("title") for u in snapshot.get("units") or [] if isinstance(u, dict)}
    declared: explain.Source | None = None  # "written in the mapping file": translated once for all such values
    rows = []
    for name in ANNEX_KEYS:
        raw = snapshot.get(name)
        if raw in (None, "", [], {}):
            continue
        derived = explain.is_derived(raw)
        value = raw["value"] if derived else raw
        if value in (None, "", [], {}):
            continue
        if name == "grades" and isinstance(value, dict):
            text = "; ".join(f"{title_text(titles.get(code), locale) or code}: {_plain(grade, locale)}"
                             for code, grade in value.items())
        else:
            text = _special(name, value, locale) or _plain(value, locale)
        if text:
            if derived:
                source = explain.source_phrase(raw, facts_by_id)
            else:
                declared = declared or explain.source_phrase(raw)
                source = declared
            rows.append(AnnexRow(name, text, source, _language(value, locale)))
    return rows


def _language(value: Any, locale: str) -> str | None:
    """The language of a value written in the mapping file, when it is one language map."""
    if isinstance(value, dict) and "legal_name" in value:
        value = value["legal_name"]
    if isinstance(value, dict) and value and all(isinstance(k, str) and _LANGUAGE_TAG.fullmatch(k) for k in value) \
            and all(isinstance(v, str) for v in value.values()):
        return language_of(value, locale)
    return None


#: a language map's keys are language tags (``hr``, ``sr-Latn``); credits (``{"CSVET": "5"}``) or an NQF
#: level (``{"level": …}``) are not, and must not become a ``lang`` attribute
_LANGUAGE_TAG = re.compile(r"[a-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*")


def _special(name: str, value: Any, locale: str) -> str | None:
    """Elements whose stored form is a code: the country by its name in the reader's language, the
    NQF level with its framework's acronym (``HKO 4.1``), credits and hours as numbers."""
    if name == "country" and isinstance(value, str) and len(value) == 2:
        try:
            return Locale.parse(locale).territories.get(value.upper()) or value
        except (ValueError, UnknownLocaleError):
            return value
    if name == "nqf" and isinstance(value, dict) and value.get("level") and value.get("country"):
        try:
            return f"{national_framework(str(value['country'])).acronym} {value['level']}"
        except ContentError:
            return None
    if name == "credits" and isinstance(value, dict):
        return ", ".join(f"{_number(str(points), locale)} {system}" for system, points in value.items())
    if name == "hours" and isinstance(value, str | int | float):
        return _number(str(value), locale)
    if name == "supervision" and isinstance(value, dict) and value.get("key"):
        label = vocabulary.SUPERVISION_KEYS.get(str(value["key"]))
        return str(label) if label is not None else None
    return None


def concept_label(uri: str, locale: str = "en") -> str:
    """A Europass vocabulary URI as its label in the reader's language (English when not translated)."""
    return vocabulary.concept_label(uri)


_DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")


def _number(text: str, locale: str) -> str:
    """Numbers as the reader writes them (84,5 in Croatian), via babel."""
    try:
        return format_decimal(Decimal(text).normalize(), locale=locale, decimal_quantization=False)
    except (ArithmeticError, ValueError, UnknownLocaleError):
        return text


def _plain(value: Any, locale: str) -> str:
    if vocabulary.is_concept(value):
        return concept_label(value, locale)
    if isinstance(value, str) and _DECIMAL.match(value) and "." in value:
        return _number(value, locale)
    if isinstance(value, dict) and "legal_name" in value:
        return _plain(value["legal_name"], locale)
    if isinstance(value, dict) and "percent" in value:
        label = _plain(value.get("label"), locale)
        try:
            shown = format_percent(Decimal(str(value["percent"])) / 100, locale=locale, decimal_quantization=False)
        except (ArithmeticError, ValueError, UnknownLocaleError):
            shown = f"{value['percent']} %"
        return shown + (f" ({label})" if label else "")
    if isinstance(value, dict) and "accrediting_body" in value:
        parts = [_plain(value.get("type"), locale), _plain(value["accrediting_body"], locale),
                 _plain(value.get("decision_reference"), locale)]
        return " — ".join(p for p in parts if p)
    if isinstance(value, dict) and value and all(isinstance(k, str) and len(k) <= 7 for k in value) \
            and all(isinstance(v, str) for v in value.values()) and ("en" in value or locale.split("_")[0] in value):
        return title_text(value, locale)
    if isinstance(value, dict) and "statement" in value:
        return _plain(value["statement"], locale)
    if isinstance(value, dict) and "title" in value and ("code" in value or "outcomes" in value):
        return _plain(value["title"], locale)  # a unit or a credential by its title, never its code
    if isinstance(value, dict) and "label" in value and isinstance(value["label"], str):
        return value["label"]
    if isinstance(value, list | tuple):
        return "; ".join(_plain(v, locale) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_plain(v, locale)}" for k, v in value.items() if v not in (None, "", [], {})
                         and k not in ("evidence_ids", "uri"))
    return "" if value is None else str(value)


def _snapshot_units(snapshot: dict[str, Any] | None) -> dict[str, datetime | None]:
    found: dict[str, datetime | None] = {}
    for unit in (snapshot or {}).get("units") or []:
        if isinstance(unit, dict) and unit.get("code"):
            found[str(unit["code"])] = _parse_date(unit.get("achieved_at"))
        elif isinstance(unit, str):
            found[unit] = None
    return found


def _parse_date(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass
class Progress:
    """Cells of what has no award yet, and each learner's evidence by id (to name provenance)."""

    cells: dict[tuple[int, str], Cell] = field(default_factory=dict)
    facts: dict[int, dict[str, EvidenceFact]] = field(default_factory=dict)


def learner_progress(session: Session, school_id: int, learner_ids: list[int],
                     sources: EvaluationSources | None, *, columns: list[Column] | None = None,
                     wwwroots: explain.Wwwroots | None = None) -> Progress:
    """Cells for what has no award yet, from a read-only run of the mappings evaluation over the
    learner's current evidence: units achieved (with the date), in progress (with what is missing,
    as :class:`explain.Need` values naming the Moodle activities)."""
    if sources is None or not learner_ids:
        return Progress()
    school = session.get(School, school_id)
    try:
        resolved = resolved_mappings(session, school, sources) if school is not None else None
    except Exception:  # a mapping that no longer resolves must not take the teacher's page down
        log.exception("progress: the school's mappings do not resolve")
        return Progress()
    if resolved is None:
        return Progress()
    shown = {c.code: c.title for c in columns or []}
    own_template = {}
    for tpl in sorted(resolved.mapping_set.templates, key=lambda t: len(t.units)):
        if tpl.code in shown:
            for unit in tpl.units:
                own_template.setdefault(unit, tpl.code)
    found = Progress()
    # one query for the whole course when the sources can (a query per learner was most of the page)
    batch = sources.evidence_facts_many(session, learner_ids) if sources.evidence_facts_many else None
    for learner_id in learner_ids:
        facts = list(batch[learner_id] if batch is not None else sources.evidence_facts(session, learner_id))
        found.facts[learner_id] = {f.id: f for f in facts}
        index = explain.evidence_index(facts)
        started = any(f.shows_work for f in facts)
        result = evaluate(resolved, facts, set())
        cells = found.cells
        for code, unit in result.achieved_units.items():
            cells[(learner_id, code)] = Cell("achieved", unit.achieved_at)
        for code, progress in result.progress.items():
            if (learner_id, code) not in cells:
                cells[(learner_id, code)] = Cell("in_progress" if started else "not_started",
                                                 needs=explain.unit_needs(resolved, code, index, wwwroots or {}),
                                                 technical=list(progress.missing))
        for code, earned in result.earned_templates.items():
            blocked = [explain.Need("blocked", count=len(earned.missing))] if earned.missing else []
            cells[(learner_id, code)] = Cell("achieved", earned.achieved_at, needs=blocked,
                                             technical=[str(m) for m in earned.missing])
        for code, tpl in result.template_progress.items():
            if (learner_id, code) not in cells:
                started = tpl.units_achieved or any(
                    (cell := cells.get((learner_id, u))) is not None and cell.state == "in_progress"
                    for u in tpl.units_missing)
                state = "in_progress" if started else "not_started"
                titles = {u: shown.get(u, u) for u in tpl.units_missing}
                cells[(learner_id, code)] = Cell(state, needs=explain.template_needs(
                    tpl.units_missing, titles, {k: v for k, v in shown.items() if k != code}, own_template))
    return found


def latest_awards(session: Session, learner_ids: Iterable[int]) -> dict[tuple[int, str], Award]:
    found: dict[tuple[int, str], Award] = {}
    ids = list(learner_ids)
    if not ids:
        return found
    for award in session.scalars(select(Award).where(Award.learner_id.in_(ids))
                                 .order_by(Award.template_version, Award.id)):
        found[(award.learner_id, award.template_code)] = award  # the newest version wins
    return found


def credentials_of(session: Session, award_ids: Iterable[int], *, documents: bool = True
                   ) -> dict[int, list[Credential]]:
    """The credentials of these awards; without ``documents`` the signed documents (kilobytes each) are
    not read: the course matrix only links to each credential."""
    found: dict[int, list[Credential]] = defaultdict(list)
    ids = list(award_ids)
    if ids:
        query = select(Credential).where(Credential.award_id.in_(ids)).order_by(Credential.format)
        if not documents:
            query = query.options(defer(Credential.document, raiseload=True))
        for credential in session.scalars(query):
            found[credential.award_id].append(credential)
    return found


def _learners_with_work(session: Session, course_id: int, learner_ids: list[int]) -> set[int]:
    """Learners with current evidence in the course that shows they did something."""
    if not learner_ids:
        return set()
    rows = session.scalars(select(Evidence).where(
        Evidence.course_id == course_id, Evidence.learner_id.in_(learner_ids), Evidence.is_current.is_(True),
        Evidence.withdrawn.is_(False)).order_by(Evidence.id)).all()
    return {row.learner_id for row, fact in zip(rows, facts_for(session, rows), strict=True) if fact.shows_work}


def course_matrix(session: Session, school_id: int, course: Course, context_id: str | None, *,
                  search: str = "", locale: str = "en", sources: EvaluationSources | None = None,
                  learner_id: int | None = None) -> Matrix:
    columns = course_columns(session, school_id, course, context_id, locale)
    learners = course_learners(session, course, search)
    if learner_id is not None:
        learners = [lr for lr in learners if lr.id == learner_id]
    learner_ids = [lr.id for lr in learners]
    awards = latest_awards(session, learner_ids)
    credentials = credentials_of(session, [a.id for a in awards.values()], documents=False)
    progress = learner_progress(session, school_id, learner_ids, sources, columns=columns,
                                wwwroots=wwwroots(session, school_id, course.connection_id))
    # the course's own evidence tells "in progress" only for a cell that neither an award nor the
    # evaluation decided: read once, and only when such a cell exists (with evaluation sources,
    # every column the mappings resolve is decided by them, so usually never)
    active_learners: list[set[int]] = []

    def active() -> set[int]:
        if not active_learners:
            active_learners.append(_learners_with_work(session, course.id, learner_ids))
        return active_learners[0]

    awards_of: dict[int, list[Award]] = defaultdict(list)
    for (lid, _code), award in awards.items():
        awards_of[lid].append(award)
    cells: dict[tuple[int, str], Cell] = {}
    for learner in learners:
        units_done: dict[str, datetime | None] = {}
        for award in awards_of.get(learner.id, ()):
            if award.status not in ("revoked",):
                units_done.update(_snapshot_units(award.snapshot))
        for column in columns:
            key = (learner.id, column.code)
            award = awards.get(key) if column.kind == "template" else None
            if award is not None:
                cells[key] = Cell(_AWARD_STATE.get(award.status, "in_progress"),
                                  award.achieved_at or award.decided_at, award=award,
                                  credentials=credentials.get(award.id, []),
                                  annex=annex_rows(award.snapshot, locale, progress.facts.get(learner.id)))
            elif key in progress.cells:
                cells[key] = progress.cells[key]
            elif column.kind == "unit" and column.code in units_done:
                cells[key] = Cell("achieved", units_done[column.code])
            elif learner.id in active():
                cells[key] = Cell("in_progress")
            else:
                cells[key] = Cell("not_started")
    suspended = frozenset(session.scalars(select(Enrolment.learner_id).where(
        Enrolment.course_id == course.id, Enrolment.state == "suspended"))) if learners else frozenset()
    return Matrix(course, columns, learners, cells, last_synced(session, course.connection_id), suspended)


def wwwroots(session: Session, school_id: int, connection_id: int | None = None) -> explain.Wwwroots:
    """Moodle course id -> the address of the Moodle it is on (the page's own connection first)."""
    rows = session.execute(select(Course.moodle_id, LmsConnection.base_url, LmsConnection.id)
                           .join(LmsConnection, Course.connection_id == LmsConnection.id)
                           .where(LmsConnection.school_id == school_id)).all()
    found: explain.Wwwroots = {}
    for moodle_id, url, _conn in sorted(rows, key=lambda r: r[2] != connection_id):
        found.setdefault(moodle_id, url)
    return found


def last_synced(session: Session, connection_id: int | None) -> datetime | None:
    """When the course's Moodle was last read successfully (an incomplete sync read all Moodle let it read)."""
    if connection_id is None:
        return None
    found = session.scalar(select(func.max(SyncRun.finished_at)).where(SyncRun.connection_id == connection_id,
                                                                       SyncRun.status.in_(("ok", "incomplete"))))
    return found if found is None or found.tzinfo else found.replace(tzinfo=UTC)


def state_counts(matrix: Matrix) -> list[tuple[Column, Counter[str]]]:
    """Per column, how many learners are in each state (for the stacked bars)."""
    return [(c, Counter(matrix.cell(lr.id, c.code).state for lr in matrix.learners)) for c in matrix.columns]


def weekly_issuance(session: Session, school_id: int, weeks: int = 12,
                    now: datetime | None = None) -> list[tuple[datetime, int]]:
    """Credentials issued per ISO week (one per award, whatever the number of formats)."""
    now = now or datetime.now(UTC)
    start_of_week = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    first = start_of_week - timedelta(weeks=weeks - 1)
    rows = session.execute(select(Credential.award_id, func.min(Credential.issued_at))
                           .where(Credential.school_id == school_id, Credential.issued_at >= first)
                           .group_by(Credential.award_id)).all()
    buckets = Counter()
    for _award_id, issued_at in rows:
        issued_at = issued_at if issued_at.tzinfo else issued_at.replace(tzinfo=UTC)
        buckets[(issued_at - first).days // 7] += 1
    return [(first + timedelta(weeks=i), buckets.get(i, 0)) for i in range(weeks)]


def learner_awards(session: Session, learner_id: int) -> list[tuple[Award, list[Credential]]]:
    awards = list(session.scalars(select(Award).where(Award.learner_id == learner_id)
                                  .order_by(Award.decided_at.desc(), Award.id.desc())))
    credentials = credentials_of(session, [a.id for a in awards])
    return [(a, credentials.get(a.id, [])) for a in awards]


def learner_courses(session: Session, learner_id: int) -> list[Course]:
    return list(session.scalars(select(Course).join(Enrolment, Enrolment.course_id == Course.id)
                                .where(Enrolment.learner_id == learner_id, Enrolment.active.is_(True))
                                .order_by(Course.fullname)))
