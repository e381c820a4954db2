"""`credbridge lti …` (platform registrations) and `credbridge keys …` (the tool's LTI signing keys)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode, urlsplit

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from credbridge.connector.commands.common import with_runtime
from credbridge.connector.keys import (
    PURPOSE,
    REGISTRATION_LINK_LIFETIME,
    ensure_tool_key,
    rotate_tool_key,
    school_registration_token,
)
from credbridge.connector.registrations import connection_at
from credbridge.connector.runtime import Runtime
from credbridge.connector.store.models import (
    AuditEntry,
    LmsConnection,
    LtiDeployment,
    LtiRegistration,
    School,
    SigningKey,
)


def _url(value: str, name: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise click.BadParameter(f"{value!r} is not an absolute http(s) URL", param_hint=name)
    return value


def _school(db, slug: str) -> School:  # type: ignore[no-untyped-def]
    school = db.scalars(select(School).where(School.slug == slug)).first()
    if school is None:
        raise click.ClickException(f"no school {slug!r} (see `credbridge schools list`)")
    return school


@click.group()
def lti() -> None:
    """LTI 1.3 platform registrations (Moodle sites that launch credbridge)."""


@lti.command("register")
@click.option("--school", "school_slug", required=True, help="the school's slug")
@click.option("--issuer", required=True, help="the platform issuer: Moodle's wwwroot")
@click.option("--client-id", required=True)
@click.option("--deployment-id", "deployment_ids", required=True, multiple=True,
              help="Moodle's tool-type id; repeat for several")
@click.option("--auth-url", required=True, help="…/mod/lti/auth.php")
@click.option("--token-url", required=True, help="…/mod/lti/token.php")
@click.option("--jwks-url", required=True, help="…/mod/lti/certs.php")
@click.option("--token-audience", default=None, help="aud of service client assertions (default: token URL)")
@click.option("--connection", "connection_name", default=None, help="the school's Web Services connection name")
@click.option("--name", default="", help="a label for lists")
@with_runtime
def register(runtime: Runtime, school_slug: str, issuer: str, client_id: str, deployment_ids: tuple[str, ...],
             auth_url: str, token_url: str, jwks_url: str, token_audience: str | None,
             connection_name: str | None, name: str) -> None:
    """Register a platform by hand (what Moodle shows under "Tool configuration details")."""
    for value, option in ((issuer, "--issuer"), (auth_url, "--auth-url"), (token_url, "--token-url"),
                          (jwks_url, "--jwks-url")):
        _url(value, option)
    try:
        with runtime.db.unit_of_work() as db:
            school = _school(db, school_slug)
            connection_id = None
            if connection_name:
                connection = db.scalars(select(LmsConnection).where(LmsConnection.school_id == school.id,
                                                                    LmsConnection.name == connection_name)).first()
                if connection is None:
                    raise click.ClickException(f"school {school_slug!r} has no connection {connection_name!r}")
                connection_id = connection.id
            else:
                connection = connection_at(db, school.id, issuer)
                connection_id = connection.id if connection else None
            registration = LtiRegistration(
                school_id=school.id, connection_id=connection_id, name=name, issuer=issuer.rstrip("/"),
                client_id=client_id, auth_login_url=auth_url, auth_token_url=token_url,
                token_audience=token_audience, key_set_url=jwks_url, registered_by="manual")
            db.add(registration)
            db.flush()
            for deployment_id in dict.fromkeys(deployment_ids):
                db.add(LtiDeployment(registration_id=registration.id, deployment_id=deployment_id))
            db.add(AuditEntry(school_id=school.id, actor="cli", action="lti_registration.manual",
                              subject_type="lti_registration", subject_id=str(registration.id),
                              details={"issuer": issuer, "client_id": client_id,
                                       "deployment_ids": list(deployment_ids)}))
            registration_id = registration.id
    except IntegrityError:
        raise click.ClickException(f"issuer {issuer!r} with client id {client_id!r} is already registered") from None
    click.echo(f"registered platform {issuer} (client id {client_id}) as registration {registration_id}")


@lti.command("list")
@with_runtime
def list_registrations(runtime: Runtime) -> None:
    """Every platform registration with its school, deployments and status."""
    table = Table("id", "school", "issuer", "client id", "deployments", "status", "by")
    with runtime.db.unit_of_work() as db:
        for reg, slug in db.execute(select(LtiRegistration, School.slug).join(School)
                                    .order_by(LtiRegistration.id)).all():
            table.add_row(str(reg.id), slug, reg.issuer, reg.client_id,
                          ",".join(d.deployment_id for d in reg.deployments), reg.status, reg.registered_by)
    Console(width=200).print(table)


def _set_status(runtime: Runtime, registration_id: int, status: str) -> None:
    with runtime.db.unit_of_work() as db:
        registration = db.get(LtiRegistration, registration_id)
        if registration is None:
            raise click.ClickException(f"no registration {registration_id} (see `credbridge lti list`)")
        registration.status = status
        db.add(AuditEntry(school_id=registration.school_id, actor="cli", action=f"lti_registration.{status}",
                          subject_type="lti_registration", subject_id=str(registration_id),
                          details={"issuer": registration.issuer}))
    click.echo(f"registration {registration_id} is {status}")


@lti.command("disable")
@click.argument("registration_id", type=int)
@with_runtime
def disable(runtime: Runtime, registration_id: int) -> None:
    """Refuse launches from this registration (its data stays)."""
    _set_status(runtime, registration_id, "disabled")


@lti.command("enable")
@click.argument("registration_id", type=int)
@with_runtime
def enable(runtime: Runtime, registration_id: int) -> None:
    _set_status(runtime, registration_id, "active")


@lti.command("registration-url")
@click.option("--school", "school_slug", required=True)
@with_runtime
def registration_url(runtime: Runtime, school_slug: str) -> None:
    """The Dynamic Registration URL to paste into Moodle (Site administration › Manage tools)."""
    with runtime.db.unit_of_work() as db:
        school_id = _school(db, school_slug).id
    token = school_registration_token(runtime.settings.secret_key.get_secret_value(), school_id)
    click.echo(f"{runtime.settings.base_url}/lti/register?{urlencode({'school': token})}")
    click.echo(f"(registers a platform for {school_slug} only; the link works for "
               f"{REGISTRATION_LINK_LIFETIME.days} days)", err=True)


@click.group()
def keys() -> None:
    """The tool's LTI signing keys (published at /.well-known/jwks.json)."""


@keys.command("rotate")
@click.option("--grace-hours", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="how long the old key stays published")
@with_runtime
def rotate(runtime: Runtime, grace_hours: float) -> None:
    """Make a new current key; the old one is still published for the grace period."""
    with runtime.db.unit_of_work() as db:
        new = rotate_tool_key(db, timedelta(hours=grace_hours), actor="cli")
        kid = new.kid
    click.echo(f"new LTI key {kid}; the previous key stays published for {grace_hours:g} h")


@keys.command("list")
@with_runtime
def list_keys(runtime: Runtime) -> None:
    table = Table("kid", "alg", "created", "retired", "published until")
    now = datetime.now(UTC)
    with runtime.db.unit_of_work() as db:
        ensure_tool_key(db)
        rows = db.scalars(select(SigningKey).where(SigningKey.purpose == PURPOSE, SigningKey.school_id.is_(None))
                          .order_by(SigningKey.created_at)).all()
        for row in rows:
            until = "-" if row.retired_at is None else (
                f"{row.unpublish_after:%Y-%m-%d %H:%M}" if row.unpublish_after and row.unpublish_after > now
                else "unpublished")
            table.add_row(row.kid, row.alg, f"{row.created_at:%Y-%m-%d %H:%M}",
                          f"{row.retired_at:%Y-%m-%d %H:%M}" if row.retired_at else "current", until)
    Console(width=160).print(table)
