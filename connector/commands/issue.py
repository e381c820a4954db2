"""`credbridge issue`, `credbridge credentials …` and `credbridge outbox …`: run the issuance
pipeline by hand, export and revoke credentials, and look after the outbox."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click
from sqlalchemy import func, select

from credbridge.connector.awards import actions
from credbridge.connector.commands.common import progress, with_runtime
from credbridge.connector.issuing.formats.export import IssuedArtefacts, write_export
from credbridge.connector.issuing.keys import school_did_document, school_jwks
from credbridge.connector.issuing.pipeline.runner import make_outbox_worker
from credbridge.connector.issuing.status import status_list_credential_jwt
from credbridge.connector.runtime import Runtime
from credbridge.connector.store.models import Award, Credential, OutboxItem, School, StatusList, WorkItem

CLI_ACTOR = "cli"


def _school_id(runtime: Runtime, slug: str | None) -> int | None:
    if slug is None:
        return None
    with runtime.db.unit_of_work() as session:
        school_id = session.scalar(select(School.id).where(School.slug == slug))
    if school_id is None:
        raise click.BadParameter(f"no school with slug {slug!r}", param_hint="--school")
    return school_id


def evaluate_pending(runtime: Runtime, school_id: int | None) -> int:
    """Run the pending ``evaluate`` work items (learners whose evidence changed)."""
    from credbridge.connector.issuing.pipeline import handlers  # registers the handlers
    from credbridge.connector.sync.worker import Worker

    query = select(func.count()).select_from(WorkItem).where(WorkItem.kind == handlers.EVALUATE,
                                                             WorkItem.status == "pending")
    if school_id is not None:
        query = query.where(WorkItem.school_id == school_id)
    with runtime.db.unit_of_work() as session:
        total = session.scalar(query) or 0
    worker = Worker(runtime.db, f"{runtime.settings.daemon_id}:issue", settings=runtime.settings,
                    lease_seconds=runtime.settings.lease_seconds, kinds=[handlers.EVALUATE])
    done = 0
    with progress("evaluating learners", total) as bar:
        while ran := worker.run_one():  # one learner, or a batch of them
            done += ran
            bar.advance(ran)
    return done


def notify_pending(runtime: Runtime, school_id: int | None) -> int:
    """Run the pending ``notify`` work items: the learner's e-mail and the AGS "credential issued" score
    that issuance queued (the daemon runs them too; a one-shot ``issue`` must not leave them waiting)."""
    from credbridge.connector.issuing.pipeline import handlers  # registers the handlers
    from credbridge.connector.sync.worker import Worker

    worker = Worker(runtime.db, f"{runtime.settings.daemon_id}:notify", settings=runtime.settings,
                    lease_seconds=runtime.settings.lease_seconds, kinds=[handlers.NOTIFY_KIND])
    done = 0
    while worker.run_one():
        done += 1
    return done


def send_due_outbox(runtime: Runtime, school_id: int | None) -> Any:
    query = select(func.count()).select_from(OutboxItem).where(OutboxItem.status.in_(("pending", "failed", "sending")))
    with runtime.db.unit_of_work() as session:
        total = session.scalar(query) or 0
    worker = make_outbox_worker(runtime.db, runtime.settings)
    with progress("issuing credentials", total) as bar:
        return worker.run_once(school_id=school_id, on_item=lambda _id: bar.advance())


@click.command()
@click.option("--school", "school_slug", help="only this school (its slug)")
@click.option("--watch", is_flag=True, help="keep running, one pass every --interval seconds (Ctrl-C stops); "
              "the daemon is the long-running form")
@click.option("--interval", default=30, show_default=True, help="seconds between passes with --watch")
@click.option("--once", is_flag=True, hidden=True, help="one pass, then exit (the default now; kept for scripts)")
@with_runtime
def issue(runtime: Runtime, school_slug: str | None, watch: bool, interval: int, once: bool) -> None:
    """Evaluate learners whose evidence changed, then send due awards to their issuing targets, once.

    Like `credbridge sync`, it does the work that is due and exits; `--watch` repeats it."""
    school_id = _school_id(runtime, school_slug)
    while True:
        evaluated = evaluate_pending(runtime, school_id)
        stats = send_due_outbox(runtime, school_id)
        notified = notify_pending(runtime, school_id)
        click.echo(f"evaluated {evaluated} learners; sent {stats.sent}, retrying {stats.failed}, dead {stats.dead}"
                   f" (reconciled {stats.reconciled}); {notified} notifications (e-mail, AGS score)")
        if once or not watch:
            return
        try:
            time.sleep(interval)
        except KeyboardInterrupt:
            return


@click.group()
def credentials() -> None:
    """Issued credentials: export them, revoke one."""


@credentials.command("export")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="folder to write into (one sub-folder per school)")
@click.option("--school", "school_slug", help="only this school (its slug)")
@with_runtime
def export(runtime: Runtime, out_dir: Path, school_slug: str | None) -> None:
    """Write every issued credential (<uuid>.vc.json, <uuid>.vc.jwt, <uuid>.elm.json) with the school's DID
    document, JWKS and signed status list(s)."""
    school_id = _school_id(runtime, school_slug)
    base_url = runtime.settings.base_url
    written = 0
    with runtime.db.unit_of_work() as session:
        query = select(School).order_by(School.id)
        if school_id is not None:
            query = query.where(School.id == school_id)
        for school in session.scalars(query):
            rows = list(session.scalars(select(Credential).where(Credential.school_id == school.id,
                                                                 Credential.target == "embedded",
                                                                 Credential.document != "")  # not erased
                                        .order_by(Credential.id)))
            if not rows:
                continue
            artefacts = []
            for row in rows:
                # each format is its own credential (own uuid), so each is one artefact
                artefacts.append(IssuedArtefacts(
                    credential_id=f"urn:uuid:{row.uuid}",
                    vc_jwt=row.document if row.format == "ob3-jwt" else None,
                    vc_json=json.loads(row.document) if row.format == "ob3-di" else None,
                    elm_json=json.loads(row.document) if row.format == "elm" else None))
            lists = list(session.scalars(select(StatusList).where(StatusList.school_id == school.id)
                                         .order_by(StatusList.id)))
            directory = out_dir / school.slug
            paths = write_export(directory, artefacts, did_document=school_did_document(session, school, base_url),
                                 jwks=school_jwks(session, school, base_url),
                                 status_list_credential=status_list_credential_jwt(session, school, lists[0], base_url)
                                 if lists else None)
            for extra in lists[1:]:  # a school past 131,072 credentials has more than one list
                (directory / f"status-list-{extra.id}.jwt").write_text(
                    status_list_credential_jwt(session, school, extra, base_url) + "\n", encoding="utf-8")
            written += len(paths)
            click.echo(f"{school.slug}: {len(rows)} credential documents -> {directory}")
    click.echo(f"{written} files written")


@credentials.command("revoke")
@click.argument("credential_uuid")
@click.option("--public-reason", type=click.Choice(sorted(actions.PUBLIC_REVOCATION_REASONS)),
              help="the reason the verification page and outside issuers show (a fixed list, translated)")
@click.option("--note", "--reason", "note", default="",
              help="your own note for the audit log; never shown to verifiers")
@click.option("--actor", default=CLI_ACTOR, show_default=True, help="who revokes (for the audit log)")
@with_runtime
def revoke(runtime: Runtime, credential_uuid: str, public_reason: str | None, note: str, actor: str) -> None:
    """Revoke the award a credential belongs to (all its formats and targets).

    Give a --public-reason (what anyone verifying the credential sees) and/or a private --note; the
    console's revoke form asks for the same two.
    """
    with runtime.db.unit_of_work() as session:
        wanted = credential_uuid.removeprefix("urn:uuid:")
        credential = session.scalar(select(Credential).where(Credential.uuid == wanted))
        if credential is None:
            raise click.ClickException(f"no credential {credential_uuid}")
        try:
            award = actions.revoke(session, credential.school_id, credential.award_id, reason=note,
                                   actor=f"{actor}", public_reason=public_reason)
        except actions.ActionRefused as exc:
            raise click.ClickException(exc.message) from None
        shown = actions.public_reason_text(public_reason)
        click.echo(f"revoked award {award.id} ({award.template_code} v{award.template_version}); "
                   f"verifiers see: {shown}")


@click.group()
def outbox() -> None:
    """The issuance outbox: what is waiting, failing or dead, and retrying dead items."""


@outbox.command("list")
@click.option("--status", type=click.Choice(["pending", "sending", "sent", "failed", "dead"]),
              help="only items in this state (default: everything not sent)")
@click.option("--school", "school_slug", help="only this school (its slug)")
@click.option("--limit", default=100, show_default=True)
@with_runtime
def outbox_list(runtime: Runtime, status: str | None, school_slug: str | None, limit: int) -> None:
    school_id = _school_id(runtime, school_slug)
    query = (select(OutboxItem, Award).join(Award, Award.id == OutboxItem.award_id)
             .order_by(OutboxItem.next_attempt_at).limit(limit))
    query = query.where(OutboxItem.status == status) if status else query.where(OutboxItem.status != "sent")
    if school_id is not None:
        query = query.where(Award.school_id == school_id)
    with runtime.db.unit_of_work() as session:
        rows = session.execute(query).all()
    if not rows:
        click.echo("nothing in the outbox")
        return
    click.echo(f"{'id':>6} {'award':>6} {'target':<10} {'status':<8} {'tries':>5} {'next attempt':<20} last error")
    for item, award in rows:
        click.echo(f"{item.id:>6} {award.id:>6} {item.target:<10} {item.status:<8} {item.attempts:>5} "
                   f"{item.next_attempt_at:%Y-%m-%d %H:%M:%S}  {(item.last_error or '')[:80]}")


@outbox.command("retry")
@click.argument("item_ids", nargs=-1, type=int)
@click.option("--all-dead", is_flag=True, help="retry every dead item")
@click.option("--actor", default=CLI_ACTOR, show_default=True)
@with_runtime
def outbox_retry(runtime: Runtime, item_ids: tuple[int, ...], all_dead: bool, actor: str) -> None:
    """Give dead items a fresh set of attempts (after fixing the target's settings or the data)."""
    if not item_ids and not all_dead:
        raise click.UsageError("name outbox item ids or give --all-dead")
    with runtime.db.unit_of_work() as session:
        query = select(OutboxItem).where(OutboxItem.status == "dead")
        if item_ids:
            query = query.where(OutboxItem.id.in_(item_ids))
        items = list(session.scalars(query))
        award_ids = sorted({i.award_id for i in items})
        retried = 0
        for award_id in award_ids:
            award = session.get(Award, award_id)
            assert award is not None
            if award.status == "dead":
                actions.retry_dead(session, award.school_id, award.id, actor=actor)
                retried += 1
    click.echo(f"retrying {len(items)} outbox items of {retried} awards")
