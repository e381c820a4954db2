"""The process counters (syncs, WS calls, errors, lease takeovers) and the database figures behind /metrics."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import and_

from credbridge.connector import leases, metrics
from credbridge.connector.moodle.client import MoodleClient
from credbridge.connector.moodle.errors import InvalidToken
from credbridge.connector.store.base import utcnow
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import Award, Credential, Evidence, Learner, School, WorkItem
from credbridge.connector.sync import runner
from credbridge.emulator.dataset import Site
from credbridge.emulator.server import RunningEmulator, serve_in_thread
from tests.conftest import FIXTURES
from tests.sync.conftest import make_connection


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    with serve_in_thread(Site.from_recording(FIXTURES / "testdata.json")) as running:
        yield running


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_sync_counts_itself_and_its_ws_calls(sqlite_database: Database, emulator: RunningEmulator) -> None:
    connection_id = make_connection(sqlite_database, emulator.url)
    cid = str(connection_id)
    # connection ids repeat across tests (fresh databases), so compare with the counters before the sync
    functions = ["core_course_get_courses_by_field", "core_enrol_get_enrolled_users", "mod_assign_get_grades",
                 "gradereport_user_get_grade_items", "core_webservice_get_site_info"]
    before_ok = sample("credbridge_syncs_total", connection_id=cid, mode="incremental", status="ok")
    before_calls = {f: sample("credbridge_ws_calls_total", connection_id=cid, function=f) for f in functions}
    before_new = sample("credbridge_evidence_written_total", connection_id=cid, change="new")
    report = runner.sync_connection(sqlite_database, connection_id)
    assert sample("credbridge_syncs_total", connection_id=cid, mode="incremental", status="ok") == before_ok + 1
    for function in functions:
        counted = sample("credbridge_ws_calls_total", connection_id=cid, function=function) - before_calls[function]
        assert counted == report.calls.get(function, 0)
    assert sum(report.calls.get(f, 0) for f in functions) > 0
    assert sample("credbridge_evidence_written_total", connection_id=cid, change="new") - before_new \
        == report.counts.new > 0


def test_a_failed_sync_counts_its_error_by_moodle_errorcode(sqlite_database: Database,
                                                           emulator: RunningEmulator) -> None:
    connection_id = make_connection(sqlite_database, emulator.url)
    cid = str(connection_id)
    before_failed = sample("credbridge_syncs_total", connection_id=cid, mode="incremental", status="failed")
    before_errors = sample("credbridge_ws_errors_total", connection_id=cid, error="invalidtoken")

    def wrong_token(url: str, _token: str, **kwargs: object) -> MoodleClient:
        return MoodleClient(url, "0" * 32, **kwargs)  # type: ignore[arg-type]

    original = runner.client_factory
    runner.client_factory = wrong_token
    try:
        try:
            runner.sync_connection(sqlite_database, connection_id)
        except InvalidToken:
            pass
        else:
            raise AssertionError("a wrong token must fail the sync")
    finally:
        runner.client_factory = original
    assert sample("credbridge_syncs_total", connection_id=cid, mode="incremental", status="failed") \
        == before_failed + 1
    assert sample("credbridge_ws_errors_total", connection_id=cid, error="invalidtoken") == before_errors + 1


def test_a_lease_taken_from_a_dead_worker_is_counted_and_a_free_one_is_not(database: Database) -> None:
    metrics.count_lease_takeovers()
    now = utcnow()
    with database.unit_of_work() as session:
        session.add_all([
            WorkItem(kind="k", key="dead", payload={}, status="running", lease_owner="dead-daemon/w0",
                     lease_expires_at=now - timedelta(seconds=5), run_after=now - timedelta(minutes=1)),
            WorkItem(kind="k", key="free", payload={}, status="pending", run_after=now - timedelta(minutes=1)),
        ])
    before = sample("credbridge_lease_takeovers_total", table="work_item")
    with database.unit_of_work() as session:
        claimed = leases.claim(session, WorkItem, owner="live/w0", lease_seconds=60,
                               due=and_(WorkItem.kind == "k"), order_by=WorkItem.id, limit=5, now=now)
        assert len(claimed) == 2
    assert sample("credbridge_lease_takeovers_total", table="work_item") == before + 1


def test_evidence_to_credential_latency_is_measured_from_the_last_evidence(database: Database) -> None:
    now = utcnow()
    with database.unit_of_work() as session:
        school = School(slug="lat", legal_name="Latency", country="HR")
        session.add(school)
        session.flush()
        learner = Learner(school_id=school.id, full_name="Ivana Kovač")
        session.add(learner)
        session.flush()
        session.add_all([
            Evidence(learner_id=learner.id, kind="competency", source_key="c:1", payload={}, content_hash="a",
                     observed_at=now - timedelta(minutes=30)),
            Evidence(learner_id=learner.id, kind="competency", source_key="c:2", payload={}, content_hash="b",
                     observed_at=now - timedelta(minutes=12)),
            # observed after the decision: not what the award was decided on
            Evidence(learner_id=learner.id, kind="competency", source_key="c:3", payload={}, content_hash="c",
                     observed_at=now - timedelta(minutes=1)),
        ])
        award = Award(school_id=school.id, learner_id=learner.id, template_code="T", template_version=1,
                      status="issued", decided_at=now - timedelta(minutes=10))
        session.add(award)
        session.flush()
        for fmt, minutes in (("ob3-jwt", 2), ("elm", 1)):
            session.add(Credential(uuid=f"00000000-0000-0000-0000-00000000000{minutes}", award_id=award.id,
                                   school_id=school.id, format=fmt, document="{}",
                                   issued_at=now - timedelta(minutes=minutes)))
    with database.unit_of_work() as session:
        figures = metrics.operations_figures(session, now=now)
    assert len(figures.latencies) == 1
    assert abs(figures.latencies[0] - 600.0) < 1.0  # from the evidence (now - 12 min) to the first credential (- 2)
    histogram = next(m for m in metrics.families(figures) if m.name == "credbridge_evidence_to_credential_seconds")
    buckets = {s.labels["le"]: s.value for s in histogram.samples if s.name.endswith("_bucket")}
    assert buckets["300.0"] == 0 and buckets["900.0"] == 1 and buckets["+Inf"] == 1
