"""The fault campaign of issue 13, as a test: `credbridge daemon` SIGKILLed at drawn points of sync,
evaluation and issuance — on SQLite, on PostgreSQL, and with two daemons sharing PostgreSQL — while Moodle
answers 5xx, 429, dropped connections, truncated JSON and an HTML page with status 200, and the webhook
issuer sometimes accepts and then times out. With no manual step, the end state must equal that of an
uninterrupted run on the same data: the same awards, credentials per award and format, evidence versions,
status-list entries and deliveries (one per idempotency key), and nothing running, issuing or leased.

CI runs a bounded version (a small site, a few kills per scenario); ``--campaign`` runs the full one.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from credbridge.connector.store.db import Database
from credbridge.emulator.dataset import Site
from credbridge.emulator.server import RunningEmulator, serve_in_thread
from tests.faults.conftest import Plan
from tests.faults.harness import Fleet, kill_and_replace, run_to_rest
from tests.faults.state import leftovers, snapshot
from tests.faults.world import WEBHOOK_SECRET, furnish, generate_site
from tests.issuing.adapters.fakes import FakeWebhookReceiver, Faults

pytestmark = pytest.mark.slow

#: Moodle faults the client retries by itself (each call, seeded), and ones that fail the whole sync
RETRIED = (("http500", 0.01), ("http502", 0.01), ("http503", 0.01), ("http429", 0.01), ("reset", 0.01))
FAILING = ("truncated", "html200", "malformed")


@pytest.fixture(scope="module")
def site(plan: Plan) -> Site:
    return generate_site(plan.size, plan.seed)


_CLEAN: dict[tuple[Plan, str], tuple[dict[str, Any], int]] = {}


@pytest.fixture
def clean(plan: Plan, site: Site, tmp_path_factory: pytest.TempPathFactory,
          fresh_database: Callable[[str, str], Database]) -> Callable[[str], tuple[dict[str, Any], int]]:
    """The uninterrupted run on each kind of database, once per session: (state, deliveries received)."""
    results = _CLEAN

    def run(kind: str) -> tuple[dict[str, Any], int]:
        if (plan, kind) not in results:
            folder = tmp_path_factory.mktemp(f"clean-{kind}")
            with serve_in_thread(site) as emulator, _receiver(Faults()) as receiver:
                db = fresh_database(kind, "clean")
                furnish(db, site, emulator.url, receiver.url + "/hook")
                fleet = Fleet(db, folder, f"clean-{kind}", lease_seconds=plan.lease_seconds)
                fleet.start()
                try:
                    run_to_rest(db, fleet, timeout=plan.rest_timeout)
                finally:
                    fleet.stop_all()
                assert not any(leftovers(db).values()), leftovers(db)
                results[plan, kind] = snapshot(db), sum(receiver.issued.values())
        return results[plan, kind]

    return run


class _receiver:
    def __init__(self, faults: Faults) -> None:
        self.fake = FakeWebhookReceiver(WEBHOOK_SECRET)
        self.fake.faults = faults

    def __enter__(self) -> FakeWebhookReceiver:
        return self.fake.start()  # type: ignore[return-value]

    def __exit__(self, *_exc: object) -> None:
        self.fake.stop()


@pytest.fixture
def moodle(site: Site) -> Iterator[RunningEmulator]:
    with serve_in_thread(site) as emulator:
        yield emulator


@pytest.mark.parametrize("kind, daemons", [
    pytest.param("sqlite", 1, id="sqlite"),
    pytest.param("postgres", 1, id="postgres", marks=pytest.mark.postgres),
    pytest.param("postgres", 2, id="postgres-two-daemons", marks=pytest.mark.postgres),
])
def test_sigkilled_daemons_end_where_an_uninterrupted_run_ends(kind: str, daemons: int, plan: Plan, site: Site,
                                                               moodle: RunningEmulator, clean, fresh_database,
                                                               tmp_path: Path) -> None:
    expected, expected_deliveries = clean(kind)
    rng = random.Random(f"{plan.seed}:{kind}:{daemons}")
    faults = Faults(rate_500=0.03, rate_timeout_after_commit=0.1, hang_seconds=1.5, delay=0.03,
                    seed=rng.randrange(2**31))
    with _receiver(faults) as receiver:
        db: Database = fresh_database(kind, f"faulted{daemons}")
        furnish(db, site, moodle.url, receiver.url + "/hook")
        for fault, probability in RETRIED:
            moodle.inject_fault(fault, probability=probability, seed=rng.randrange(2**31), retry_after=1)

        def moodle_trouble(number: int) -> None:
            # now and then Moodle answers something the client cannot retry: the whole sync fails
            if number % 3 == 1:
                moodle.inject_fault(FAILING[(number // 3) % len(FAILING)], count=1)
            if plan.hang and number == 2:
                moodle.inject_fault("hang", count=1, hang_seconds=35)

        fleet = Fleet(db, tmp_path, f"{kind}{daemons}", lease_seconds=plan.lease_seconds)
        for _ in range(daemons):
            fleet.start()
        try:
            report = kill_and_replace(db, fleet, moodle, rng, plan.kills, patience=plan.patience,
                                      between=moodle_trouble)
            report.seconds_to_rest = run_to_rest(db, fleet, timeout=plan.rest_timeout)
            left_alive = leftovers(db)
        finally:
            fleet.stop_all()
            moodle.clear_faults()
        print(f"\n{kind} x{daemons}: {report.line()}\n  " + "\n  ".join(report.log))
        assert report.kills == plan.kills
        assert not any(left_alive.values()), f"left over while the daemons ran: {left_alive}"
        assert not any(leftovers(db).values()), f"left over after they stopped: {leftovers(db)}"
        got = snapshot(db)
        for part in expected:
            assert got[part] == expected[part], f"{part} differs from the uninterrupted run\n{fleet.logs()}"
        duplicates = {key: n for key, n in receiver.issued.items() if n != 1}
        assert not duplicates, f"webhook deliveries made more than once: {duplicates}"
        assert sum(receiver.issued.values()) == expected_deliveries
    if plan.campaign:
        # the long campaign must really have hit every phase: the killed daemons held each kind of work
        assert {"sync_connection", "evaluate", "outbox:sending"} <= set(report.held), report.line()
