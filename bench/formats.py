"""Credentials per second: OB 3.0 as VC-JWT, OB 3.0 with a Data Integrity proof, ELM v3 documents.

Run: ``.venv/bin/python bench/formats.py [--quick]``. Prints a table with the machine description,
then, as the last line, one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from uuid import uuid4

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the test fixture's realistic content lives in tests/

from credbridge.connector.issuing.formats import (  # noqa: E402
    build_elm,
    build_ob3,
    sign_data_integrity,
    sign_vc_jwt,
    verify_data_integrity,
    verify_jwt,
)
from credbridge.connector.issuing.formats.did import NamedKey, did_web_document  # noqa: E402
from credbridge.connector.issuing.formats.keys import generate_ed25519  # noqa: E402
from tests.issuing.formats.conftest import DID, KID, make_content  # noqa: E402


def _rate(label: str, count: int, work: Callable[[int], object]) -> tuple[str, float, float]:
    work(-1)  # warm caches (contexts, schemes) outside the timing
    started = time.perf_counter()
    for i in range(count):
        work(i)
    elapsed = time.perf_counter() - started
    return label, count / elapsed, elapsed * 1000 / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts, finishes in a few seconds")
    args = parser.parse_args()
    n_fast, n_slow = (200, 20) if args.quick else (2000, 200)

    key = generate_ed25519()
    document = did_web_document(DID, [NamedKey(KID.split("#")[1], key.public_key())])
    base = make_content()
    contents = [replace(base, credential_id=f"urn:uuid:{uuid4()}") for _ in range(max(n_fast, n_slow))]
    jwt_token = sign_vc_jwt(build_ob3(base), key, KID)
    di_doc = sign_data_integrity(build_ob3(base), key, KID)

    rows = [
        _rate("OB 3.0 build + VC-JWT sign", n_fast, lambda i: sign_vc_jwt(build_ob3(contents[i]), key, KID)),
        _rate("OB 3.0 build + Data Integrity sign", n_slow,
              lambda i: sign_data_integrity(build_ob3(contents[i]), key, KID)),
        _rate("ELM v3 build", n_fast, lambda i: build_elm(contents[i])),
        _rate("VC-JWT verify", n_fast, lambda i: verify_jwt(jwt_token, lambda d: document)),
        _rate("Data Integrity verify", n_slow, lambda i: verify_data_integrity(di_doc, lambda d: document)),
    ]

    print(f"machine: {platform.platform()} | {os.cpu_count()} CPUs | {platform.processor() or platform.machine()}"
          f" | Python {platform.python_version()}")
    print(f"{'operation':40} {'per second':>12} {'ms each':>10}")
    for label, rate, ms in rows:
        print(f"{label:40} {rate:12.1f} {ms:10.2f}")
    keys = ["vc_jwt_per_s", "data_integrity_per_s", "elm_per_s", "vc_jwt_verify_per_s", "data_integrity_verify_per_s"]
    print(json.dumps({k: round(r[1], 1) for k, r in zip(keys, rows, strict=True)} | {"quick": args.quick}))


if __name__ == "__main__":
    main()
