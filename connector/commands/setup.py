"""`credbridge init`, `credbridge db upgrade` and `credbridge schools …`."""

from __future__ import annotations

import secrets as pysecrets
import sys

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from credbridge.connector import school_policy
from credbridge.connector.commands.common import runtime_or_exit, with_runtime
from credbridge.connector.issuing.formats.eu_authority import is_country_code
from credbridge.connector.passwords import hash_password
from credbridge.connector.runtime import Runtime
from credbridge.connector.settings import config_file_path
from credbridge.connector.store import migrate
from credbridge.connector.store.models import AdminUser, AuditEntry, School

COUNTRIES_FIRST = ("HR", "SI", "BA", "RS", "ME")


@click.command()
@click.option("--database-url", default="sqlite:///credbridge.db", show_default=True,
              help="where the data lives; postgresql+psycopg://user@host/db in production")
@click.option("--base-url", default="http://127.0.0.1:5000", show_default=True,
              help="the public URL Moodle reaches credbridge at")
@click.option("--force", is_flag=True, help="overwrite an existing configuration file")
def init(database_url: str, base_url: str, force: bool) -> None:
    """Write credbridge.toml with a fresh secret key, then create the database."""
    path = config_file_path()
    if path.exists() and not force:
        click.echo(f"{path} exists; keeping it (use --force to replace it).")
    else:
        path.write_text(
            "# credbridge settings; every key can also be set as CREDBRIDGE_<KEY> in the environment.\n"
            "[credbridge]\n"
            f'database_url = "{database_url}"\n'
            f'base_url = "{base_url}"\n'
            "# encrypts secrets at rest and signs sessions: keep it secret, back it up\n"
            f'secret_key = "{pysecrets.token_urlsafe(48)}"\n',
            encoding="utf-8",
        )
        path.chmod(0o600)
        click.echo(f"wrote {path} (mode 600)")
    runtime = runtime_or_exit()
    try:
        migrate.upgrade(runtime.settings.database_url)
        click.echo("database is at the latest schema")
    finally:
        runtime.close()


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply the migrations (the same schema on SQLite and PostgreSQL)."""
    runtime = runtime_or_exit()
    try:
        migrate.upgrade(runtime.settings.database_url, revision)
        click.echo(f"database upgraded to {migrate.current_revision(runtime.db.engine)}")
    finally:
        runtime.close()


@click.group()
def schools() -> None:
    """Schools (tenants) and their awarding-body identity."""


@schools.command("add")
@click.option("--slug", required=True, help="short name used in URLs, e.g. ss-tehnicka-split")
@click.option("--name", "legal_name", required=True, help="legal name of the awarding body")
@click.option("--country", required=True, help="ISO 3166-1 alpha-2, e.g. HR")
@click.option("--homepage", default=None)
@click.option("--identifier", "identifiers", multiple=True, metavar="SCHEME=VALUE",
              help="legal identifiers, e.g. OIB=12345678901 (repeatable)")
@with_runtime
def schools_add(runtime: Runtime, slug: str, legal_name: str, country: str, homepage: str | None,
                identifiers: tuple[str, ...]) -> None:
    """Add a school."""
    country = country.upper() if country.isascii() else country  # "ß".upper() is "SS", South Sudan
    if not is_country_code(country):
        raise click.BadParameter(f"{country!r} is not an ISO 3166-1 alpha-2 code (e.g. HR, SI)",
                                 param_hint="--country")
    parsed: dict[str, str] = {}
    for item in identifiers:
        scheme, sep, value = item.partition("=")
        if not sep or not scheme or not value:
            raise click.BadParameter(f"{item!r} is not SCHEME=VALUE", param_hint="--identifier")
        parsed[scheme] = value
    with runtime.db.unit_of_work() as session:
        if session.scalar(select(School).where(School.slug == slug)):
            click.echo(f"credbridge: a school with slug {slug!r} exists already", err=True)
            sys.exit(1)
        school = School(slug=slug, legal_name=legal_name, country=country, homepage=homepage,
                        identifiers=parsed, policy={"revoke_on_regression": "ask"})
        session.add(school)
        session.flush()
        session.add(AuditEntry(school_id=school.id, actor="cli", action="school.created",
                               subject_type="school", subject_id=str(school.id), details={"slug": slug}))
    click.echo(f"school {slug} added")


@schools.command("list")
@with_runtime
def schools_list(runtime: Runtime) -> None:
    """List schools."""
    table = Table("slug", "legal name", "country", "homepage")
    with runtime.db.unit_of_work() as session:
        for school in session.scalars(select(School).order_by(School.slug)):
            table.add_row(school.slug, school.legal_name, school.country, school.homepage or "")
    Console().print(table)


@schools.command("show")
@click.argument("slug")
@with_runtime
def schools_show(runtime: Runtime, slug: str) -> None:
    """Show a school's identity and its policy (what `schools set` changes)."""
    with runtime.db.unit_of_work() as session:
        school = _school(session, slug)
        console = Console()
        console.print(f"{school.slug}: {school.legal_name} ({school.country})"
                      + (f", {school.homepage}" if school.homepage else ""))
        table = Table("setting", "value", "choices", "meaning", title="policy")
        for setting in school_policy.SETTINGS:
            shown = school_policy.value(school, setting.key)
            if setting.key == "ags_score" and shown == "default":
                granted = school_policy.platform_granted_ags(session, school.id)
                shown = f"default ({'on: the platform granted AGS' if granted else 'off: no AGS line item yet'})"
            table.add_row(setting.key, shown, " | ".join(setting.choices), setting.meaning)
        console.print(table)


@schools.command("set")
@click.argument("slug")
@click.option("--ags-score", type=click.Choice(["on", "off", "default"]), default=None,
              help='post a "credential issued" score to the Moodle gradebook (default: on where AGS is granted)')
@click.option("--notify-email", type=click.Choice(["on", "off"]), default=None,
              help="e-mail learners when a credential is issued")
@click.option("--suspended-enrolment", type=click.Choice(["teacher_approval", "issue", "hold"]), default=None,
              help="credentials of learners no longer actively enrolled")
@click.option("--revoke-on-regression", type=click.Choice(["ask", "auto"]), default=None,
              help="auto: a reversed grade also revokes the issued credential")
@with_runtime
def schools_set(runtime: Runtime, slug: str, **choices: str | None) -> None:
    """Change a school's policy; what is not given stays as it is."""
    wanted = {key: value for key, value in choices.items() if value is not None}
    if not wanted:
        raise click.UsageError("name at least one setting to change (see `credbridge schools set --help`)")
    with runtime.db.unit_of_work() as session:
        school = _school(session, slug)
        before = {key: school_policy.value(school, key) for key in wanted}
        for key, value in wanted.items():
            school_policy.set_value(school, key, value)
        session.add(AuditEntry(school_id=school.id, actor="cli", action="school.policy_changed",
                               subject_type="school", subject_id=str(school.id),
                               details={"before": before, "after": wanted}))
    for key, value in wanted.items():
        click.echo(f"{slug}: {key} = {value}")


def _school(session: Session, slug: str) -> School:
    school = session.scalar(select(School).where(School.slug == slug))
    if school is None:
        raise click.BadParameter(f"no school with slug {slug!r} (see `credbridge schools list`)", param_hint="SLUG")
    return school


@click.group()
def admins() -> None:
    """School administrators who log in to the admin console directly."""


@admins.command("add")
@click.option("--school", "school_slug", required=True, help="the school's slug")
@click.option("--email", required=True)
@click.option("--name", "display_name", default="", help="shown in the console and the audit log")
@click.password_option(help="at least 12 characters; asked for when not given")
@with_runtime
def admins_add(runtime: Runtime, school_slug: str, email: str, display_name: str, password: str) -> None:
    """Add a console administrator (or set a new password for an existing one)."""
    try:
        password_hash = hash_password(password)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--password") from None
    email = email.strip().casefold()
    with runtime.db.unit_of_work() as session:
        school = session.scalar(select(School).where(School.slug == school_slug))
        if school is None:
            raise click.BadParameter(f"no school with slug {school_slug!r}", param_hint="--school")
        admin = session.scalar(select(AdminUser).where(AdminUser.email == email))
        if admin is not None and admin.school_id != school.id:
            raise click.BadParameter(f"{email} administers another school", param_hint="--email")
        action = "admin.password_set" if admin else "admin.created"
        if admin is None:
            admin = AdminUser(school_id=school.id, email=email, display_name=display_name or email,
                              password_hash=password_hash)
            session.add(admin)
        admin.password_hash = password_hash
        session.flush()
        session.add(AuditEntry(school_id=school.id, actor="cli", action=action, subject_type="admin_user",
                               subject_id=str(admin.id), details={"email": email}))
    click.echo(f"{email} can log in at {runtime.settings.base_url}/admin/login")
