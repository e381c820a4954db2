"""What a credential says, fully resolved: the one input of every document builder.

The issuing pipeline fills a :class:`CredentialContent` from the mappings evaluation and the store;
the builders (``ob3.build_ob3``, ``elm.build_elm``) only reshape it. Controlled-vocabulary values
are :class:`Concept` (URI + English label) using the Europass vocabularies
(``http://data.europa.eu/snb/...``) named in docs/credential-formats.md.

Language maps (``LangMap``) are ``{"hr": "...", "en": "..."}`` keyed by ISO 639-1 codes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from credbridge.connector.issuing.formats.errors import ContentError
from credbridge.connector.issuing.formats.images import Image

LangMap = Mapping[str, str]

ECTS = "http://data.europa.eu/snb/education-credit/6fcec5c5af"
ECVET = "http://data.europa.eu/snb/education-credit/60b314e826"

_URN_UUID = re.compile(r"^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_ALPHA2 = re.compile(r"^[A-Z]{2}$")
_LANG = re.compile(r"^[a-z]{2}$")


@dataclass(frozen=True)
class Concept:
    """A controlled-vocabulary value: its URI and an English label."""

    uri: str
    label: str


@dataclass(frozen=True)
class Learner:
    moodle_id: int
    full_name: str
    given_name: str
    family_name: str
    email: str
    idnumber: str = ""
    # A DID or other URI the learner gave us; without one the OB 3.0 subject gets a pseudonymous
    # urn:uuid derived from the issuer DID and the Moodle id (stable, no personal data in it).
    subject_id: str | None = None


@dataclass(frozen=True)
class OrgIdentifier:
    """A registry identifier of the awarding body, e.g. ``OrgIdentifier("OIB", "12345678901")``."""

    scheme: str
    value: str


@dataclass(frozen=True)
class Issuer:
    legal_name: LangMap
    country: str  # ISO 3166-1 alpha-2
    homepage: str
    did: str
    identifiers: tuple[OrgIdentifier, ...] = ()
    email: str | None = None
    address: str | None = None


@dataclass(frozen=True)
class LearningOutcome:
    text: LangMap
    esco_uri: str | None = None
    esco_label: str | None = None


@dataclass(frozen=True)
class CreditPoints:
    # Concept(ECTS, "European Credit Transfer System"), or a credbridge concept for a national
    # system such as CSVET (see frameworks.CREDIT_SYSTEMS)
    framework: Concept
    points: Decimal


@dataclass(frozen=True)
class NqfLevel:
    """A national qualifications framework level; build it with ``frameworks.nqf_level``."""

    level: str  # as the framework writes it: "4", "4.1"
    country: str  # ISO 3166-1 alpha-2 of the national framework
    framework: str  # e.g. "Croatian Qualifications Framework (HKO)"
    label: str  # e.g. "HKO level 4"
    local_uri: str  # credbridge concept of the level, used where no Europass concept is known
    qdr_uri: str | None = None  # the Europass QDR concept (http://data.europa.eu/snb/qdr/c_…) when known

    @property
    def uri(self) -> str:
        return self.qdr_uri or self.local_uri


@dataclass(frozen=True)
class AssessmentType:
    uri: str
    label: str
    provenance: str  # how the assessment was evidenced (e.g. "Moodle quiz 'Final exam', passed")


@dataclass(frozen=True)
class QualityAssurance:
    type: Concept  # http://data.europa.eu/snb/accreditation/<id>
    accrediting_body: str
    decision_url: str | None = None  # None when the mapping gives none: never a stand-in address
    decision_reference: str | None = None


@dataclass(frozen=True)
class Grade:
    value: str
    scheme_label: str
    result_type: str = "LetterGrade"  # OB 3.0 ResultType enumeration or an ext: term
    lang: str = "en"  # the language of ``value`` when it is a label ("odličan" is hr)


@dataclass(frozen=True)
class Stackability:
    """Stand-alone when ``parent_code`` is None; otherwise part of a larger credential (and of the
    ``more`` ones, when it stacks into several)."""

    parent_code: str | None = None
    parent_title: LangMap | None = None
    parent_url: str | None = None
    parent_version: str | None = None
    more: tuple[Stackability, ...] = ()

    @property
    def stand_alone(self) -> bool:
        return self.parent_code is None

    @property
    def parents(self) -> tuple[Stackability, ...]:
        return () if self.stand_alone else (self, *self.more)

    @property
    def parent_id(self) -> str:
        """The parent's achievement id, as its own credentials carry it (ob3.achievement_id)."""
        if self.parent_url:
            return self.parent_url
        suffix = f":{self.parent_version}" if self.parent_version else ""
        return f"urn:credbridge:achievement:{self.parent_code}{suffix}"


@dataclass(frozen=True)
class Unit:
    code: str
    title: LangMap
    outcomes: tuple[LearningOutcome, ...] = ()


@dataclass(frozen=True)
class StatusEntry:
    list_url: str  # URL of the BitstringStatusListCredential
    index: int


@dataclass(frozen=True)
class CredentialContent:
    credential_id: str  # urn:uuid:...
    template_code: str
    template_version: str
    title: LangMap
    description: LangMap
    learner: Learner
    issuer: Issuer
    issued_at: datetime
    learning_outcomes: tuple[LearningOutcome, ...]
    credit_points: tuple[CreditPoints, ...]
    hours: Decimal
    eqf_level: int
    isced_f: Concept
    assessment_types: tuple[AssessmentType, ...]
    mode: Concept  # form of participation, http://data.europa.eu/snb/learning-assessment/<id>
    quality_assurance: QualityAssurance
    languages: tuple[str, ...]  # ISO 639-1, first is the primary language
    status: StatusEntry
    valid_until: datetime | None = None
    nqf_level: NqfLevel | None = None
    # http://data.europa.eu/snb/supervision-verification/<id>, or a credbridge concept for the levels
    # that list lacks (see supervision.py)
    supervision: Concept | None = None
    prerequisites: LangMap | None = None
    grade: Grade | None = None
    stackability: Stackability = field(default_factory=Stackability)
    units: tuple[Unit, ...] = ()
    further_info_url: str | None = None
    # Salt for the hashed e-mail identity; the pipeline stores it so the hash can be re-checked.
    identity_salt: str = ""
    # URL of the achievement (template) page; a URN is derived when the web layer has none.
    achievement_url: str | None = None
    # formal / non-formal learning, http://data.europa.eu/snb/learning-setting/<id> (ELM only)
    learning_setting: Concept | None = None
    # the awarding body when it is not the issuer (a partner organisation the school issues for);
    # its ``did`` is then its own identifier, never the school's DID
    awarding_body: Issuer | None = None
    further_information: LangMap | None = None  # Annex I "further information", free text
    more_quality_assurance: tuple[QualityAssurance, ...] = ()  # beyond the first (template, body, units)
    # the credential's face (the template's image or a generated badge): OB 3.0 achievement.image and
    # the ELM display image; without one ELM gets a blank page image (documents from before faces)
    image: Image | None = None

    @property
    def all_quality_assurance(self) -> tuple[QualityAssurance, ...]:
        return (self.quality_assurance, *self.more_quality_assurance)

    def __post_init__(self) -> None:
        problems = list(_problems(self))
        if problems:
            raise ContentError("credential content: " + "; ".join(problems))

    def text(self, lang_map: LangMap) -> str:
        """The value of a language map in the primary language (else the first one present)."""
        return primary_text(lang_map, self.languages)


def primary_text(lang_map: LangMap, languages: tuple[str, ...] | list[str]) -> str:
    """What a one-language field of a credential says: the first of its languages the map has, else
    the map's first value (how OB 3.0 names the issuer, the achievement, the badge's caption)."""
    for lang in languages:
        if lang in lang_map:
            return lang_map[lang]
    return next(iter(lang_map.values()))


def _problems(c: CredentialContent) -> list[str]:
    out: list[str] = []
    if not _URN_UUID.match(c.credential_id):
        out.append(f"credential_id {c.credential_id!r} is not a lower-case urn:uuid")
    for name in ("title", "description"):
        if not getattr(c, name):
            out.append(f"{name} is empty")
    if not c.issuer.legal_name:
        out.append("issuer.legal_name is empty")
    if not _ALPHA2.match(c.issuer.country):
        out.append(f"issuer.country {c.issuer.country!r} is not an ISO 3166-1 alpha-2 code")
    if not c.issuer.did.startswith("did:"):
        out.append(f"issuer.did {c.issuer.did!r} is not a DID")
    if c.issued_at.tzinfo is None:
        out.append("issued_at has no time zone")
    if c.valid_until is not None:
        if c.valid_until.tzinfo is None:
            out.append("valid_until has no time zone")
        elif c.issued_at.tzinfo is not None and c.valid_until <= c.issued_at:
            out.append("valid_until is not after issued_at")
    if not 1 <= c.eqf_level <= 8:
        out.append(f"eqf_level {c.eqf_level} is not between 1 and 8")
    if not c.learning_outcomes:
        out.append("learning_outcomes is empty")
    if not c.languages:
        out.append("languages is empty")
    bad_languages = [lang for lang in c.languages if not _LANG.match(lang)]
    if bad_languages:
        out.append(f"languages {bad_languages} are not ISO 639-1 codes (two lower-case letters)")
    if c.hours <= 0:
        out.append("hours must be positive")
    if any(cp.points < 0 for cp in c.credit_points):
        out.append("credit points must not be negative")
    if c.status.index < 0:
        out.append("status.index is negative")
    if not c.learner.email or "@" not in c.learner.email:
        out.append("learner.email is missing or not an e-mail address")
    if not c.identity_salt:
        out.append("identity_salt is empty")
    return out


def iso_z(moment: datetime) -> str:
    """``2026-11-22T04:13:07Z`` (UTC, whole seconds) — the XML Schema dateTimeStamp both formats use."""
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
