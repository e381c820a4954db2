"""Runs `credbridge daemon` processes against one database and SIGKILLs them at drawn points of their work.

A kill point is drawn as a phase — the sync (after a drawn number of further Moodle calls), the evaluation
(while learners are being evaluated), the issuance (while deliveries are being sent), or anywhere (a drawn
moment after start) — plus a drawn pause of a few milliseconds that moves the kill off the wait itself.
Progress, not wall time, picks the moment, so kills land inside the work on a fast or a slow machine.
After each kill a new daemon is started (as an operator's supervisor would); the campaign ends with no
manual step: the daemons are left to finish, and the state is compared with an uninterrupted run.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from credbridge.connector.store.db import Database
from credbridge.connector.store.models import LmsConnection, OutboxItem, WorkItem
from credbridge.connector.sync.worker import SYNC_KINDS, request_connection_sync
from credbridge.emulator.server import RunningEmulator
from tests.conftest import TEST_SECRET_KEY
from tests.faults.state import at_rest, leftovers

PHASES = ("sync", "evaluation", "issuance", "anywhere")
#: short leases so that a kill costs seconds, not minutes; the daemon's defaults are 60 s and 2 s
LEASE_SECONDS = 3
POLL_SECONDS = 0.5


@dataclass
class Daemon:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> int:
        if self.alive:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode


@dataclass
class Report:
    kills: int = 0
    #: what the killed daemon held at the moment it died (work kinds, "outbox:sending")
    held: Counter[str] = field(default_factory=Counter)
    planned: Counter[str] = field(default_factory=Counter)
    restarts: int = 0
    seconds_to_rest: float = 0.0
    log: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (f"{self.kills} kills (planned {dict(self.planned)}; the killed daemon held {dict(self.held)}), "
                f"{self.restarts} restarts, at rest {self.seconds_to_rest:.0f} s after the last kill")


class Fleet:
    """The daemons of one run: started, killed and replaced; their logs kept for the failure message."""

    def __init__(self, db: Database, folder: Path, label: str, *, workers: int = 2,
                 lease_seconds: int = LEASE_SECONDS) -> None:
        self.db = db
        self.lease_seconds = lease_seconds
        self.folder = folder
        self.label = label
        self.workers = workers
        self.daemons: list[Daemon] = []
        self._started = 0

    def start(self) -> Daemon:
        self._started += 1
        name = f"{self.label}-{self._started}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CREDBRIDGE_")}
        env.update(CREDBRIDGE_DATABASE_URL=self.db.url, CREDBRIDGE_SECRET_KEY=TEST_SECRET_KEY,
                   CREDBRIDGE_BASE_URL="http://127.0.0.1:5000", CREDBRIDGE_DAEMON_ID=name,
                   CREDBRIDGE_LEASE_SECONDS=str(self.lease_seconds), CREDBRIDGE_POLL_SECONDS=str(POLL_SECONDS),
                   CREDBRIDGE_RETRY_SECONDS="1", CREDBRIDGE_SYNC_INTERVAL_MINUTES="1440",
                   # the schedule passes to a new daemon within seconds of its keeper's death; the nightly
                   # reconciliation is kept out of the run (its hour is half a day away)
                   CREDBRIDGE_SCHEDULER_TICK_SECONDS="1", CREDBRIDGE_SCHEDULER_LEASE_SECONDS="3",
                   CREDBRIDGE_RECONCILE_HOUR_UTC=str((datetime.now(UTC).hour + 12) % 24))
        log = self.folder / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen([sys.executable, "-m", "credbridge", "daemon", "--workers", str(self.workers)],
                                       env=env, cwd=self.folder, stdout=out, stderr=subprocess.STDOUT)
        daemon = Daemon(name, process, log)
        self.daemons.append(daemon)
        return daemon

    @property
    def alive(self) -> list[Daemon]:
        return [d for d in self.daemons if d.alive]

    def stop_all(self) -> None:
        for daemon in self.alive:
            daemon.stop()

    def logs(self, lines: int = 40) -> str:
        parts = []
        for daemon in self.daemons[-4:]:
            text = daemon.log.read_text(errors="replace").splitlines()[-lines:] if daemon.log.exists() else []
            parts.append(f"--- {daemon.name} (exit {daemon.process.returncode}) ---\n" + "\n".join(text))
        return "\n".join(parts)


def held_by(db: Database, daemon: Daemon) -> Counter[str]:
    """What the daemon holds right now: work items it runs (by kind) and deliveries it is sending."""
    prefix = f"{daemon.name}/%"
    with db.unit_of_work() as s:
        kinds = Counter(dict(s.execute(select(WorkItem.kind, func.count()).where(
            WorkItem.status == "running", WorkItem.lease_owner.like(prefix)).group_by(WorkItem.kind)).all()))
        sending = s.scalar(select(func.count()).select_from(OutboxItem).where(
            OutboxItem.status == "sending", OutboxItem.lease_owner.like(prefix)))
    if sending:
        kinds["outbox:sending"] = int(sending)
    return kinds


def _running(db: Database, kind: str) -> bool:
    with db.unit_of_work() as s:
        if kind == "outbox":
            return bool(s.scalar(select(func.count()).select_from(OutboxItem).where(OutboxItem.status == "sending")))
        return bool(s.scalar(select(func.count()).select_from(WorkItem).where(WorkItem.kind.in_(
            ("sync_connection", "sync_course") if kind == "sync" else (kind,)), WorkItem.status == "running")))


def await_kill_point(db: Database, emulator: RunningEmulator, phase: str, rng: random.Random,
                     *, patience: float) -> None:
    """Wait for the drawn point of ``phase``; after ``patience`` seconds without it, kill anywhere."""
    deadline = time.monotonic() + patience
    if phase == "anywhere":
        time.sleep(rng.uniform(0.2, min(patience, 5.0)))
        return
    kind = {"sync": "sync", "evaluation": "evaluate", "issuance": "outbox"}[phase]
    while not _running(db, kind):
        if time.monotonic() > deadline:
            return
        time.sleep(0.002)
    if phase == "sync":
        target = emulator.total_calls + rng.randint(1, 40)
        while emulator.total_calls < target and time.monotonic() < deadline and _running(db, "sync"):
            time.sleep(0.002)
    time.sleep(rng.uniform(0, 0.03))


def ask_for_sync(db: Database) -> None:
    """Someone asks for a sync now (`credbridge sync`, a teacher's button), unless one is queued or running:
    the schedule alone would not sync again within the campaign (its interval is a day)."""
    with db.unit_of_work() as s:
        active = s.scalar(select(func.count()).select_from(WorkItem).where(
            WorkItem.kind.in_(SYNC_KINDS), WorkItem.status.in_(("pending", "running"))))
        if not active:
            for connection_id in s.scalars(select(LmsConnection.id)):
                request_connection_sync(s, connection_id)


def run_to_rest(db: Database, fleet: Fleet, *, timeout: float) -> float:
    """Wait until the daemons have finished everything; returns how long that took."""
    started = time.monotonic()
    deadline = started + timeout
    calm = 0
    while time.monotonic() < deadline:
        if not fleet.alive:
            raise AssertionError(f"every daemon exited\n{fleet.logs()}")
        calm = calm + 1 if at_rest(db) else 0
        if calm >= 3:  # three looks in a row, 0.5 s apart
            return time.monotonic() - started
        time.sleep(0.5)
    raise AssertionError(f"not at rest after {timeout:.0f} s: {leftovers(db)}\n{fleet.logs()}")


def kill_and_replace(db: Database, fleet: Fleet, emulator: RunningEmulator, rng: random.Random, kills: int,
                     *, patience: float, between: Callable[[int], None] | None = None) -> Report:
    """``kills`` times: draw a phase and a daemon, wait for the kill point, SIGKILL it, start another."""
    report = Report()
    for number in range(kills):
        phase = PHASES[number % len(PHASES)] if number < len(PHASES) else rng.choice(PHASES)
        report.planned[phase] += 1
        if between is not None:
            between(number)
        if phase == "sync":
            ask_for_sync(db)
        await_kill_point(db, emulator, phase, rng, patience=patience)
        candidates = fleet.alive
        wanted = {"sync": ("sync_connection", "sync_course"), "evaluation": ("evaluate",),
                  "issuance": ("outbox:sending",)}.get(phase, ())
        busy = [d for d in candidates if any(k in wanted for k in held_by(db, d))]
        victim = rng.choice(busy or candidates)
        victim.kill()
        report.kills += 1
        held = held_by(db, victim)
        report.held.update(held)
        report.log.append(f"kill {number + 1}: {phase}, {victim.name} held {dict(held) or 'nothing'}")
        fleet.start()
        report.restarts += 1
    return report

