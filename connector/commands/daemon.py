"""`credbridge daemon`: scheduled Moodle syncs, evaluation and the issuance outbox, until SIGTERM."""

from __future__ import annotations

import click

from credbridge.connector.commands.common import with_runtime
from credbridge.connector.runtime import Runtime


@click.command()
@click.option("--workers", default=2, show_default=True, help="worker threads claiming work items")
@click.option("--once", is_flag=True,
              help="queue a sync of every connection, run all due work and one outbox pass, then exit")
@with_runtime
def daemon(runtime: Runtime, workers: int, once: bool) -> None:
    """Run scheduled syncs, evaluations and issuance until SIGTERM/SIGINT.

    Several daemons may share one PostgreSQL database: work is claimed with row leases.
    """
    from credbridge.connector import metrics
    from credbridge.connector.daemon import build_daemon
    from credbridge.connector.issuing.pipeline.runner import run_outbox_pass
    from credbridge.connector.sync.daemon import enqueue_due_syncs
    from credbridge.connector.sync.worker import Worker

    metrics.count_lease_takeovers()
    if runtime.settings.daemon_metrics_port:
        metrics.start_daemon_exporter(runtime.db, runtime.settings.daemon_metrics_host,
                                      runtime.settings.daemon_metrics_port)
    if once:
        from credbridge.connector.issuing.pipeline import handlers

        handlers.register()
        enqueue_due_syncs(runtime.db)
        worker = Worker(runtime.db, f"{runtime.settings.daemon_id}/once", settings=runtime.settings,
                        lease_seconds=runtime.settings.lease_seconds)
        done = worker.run_until_idle()
        stats = run_outbox_pass(runtime.db, runtime.settings)
        click.echo(f"ran {done} work items; outbox: {stats.sent} sent, {stats.failed} failed, {stats.dead} dead")
        return
    build_daemon(runtime.db, runtime.settings, workers=workers).run_forever()
