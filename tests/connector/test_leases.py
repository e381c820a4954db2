from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import select

from credbridge.connector import leases
from credbridge.connector.store.base import utcnow
from credbridge.connector.store.db import Database
from credbridge.connector.store.models import WorkItem


def _add_items(db: Database, n: int) -> None:
    with db.unit_of_work() as s:
        s.add_all(WorkItem(kind="sync_course", key=f"c{i}") for i in range(n))


def _claim(db: Database, owner: str, limit: int = 1, now=None) -> list[int]:
    with db.unit_of_work() as s:
        rows = leases.claim(s, WorkItem, owner=owner, lease_seconds=60, due=WorkItem.status == "pending",
                            order_by=WorkItem.id, limit=limit, now=now)
        return [r.id for r in rows]


def test_a_leased_row_is_not_claimed_again_until_it_expires(database: Database) -> None:
    _add_items(database, 1)
    first = _claim(database, "a")
    assert first and _claim(database, "b") == []
    later = utcnow() + timedelta(seconds=61)
    assert _claim(database, "b", now=later) == first
    with database.unit_of_work() as s:
        row = s.get(WorkItem, first[0])
        assert not leases.still_holds(s, row, "a")
        assert row.lease_owner == "b"


def test_concurrent_claimers_never_share_a_row(database: Database) -> None:
    _add_items(database, 60)
    claimed: dict[str, list[int]] = {}

    def worker(name: str) -> None:
        got: list[int] = []
        while ids := _claim(database, name, limit=3):
            got += ids
        claimed[name] = got

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for ids in claimed.values() for i in ids]
    assert len(every) == len(set(every)) == 60
    with database.unit_of_work() as s:
        owners = s.scalars(select(WorkItem.lease_owner)).all()
    assert None not in owners
