"""Deterministic generator of a realistic VET Moodle site (Western Balkans / Slovenia names and courses).

Rows are written straight into the Site tables (not through the mutation hooks) so that
200 courses x 300 learners builds in a few seconds; derived values (activity completion,
course totals, criteria, course completion) are computed with the same Site rules the hooks use.
"""

from __future__ import annotations

import random
import time
import unicodedata
from typing import Any

from credbridge.emulator.dataset import (
    COMPLETION_COMPLETE,
    COMPLETION_COMPLETE_FAIL,
    COMPLETION_COMPLETE_PASS,
    COMPLETION_INCOMPLETE,
    CRITERIA_TYPE_ACTIVITY,
    CRITERIA_TYPE_GRADE,
    ROLE_EDITINGTEACHER,
    ROLE_STUDENT,
    ActivityCompletion,
    AssignGrade,
    Category,
    Clock,
    Competency,
    Course,
    CourseCompetency,
    CourseCompletion,
    Criterion,
    Enrolment,
    Framework,
    Grade,
    QuizAttempt,
    Site,
    Submission,
    UserCompetencyCourse,
)

FIRST_NAMES = [
    "Luka", "Marko", "Ivan", "Petar", "Nikola", "Filip", "Matej", "Josip", "Ante", "Stefan", "Miloš", "Nemanja",
    "Dušan", "Đorđe", "Aleksandar", "Vuk", "Jovan", "Emir", "Adnan", "Haris", "Amar", "Tarik", "Žiga", "Jure",
    "Gašper", "Anže", "Rok", "Tilen", "Blaž", "Mihailo", "Andrija", "Balša", "Ana", "Marija", "Ivana", "Petra",
    "Lucija", "Ema", "Mia", "Sara", "Jelena", "Milica", "Teodora", "Katarina", "Anđela", "Jovana", "Amina", "Lejla",
    "Ajla", "Emina", "Selma", "Nika", "Zala", "Špela", "Urška", "Tjaša", "Maša", "Tamara", "Dragana", "Snežana",
]
LAST_NAMES = [
    "Horvat", "Kovačević", "Babić", "Marić", "Jurić", "Novak", "Kovačić", "Knežević", "Vuković", "Marković",
    "Petrović", "Jovanović", "Nikolić", "Đorđević", "Stojanović", "Ilić", "Pavlović", "Milošević", "Hodžić",
    "Hadžić", "Begić", "Delić", "Mehmedović", "Omerović", "Krajnc", "Zupan", "Potočnik", "Kranjc", "Mlakar",
    "Kos", "Vidmar", "Golob", "Popović", "Vujović", "Radulović", "Đukanović", "Perović", "Šćekić", "Bošković",
    "Tomić", "Lukić", "Šarić", "Grgić", "Pejić", "Zorić",
]
CITIES = [("Zagreb", "HR"), ("Split", "HR"), ("Rijeka", "HR"), ("Osijek", "HR"), ("Ljubljana", "SI"),
          ("Maribor", "SI"), ("Celje", "SI"), ("Beograd", "RS"), ("Novi Sad", "RS"), ("Niš", "RS"),
          ("Sarajevo", "BA"), ("Banja Luka", "BA"), ("Mostar", "BA"), ("Tuzla", "BA"), ("Podgorica", "ME"),
          ("Nikšić", "ME")]
PROGRAMMES = [
    ("STR", "Strojarstvo", [("CNC", "CNC programiranje"), ("ZAV", "Zavarivanje MAG/TIG"),
                            ("TCR", "Tehničko crtanje"), ("HID", "Hidraulika i pneumatika")]),
    ("ELE", "Elektrotehnika", [("INS", "Električne instalacije"), ("PLC", "Programiranje PLC-a"),
                               ("SOL", "Fotonaponski sustavi"), ("MJE", "Električna mjerenja")]),
    ("UGO", "Ugostiteljstvo", [("KUH", "Osnove kuharstva"), ("HAC", "HACCP i higijena hrane"),
                               ("SLA", "Slastičarstvo")]),
    ("AUT", "Automehatronika", [("DIJ", "Dijagnostika vozila"), ("ELV", "Električna vozila"),
                                ("KOC", "Kočioni sustavi")]),
    ("GRA", "Graditeljstvo", [("ZID", "Zidanje i žbukanje"), ("SUH", "Suha gradnja"),
                              ("ENE", "Energetska učinkovitost zgrada")]),
]
ACTIVITY_KINDS = ["page", "assign", "quiz", "lti", "assign", "quiz", "page", "assign"]


def _ascii(text: str) -> str:
    text = text.replace("đ", "dj").replace("Đ", "Dj")
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower().replace(" ", "")


def generate_site(*, courses: int, learners_per_course: int, activities_per_course: int = 4,
                  completion_ratio: float = 0.6, seed: int = 1, start: int | None = None,
                  **site_kwargs: Any) -> Site:
    if courses < 1 or learners_per_course < 1 or activities_per_course < 1:
        raise ValueError("courses, learners_per_course and activities_per_course must be >= 1")
    if not 0.0 <= completion_ratio <= 1.0:
        raise ValueError("completion_ratio must be between 0 and 1")
    rng = random.Random(seed)
    real_now = int(time.time()) if start is None else int(start)
    t0 = real_now - 120 * 86400
    site = Site(clock=Clock(t0, follow_wall=False), **site_kwargs)
    site.config.sitename = "Strukovna škola – Moodle"
    site.config.shortname = "ssmoodle"
    site.config.site_summary = "Emulated VET school Moodle"
    for uid, username, first, last in [(1, "guest", "Guest user", " "), (2, "admin", "Admin", "User"),
                                       (3, "vet_sync_ws", "VET Sync", "Service"),
                                       (4, "vet_nocap_ws", "VET NoCap", "Service")]:
        site.add_user(id=uid, username=username, firstname=first, lastname=last, email=f"{username}@skola.example",
                      timecreated=t0, timemodified=t0)
    site.courses[1] = Course(id=1, shortname=site.config.shortname, fullname=site.config.sitename, idnumber="",
                             categoryid=0, summary=site.config.site_summary, format="site", contextid=2,
                             sortorder=1, enablecompletion=0)
    site.reserve_id("course", 1)
    site.reserve_id("context", 40)

    # Learner pool: each learner takes a few courses so enrolments overlap like a real school.
    pool_size = max(learners_per_course, (courses * learners_per_course) // 3)
    learners = []
    used: set[str] = set()
    year = time.gmtime(real_now).tm_year
    for i in range(pool_size):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        base = f"{_ascii(first)}.{_ascii(last)}"
        username = base if base not in used else f"{base}{i}"
        used.add(username)
        city, country = rng.choice(CITIES)
        learners.append(site.add_user(
            username=username, firstname=first, lastname=last, email=f"{username}@ucenici.skola.example",
            idnumber=f"UC-{year}-{i + 1:05d}", department="Strukovno obrazovanje", institution="Strukovna škola",
            city=city,
            country=country, timezone="Europe/Zagreb", timecreated=t0, timemodified=t0))
    teachers = []
    for i in range(max(2, courses // 5)):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        username = f"{_ascii(first)}.{_ascii(last)}.n{i + 1}"
        teachers.append(site.add_user(username=username, firstname=first, lastname=last,
                                      email=f"{username}@skola.example", idnumber=f"NAS-{i + 1:03d}",
                                      department="Nastavničko vijeće", institution="Strukovna škola",
                                      city=CITIES[i % len(CITIES)][0], country=CITIES[i % len(CITIES)][1],
                                      timezone="Europe/Zagreb", timecreated=t0, timemodified=t0))

    # Categories per programme.
    for p_index, (code, name, _units) in enumerate(PROGRAMMES):
        cid = site.next_id("course_categories", 2)
        site.categories[cid] = Category(id=cid, name=f"VET – {name}", idnumber=f"VET-{code}",
                                        description=f"Strukovni program: {name}.", sortorder=(p_index + 2) * 10000)
    site.categories[1] = Category(id=1, name="Category 1", sortorder=10000)
    cat_by_code = {c.idnumber: c.id for c in site.categories.values()}

    # Competency framework: one competency per unit.
    fw = Framework(id=1, shortname="Strukovne kompetencije", idnumber="VET-KOMP",
                   description="Okvir kompetencija strukovnih kvalifikacija.", scaleid=2,
                   scale={1: "Not yet competent", 2: "Competent"}, proficient=(2,), timecreated=t0, timemodified=t0)
    site.frameworks[1] = fw
    comp_by_unit: dict[str, int] = {}
    for code, _name, units in PROGRAMMES:
        for unit_code, unit_name in units:
            comp_id = site.next_id("competency")
            comp_by_unit[f"{code}-{unit_code}"] = comp_id
            site.competencies[comp_id] = Competency(
                id=comp_id, frameworkid=1, shortname=unit_name, idnumber=f"{code}-{unit_code}",
                description=f"{unit_name} (jedinica ishoda učenja).", sortorder=comp_id - 1, timecreated=t0,
                timemodified=t0)

    clock_t = t0 + 3600
    groups: dict[tuple[str, str], int] = {}
    for c_index in range(courses):
        code, pname, units = PROGRAMMES[c_index % len(PROGRAMMES)]
        unit_code, unit_name = units[(c_index // len(PROGRAMMES)) % len(units)]
        unit_index = (c_index // len(PROGRAMMES)) % len(units)
        # Each run of a unit is a new class group, so shortname and idnumber stay unique like Moodle requires.
        group = groups.get((code, unit_code), 0) + 1
        groups[(code, unit_code)] = group
        shortname = f"{code}-{unit_code}{101 + unit_index}-G{group}"
        category = site.categories[cat_by_code[f"VET-{code}"]]
        course = Course(id=site.next_id("course", 2), shortname=shortname,
                        fullname=f"{unit_name} ({pname}, grupa {group})",
                        idnumber=f"VET-{code}-{unit_code}-{year}-G{group}", categoryid=cat_by_code[f"VET-{code}"],
                        summary=f"Modul {unit_name}: teorija, vježbe i provjera znanja.", startdate=t0,
                        enddate=t0 + 300 * 86400, timecreated=t0, timemodified=t0 + rng.randint(0, 3600),
                        contextid=site.next_id("context"), sortorder=category.sortorder + c_index + 1)
        site.courses[course.id] = course
        teacher = teachers[c_index % len(teachers)]
        course.contacts = [teacher.id]
        site.enrolments[(course.id, teacher.id)] = Enrolment(course.id, teacher.id, ROLE_EDITINGTEACHER,
                                                             timestart=t0, timecreated=t0)
        modules = _make_modules(site, rng, course, activities_per_course, unit_name)
        course_item = site.add_grade_item(courseid=course.id, itemtype="course", itemname=None, grademax=0.0,
                                          iteminstance=course.id, itemnumber=None, idnumber=None, timemodified=t0)
        graded = []
        for m in modules:
            if m.modname in ("assign", "quiz", "lti"):
                grademax = float(m.settings.get("grade", 100))
                gi = site.add_grade_item(courseid=course.id, itemtype="mod", itemname=m.name, grademax=grademax,
                                         itemmodule=m.modname, iteminstance=m.instance, itemnumber=0, cmid=m.id,
                                         idnumber=m.idnumber,
                                         gradepass=0.0 if m.modname == "lti" else round(grademax * 0.5, 5),
                                         categoryid=course.id, timemodified=t0)
                graded.append((m, gi))
        course_item.grademax = sum(gi.grademax for _m, gi in graded) or 100.0
        required = [m for m in modules if m.modname != "lti"] or modules
        for m in required:
            course.criteria.append(Criterion(id=site.next_id("course_completion_criteria"), course=course.id,
                                             criteriatype=CRITERIA_TYPE_ACTIVITY, moduleinstance=m.id))
        if rng.random() < 0.5 and graded:
            course.criteria.append(Criterion(id=site.next_id("course_completion_criteria"), course=course.id,
                                             criteriatype=CRITERIA_TYPE_GRADE,
                                             gradepass=round(course_item.grademax * 0.5, 2)))
        comp_id = comp_by_unit[f"{code}-{unit_code}"]
        cc_id = site.next_id("competency_coursecomp")
        site.course_competencies[cc_id] = CourseCompetency(id=cc_id, courseid=course.id, competencyid=comp_id,
                                                           sortorder=0, timecreated=t0, timemodified=t0)

        items: dict[int, Any] = {m.id: gi for m, gi in graded}
        items[-course.id] = course_item
        members = rng.sample(learners, learners_per_course)
        members.sort(key=lambda u: u.id)
        for learner in members:
            clock_t += 1
            site.enrolments[(course.id, learner.id)] = Enrolment(course.id, learner.id, ROLE_STUDENT,
                                                                 timestart=t0, timecreated=t0,
                                                                 lastcourseaccess=clock_t)
            site.course_completions[(course.id, learner.id)] = CourseCompletion(course.id, learner.id,
                                                                                timeenrolled=t0)
            _simulate_learner(site, rng, course, modules, items, learner.id, completion_ratio, clock_t, [comp_id])
            learner.lastaccess = max(learner.lastaccess, clock_t)
            learner.firstaccess = learner.firstaccess or clock_t
    site.clock = Clock(max(real_now, clock_t + 1), follow_wall=True)
    return site


def _make_modules(site: Site, rng: random.Random, course: Course, count: int, unit_name: str) -> list:
    modules = []
    for i in range(count):
        kind = ACTIVITY_KINDS[i % len(ACTIVITY_KINDS)]
        section = i + 1
        idnumber = f"{course.shortname}-{kind.upper()}{i + 1}"
        common = {"idnumber": idnumber, "added": course.timecreated, "timemodified": course.timecreated}
        if kind == "page":
            m = site.add_module(course, "page", f"{unit_name}: materijali {i + 1}", section, completionview=True,
                                intro="Materijali za čitanje", settings={"content": f"<p>{unit_name}</p>"}, **common)
        elif kind == "assign":
            m = site.add_module(course, "assign", f"{unit_name}: praktični zadatak {i + 1}", section,
                                completionsubmit=True, completionusegrade=True,
                                settings={"duedate": course.startdate + 60 * 86400,
                                          "allowsubmissionsfromdate": course.startdate, "grade": 100}, **common)
        elif kind == "quiz":
            seb = rng.random() < 0.2
            m = site.add_module(course, "quiz", f"{unit_name}: provjera znanja {i + 1}", section,
                                completionusegrade=True, completionpassgrade=True,
                                intro="Deset pitanja, prolaz 50 %.",
                                settings={"sumgrades": 10.0, "grade": 10.0, "gradepass": 5.0,
                                          "timelimit": rng.choice([0, 900, 1800]),
                                          "password": "ispit" if rng.random() < 0.1 else "",
                                          "subnet": "", "browsersecurity": "safebrowser" if seb else "-",
                                          "accessrules": ["quizaccess_seb"] if seb else []}, **common)
        else:
            m = site.add_module(course, "lti", f"{unit_name}: simulator (LTI 1.3)", section, completionusegrade=True,
                                intro="Vanjski alat: ocjena se vraća u imenik.", settings={"typeid": 1, "grade": 100},
                                **common)
        modules.append(m)
    return modules


def _randint(rng: random.Random, low: int, high: int) -> int:
    # random.randint is several times slower than this, and the generator calls it ~10^6 times.
    return low + int(rng.random() * (high - low + 1))


def _simulate_learner(site: Site, rng: random.Random, course: Course, modules: list, items: dict[int, Any],
                      uid: int, completion_ratio: float, t: int, competency_ids: list[int]) -> None:
    """One learner's history in one course, written straight into the tables.

    Activity states follow Site.compute_state (pass/fail against the grade item's pass mark, a failed
    pass-grade rule leaves state 3) and criteria follow Site.criterion_met; tests check the two agree.
    """
    finisher = rng.random() < completion_ratio
    states: dict[int, int] = {}
    total = 0.0
    graded = False
    for m in modules:
        if not finisher and rng.random() >= 0.5:
            continue
        gi = items.get(m.id)
        if m.modname == "page":
            site.activity_completion[(m.id, uid)] = ActivityCompletion(m.id, uid, 1, t, viewed=True)
            states[m.id] = 1
            continue
        if m.modname == "assign":
            site.submissions[(m.instance, uid)] = Submission(
                id=site.next_id("assign_submission"), assignment=m.instance, userid=uid, attemptnumber=0,
                status="submitted", timecreated=t, timemodified=t)
            if not finisher and rng.random() < 0.3:
                site.grades[(gi.id, uid)] = Grade(gi.id, uid, None, t, t, None, datesubmitted=t)
                site.activity_completion[(m.id, uid)] = ActivityCompletion(m.id, uid, COMPLETION_INCOMPLETE, 0)
                continue
            value = float(_randint(rng, 55, 100) if finisher else _randint(rng, 20, 95))
            site.assign_grades[(m.instance, uid)] = AssignGrade(
                id=site.next_id("assign_grades"), assignment=m.instance, userid=uid, attemptnumber=0,
                timecreated=t, timemodified=t, grader=course.contacts[0], grade=value)
            site.grades[(gi.id, uid)] = Grade(gi.id, uid, value, t, t, t, feedbackformat=1)
        elif m.modname == "quiz":
            marks_total = float(m.settings["sumgrades"])
            marks = float(_randint(rng, int(marks_total * 0.5), int(marks_total)) if finisher
                          else _randint(rng, 0, int(marks_total)))
            aid = site.next_id("quiz_attempts")
            site.quiz_attempts[aid] = QuizAttempt(aid, m.instance, uid, 1, "finished", t - 600, t, t, marks)
            value = round(marks / marks_total * float(m.settings["grade"]), 5)
            site.grades[(gi.id, uid)] = Grade(gi.id, uid, value, t, t, t, datesubmitted=t)
        else:
            value = float(_randint(rng, 40, 100))
            site.grades[(gi.id, uid)] = Grade(gi.id, uid, value, t, t, t)
        total += value
        graded = True
        state = (COMPLETION_COMPLETE_PASS if value >= gi.gradepass else COMPLETION_COMPLETE_FAIL) \
            if gi.gradepass > 0 else COMPLETION_COMPLETE
        states[m.id] = state
        site.activity_completion[(m.id, uid)] = ActivityCompletion(m.id, uid, state, t)
    total = round(total, 5)
    if graded:
        ci = items[-course.id]
        site.grades[(ci.id, uid)] = Grade(ci.id, uid, total, t, t, t)
    met = True
    for crit in course.criteria:
        if crit.criteriatype == CRITERIA_TYPE_GRADE:
            ok = graded and crit.gradepass is not None and total >= crit.gradepass
        else:
            state = states.get(crit.moduleinstance or 0, 0)
            ok = state in (1, 2) or (state == 3 and not site.modules[crit.moduleinstance or 0].completionpassgrade)
        if ok:
            site.crit_completions[(crit.id, uid)] = t
        else:
            met = False
    if met and course.criteria:
        site.course_completions[(course.id, uid)].timecompleted = t
        for comp_id in competency_ids:
            if rng.random() < 0.8:
                site.user_comp_course[(uid, course.id, comp_id)] = UserCompetencyCourse(
                    id=site.next_id("competency_usercompcourse"), userid=uid, courseid=course.id,
                    competencyid=comp_id, grade=2, proficiency=True, timecreated=t, timemodified=t,
                    usermodified=course.contacts[0])
    elif not met and rng.random() < 0.1:
        for comp_id in competency_ids:
            site.user_comp_course[(uid, course.id, comp_id)] = UserCompetencyCourse(
                id=site.next_id("competency_usercompcourse"), userid=uid, courseid=course.id,
                competencyid=comp_id, grade=1, proficiency=False, timecreated=t, timemodified=t,
                usermodified=course.contacts[0], note="Nije još dokazano.")
