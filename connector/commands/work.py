"""`credbridge work list|retry`: work items (syncs, evaluations, notifications) and outbox rows that
wait for an administrator, or for a worker to take over from one that died."""

from __future__ import annotations

import click
from sqlalchemy import select

from credbridge.connector.attention import needs_attention
from credbridge.connector.awards.audit import audit
from credbridge.connector.commands.common import with_runtime
from credbridge.connector.runtime import Runtime
from credbridge.connector.store.models import School


@click.group()
def work() -> None:
    """Work that failed, got stuck, or whose worker died."""


@work.command("list")
@click.option("--school", "school_slug", help="only this school (its slug)")
@click.option("--limit", default=200, show_default=True)
@with_runtime
def work_list(runtime: Runtime, school_slug: str | None, limit: int) -> None:
    """Failed and stuck work items, dead outbox rows, and work whose worker died (with what to do)."""
    from rich.console import Console
    from rich.table import Table

    with runtime.db.unit_of_work() as session:
        school_id = None
        if school_slug:
            school_id = session.scalar(select(School.id).where(School.slug == school_slug))
            if school_id is None:
                raise click.BadParameter(f"no school with slug {school_slug!r}", param_hint="--school")
        rows = needs_attention(session, school_id=school_id, limit=limit)
    if not rows:
        click.echo("nothing needs attention: no failed, stuck or abandoned work")
        return
    table = Table("source", "id", "what", "state", "failures", "crashes", "since", "last error", "what to do",
                  show_lines=False)
    for row in rows:
        table.add_row(row.source, str(row.id), row.what, row.state, str(row.attempts), str(row.crashes),
                      f"{row.since:%Y-%m-%d %H:%M}" if row.since else "", row.error[:80], row.action)
    Console(highlight=False, width=200).print(table)


@work.command("retry")
@click.argument("item_ids", nargs=-1, type=int)
@click.option("--all", "retry_all", is_flag=True, help="every failed or stuck work item")
@with_runtime
def work_retry(runtime: Runtime, item_ids: tuple[int, ...], retry_all: bool) -> None:
    """Start failed or stuck work items again, with fresh counts (outbox rows: `credbridge outbox retry`)."""
    from credbridge.connector.sync.worker import retry_stuck

    if not item_ids and not retry_all:
        raise click.UsageError("name work item ids or give --all")
    with runtime.db.unit_of_work() as session:
        items = retry_stuck(session, list(item_ids) or None)
        names = [f"{i.id} ({i.kind} {i.key})" for i in items]
        for item in items:
            audit(session, school_id=item.school_id, actor="cli", action="work.retried", subject_type="work_item",
                  subject_id=item.id, kind=item.kind, key=item.key)
    if item_ids and len(names) < len(item_ids):
        click.echo("some ids are not failed or stuck work items; left as they are", err=True)
    click.echo(f"retrying {len(names)} work items" + (": " + ", ".join(names) if names else ""))
