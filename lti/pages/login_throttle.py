"""The console login's brake against password guessing: per client and global, progressive, soft.

- **Per client** (its address, as the reverse proxy reports it: ``CREDBRIDGE_PROXY_HOPS``): after a
  few failures in the window, each further attempt must wait twice as long as the last, whatever
  e-mail it names; an attempt that comes too early is answered 429 with ``Retry-After`` and checks no
  password. Spraying many e-mails from one client is slowed like guessing one.
- **Global**: when failures from everywhere pile up (many clients), every attempt is answered a
  little later, never refused; the delay grows with the failures and is capped.

No e-mail is ever locked: the real administrator, from another client, logs in however many times
someone else failed with her address. Failures are counted from the audit log (``admin.login_failed``,
actor ``anonymous:<client>``), so the brake holds across gunicorn workers and restarts.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from credbridge.connector.store.models import AuditEntry

FAILED = "admin.login_failed"
WINDOW = timedelta(minutes=15)
#: failures from one client before it has to wait; then 1 s, 2 s, 4 s … up to CLIENT_MAX_WAIT
CLIENT_FREE_FAILURES = 3
CLIENT_MAX_WAIT = 300.0
#: failures from everywhere before every answer slows down; then +0.1 s each, up to GLOBAL_MAX_DELAY
GLOBAL_WINDOW = timedelta(minutes=5)
GLOBAL_FREE_FAILURES = 30
GLOBAL_STEP = 0.1
GLOBAL_MAX_DELAY = 4.0


@dataclass(frozen=True)
class Verdict:
    #: seconds this client must still wait before its next attempt is looked at (0: go ahead)
    retry_after: float
    #: seconds to hold the answer back (the global, soft part)
    delay: float


def actor(client: str | None) -> str:
    """How the audit log names an anonymous client."""
    return f"anonymous:{client or 'unknown'}"


def client_wait(failures: int) -> float:
    if failures < CLIENT_FREE_FAILURES:
        return 0.0
    return min(CLIENT_MAX_WAIT, 2.0 ** (failures - CLIENT_FREE_FAILURES))


def global_delay(failures: int) -> float:
    return min(GLOBAL_MAX_DELAY, max(0, failures - GLOBAL_FREE_FAILURES) * GLOBAL_STEP)


def assess(session: Session, client: str | None, now: datetime | None = None) -> Verdict:
    now = now or datetime.now(UTC)
    count, last = session.execute(
        select(func.count(), func.max(AuditEntry.at)).where(
            AuditEntry.action == FAILED, AuditEntry.actor == actor(client), AuditEntry.at >= now - WINDOW)
    ).one()
    everywhere = session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == FAILED, AuditEntry.at >= now - GLOBAL_WINDOW)) or 0
    retry_after = 0.0
    if count and last is not None:
        last = last if last.tzinfo else last.replace(tzinfo=UTC)
        retry_after = max(0.0, (last + timedelta(seconds=client_wait(int(count))) - now).total_seconds())
    return Verdict(retry_after=retry_after, delay=global_delay(int(everywhere)))


def pause(seconds: float) -> None:
    """Hold the answer back (a module-level function, so a test can watch it instead of waiting)."""
    time.sleep(seconds)


def retry_after_header(verdict: Verdict) -> str:
    return str(max(1, math.ceil(verdict.retry_after)))
