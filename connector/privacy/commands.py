"""`credbridge learners find|export|erase` and `credbridge retention`: data protection from the command line."""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from credbridge.connector.commands.common import with_runtime
from credbridge.connector.privacy.erase import ErasureRefused, erase_learner
from credbridge.connector.privacy.export import export_learner, find_learners
from credbridge.connector.privacy.retention import apply_retention
from credbridge.connector.runtime import Runtime
from credbridge.connector.store.models import School


def _school_id(session, slug: str) -> int:
    school_id = session.scalar(select(School.id).where(School.slug == slug))
    if school_id is None:
        raise click.ClickException(f"no school {slug!r} (see `credbridge schools list`)")
    return school_id


def _one_learner(session, slug: str, who: str) -> int:
    found = find_learners(session, _school_id(session, slug), who)
    exact = [learner for learner in found if who in (str(learner.id), learner.email, learner.idnumber)]
    chosen = exact or found
    if not chosen:
        raise click.ClickException(f"no learner of {slug} matches {who!r}")
    if len(chosen) > 1:
        names = ", ".join(f"{learner.id} ({learner.full_name})" for learner in chosen[:10])
        raise click.ClickException(f"{who!r} matches {len(chosen)} learners: {names}; give the learner id")
    return chosen[0].id


@click.group()
def learners() -> None:
    """A learner's data: find, export everything (GDPR access), erase on request."""


@learners.command("find")
@click.option("--school", "slug", required=True, help="the school's slug")
@click.argument("query")
@with_runtime
def learners_find(runtime: Runtime, slug: str, query: str) -> None:
    """Learners by id, e-mail, idnumber, Moodle username or part of the name."""
    with runtime.db.unit_of_work() as session:
        rows = find_learners(session, _school_id(session, slug), query)
        table = Table("id", "name", "e-mail", "idnumber", "erased")
        for learner in rows:
            table.add_row(str(learner.id), learner.full_name, learner.email or "", learner.idnumber or "",
                          f"{learner.erased_at:%Y-%m-%d}" if learner.erased_at else "")
    if not rows:
        raise click.ClickException(f"no learner of {slug} matches {query!r}")
    Console().print(table)


@learners.command("export")
@click.option("--school", "slug", required=True, help="the school's slug")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="write here (default: standard output)")
@click.argument("learner")
@with_runtime
def learners_export(runtime: Runtime, slug: str, out: Path | None, learner: str) -> None:
    """Everything credbridge holds about LEARNER (id, e-mail or idnumber) as JSON."""
    with runtime.db.unit_of_work() as session:
        learner_id = _one_learner(session, slug, learner)
        document = export_learner(session, learner_id, school_id=_school_id(session, slug))
    text = json.dumps(document, indent=2, ensure_ascii=False, default=str)
    if out is None:
        click.echo(text)
        return
    out.write_text(text + "\n", encoding="utf-8")
    out.chmod(0o600)  # it is personal data
    click.echo(f"learner {learner_id}: {len(document['evidence'])} evidence rows, {len(document['awards'])} awards, "
               f"{len(document['credentials'])} credentials written to {out}", err=True)


@learners.command("erase")
@click.option("--school", "slug", required=True, help="the school's slug")
@click.option("--reason", required=True, help="why (e.g. the request's reference); written to the audit log")
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
@click.argument("learner")
@with_runtime
def learners_erase(runtime: Runtime, slug: str, reason: str, yes: bool, learner: str) -> None:
    """Erase LEARNER's personal data on request; credentials already issued stay valid.

    Erase or unenrol the learner in Moodle first: a learner still in Moodle is read again by the next sync.
    """
    with runtime.db.unit_of_work() as session:
        learner_id = _one_learner(session, slug, learner)
        preview = export_learner(session, learner_id)
    name = preview["learner"]["full_name"]
    if not yes:
        click.confirm(f"Erase {name} (learner {learner_id}): {len(preview['evidence'])} evidence rows, "
                      f"{len(preview['awards'])} awards, {len(preview['credentials'])} credentials (kept valid)?",
                      abort=True)
    actor = f"cli:{getpass.getuser()}"
    try:
        with runtime.db.unit_of_work() as session:
            report = erase_learner(session, learner_id, actor=actor, reason=reason,
                                   school_id=_school_id(session, slug))
    except ErasureRefused as exc:
        raise click.ClickException(str(exc)) from None
    table = Table("erased", "rows")
    for what, n in report.as_dict().items():
        table.add_row(what.replace("_", " "), str(n))
    Console(file=sys.stdout).print(table)
    click.echo(f"learner {learner_id} erased; the audit log says so (learner.erased)")


@click.command()
@click.option("--dry-run", is_flag=True, help="count what would be deleted, delete nothing")
@with_runtime
def retention(runtime: Runtime, dry_run: bool) -> None:
    """Apply the retention settings now (the daemon does it once a day)."""
    session = runtime.db.sessions()
    try:
        report = apply_retention(session, runtime.settings)
        if dry_run:
            session.rollback()
        else:
            session.commit()
    finally:
        session.close()
    table = Table("what", "would delete" if dry_run else "deleted")
    for what, n in report.deleted.items():
        table.add_row(what, str(n))
    Console().print(table)
