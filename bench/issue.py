"""Issuance throughput: document generation per format, and an end-of-year bulk run end to end.

    python bench/issue.py            # 10,000 awards on SQLite and PostgreSQL
    python bench/issue.py --quick    # 500 awards (finishes within a minute)
    python bench/issue.py --pg-url postgresql+psycopg://user@127.0.0.1:5432/db   # use a running server

Part 1 signs the same credential content repeatedly (VC-JWT, Data Integrity eddsa-rdfc-2022, ELM
build). Part 2 imports a mapping, gives N learners the evidence for one micro-credential, evaluates
them (N awards + outbox rows), and runs the outbox worker with the embedded signer until every
award is issued (OB 3.0 VC-JWT + ELM per award, status-list index each). The last line printed is
one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.support.postgres starts a throwaway server

from sqlalchemy import func, insert, select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from credbridge.connector.awards.catalogue import import_mapping_file  # noqa: E402
from credbridge.connector.awards.decide import EvaluationSources, evaluate_learner, resolved_mappings  # noqa: E402
from credbridge.connector.awards.snapshot import build_snapshot  # noqa: E402
from credbridge.connector.issuing.adapters.content import build_content  # noqa: E402
from credbridge.connector.issuing.adapters.embedded import EmbeddedAdapter  # noqa: E402
from credbridge.connector.issuing.formats import build_elm, build_ob3, sign_data_integrity, sign_vc_jwt  # noqa: E402
from credbridge.connector.issuing.formats import content as fc  # noqa: E402
from credbridge.connector.issuing.formats.keys import generate_ed25519  # noqa: E402
from credbridge.connector.issuing.pipeline.worker import OutboxWorker, WorkerConfig  # noqa: E402
from credbridge.connector.store import migrate, secrets  # noqa: E402
from credbridge.connector.store.db import Database  # noqa: E402
from credbridge.connector.store.models import Award, Credential, Learner, School  # noqa: E402
from credbridge.mappings import (  # noqa: E402
    CompetencyRef,
    CourseStructure,
    EvidenceFact,
    EvidenceKind,
    evaluate,
    load_mapping_text,
    resolve,
)

BASE_URL = "https://credbridge.bench.example"
# the same one-unit school as the award tests: one competency rating earns one micro-credential
from tests.awards.conftest import MINIMAL_MAPPING as MAPPING  # noqa: E402

STRUCTURE = CourseStructure((), (CompetencyRef(1, "ME-C1", "Reads technical drawings"),))
T0 = datetime(2026, 6, 20, 9, tzinfo=UTC)


def machine() -> dict[str, Any]:
    return {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()}


def fact(learner_id: int) -> EvidenceFact:
    return EvidenceFact(f"bench:comp:{learner_id}", EvidenceKind.COMPETENCY, T0, competency_idnumber="ME-C1",
                        proficient=True)


def sample_content() -> fc.CredentialContent:
    mapping_set = load_mapping_text(MAPPING, "bench.yaml")
    earned = evaluate(resolve(mapping_set, STRUCTURE), [fact(1)]).earned_templates["TD-BASICS"]
    return build_content(
        snapshot=build_snapshot(earned, mapping_set), credential_id="2f1c6a4e-8c1b-4d2a-9e3f-5a6b7c8d9e0f",
        issuer_did="did:web:credbridge.bench.example:schools:bench", school_homepage="https://bench-school.example",
        learner=fc.Learner(1, "Ana Horvat", "Ana", "Horvat", "ana@example.org"), issued_at=T0,
        status=fc.StatusEntry(f"{BASE_URL}/schools/bench/status/1", 7))


def rate(label: str, n: int, fn: Callable[[], object]) -> tuple[str, float]:
    fn()  # warm-up (JSON-LD contexts, key objects)
    started = time.perf_counter()
    for _ in range(n):
        fn()
    return label, n / (time.perf_counter() - started)


def document_rates(n: int) -> dict[str, float]:
    content = sample_content()
    key = generate_ed25519()
    vm = "did:web:credbridge.bench.example:schools:bench#key-1"
    results = [
        rate("vc_jwt_per_s", n, lambda: sign_vc_jwt(build_ob3(content), key, vm)),
        rate("data_integrity_per_s", max(n // 5, 20), lambda: sign_data_integrity(build_ob3(content), key, vm)),
        rate("elm_per_s", n, lambda: build_elm(content)),
    ]
    return {label: round(value, 1) for label, value in results}


def bulk_run(db: Database, n: int, workers: int = 1) -> dict[str, float]:
    """N learners -> evaluation -> N awards + outbox rows -> worker -> credentials."""
    with db.unit_of_work() as session:
        school = School(slug="bench", legal_name="Bench Vocational School", country="HR",
                        homepage="https://bench-school.example", policy={"targets": ["embedded"]})
        session.add(school)
        session.flush()
        import_mapping_file(session, school, MAPPING, "bench")
        session.execute(insert(Learner), [{"school_id": school.id, "full_name": f"Learner {i}",
                                           "given_name": "Learner", "family_name": str(i),
                                           "email": f"learner{i}@example.org"} for i in range(n)])
        school_id = school.id
        learner_ids = list(session.scalars(select(Learner.id).order_by(Learner.id)))

    def evidence(_session: Session, learner_id: int) -> Sequence[EvidenceFact]:
        return [fact(learner_id)]

    sources = EvaluationSources(evidence, lambda _s, _school: STRUCTURE)
    started = time.perf_counter()
    with db.unit_of_work() as session:
        school = session.get(School, school_id)
        resolved = resolved_mappings(session, school, sources)
    for chunk in range(0, n, 500):  # one transaction per 500 learners, as the evaluate worker batches
        with db.unit_of_work() as session:
            school = session.get(School, school_id)
            for learner_id in learner_ids[chunk:chunk + 500]:
                evaluate_learner(session, school, learner_id, T0, sources=sources, resolved=resolved)
    evaluated = time.perf_counter()
    # several workers share the outbox through row leases (SKIP LOCKED on PostgreSQL)
    pool = [OutboxWorker(db, lambda _school, _target: EmbeddedAdapter(db, BASE_URL),
                         WorkerConfig(owner=f"bench-{i}", batch=20, notify=False)) for i in range(workers)]
    results: list[Any] = []
    threads = [threading.Thread(target=lambda w=w: results.append(w.run_once())) for w in pool]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sent = sum(r.sent for r in results)
    issued = time.perf_counter()
    with db.unit_of_work() as session:
        awards = session.scalar(select(func.count()).select_from(Award).where(Award.status == "issued"))
        documents = session.scalar(select(func.count()).select_from(Credential))
    if awards != n or sent != n:
        raise SystemExit(f"bulk run incomplete: {awards} of {n} awards issued ({results})")
    return {"awards": n, "workers": workers, "evaluate_per_s": round(n / (evaluated - started), 1),
            "issue_awards_per_s": round(n / (issued - evaluated), 1),
            "credential_documents": documents,
            "end_to_end_s": round(issued - started, 2)}


def sqlite_db(folder: Path) -> Database:
    url = f"sqlite:///{folder / 'bench.db'}"
    migrate.upgrade(url)
    return Database(url)


def postgres_db(url: str | None) -> tuple[Database | None, Callable[[], None], str]:
    if url:
        migrate.upgrade(url)
        return Database(url), lambda: None, "given URL"
    try:
        from pytest_postgresql.janitor import DatabaseJanitor

        from tests.support.postgres import LocalPostgres, PostgresUnavailable
    except ImportError as exc:
        return None, lambda: None, f"skipped ({exc})"
    try:
        local = LocalPostgres()
        server = local.start()
    except PostgresUnavailable as exc:
        return None, lambda: None, f"skipped ({exc})"
    DatabaseJanitor(user=server.user, host=server.host, port=server.port, dbname="bench").init()
    pg_url = server.url("bench")
    migrate.upgrade(pg_url)
    db = Database(pg_url)

    def stop() -> None:
        db.dispose()
        local.stop()

    return db, stop, "throwaway server"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="500 awards instead of 10,000")
    parser.add_argument("--awards", type=int, help="number of awards in the bulk run")
    parser.add_argument("--pg-url", help="PostgreSQL URL to use instead of starting a throwaway server")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--pg-workers", type=int, default=2, help="outbox workers sharing PostgreSQL (default 2)")
    args = parser.parse_args(argv)
    n = args.awards or (500 if args.quick else 10_000)
    secrets.configure(os.environ.get("CREDBRIDGE_SECRET_KEY", "bench-secret-key-0123456789abcdef-0123"))
    figures: dict[str, Any] = {"machine": machine(), "awards": n}
    info = machine()
    print(f"credbridge issuance benchmark — {info['platform']}, {info['cpus']} CPUs, Python {info['python']}")

    figures["documents"] = document_rates(50 if args.quick else 300)
    print("\nDocument generation (one core)")
    for label, value in figures["documents"].items():
        print(f"  {label:<24} {value:>10.1f}")

    with tempfile.TemporaryDirectory(prefix="credbridge-bench-") as folder:
        db = sqlite_db(Path(folder))
        figures["sqlite"] = bulk_run(db, n)
        db.dispose()
    if not args.no_postgres:
        pg, stop, how = postgres_db(args.pg_url)
        try:
            figures["postgres"] = bulk_run(pg, n, workers=args.pg_workers) if pg is not None else {"skipped": how}
        finally:
            stop()

    print(f"\nEnd-of-year bulk run: {n} awards (evaluate -> award + outbox -> embedded signer)")
    print(f"  {'database':<10} {'workers':>7} {'evaluate/s':>12} {'issue awards/s':>15} {'documents':>10} "
          f"{'total s':>9}")
    for name in ("sqlite", "postgres"):
        row = figures.get(name)
        if not row:
            continue
        if "skipped" in row:
            print(f"  {name:<10} {row['skipped']}")
            continue
        print(f"  {name:<10} {row['workers']:>7} {row['evaluate_per_s']:>12.1f} {row['issue_awards_per_s']:>15.1f} "
              f"{row['credential_documents']:>10} {row['end_to_end_s']:>9.2f}")
    print(json.dumps(figures, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
