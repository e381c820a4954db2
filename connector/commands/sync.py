"""`credbridge sync`, `daemon`, `connections add|list|check|remove` and `import-results`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from credbridge.connector.commands.common import Progress, with_runtime

# the one daemon command (sync workers + issuance handlers + outbox) lives in commands/daemon.py;
# re-exported so `credbridge.connector.commands.sync:daemon` keeps working
from credbridge.connector.commands.daemon import daemon as daemon
from credbridge.connector.moodle.client import MoodleClient
from credbridge.connector.moodle.errors import MalformedResponse, MoodleError, TransportError
from credbridge.connector.moodle.functions import MoodleApi
from credbridge.connector.registrations import link_unlinked_registrations
from credbridge.connector.runtime import Runtime
from credbridge.connector.store.models import AuditEntry, LmsConnection, School

EXIT_FAILED = 1
EXIT_USAGE = 2


def _console() -> Console:
    return Console(stderr=False, highlight=False, soft_wrap=True)


def find_connection(session: Session, name: str, school: str | None = None) -> LmsConnection:
    query = select(LmsConnection).where(LmsConnection.name == name)
    if school:
        query = query.join(School).where(School.slug == school)
    found = session.scalars(query).all()
    if not found:
        raise click.UsageError(f"no connection named {name!r}{f' in school {school}' if school else ''} "
                               "(see `credbridge connections list`)")
    if len(found) > 1:
        raise click.UsageError(f"several schools have a connection named {name!r}: add --school SLUG")
    return found[0]


# --- sync -----------------------------------------------------------------------------------------

@click.command()
@click.option("--connection", "name", default=None, help="only this connection (default: every enabled one)")
@click.option("--school", default=None, help="school slug, when connection names repeat across schools")
@click.option("--full", is_flag=True, help="full reconciliation: re-read everything, not just what changed")
@click.option("--course", "course_id", type=int, default=None, help="only this Moodle course id")
@with_runtime
def sync(runtime: Runtime, name: str | None, school: str | None, full: bool, course_id: int | None) -> None:
    """Read evidence from Moodle now (what the daemon does on its schedule)."""
    from credbridge.connector.sync.runner import sync_connection
    from credbridge.connector.sync.strategy import SyncOptions

    with runtime.db.unit_of_work() as session:
        if name:
            targets = [(find_connection(session, name, school).id, name)]
        else:
            targets = [(c.id, c.name) for c in session.scalars(
                select(LmsConnection).where(LmsConnection.enabled.is_(True)).order_by(LmsConnection.id))]
    if not targets:
        raise click.UsageError("no enabled connection: add one with `credbridge connections add`")
    if course_id is not None and len(targets) != 1:
        raise click.UsageError("--course needs --connection")
    failed = 0
    for connection_id, label in targets:
        with Progress(f"sync {label}", None) as bar:
            def progress(done: int, total: int, stage: str, bar: Progress = bar) -> None:
                if total and bar.total != total:
                    bar.set_total(total)
                if done > bar.done:
                    bar.advance(done - bar.done, note=stage)

            try:
                report = sync_connection(runtime.db, connection_id,
                                         SyncOptions(full=full, course_moodle_id=course_id), progress=progress,
                                         worker=f"cli:{runtime.settings.daemon_id}")
            except (MoodleError, TransportError, MalformedResponse) as exc:
                click.echo(f"sync {label}: failed: {exc}", err=True)
                failed += 1
                continue
        click.echo(report.line())
    if failed:
        sys.exit(EXIT_FAILED)


# --- connections ----------------------------------------------------------------------------------

@click.group()
def connections() -> None:
    """Moodle sites credbridge reads evidence from."""


@connections.command("add")
@click.argument("name")
@click.option("--school", required=True, help="school slug (see `credbridge schools list`)")
@click.option("--url", "base_url", required=True, help="Moodle's wwwroot, e.g. https://moodle.school.example")
@click.option("--token", prompt="Web-service token", hide_input=True,
              help="the sync user's WS token (prompted without echo if omitted; stored encrypted)")
@click.option("--interval", type=int, default=None, help="minutes between syncs (default: the daemon setting)")
@click.option("--course-id", "course_ids", type=int, multiple=True, help="sync only these Moodle courses")
@click.option("--category-id", type=int, default=None, help="sync only courses of this Moodle category")
@click.option("--completion-report-id", type=int, default=None,
              help="id of a custom course-completion report (Moodle 4.1+) read on every sync")
@with_runtime
def connections_add(runtime: Runtime, name: str, school: str, base_url: str, token: str, interval: int | None,
                    course_ids: tuple[int, ...], category_id: int | None, completion_report_id: int | None) -> None:
    """Add a Moodle connection (the token is stored encrypted and never printed)."""
    token = token.strip()
    if not base_url.startswith(("http://", "https://")):
        raise click.BadParameter("must start with http:// or https://", param_hint="--url")
    if len(token) < 16:
        raise click.BadParameter("a Moodle WS token is 32 characters", param_hint="--token")
    course_filter: dict[str, Any] = {}
    if course_ids:
        course_filter["course_ids"] = list(course_ids)
    if category_id is not None:
        course_filter["category_id"] = category_id
    if completion_report_id is not None:
        course_filter["completion_report_id"] = completion_report_id
    with runtime.db.unit_of_work() as session:
        school_row = session.scalar(select(School).where(School.slug == school))
        if school_row is None:
            raise click.UsageError(f"no school {school!r} (see `credbridge schools list`)")
        if session.scalar(select(LmsConnection).where(LmsConnection.school_id == school_row.id,
                                                      LmsConnection.name == name)):
            raise click.UsageError(f"school {school} already has a connection named {name!r}")
        conn = LmsConnection(school_id=school_row.id, name=name, base_url=base_url.rstrip("/"), ws_token=token,
                             sync_interval_minutes=interval, course_filter=course_filter)
        session.add(conn)
        session.flush()
        session.add(AuditEntry(school_id=school_row.id, actor="cli", action="connection.add",
                               subject_type="lms_connection", subject_id=str(conn.id),
                               details={"name": name, "base_url": conn.base_url}))
        linked = [r.name or r.client_id for r in link_unlinked_registrations(session, conn, actor="cli")]
    click.echo(f"added connection {name} ({base_url}); run `credbridge connections check {name}` next")
    if linked:
        click.echo(f"linked the LTI registration(s) of this Moodle: {', '.join(linked)}")


@connections.command("list")
@with_runtime
def connections_list(runtime: Runtime) -> None:
    """Show connections and how their last sync went."""
    table = Table("school", "name", "url", "enabled", "interval", "last sync", "last full", "last error")
    with runtime.db.unit_of_work() as session:
        for conn, slug in session.execute(select(LmsConnection, School.slug).join(School).order_by(
                School.slug, LmsConnection.name)):
            table.add_row(slug, conn.name, conn.base_url, "yes" if conn.enabled else "no",
                          str(conn.sync_interval_minutes or runtime.settings.sync_interval_minutes),
                          _when(conn.last_sync_at), _when(conn.last_full_sync_at),
                          # whole: what Moodle hides or refuses names the activities and the capability to grant
                          conn.last_error or "")
    _console().print(table)


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "never"


@connections.command("check")
@click.argument("name")
@click.option("--school", default=None)
@click.option("--course", "course_ids", type=int, multiple=True, help="only this Moodle course id (repeatable)")
@with_runtime
def connections_check(runtime: Runtime, name: str, school: str | None, course_ids: tuple[int, ...]) -> None:
    """Check the token, the service's functions and, course by course, that Moodle shows sync every activity.

    Compares what the completion criteria and the gradebook list with what the course contents and the
    module functions return; names each hidden activity and the capability that would show it. Exits 1
    when anything is refused or hidden."""
    from credbridge.connector.sync.capabilities import check_connection, store_check

    with runtime.db.unit_of_work() as session:
        conn = find_connection(session, name, school)
        connection_id = conn.id
        client = MoodleClient(conn.base_url, conn.ws_token.reveal_text(), retries=1, timeout=20)
        course_filter = dict(conn.course_filter or {})
    try:
        with Progress(f"check {name}", None) as bar:
            report = check_connection(MoodleApi(client), course_filter, course_ids=list(course_ids) or None,
                                      progress=bar.report)
    finally:
        client.close()
    with runtime.db.unit_of_work() as session:
        store_check(session.get(LmsConnection, connection_id), report)
    console = _console()
    table = Table("check", "result", "detail", "what to change in Moodle", title=f"connection {name}")
    for f in report.findings:
        result = "[green]ok[/]" if f.ok else ("[red]FAIL[/]" if f.required else "[yellow]optional[/]")
        table.add_row(f.check, result, f.detail, f.fix)
    console.print(table)
    if report.activities:
        activities = Table("course", "activity", "type", "course contents", "gradebook", "completion criteria",
                           "module function", "result", title="what Moodle shows the sync user, activity by activity")
        for a in report.activities:
            activities.add_row(a.course, a.name, a.modname or "?", _yes(a.contents), _yes(a.gradebook),
                               _yes(a.criteria), a.module_function or "—",
                               f"[red]HIDDEN[/]: {a.fix}" if a.hidden else "[green]visible[/]")
        console.print(activities)
    if report.hidden:
        console.print(f"[red]Moodle hides {len(report.hidden)} activities from the sync user: grant "
                      f"{', '.join(report.hidden_capabilities())} to its role, then check again.[/]")
    if not report.ok:
        click.echo("credbridge cannot sync this connection completely until the problems above are fixed.", err=True)
        sys.exit(EXIT_FAILED)
    click.echo(f"all required checks passed; every activity of {report.courses_checked} course(s) is visible")


def _yes(value: bool | None) -> str:
    return "—" if value is None else ("yes" if value else "[red]no[/]")


@connections.command("remove")
@click.argument("name")
@click.option("--school", default=None)
@click.confirmation_option(prompt="Remove the connection and every course, enrolment and evidence read through it?")
@with_runtime
def connections_remove(runtime: Runtime, name: str, school: str | None) -> None:
    """Remove a connection and everything synced through it."""
    with runtime.db.unit_of_work() as session:
        conn = find_connection(session, name, school)
        session.add(AuditEntry(school_id=conn.school_id, actor="cli", action="connection.remove",
                               subject_type="lms_connection", subject_id=str(conn.id), details={"name": name}))
        session.delete(conn)
    click.echo(f"removed connection {name}")


# --- import-results -------------------------------------------------------------------------------

@click.command("import-results")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--connection", "name", required=True, help="the connection whose learners the sheet names")
@click.option("--school", default=None)
@click.option("--skip-bad-rows", is_flag=True, help="import the valid rows even if some rows are wrong")
@with_runtime
def import_results(runtime: Runtime, file: Path, name: str, school: str | None, skip_bad_rows: bool) -> None:
    """Import onsite exam results from a CSV or XLSX sheet.

    Columns: idnumber|email|username, result (pass/fail) and/or grade [max], date, assessment
    [assessment_name], id_checked, supervised, mode (onsite/online/blended).
    """
    from credbridge.connector.sources.results_file import import_results as run_import

    with runtime.db.unit_of_work() as session:
        conn = find_connection(session, name, school)
        report = run_import(session, conn, file, skip_bad_rows=skip_bad_rows)
    for error in report.errors:
        click.echo(str(error), err=True)
    if not report.written:
        click.echo(f"{len(report.errors)} problem(s); nothing was imported (fix the sheet or use --skip-bad-rows)",
                   err=True)
        sys.exit(EXIT_FAILED)
    click.echo(f"imported {report.imported} rows: {report.counts.new} new, {report.counts.changed} changed"
               + (f", {len(report.errors)} rows skipped" if report.errors else ""))
