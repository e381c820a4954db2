"""What an operator watches: Prometheus metrics and the same figures for the console.

Two kinds of figures:

* **Counters of this process** (``prometheus_client``), kept by the daemon: syncs per connection by
  mode and outcome, Moodle Web Services calls per connection and function, errors that failed a sync
  (Moodle's errorcode or the transport failure), and lease takeovers (a work item or outbox row taken
  from a worker whose lease expired: that worker died or hung). They reset when the process restarts,
  which Prometheus' ``rate()`` and ``increase()`` expect.
* **State of the database**, read at scrape time by :class:`DatabaseCollector` (identical whichever
  web or daemon process answers): evidence rows, awards by state, outbox depth, work items, each
  connection's last sync, the scheduler leader, and the evidence→credential latency of the credentials
  issued in the last 24 hours (a gauge histogram: a window, not an ever-growing count).

:func:`operations_figures` returns the database figures for one school (the console's operations
page) or for all (the collector), so both always agree.
"""

from __future__ import annotations

import logging
from collections import Counter as Tally
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import and_, event, func, select
from sqlalchemy.orm import Session

from credbridge.connector import leases
from credbridge.connector.store.base import utcnow
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import (
    Award,
    Credential,
    Evidence,
    Learner,
    LmsConnection,
    OutboxItem,
    School,
    SyncRun,
    WorkItem,
)

log = logging.getLogger(__name__)

SYNCS = Counter("credbridge_syncs", "Syncs of a Moodle connection, by mode and outcome",
                ["connection_id", "mode", "status"])
WS_CALLS = Counter("credbridge_ws_calls", "Moodle Web Services calls, by connection and function",
                   ["connection_id", "function"])
WS_ERRORS = Counter("credbridge_ws_errors", "Moodle Web Services failures that ended a sync, by connection "
                    "and error (Moodle's errorcode, or the transport failure)", ["connection_id", "error"])
EVIDENCE_WRITTEN = Counter("credbridge_evidence_written", "Evidence versions written by sync, by change",
                           ["connection_id", "change"])
LEASE_TAKEOVERS = Counter("credbridge_lease_takeovers", "Leased rows taken over from a worker whose lease "
                          "expired (it died or hung), by table", ["table"])

#: bucket bounds (seconds) of the evidence→credential latency: 1 min … 1 week, then +Inf
LATENCY_BUCKETS = (60.0, 300.0, 900.0, 1800.0, 3600.0, 4 * 3600.0, 12 * 3600.0, 86400.0, 3 * 86400.0,
                   7 * 86400.0)
LATENCY_WINDOW = timedelta(hours=24)
OUTBOX_WAITING = ("pending", "sending", "failed")
__all__ = ["CONTENT_TYPE", "LEASE_TAKEOVERS", "SYNCS", "WS_CALLS", "WS_ERRORS", "DatabaseCollector",
           "OperationsFigures", "count_lease_takeovers", "operations_figures", "record_sync",
           "start_daemon_exporter", "web_registry"]


# ------------------------------------------------------------------------------------------ process counters
def record_sync(connection_id: int, mode: str, calls: Mapping[str, int], *, error: BaseException | None = None,
                new: int = 0, changed: int = 0, withdrawn: int = 0) -> None:
    """Count one finished (or failed) sync and its WS calls."""
    cid = str(connection_id)
    SYNCS.labels(cid, mode, "failed" if error is not None else "ok").inc()
    for function, count in calls.items():
        if count:
            WS_CALLS.labels(cid, function).inc(count)
    if error is not None:
        WS_ERRORS.labels(cid, error_label(error)).inc()
    for change, count in (("new", new), ("changed", changed), ("withdrawn", withdrawn)):
        if count:
            EVIDENCE_WRITTEN.labels(cid, change).inc(count)


def error_label(error: BaseException) -> str:
    """A bounded label: Moodle's errorcode, or the exception's class (never its message)."""
    code = getattr(error, "errorcode", None)
    return str(code)[:60] if code else type(error).__name__


_lease_events_installed = False


def count_lease_takeovers(models: Iterable[type] = (WorkItem, OutboxItem)) -> None:
    """Count every lease taken over from another worker (it can only be taken once that lease has
    expired: see :mod:`credbridge.connector.leases`): the claims, which write the lease in one UPDATE
    and report each row taken from someone else, and any ORM write of ``lease_owner`` that replaces
    another worker's name. Idempotent."""
    global _lease_events_installed
    if _lease_events_installed:
        return
    leases.on_takeover(_claimed_from_another)
    for model in models:
        table = model.__tablename__  # type: ignore[attr-defined]

        def on_set(target: Any, value: Any, old: Any, _initiator: Any, table: str = table) -> None:
            if value is not None and old not in (None, value) and isinstance(old, str):
                _claimed_from_another(table, getattr(target, "id", "?"), old, value)

        event.listen(model.lease_owner, "set", on_set)  # type: ignore[attr-defined]
    _lease_events_installed = True


def _claimed_from_another(table: str, row_id: object, previous: str, owner: str) -> None:
    LEASE_TAKEOVERS.labels(table).inc()
    log.warning("%s %s: taken over by %s from %s, whose lease expired", table, row_id, owner, previous)


# ------------------------------------------------------------------------------------------ database figures
@dataclass
class ConnectionFigures:
    id: int
    school: str
    name: str
    last_sync_at: datetime | None
    last_status: str | None
    last_ws_calls: int | None
    last_seconds: float | None
    syncs_24h: int = 0
    failed_24h: int = 0
    ws_calls_24h: int = 0
    last_error: str | None = None
    evidence_current: int = 0


@dataclass
class OperationsFigures:
    connections: list[ConnectionFigures] = field(default_factory=list)
    evidence_rows: int = 0
    evidence_current: int = 0
    awards: dict[str, int] = field(default_factory=dict)
    outbox: dict[str, int] = field(default_factory=dict)
    work: dict[tuple[str, str], int] = field(default_factory=dict)
    stuck_work: int = 0
    latencies: list[float] = field(default_factory=list)
    leader: str | None = None

    @property
    def outbox_depth(self) -> int:
        return sum(n for status, n in self.outbox.items() if status in OUTBOX_WAITING)

    def latency_quantile(self, q: float) -> float | None:
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def operations_figures(session: Session, school_id: int | None = None,
                       now: datetime | None = None) -> OperationsFigures:
    """Every database figure, for one school or (``None``) for the whole installation."""
    from credbridge.connector.sync.leader import current_leader

    now = now or utcnow()
    since = now - LATENCY_WINDOW
    figures = OperationsFigures(leader=current_leader(session, now))

    def scoped(query: Any, column: Any) -> Any:
        return query if school_id is None else query.where(column == school_id)

    connections = session.execute(scoped(
        select(LmsConnection.id, School.slug, LmsConnection.name, LmsConnection.last_error)
        .join(School, School.id == LmsConnection.school_id).order_by(LmsConnection.id), LmsConnection.school_id)).all()
    ids = [row.id for row in connections]
    last_runs: dict[int, SyncRun] = {}
    day: dict[int, Tally[str]] = {cid: Tally() for cid in ids}
    if ids:
        latest = (select(SyncRun.connection_id, func.max(SyncRun.id).label("id"))
                  .where(SyncRun.connection_id.in_(ids)).group_by(SyncRun.connection_id).subquery())
        for run in session.scalars(select(SyncRun).join(latest, SyncRun.id == latest.c.id)):
            last_runs[run.connection_id] = run
        total_calls = func.coalesce(func.sum(SyncRun.ws_calls), 0)
        for cid, status, n, calls in session.execute(
                select(SyncRun.connection_id, SyncRun.status, func.count(), total_calls)
                .where(SyncRun.connection_id.in_(ids), SyncRun.started_at >= since)
                .group_by(SyncRun.connection_id, SyncRun.status)):
            day[cid][status] += n
            day[cid]["_calls"] += int(calls)
    evidence = dict(session.execute(
        select(Evidence.connection_id, func.count()).where(Evidence.is_current.is_(True),
                                                           Evidence.connection_id.in_(ids))
        .group_by(Evidence.connection_id)).all()) if ids else {}
    for row in connections:
        run = last_runs.get(row.id)
        seconds = ((run.finished_at - run.started_at).total_seconds()
                   if run is not None and run.finished_at is not None else None)
        figures.connections.append(ConnectionFigures(
            id=row.id, school=row.slug, name=row.name, last_sync_at=run.started_at if run else None,
            last_status=run.status if run else None, last_ws_calls=run.ws_calls if run else None,
            last_seconds=seconds, syncs_24h=sum(v for k, v in day[row.id].items() if k != "_calls"),
            failed_24h=day[row.id]["failed"], ws_calls_24h=day[row.id]["_calls"],
            last_error=(run.error if run is not None and run.status == "failed" else None) or row.last_error,
            evidence_current=int(evidence.get(row.id, 0))))

    learners_of_school = None
    if school_id is not None:
        learners_of_school = select(Learner.id).where(Learner.school_id == school_id).scalar_subquery()
    evidence_query = select(Evidence.is_current, func.count()).group_by(Evidence.is_current)
    if learners_of_school is not None:
        evidence_query = evidence_query.where(Evidence.learner_id.in_(learners_of_school))
    for current, n in session.execute(evidence_query):
        figures.evidence_rows += n
        if current:
            figures.evidence_current += n
    figures.awards = dict(session.execute(scoped(select(Award.status, func.count()).group_by(Award.status),
                                                 Award.school_id)).all())
    outbox = select(OutboxItem.status, func.count()).join(Award, Award.id == OutboxItem.award_id) \
        .group_by(OutboxItem.status)
    figures.outbox = dict(session.execute(scoped(outbox, Award.school_id)).all())
    work = select(WorkItem.kind, WorkItem.status, func.count()).group_by(WorkItem.kind, WorkItem.status)
    figures.work = {(k, s): n for k, s, n in session.execute(scoped(work, WorkItem.school_id))}
    stuck = select(func.count()).select_from(WorkItem).where(WorkItem.status == "running",
                                                              WorkItem.lease_expires_at < now)
    figures.stuck_work = int(session.scalar(scoped(stuck, WorkItem.school_id)) or 0)
    figures.latencies = _latencies(session, school_id, since)
    return figures


def _latencies(session: Session, school_id: int | None, since: datetime) -> list[float]:
    """Seconds from the last evidence a learner's award was decided on to its first credential, for the
    credentials issued since ``since`` (one figure per award)."""
    first = (select(Credential.award_id, func.min(Credential.issued_at).label("issued_at"))
             .where(Credential.issued_at >= since).group_by(Credential.award_id).subquery())
    newest_evidence = (select(func.max(Evidence.observed_at))
                       .where(and_(Evidence.learner_id == Award.learner_id, Evidence.observed_at <= Award.decided_at))
                       .scalar_subquery())
    query = select(first.c.issued_at, newest_evidence, Award.decided_at).join(Award, Award.id == first.c.award_id)
    if school_id is not None:
        query = query.where(Award.school_id == school_id)
    values = []
    for issued_at, observed_at, decided_at in session.execute(query):
        start = observed_at or decided_at
        if issued_at is not None and start is not None:
            values.append(max(0.0, (_aware(issued_at) - _aware(start)).total_seconds()))
    return values


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# ------------------------------------------------------------------------------------------ the collector
class DatabaseCollector(Collector):
    """Reads :func:`operations_figures` at every scrape (a handful of aggregate queries)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def describe(self) -> list[Metric]:
        return []  # collected lazily: registering must not query the database

    def collect(self) -> Iterator[Metric]:
        try:
            with self.db.unit_of_work() as session:
                figures = operations_figures(session)
        except Exception:
            log.exception("metrics: the database figures could not be read")
            up = GaugeMetricFamily("credbridge_database_up", "1 if the database answered this scrape")
            up.add_metric([], 0)
            yield up
            return
        yield from families(figures)


def families(figures: OperationsFigures) -> Iterator[Metric]:
    up = GaugeMetricFamily("credbridge_database_up", "1 if the database answered this scrape")
    up.add_metric([], 1)
    yield up
    info = GaugeMetricFamily("credbridge_connection_info", "A Moodle connection (join on connection_id)",
                             labels=["connection_id", "school", "name"])
    last = GaugeMetricFamily("credbridge_connection_last_sync_timestamp_seconds", "Start of the last sync",
                             labels=["connection_id"])
    ok = GaugeMetricFamily("credbridge_connection_last_sync_ok", "1 if the last sync succeeded",
                           labels=["connection_id"])
    calls = GaugeMetricFamily("credbridge_connection_last_sync_ws_calls", "WS calls of the last sync",
                              labels=["connection_id"])
    failed = GaugeMetricFamily("credbridge_connection_failed_syncs_24h", "Failed syncs in the last 24 hours",
                               labels=["connection_id"])
    for c in figures.connections:
        cid = str(c.id)
        info.add_metric([cid, c.school, c.name], 1)
        if c.last_sync_at is not None:
            last.add_metric([cid], c.last_sync_at.timestamp())
            ok.add_metric([cid], 1 if c.last_status == "ok" else 0)
            calls.add_metric([cid], c.last_ws_calls or 0)
        failed.add_metric([cid], c.failed_24h)
    yield from (info, last, ok, calls, failed)
    evidence = GaugeMetricFamily("credbridge_evidence_rows", "Evidence rows (every version)", labels=["current"])
    evidence.add_metric(["true"], figures.evidence_current)
    evidence.add_metric(["false"], figures.evidence_rows - figures.evidence_current)
    yield evidence
    awards = GaugeMetricFamily("credbridge_awards", "Awards by state", labels=["state"])
    for state, n in sorted(figures.awards.items()):
        awards.add_metric([state], n)
    yield awards
    outbox = GaugeMetricFamily("credbridge_outbox_items", "Issuance outbox rows by status", labels=["status"])
    for status, n in sorted(figures.outbox.items()):
        outbox.add_metric([status], n)
    yield outbox
    depth = GaugeMetricFamily("credbridge_outbox_depth", "Outbox rows not yet delivered (pending, sending, failed)")
    depth.add_metric([], figures.outbox_depth)
    yield depth
    work = GaugeMetricFamily("credbridge_work_items", "Work items by kind and status", labels=["kind", "status"])
    for (kind, status), n in sorted(figures.work.items()):
        work.add_metric([kind, status], n)
    yield work
    stuck = GaugeMetricFamily("credbridge_work_items_lease_expired", "Running work items whose lease expired "
                              "(their worker died; another daemon takes them over)")
    stuck.add_metric([], figures.stuck_work)
    yield stuck
    leader = GaugeMetricFamily("credbridge_scheduler_leader", "1 for the daemon that keeps the schedule",
                               labels=["daemon"])
    if figures.leader:
        leader.add_metric([figures.leader], 1)
    yield leader
    latency = GaugeHistogramMetricFamily(
        "credbridge_evidence_to_credential_seconds",
        "From the last evidence an award was decided on to its first credential, for credentials issued in "
        "the last 24 hours")
    buckets, running = [], 0
    ordered = sorted(figures.latencies)
    index = 0
    for bound in LATENCY_BUCKETS:
        while index < len(ordered) and ordered[index] <= bound:
            index += 1
            running += 1
        buckets.append((repr(bound), running))
    buckets.append(("+Inf", len(ordered)))
    latency.add_metric([], buckets, gsum_value=sum(ordered))
    yield latency


def registry_for(db: Database, *, with_process_counters: bool) -> CollectorRegistry:
    """A registry with the database figures, and (in the daemon) this process's counters."""
    from prometheus_client import REGISTRY

    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(db))
    if with_process_counters:
        registry.register(_Forward(REGISTRY))
    return registry


class _Forward(Collector):
    """The default registry's metrics (process, GC and our counters) inside another registry."""

    def __init__(self, source: CollectorRegistry) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        yield from self.source.collect()


def web_registry(db: Database) -> CollectorRegistry:
    """The web side's registry: the database figures and this process's CPU, memory and file handles."""
    from prometheus_client import ProcessCollector

    registry = registry_for(db, with_process_counters=False)
    ProcessCollector(registry=registry)
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)


def start_daemon_exporter(db: Database, host: str, port: int) -> Any:
    """The daemon's own ``/metrics`` on ``host:port`` (a thread of the daemon process)."""
    from prometheus_client import start_http_server

    count_lease_takeovers()
    server, _thread = start_http_server(port, addr=host, registry=registry_for(db, with_process_counters=True))
    log.info("daemon metrics on http://%s:%d/metrics", host, port)
    return server
