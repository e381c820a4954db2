"""`credbridge demo` and `credbridge emulator`: the whole product on one machine, for newcomers.

The demo starts the Moodle emulator (the recorded Moodle 4.5 VET site: CNC101, WELD201, TD110) with
its LTI 1.3 platform, registers credbridge there, syncs, evaluates the worked-example mapping file,
issues, serves the web side and prints where to click. It lives here, in the composition root,
because it wires every layer together (the layers themselves never import the emulator).
"""

from __future__ import annotations

import functools
import json
import logging
import secrets as pysecrets
import sys
import threading
import unicodedata
import webbrowser
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select
from werkzeug.serving import make_server

from credbridge.connector.runtime import Runtime, open_runtime
from credbridge.connector.settings import Settings, SettingsError, load_settings
from credbridge.connector.store import migrate
from credbridge.connector.store.models import (
    AdminUser,
    Award,
    Credential,
    Learner,
    LmsConnection,
    LtiDeployment,
    LtiRegistration,
    School,
)

log = logging.getLogger("credbridge.demo")
SCHOOL_SLUG = "vet-college"
#: the example mapping's Croatian name for the school (mappings/examples/vet-college.yaml)
SCHOOL_NAME = "Strukovna škola strojarstva"
CLIENT_ID = "credbridge-demo"
ADMIN_EMAIL = "admin@vet-college.example"
#: from the recorded site (testdata.json): a teacher and two learners of CNC101 (course id 2)
TEACHER_ID, LEARNER_ID, COURSE_ID = 35, 5, 2
EXAMPLE_MAPPING = "vet-college.yaml"

# The recording was made on a test Moodle in Finland, so its people have Finnish and international
# names. The demo is a Croatian VET school: these names from the region (Croatian, and Slovenian,
# Serbian and Bosnian learners) replace them when the demo starts its emulator. Only the demo's
# in-memory copy changes; the recording itself, and the tests' copy of it, stay as recorded.
DEMO_PEOPLE: dict[str, tuple[str, str]] = {
    "aino.virtanen": ("Lucija", "Horvat"), "elias.korhonen": ("Luka", "Kovačević"),
    "sofia.makinen": ("Mia", "Babić"), "leo.nieminen": ("Ivan", "Marić"), "emma.schmidt": ("Petra", "Jurić"),
    "lukas.muller": ("Marko", "Novak"), "olivia.johansson": ("Ema", "Knežević"),
    "noah.andersson": ("Filip", "Vuković"), "maja.kowalska": ("Maja", "Pavlović"),
    "jakub.nowak": ("Jakov", "Tomić"), "chloe.dubois": ("Klara", "Božić"), "mateo.garcia": ("Mateo", "Grgić"),
    "lucia.fernandez": ("Lana", "Perić"), "oskar.lindqvist": ("Nikola", "Jovanović"),
    "hanna.berg": ("Ana", "Kovač"), "ville.heikkinen": ("Tin", "Blažević"), "sara.rossi": ("Sara", "Šimić"),
    "marco.bianchi": ("Josip", "Matić"), "emil.hansen": ("Emir", "Hadžić"), "ida.nielsen": ("Iva", "Rukavina"),
    "aleksi.hamalainen": ("Aleksandar", "Petrović"), "julia.wagner": ("Nina", "Krajnc"),
    "finn.oconnor": ("Jan", "Zupančič"), "zoe.papadopoulos": ("Zoja", "Đurić"),
    "ahmed.hassan": ("Amar", "Begić"), "fatma.yilmaz": ("Amra", "Mehmedović"), "an.nguyen": ("Dora", "Lončar"),
    "priya.sharma": ("Tena", "Radić"), "tomas.silva": ("Dino", "Bašić"), "eva.novak": ("Eva", "Kos"),
    "mikko.laine": ("Tomislav", "Barišić"), "sarah.becker": ("Marina", "Vidović"),
}
DEMO_COURSES = {"CNC101": "Osnove CNC programiranja", "WELD201": "Sigurnost pri zavarivanju",
                "TD110": "Tehničko crtanje"}
DEMO_TOWN, DEMO_COUNTRY, DEMO_LANGUAGE = "Karlovac", "HR", "hr"
#: who signs the demo school's certificates (the principal), as they are written on them
DEMO_SIGNATORY = ("Ivana Lukić", "ravnateljica")
_FOLD = str.maketrans({"đ": "dj", "Đ": "Dj"})


def _ascii(text: str) -> str:
    """``Đurić`` -> ``djuric``: what a Moodle site makes of a name for usernames and e-mail addresses."""
    return unicodedata.normalize("NFKD", text.translate(_FOLD)).encode("ascii", "ignore").decode().lower()


def regional_names(site: Any) -> None:
    """Give the recorded site's people, courses and site the demo school's names (in place)."""
    for user in site.users.values():
        found = DEMO_PEOPLE.get(user.username)
        if found is None:
            continue
        old_local, _, domain = user.email.partition("@")
        user.firstname, user.lastname = found
        user.username = f"{_ascii(found[0])}.{_ascii(found[1])}"
        if domain and old_local:
            user.email = f"{user.username}@{domain}"
        if user.city:
            user.city, user.country = DEMO_TOWN, DEMO_COUNTRY
        user.lang = DEMO_LANGUAGE
    for course in site.courses.values():
        course.fullname = DEMO_COURSES.get(course.shortname, course.fullname)
    site.config.sitename = f"Moodle — {SCHOOL_NAME}"
    if 1 in site.courses:
        site.courses[1].fullname = site.config.sitename
    for category in site.categories.values():
        if category.idnumber == "VET-ME":
            category.name = "Strojarstvo"


def recorded_site_path() -> Path:
    return Path(str(resources.files("credbridge.emulator") / "data" / "recorded-site.json"))


def example_mapping_path() -> Path:
    return Path(str(resources.files("credbridge.mappings") / "examples" / EXAMPLE_MAPPING))


@dataclass
class DemoUrls:
    tool: str
    emulator: str
    teacher_launch: str
    learner_launch: str
    deep_linking: str
    admin: str
    verification: str | None


def demo_settings(data_dir: Path, port: int) -> Settings:
    """Settings of the demo's own instance: its SQLite file and secret key live in ``data_dir``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    key_file = data_dir / "secret.key"
    if not key_file.exists():
        key_file.write_text(pysecrets.token_urlsafe(48), encoding="utf-8")
        key_file.chmod(0o600)
    return load_settings(database_url=f"sqlite:///{(data_dir / 'credbridge.db').resolve()}",
                         secret_key=key_file.read_text(encoding="utf-8").strip(),
                         base_url=f"http://127.0.0.1:{port}")


def start_emulator(emulator_port: int, tool_url: str) -> Any:
    from credbridge.emulator import lti_platform
    from credbridge.emulator.dataset import Site
    from credbridge.emulator.server import serve_in_thread

    site = Site.from_recording(recorded_site_path())
    regional_names(site)
    url = f"http://127.0.0.1:{emulator_port}"
    extension = functools.partial(lti_platform.register, base_url=url, tool_base_url=tool_url, client_id=CLIENT_ID,
                                  site_description=site.config.sitename)
    running = serve_in_thread(site, port=emulator_port, extensions=[extension])
    platform = running.app.extensions["lti_platform"]
    tool = platform.default_tool()
    for course_id in sorted(site.courses):
        platform.add_link(course_id, tool, name="Micro-credentials (credbridge)")
    return running, platform, tool


def bootstrap(runtime: Runtime, emulator_url: str, deployment_id: str) -> tuple[int, int, str]:
    """School, Web Services connection, LTI registration, console admin, mapping file (idempotent)."""
    from credbridge.connector.awards.catalogue import import_mapping_file
    from credbridge.connector.passwords import hash_password
    from credbridge.emulator.server import DEFAULT_TOKEN

    password = pysecrets.token_urlsafe(12)
    with runtime.db.unit_of_work() as session:
        school = session.scalar(select(School).where(School.slug == SCHOOL_SLUG))
        if school is None:
            school = School(slug=SCHOOL_SLUG, legal_name=SCHOOL_NAME, country="HR",
                            homepage="https://vet-college.example", identifiers={"OIB": "12345678903"},
                            qa_status={"type": "Institutional Quality Assurance"},
                            policy={"revoke_on_regression": "ask"}, locality=DEMO_TOWN,
                            signatory_name=DEMO_SIGNATORY[0], signatory_role=DEMO_SIGNATORY[1])
            session.add(school)
            session.flush()
        connection = session.scalar(select(LmsConnection).where(LmsConnection.school_id == school.id))
        if connection is None:
            connection = LmsConnection(school_id=school.id, name="moodle", base_url=emulator_url,
                                       ws_token=DEFAULT_TOKEN)
            session.add(connection)
        connection.base_url = emulator_url
        session.flush()
        registration = session.scalar(select(LtiRegistration).where(LtiRegistration.client_id == CLIENT_ID))
        if registration is None:
            registration = LtiRegistration(school_id=school.id, client_id=CLIENT_ID, name="Moodle emulator",
                                           issuer=emulator_url, auth_login_url="", auth_token_url="",
                                           key_set_url="")
            session.add(registration)
        registration.issuer = emulator_url
        registration.connection_id = connection.id
        registration.auth_login_url = f"{emulator_url}/mod/lti/auth.php"
        registration.auth_token_url = f"{emulator_url}/mod/lti/token.php"
        registration.key_set_url = f"{emulator_url}/mod/lti/certs.php"
        session.flush()
        if not session.scalar(select(LtiDeployment).where(LtiDeployment.registration_id == registration.id,
                                                          LtiDeployment.deployment_id == deployment_id)):
            session.add(LtiDeployment(registration_id=registration.id, deployment_id=deployment_id))
        admin = session.scalar(select(AdminUser).where(AdminUser.email == ADMIN_EMAIL))
        if admin is None:
            admin = AdminUser(school_id=school.id, email=ADMIN_EMAIL, display_name="Demo administrator",
                              password_hash="")
            session.add(admin)
        admin.password_hash = hash_password(password)  # a fresh password each run, printed once below
        import_mapping_file(session, school, example_mapping_path(), uploaded_by="demo")
        return school.id, connection.id, password


def run_cycle(runtime: Runtime, school_id: int, connection_id: int) -> None:
    """One sync, one evaluation of the learners whose evidence changed, one outbox pass."""
    from credbridge.connector.commands.common import progress
    from credbridge.connector.commands.issue import evaluate_pending, send_due_outbox
    from credbridge.connector.sync.runner import sync_connection

    with progress("syncing the emulated Moodle") as bar:
        report = sync_connection(runtime.db, connection_id, progress=bar.report)
    log.info("%s", report.line())
    evaluate_pending(runtime, school_id)
    send_due_outbox(runtime, school_id)


def summary(runtime: Runtime, school_id: int) -> tuple[Table, str | None, dict[str, int]]:
    table = Table("template", "version", "status", "learners", title="Awards after the first cycle")
    counts: dict[str, int] = {}
    with runtime.db.unit_of_work() as session:
        rows = session.execute(
            select(Award.template_code, Award.template_version, Award.status, func.count())
            .where(Award.school_id == school_id)
            .group_by(Award.template_code, Award.template_version, Award.status)
            .order_by(Award.template_code, Award.status)).all()
        first = session.scalar(select(Credential.uuid).where(Credential.school_id == school_id)
                               .order_by(Credential.id).limit(1))
        counts["learners"] = session.scalar(select(func.count()).select_from(Learner)
                                            .where(Learner.school_id == school_id)) or 0
        counts["credentials"] = session.scalar(select(func.count()).select_from(Credential)
                                               .where(Credential.school_id == school_id)) or 0
    for code, version, status, n in rows:
        table.add_row(code, str(version), status, str(n))
        counts[status] = counts.get(status, 0) + n
    return table, first, counts


@click.command()
@click.option("--data-dir", default="demo-data", show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="where the demo keeps its SQLite database and secret key")
@click.option("--port", default=5000, show_default=True, help="credbridge's web port on 127.0.0.1")
@click.option("--emulator-port", default=8080, show_default=True, help="the emulated Moodle's port on 127.0.0.1")
@click.option("--no-browser", is_flag=True, help="do not open the teacher launch in a browser")
@click.option("--exit-after-issue", is_flag=True, help="exit after the first issuance cycle (scripts, CI)")
def demo(data_dir: Path, port: int, emulator_port: int, no_browser: bool, exit_after_issue: bool) -> None:
    """Run the whole product against the Moodle emulator and print where to click."""
    from credbridge.connector.daemon import build_daemon
    from credbridge.lti.app import create_app

    try:
        settings = demo_settings(data_dir, port)
    except SettingsError as exc:
        click.echo(f"credbridge: {exc}", err=True)
        sys.exit(2)
    runtime = open_runtime(settings)
    migrate.upgrade(settings.database_url)
    tool_url = settings.base_url
    emulator, platform, tool = start_emulator(emulator_port, tool_url)
    web = make_server("127.0.0.1", port, create_app(runtime), threaded=True)
    threading.Thread(target=web.serve_forever, name="credbridge-web", daemon=True).start()
    daemon = None
    try:
        school_id, connection_id, password = bootstrap(runtime, emulator.url, tool.deployment_id)
        run_cycle(runtime, school_id, connection_id)
        table, first_credential, counts = summary(runtime, school_id)
        urls = DemoUrls(
            tool=tool_url, emulator=emulator.url,
            teacher_launch=platform.launch_url(TEACHER_ID, COURSE_ID),
            learner_launch=platform.launch_url(LEARNER_ID, COURSE_ID),
            deep_linking=platform.launch_url(TEACHER_ID, COURSE_ID, message_type="LtiDeepLinkingRequest"),
            admin=f"{tool_url}/admin/login",
            verification=f"{tool_url}/credentials/{first_credential}" if first_credential else None)
        console = Console()
        console.print(table)
        console.print("[bold]credbridge demo[/] — open these in a browser:", soft_wrap=True)
        teacher, learner = emulator.site.users[TEACHER_ID], emulator.site.users[LEARNER_ID]
        rows = [(f"a teacher ({teacher.fullname}) launching credbridge from CNC101", urls.teacher_launch),
                (f"a learner ({learner.fullname}) and her credentials", urls.learner_launch),
                ("the teacher attaching templates to an activity (deep linking)", urls.deep_linking),
                (f"the admin console ({ADMIN_EMAIL} / {password})", urls.admin)]
        if urls.verification:
            rows.append(("a credential's public verification page", urls.verification))
        for label, url in rows:
            console.print(f"  {label}\n    [link={url}]{url}[/link]", soft_wrap=True)
        click.echo(json.dumps({"issued_credentials": counts.get("credentials", 0), **{
            k: v for k, v in counts.items() if k != "credentials"}, "urls": urls.__dict__}))
        if not counts.get("credentials"):
            click.echo("credbridge demo: nothing was issued — see the log above", err=True)
            sys.exit(1)
        if exit_after_issue:
            return
        if not no_browser:
            webbrowser.open(urls.teacher_launch)
        daemon = build_daemon(runtime.db, settings, workers=1)
        daemon.start()
        click.echo("demo running; Ctrl-C stops it")
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        if daemon is not None:
            daemon.shutdown(timeout=10)
        web.shutdown()
        emulator.stop()
        runtime.close()


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def emulator(ctx: click.Context) -> None:
    """The Moodle 4.5 emulator alone (Web Services); `credbridge emulator --help` for its flags."""
    from credbridge.emulator.__main__ import main

    args = list(ctx.args)
    if "--recording" not in args and not any(a.startswith("--courses") for a in args):
        args += ["--recording", str(recorded_site_path())]
    sys.exit(main(args))
