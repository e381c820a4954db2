"""The mapping domain: school profile, learning-outcome units, micro-credential templates.

Every Annex I element (Council Recommendation 2022/C 243/02) is declared once, here, per unit or
per template. Controlled values are validated against the Europass vocabularies and stored as
concept URIs; mapping files may use labels.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from credbridge.mappings import vocab
from credbridge.mappings.rules import Rule
from credbridge.mappings.svg_guard import check_svg

_LANG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_DURATION = re.compile(r"^P(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(\d+H)?(\d+M)?(\d+S)?)?$")


def _check_langmap(value: dict[str, str]) -> dict[str, str]:
    if not value:
        raise ValueError("needs at least one language, e.g. {en: ..., hr: ...}")
    for lang, text in value.items():
        if not _LANG.match(lang):
            raise ValueError(f"{lang!r} is not a language code (BCP 47, e.g. 'en', 'hr', 'sl')")
        if not text.strip():
            raise ValueError(f"the {lang!r} text is empty")
    return value


#: text in several languages, {"en": "...", "hr": "..."}
LangMap = Annotated[dict[str, str], AfterValidator(_check_langmap)]


def _vocab_field(name: str):
    def convert(value: Any) -> str:
        return vocab.lookup(name, value).uri

    voc = vocab.get(name)
    schema = {
        "type": ["string", "integer"] if voc.notation_alias else "string",
        "description": f"a concept of {voc.scheme}: its URI or label (any case)",
        "examples": [c.label() for c in voc.concepts][:50],
    }
    return BeforeValidator(convert, json_schema_input_type=Any), WithJsonSchema(schema)


def _country_code(value: Any) -> str:
    return vocab.country(value).alpha2


def _code(value: str) -> str:
    if not _CODE.match(value):
        raise ValueError("a code is 1-64 letters, digits, '.', '_' or '-' and starts with a letter or digit")
    return value


def _duration(value: str) -> str:
    if not _DURATION.match(value) or value in ("P", "PT") or value.endswith("T"):
        raise ValueError("an ISO 8601 duration such as P5Y, P18M or P2Y6M")
    return value


_IMAGE_URI = re.compile(r"^data:(image/png|image/jpeg|image/svg\+xml);base64,([A-Za-z0-9+/]+={0,2})$")
_MAGIC = {"image/png": (b"\x89PNG\r\n\x1a\n",), "image/jpeg": (b"\xff\xd8\xff",)}


def _image(max_bytes: int):
    def check(value: str) -> str:
        match = _IMAGE_URI.match(value.replace("\n", "").replace(" ", ""))
        if not match:
            raise ValueError("an image is a data: URI of a PNG, JPEG or SVG file, e.g. "
                             "'data:image/png;base64,iVBORw0…' (make one with: base64 -w0 badge.png)")
        media_type, encoded = match.groups()
        try:
            data = base64.b64decode(encoded, validate=True)
        except binascii.Error as exc:
            raise ValueError(f"the image's base64 is broken: {exc}") from None
        if len(data) > max_bytes:
            raise ValueError(f"the image has {len(data):,} bytes; at most {max_bytes:,} go into every credential")
        if media_type in _MAGIC and not data.startswith(_MAGIC[media_type]):
            raise ValueError(f"the data is not a {media_type.split('/')[1].upper()} file")
        if media_type == "image/svg+xml":
            check_svg(data)  # an UnsafeSvg is a ValueError: pydantic reports it at the image's line
        return match.group(0)

    schema = {"type": "string", "pattern": _IMAGE_URI.pattern,
              "description": f"a data: URI of a PNG, JPEG or SVG image of at most {max_bytes // 1024} KiB"}
    return AfterValidator(check), WithJsonSchema(schema)


#: the image every credential of a template carries (OB 3.0 achievement.image, ELM display image)
BadgeImage = Annotated[str, *_image(256 * 1024)]

EQFLevel = Annotated[str, *_vocab_field("eqf")]
ISCEDField = Annotated[str, *_vocab_field("isced-f")]
AssessmentType = Annotated[str, *_vocab_field("assessment")]
Mode = Annotated[str, *_vocab_field("mode")]
AccreditationType = Annotated[str, *_vocab_field("accreditation")]
LearningSetting = Annotated[str, *_vocab_field("learning-setting")]
LearningOpportunityType = Annotated[str, *_vocab_field("learning-opportunity")]
CredentialType = Annotated[str, *_vocab_field("credential")]
SupervisionConcept = Annotated[str, *_vocab_field("supervision-verification")]
CountryCode = Annotated[str, BeforeValidator(_country_code), WithJsonSchema(
    {"type": "string", "description": "ISO 3166-1 alpha-2 code (HR, SI, ME…)",
     "examples": sorted(vocab.COUNTRIES)})]
Code = Annotated[str, AfterValidator(_code)]
HttpUrl = Annotated[str, Field(pattern=r"^https?://[^\s]+$")]

WORKBASED = "http://data.europa.eu/snb/learning-assessment/729f3bed4b"
PRESENTIAL = "http://data.europa.eu/snb/learning-assessment/9191af2ed9"
ONLINE = "http://data.europa.eu/snb/learning-assessment/920fbb3cbe"
BLENDED = "http://data.europa.eu/snb/learning-assessment/e92d221e4d"
GENERIC_CREDENTIAL = "http://data.europa.eu/snb/credential/e34929035b"
SHORT_LEARNING_PROGRAMME = "http://data.europa.eu/snb/learning-opportunity/74a4a268e8"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class CreditSystem(StrEnum):
    ECTS = "ECTS"
    ECVET = "ECVET"
    CSVET = "CSVET"  # Croatian credit system for VET (HROO), no Europass concept
    OTHER = "other"


#: the codes a mapping may write as ``system`` besides ``other``
KNOWN_CREDIT_SYSTEMS = frozenset(s.value for s in CreditSystem if s is not CreditSystem.OTHER)

#: Europass education-credit concepts for the systems that have one
CREDIT_FRAMEWORK_URI = {
    CreditSystem.ECTS: "http://data.europa.eu/snb/education-credit/6fcec5c5af",
    CreditSystem.ECVET: "http://data.europa.eu/snb/education-credit/60b314e826",
}


class CreditPoints(_Model):
    system: CreditSystem
    points: Annotated[Decimal, Field(gt=0, max_digits=6, decimal_places=2)]
    #: required for system "other": the national system's name
    label: LangMap | None = None

    @model_validator(mode="after")
    def _other_needs_label(self) -> CreditPoints:
        if self.system is CreditSystem.OTHER:
            if not self.label:
                raise ValueError("a credit system 'other' needs a label naming the national system")
            if self.key.upper() in KNOWN_CREDIT_SYSTEMS:
                raise ValueError(f"write system: {self.key.upper()} instead of a system 'other' labelled {self.key!r}")
        return self

    @property
    def key(self) -> str:
        """What points add up under: the system's code, or a national system's name (English if given),
        so two different national systems are never summed together."""
        if self.system is CreditSystem.OTHER and self.label:
            return self.label.get("en") or next(iter(self.label.values()))
        return self.system.value

    @property
    def framework_uri(self) -> str | None:
        return CREDIT_FRAMEWORK_URI.get(self.system)


class Workload(_Model):
    credits: list[CreditPoints] = Field(default_factory=list)
    hours: Annotated[Decimal, Field(gt=0, max_digits=7, decimal_places=2)] | None = None

    @model_validator(mode="after")
    def _one_system_once(self) -> Workload:
        systems = [c.key for c in self.credits]
        if len(systems) != len(set(systems)):
            raise ValueError("each credit system may appear once")
        if not self.credits and self.hours is None:
            raise ValueError("give credit points and/or hours")
        return self


def credit_totals(workloads: Iterable[Workload | None]) -> dict[str, Decimal]:
    """Credit points per system (``CreditPoints.key``) summed over several units' workloads, for the
    systems every unit gives. A system only some units measure (ECVET on one of three units) would
    state part of the workload as the whole credential's: see :func:`partial_credit_systems`."""
    workloads = list(workloads)
    totals: dict[str, Decimal] = {}
    units_giving: dict[str, int] = {}
    for workload in workloads:
        for cp in workload.credits if workload else ():
            totals[cp.key] = totals.get(cp.key, Decimal(0)) + cp.points
            units_giving[cp.key] = units_giving.get(cp.key, 0) + 1
    return {key: total for key, total in totals.items() if units_giving[key] == len(workloads)}


def partial_credit_systems(workloads: Iterable[Workload | None]) -> list[str]:
    """The credit systems some of the units give but not all: left out of the credential's workload."""
    workloads = list(workloads)
    given = {cp.key for workload in workloads if workload for cp in workload.credits}
    return sorted(given - set(credit_totals(workloads)))


def hours_total(workloads: Iterable[Workload | None]) -> Decimal | None:
    """Notional hours summed over several units' workloads; None when no unit gives hours."""
    given = [w.hours for w in workloads if w and w.hours is not None]
    return sum(given, Decimal(0)) if given else None


class LearningOutcome(_Model):
    statement: LangMap
    esco_skill: Annotated[str, Field(pattern=r"^http://data\.europa\.eu/esco/skill/[0-9a-f-]{36}$")] | None = None


class NQFLevel(_Model):
    level: Annotated[str, Field(min_length=1, max_length=16)]
    country: CountryCode

    @field_validator("level", mode="before")
    @classmethod
    def _int_ok(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int | Decimal) and not isinstance(v, bool) else v


class QualityAssurance(_Model):
    type: AccreditationType
    accrediting_body: LangMap
    decision_reference: str | None = None
    decision_url: HttpUrl | None = None


class GradeBand(_Model):
    min_percent: Annotated[Decimal, Field(ge=0, le=100)]
    label: LangMap


class GradingScheme(_Model):
    title: LangMap
    #: how to combine the percentages of the graded evidence that proved the unit
    basis: Literal["mean", "min", "max"] = "mean"
    #: bands from the highest to the lowest; without bands the grade is the percentage itself
    bands: list[GradeBand] = Field(default_factory=list)

    @field_validator("bands")
    @classmethod
    def _descending(cls, bands: list[GradeBand]) -> list[GradeBand]:
        mins = [b.min_percent for b in bands]
        if mins != sorted(mins, reverse=True) or len(set(mins)) != len(mins):
            raise ValueError("bands must be listed from the highest min_percent to the lowest, without repeats")
        return bands


class Unit(_Model):
    code: Code
    title: LangMap
    description: LangMap | None = None
    learning_outcomes: list[LearningOutcome] = Field(default_factory=list)
    workload: Workload | None = None
    eqf_level: EQFLevel | None = None
    nqf: NQFLevel | None = None
    isced_f: ISCEDField | None = None
    #: declared types of assessment; derivation refines them from the evidence
    assessment_types: list[AssessmentType] = Field(default_factory=list)
    #: declared form of participation; derivation refines it from courses and evidence
    mode: Mode | None = None
    learning_setting: LearningSetting | None = None
    #: declared supervision & ID verification (when no evidence tells)
    supervision: SupervisionConcept | None = None
    quality_assurance: QualityAssurance | None = None
    prerequisites: LangMap | None = None
    grading: GradingScheme | None = None
    #: reference to a standard in a national register (HR: CROQF register standard)
    register_standard: str | None = None
    evidence: Rule

    @field_validator("assessment_types", mode="before")
    @classmethod
    def _one_ok(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


class IssuePolicy(StrEnum):
    AUTOMATIC = "automatic"
    TEACHER_APPROVAL = "teacher_approval"


def _oib_valid(value: str) -> bool:
    """Croatian OIB: 11 digits, the last an ISO 7064 MOD 11,10 check digit (hand-written: 6 lines,
    no library in the venv validates it)."""
    if len(value) != 11 or not value.isdigit():
        return False
    a = 10
    for digit in value[:10]:
        a = (a + int(digit)) % 10 or 10
        a = (a * 2) % 11
    return (11 - a) % 10 == int(value[10])


class Identifier(_Model):
    #: e.g. "OIB" (HR personal identification number of legal persons), "VAT", "eIDAS", "matični broj"
    scheme: Annotated[str, Field(min_length=1)]
    value: Annotated[str, Field(min_length=1)]

    @model_validator(mode="after")
    def _check_known_schemes(self) -> Identifier:
        if self.scheme.upper() == "OIB" and not _oib_valid(self.value):
            raise ValueError(f"{self.value!r} is not a valid OIB (11 digits with an ISO 7064 MOD 11,10 check digit)")
        return self


ProviderType = Literal["education_institution", "adult_education_provider", "other"]


class AwardingBody(_Model):
    legal_name: LangMap
    country: CountryCode
    provider_type: ProviderType = "education_institution"
    identifiers: list[Identifier] = Field(default_factory=list)
    homepage: HttpUrl | None = None
    quality_assurance: QualityAssurance | None = None


class School(_Model):
    code: Code
    legal_name: LangMap
    country: CountryCode
    identifiers: list[Identifier] = Field(default_factory=list)
    homepage: HttpUrl | None = None
    #: institutional QA (accreditation of the school itself)
    quality_assurance: QualityAssurance | None = None
    #: staff check learners' identity documents at supervised exams
    checks_id_at_supervised_exams: bool = False
    #: Montenegro lets education institutions and adult-education providers award micro-credentials
    provider_type: ProviderType = "education_institution"
    default_language: Annotated[str, Field(pattern=r"^[a-z]{2,3}$")] = "en"

    def as_awarding_body(self) -> AwardingBody:
        return AwardingBody(legal_name=self.legal_name, country=self.country, provider_type=self.provider_type,
                            identifiers=self.identifiers,
                            homepage=self.homepage, quality_assurance=self.quality_assurance)


class Template(_Model):
    code: Code
    version: Annotated[int, Field(ge=1)]
    title: LangMap
    description: LangMap | None = None
    units: list[Code] = Field(default_factory=list)
    #: "school" = the school profile; or an explicit awarding body (e.g. a partner in another country)
    awarding_body: Literal["school"] | AwardingBody = "school"
    country: CountryCode | None = None
    #: parent templates this one stacks into (stand-alone when empty)
    part_of: list[Code] = Field(default_factory=list)
    #: ISO 8601 duration, e.g. P5Y; none = no expiry
    validity: Annotated[str, AfterValidator(_duration)] | None = None
    issue_policy: IssuePolicy = IssuePolicy.AUTOMATIC
    outputs: list[Literal["ob3-jwt", "ob3-di", "elm"]] = Field(default_factory=lambda: ["ob3-jwt"])
    languages: list[Annotated[str, Field(pattern=_LANG.pattern)]] = Field(default_factory=lambda: ["en"])
    #: overrides the level derived from the units (the highest unit level)
    eqf_level: EQFLevel | None = None
    nqf: NQFLevel | None = None
    isced_f: ISCEDField | None = None
    quality_assurance: QualityAssurance | None = None
    credential_type: CredentialType = GENERIC_CREDENTIAL
    learning_opportunity_type: LearningOpportunityType = SHORT_LEARNING_PROGRAMME
    #: sector (Montenegro requires a defined sector)
    sector: str | None = None
    #: reference to the qualification standard(s) in a national register (HR: CROQF register)
    register_standard: str | None = None
    further_information: LangMap | None = None
    #: the credential's face; without one credbridge draws a badge (title, EQF level, the school's brand
    #: colour and logo from the admin console)
    image: BadgeImage | None = None

    @field_validator("part_of", mode="before")
    @classmethod
    def _one_ok(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @property
    def stand_alone(self) -> bool:
        return not self.part_of


#: supervision & ID-verification levels an activity can be declared with (``derive.SupervisionLevel`` keys)
SUPERVISION_LEVELS = ("supervised_onsite_id", "supervised_online_id", "supervised_no_id", "unsupervised_id",
                      "unsupervised_no_id")


class ActivityDeclaration(_Model):
    """How an activity was supervised, where Moodle cannot know it (an exam sat in the room)."""

    supervision: Literal["supervised_onsite_id", "supervised_online_id", "supervised_no_id", "unsupervised_id",
                         "unsupervised_no_id"]
    #: what happened, in the school's words; it goes into the credential as the reason
    note: Annotated[str, Field(min_length=3, max_length=300)]


class CourseDeclaration(_Model):
    """What the admin declares about a Moodle course that Moodle does not know."""

    mode: Mode | None = None
    learning_setting: LearningSetting | None = None
    #: by activity idnumber or name (as in rules): e.g. {"Final exam": {supervision: supervised_onsite_id,
    #: note: "sat in the exam room with ID check"}}
    activities: dict[str, ActivityDeclaration] = Field(default_factory=dict)


class MappingSet(_Model):
    school: School
    #: keyed by course shortname or idnumber
    courses: dict[str, CourseDeclaration] = Field(default_factory=dict)
    units: list[Unit] = Field(default_factory=list)
    templates: list[Template] = Field(default_factory=list)

    # (path tuple) -> (line, column); filled by the loader, used to place later errors
    _locations: dict[tuple[Any, ...], tuple[int, int]] = PrivateAttr(default_factory=dict)
    _filename: str = PrivateAttr(default="<memory>")
    _warnings: list[Any] = PrivateAttr(default_factory=list)

    def unit(self, code: str) -> Unit:
        return self._units_by_code()[code]

    def template(self, code: str) -> Template:
        return next(t for t in self.templates if t.code == code)

    def _units_by_code(self) -> dict[str, Unit]:
        return {u.code: u for u in self.units}

    def children(self, template_code: str) -> list[Template]:
        return [t for t in self.templates if template_code in t.part_of]

    def template_unit_codes(self, template_code: str) -> list[str]:
        """Own units plus the units of every template stacked into it, in order, without repeats."""
        seen: dict[str, None] = {}
        stack = [template_code]
        visited: set[str] = set()
        while stack:
            code = stack.pop(0)
            if code in visited:
                continue
            visited.add(code)
            tpl = self.template(code)
            for u in tpl.units:
                seen.setdefault(u, None)
            stack.extend(c.code for c in self.children(code))
        return list(seen)

    def awarding_body(self, template: Template) -> AwardingBody:
        return self.school.as_awarding_body() if template.awarding_body == "school" else template.awarding_body

    def template_country(self, template: Template) -> str:
        return template.country or self.awarding_body(template).country

    def location(self, *path: Any) -> tuple[str, int, int]:
        """File, line and column of the node at ``path`` (or its nearest ancestor), 1-based."""
        p = tuple(path)
        while p and p not in self._locations:
            p = p[:-1]
        line, col = self._locations.get(p, (1, 1))
        return self._filename, line, col
