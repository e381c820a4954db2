"""The campaign's world: a generated Moodle site, a school whose mapping gives one micro-credential per
course (earned by completing the course), issued by the embedded signer and to a signed webhook."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from credbridge.connector.awards.catalogue import import_mapping_file
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import LmsConnection, School
from credbridge.emulator.dataset import Site
from credbridge.emulator.server import DEFAULT_TOKEN

WEBHOOK_SECRET = "whsec-fault-campaign-0123456789"
#: the site's history is anchored here, so two generations of it (the clean run, the campaign) are equal
SITE_START = 1_780_000_000


@dataclass(frozen=True)
class Size:
    courses: int
    learners_per_course: int


def generate_site(size: Size, seed: int) -> Site:
    return Site.generate(courses=size.courses, learners_per_course=size.learners_per_course, seed=seed,
                         start=SITE_START)


SCHOOL = """
school:
  code: fault-school
  legal_name: {en: Fault Campaign Vocational School, hr: Strukovna škola Kampanja}
  country: HR
  identifiers: [{scheme: OIB, value: "12345678903"}]
  homepage: https://faults.school.example
  quality_assurance:
    type: Institutional Quality Assurance
    accrediting_body: {en: Agency for Vocational Education and Training and Adult Education}
    decision_url: https://www.asoo.hr/
units:
"""

UNIT = """
  - code: U-{n}
    title: {{en: "{name}"}}
    learning_outcomes:
      - statement: {{en: "Completes the module {name}"}}
    workload: {{credits: [{{system: CSVET, points: 2}}], hours: 50}}
    register_standard: "HKO SK: Strukovni modul {n}"
    eqf_level: 4
    isced_f: "0715"
    assessment_types: [practical assessment]
    mode: Presential
    evidence:
      course_completed: "{shortname}"
"""

TEMPLATE = """
  - code: T-{n}
    version: 1
    title: {{en: "{name}", hr: "{name}"}}
    units: [U-{n}]
    eqf_level: 4
    outputs: [{outputs}]
    languages: [hr, en]
    register_standard: "HKO SK: Strukovni modul {n}"
"""


def mapping_for(site: Site) -> str:
    """One unit and one template per course; the first template is also signed as Data Integrity."""
    courses = sorted((c for c in site.courses.values() if c.id != 1), key=lambda c: c.id)
    units = "".join(UNIT.format(n=i, name=c.fullname.replace('"', "'"), shortname=c.shortname)
                    for i, c in enumerate(courses, 1))
    templates = "".join(TEMPLATE.format(n=i, name=c.fullname.replace('"', "'"),
                                        outputs="ob3-jwt, ob3-di, elm" if i == 1 else "ob3-jwt, elm")
                        for i, c in enumerate(courses, 1))
    return SCHOOL + units + "templates:" + templates


def furnish(db: Database, site: Site, moodle_url: str, webhook_url: str) -> None:
    """The school, its Moodle connection, its mapping and its two targets (nothing synced yet)."""
    with db.unit_of_work() as session:
        school = School(slug="faults", legal_name="Fault Campaign Vocational School", country="HR",
                        homepage="https://faults.school.example",
                        policy={"targets": {"embedded": {},
                                            "webhook": {"url": webhook_url, "secret": WEBHOOK_SECRET,
                                                        "connect_timeout": 1, "read_timeout": 1}}})
        session.add(school)
        session.flush()
        session.add(LmsConnection(school_id=school.id, name="moodle", base_url=moodle_url, ws_token=DEFAULT_TOKEN))
        import_mapping_file(session, school, mapping_for(site), "fault-campaign")
        assert session.scalar(select(School.id)) == school.id
