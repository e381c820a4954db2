"""`credbridge mappings …`: check, import, preview and publish the school's mapping files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Column, Table
from sqlalchemy import select

from credbridge.connector.commands.common import track, with_runtime
from credbridge.connector.runtime import Runtime
from credbridge.connector.store.models import Enrolment, Learner, School
from credbridge.mappings import MappingError, MappingSet, evaluate, load_mapping_file, resolve, warnings_of
from credbridge.mappings.catalogue import catalogue
from credbridge.mappings.model import credit_totals
from credbridge.mappings.preview import preview as preview_rows


def _console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def _school(runtime: Runtime, slug: str) -> School:
    with runtime.db.unit_of_work() as session:
        school = session.scalar(select(School).where(School.slug == slug))
    if school is None:
        raise click.BadParameter(f"no school with slug {slug!r} (see `credbridge schools list`)",
                                 param_hint="--school")
    return school


def _print_problems(console: Console, error: MappingError) -> None:
    for p in error.problems:
        console.print(f"[bold red]{p.file}:{p.line}:{p.column}[/]: {p.message} [dim]({p.code})[/]")


def _templates_table(ms: MappingSet) -> Table:
    table = Table("version", "units", "EQF", "credits", "policy", "outputs", title="Templates")
    table.columns.insert(0, Column("template", no_wrap=True))
    for t in ms.templates:
        units = ms.template_unit_codes(t.code)
        credits = credit_totals(ms.unit(code).workload for code in units)
        levels = [ms.unit(code).eqf_level for code in units if ms.unit(code).eqf_level is not None]
        eqf = t.eqf_level or (max(levels) if levels else None)
        table.add_row(t.code, str(t.version), ", ".join(units), str(eqf).rsplit("/", 1)[-1] if eqf else "–",
                      ", ".join(f"{v.normalize():f} {k}" for k, v in credits.items()) or "–", str(t.issue_policy.value),
                      ", ".join(t.outputs))
    return table


@click.group()
def mappings() -> None:
    """Mapping files: units, micro-credential templates and the Moodle evidence that earns them."""


@mappings.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def validate(paths: tuple[Path, ...]) -> None:
    """Check mapping files: every problem with file, line and column; exit 1 if any file is wrong.

    A template missing a mandatory Annex I element, or breaking its country's national rule, is an
    error: it could not issue.
    """
    console = _console()
    failed = False
    for path in paths:
        try:
            ms = load_mapping_file(path)
        except MappingError as error:
            failed = True
            _print_problems(console, error)
            continue
        for warning in warnings_of(ms):
            console.print(f"[yellow]{warning.file}:{warning.line}:{warning.column}[/]: {warning.message}")
        console.print(f"[green]{path}[/]: {len(ms.units)} units, {len(ms.templates)} templates, all complete")
        console.print(_templates_table(ms))
    sys.exit(1 if failed else 0)


@mappings.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--school", "school_slug", required=True, help="the school's slug")
@click.option("--dry-run", is_flag=True, help="show what would change, change nothing")
@click.option("--by", "uploaded_by", default="cli", show_default=True, help="who uploads (for the audit log)")
@with_runtime
def import_(runtime: Runtime, path: Path, school_slug: str, dry_run: bool, uploaded_by: str) -> None:
    """Load a mapping file into the store; a changed template becomes a new version."""
    from credbridge.connector.awards.catalogue import import_mapping_file, preview_import

    console = _console()
    school = _school(runtime, school_slug)
    try:
        with runtime.db.unit_of_work() as session:
            school = session.merge(school)
            result = (preview_import(session, school, path) if dry_run
                      else import_mapping_file(session, school, path, uploaded_by))
            if dry_run:
                session.rollback()
    except MappingError as error:
        _print_problems(console, error)
        sys.exit(1)
    for change in result.changes or ["no changes"]:
        console.print(f"  {change}")
    for code, missing in result.incomplete.items():
        console.print(f"[yellow]{code}[/] cannot issue yet: missing {', '.join(missing)}")
    if not dry_run:
        console.print(f"imported; new versions: {', '.join(result.new_versions) or 'none'}")


@mappings.command()
@click.option("--school", "school_slug", required=True, help="the school's slug")
@click.option("--units/--no-units", default=False, help="also list units, not only templates")
@click.option("--json", "as_json", is_flag=True, help="rows as JSON lines instead of a table")
@with_runtime
def preview(runtime: Runtime, school_slug: str, units: bool, as_json: bool) -> None:
    """Dry run: who would earn what right now, and why — nothing is issued or written."""
    from credbridge.connector.awards.catalogue import current_mapping_set
    from credbridge.connector.awards.sources import learner_facts, school_structure

    school = _school(runtime, school_slug)
    with runtime.db.unit_of_work() as session:
        school = session.merge(school)
        ms = current_mapping_set(session, school)
        if ms is None:
            raise click.UsageError(f"school {school_slug} has no mapping file yet (`credbridge mappings import`)")
        try:
            resolved = resolve(ms, school_structure(session, school))
        except MappingError as error:
            _print_problems(_console(), error)
            sys.exit(1)
        learners = session.scalars(
            select(Learner).where(Learner.school_id == school.id,
                                  Learner.id.in_(select(Enrolment.learner_id))).order_by(Learner.full_name)).all()
        results = {f"{lr.full_name} ({lr.idnumber or lr.id})": evaluate(resolved, learner_facts(session, lr.id))
                   for lr in track(learners, "evaluating learners")}
    rows = preview_rows(results, units=units)
    if as_json:
        for row in rows:
            click.echo(json.dumps(row._asdict(), ensure_ascii=False, default=str))
        return
    table = Table("learner", "kind", "code", "version", "state", "why", title="Who would earn what")
    for row in rows:
        table.add_row(*(str(v) if v is not None else "" for v in row))
    _console().print(table)


@mappings.command("export-catalogue")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="write here instead of standard output")
def export_catalogue(path: Path, out_file: Path | None) -> None:
    """The school's micro-credential offer as ELM v3 JSON-LD, for a national register or Europass."""
    try:
        ms = load_mapping_file(path)
    except MappingError as error:
        _print_problems(_console(), error)
        sys.exit(1)
    document = json.dumps(catalogue(ms), ensure_ascii=False, indent=2)
    if out_file is None:
        click.echo(document)
    else:
        out_file.write_text(document + "\n", encoding="utf-8")
        click.echo(f"wrote {out_file}")


@mappings.command()
def schema() -> None:
    """Print the JSON Schema of mapping files (for editors such as VS Code's YAML extension)."""
    from credbridge.mappings import json_schema

    click.echo(json.dumps(json_schema(), indent=2))
