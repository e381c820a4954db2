"""Credentials per second: OB 3.0 as VC-JWT and with a Data Integrity proof (eddsa-rdfc-2022), ELM v3
documents, verification — against raw Ed25519 signing, the limit for any of them.

Data Integrity canonicalises with RDFC-1.0 before signing. Three ways are measured in the same run:
credbridge's path (pyld's N-Quads per document shape, cached, filled and canonicalised by oxigraph),
pyoxigraph's own JSON-LD parser (contexts inlined) + its RDFC-1.0, and pyld alone (pure Python).

Rates are per CPU second of this process (one core; on a shared machine wall time also counts other
processes' turns); wall-clock rates are printed beside them.

Run: ``.venv/bin/python bench/formats.py [--quick]``. Prints the machine, a table, then, as the last line,
one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from uuid import uuid4

import base58
import pyoxigraph

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the test fixture's realistic content lives in tests/

from credbridge.connector.issuing.formats import (  # noqa: E402
    build_elm,
    build_ob3,
    canonical_nquads,
    sign_data_integrity,
    sign_vc_jwt,
    verify_data_integrity,
    verify_jwt,
)
from credbridge.connector.issuing.formats.data_integrity import proof_configuration  # noqa: E402
from credbridge.connector.issuing.formats.did import NamedKey, did_web_document  # noqa: E402
from credbridge.connector.issuing.formats.jsonld_offline import _context, canonize_reference  # noqa: E402
from credbridge.connector.issuing.formats.keys import generate_ed25519  # noqa: E402
from tests.issuing.formats.conftest import DID, KID, make_content  # noqa: E402


@dataclass
class Row:
    label: str
    count: int
    cpu: float
    wall: float

    @property
    def per_cpu_second(self) -> float:
        return self.count / self.cpu

    @property
    def per_wall_second(self) -> float:
        return self.count / self.wall


def measure(label: str, count: int, work: Callable[[int], object]) -> Row:
    work(-1)  # warm caches (contexts, templates) outside the timing
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(count):
        work(i)
    return Row(label, count, time.process_time() - cpu, time.perf_counter() - wall)


def sign_with(canonicalise: Callable[[dict[str, Any]], str], credential: dict[str, Any], key: Any) -> dict[str, Any]:
    """eddsa-rdfc-2022 exactly as data_integrity.sign_data_integrity, with another canonicaliser."""
    config = proof_configuration(KID)
    digest = (hashlib.sha256(canonicalise({**config, "@context": credential["@context"]}).encode()).digest()
              + hashlib.sha256(canonicalise(credential).encode()).digest())
    return {**credential, "proof": [{**config, "proofValue": "z" + base58.b58encode(key.sign(digest)).decode()}]}


def oxigraph_jsonld(document: dict[str, Any]) -> str:
    """pyoxigraph 0.5's JSON-LD parser (it loads no remote context, so the bundled ones are inlined)."""
    inlined = {**document, "@context": [_context(url)["@context"] for url in document["@context"]]}
    dataset = pyoxigraph.Dataset(pyoxigraph.parse(json.dumps(inlined), pyoxigraph.RdfFormat.JSON_LD))
    dataset.canonicalize(pyoxigraph.CanonicalizationAlgorithm.RDFC_1_0)
    lines = pyoxigraph.serialize(dataset, format=pyoxigraph.RdfFormat.N_QUADS).decode().split("\n")[:-1]
    return "".join(line + "\n" for line in sorted(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts, finishes in a few seconds")
    args = parser.parse_args()
    n_fast, n_di, n_slow = (500, 300, 10) if args.quick else (5000, 3000, 100)

    key = generate_ed25519()
    document = did_web_document(DID, [NamedKey(KID.split("#")[1], key.public_key())])
    base = make_content()
    # every credential differs (id, learner, salt): the shape is the template's, as when a school issues
    contents = [replace(base, credential_id=f"urn:uuid:{uuid4()}", identity_salt=uuid4().hex,
                        learner=replace(base.learner, moodle_id=i, full_name=f"Learner {i}", email=f"l{i}@example.hr"))
                for i in range(max(n_fast, n_di))]
    credentials = [build_ob3(c) for c in contents[:max(n_di, n_slow)]]
    jwt_token = sign_vc_jwt(credentials[0], key, KID)
    di_doc = sign_data_integrity(credentials[0], key, KID)
    digest = hashlib.sha256(b"proof options").digest() + hashlib.sha256(b"credential").digest()
    # every call is checked once against pyld outside the timing: a fast wrong answer is no result
    assert canonical_nquads.canonize(credentials[1]) == canonize_reference(credentials[1])
    assert oxigraph_jsonld(credentials[1]) == canonize_reference(credentials[1])

    raw = measure("Ed25519 sign (64 bytes, the limit)", n_fast, lambda i: key.sign(digest))
    jwt = measure("OB 3.0 build + VC-JWT sign", n_fast, lambda i: sign_vc_jwt(build_ob3(contents[i]), key, KID))
    di = measure("OB 3.0 build + Data Integrity sign", n_di,
                 lambda i: sign_data_integrity(build_ob3(contents[i]), key, KID))
    di_signed = measure("  Data Integrity sign only", n_di, lambda i: sign_data_integrity(credentials[i], key, KID))
    di_ox = measure("  the same, pyoxigraph JSON-LD parser", n_slow,
                    lambda i: sign_with(oxigraph_jsonld, credentials[i], key))
    di_pyld = measure("  the same, pyld alone", n_slow, lambda i: sign_with(canonize_reference, credentials[i], key))

    def new_shape(i: int) -> None:
        canonical_nquads.TEMPLATES.clear()
        sign_data_integrity(credentials[i], key, KID)

    cold = measure("  first credential of a new shape", n_slow, new_shape)
    elm = measure("ELM v3 build", n_fast, lambda i: build_elm(contents[i]))
    jwt_verify = measure("VC-JWT verify", n_fast, lambda i: verify_jwt(jwt_token, lambda d: document))
    di_verify = measure("Data Integrity verify", n_di, lambda i: verify_data_integrity(di_doc, lambda d: document))
    rows = [raw, jwt, di, di_signed, di_ox, di_pyld, cold, elm, jwt_verify, di_verify]

    print(f"machine: {platform.platform()} | {os.cpu_count()} CPUs | {platform.processor() or platform.machine()}"
          f" | Python {platform.python_version()} | pyoxigraph {pyoxigraph.__version__}")
    print(f"{'operation':42} {'per CPU s':>10} {'per wall s':>11} {'ms each':>8}")
    for row in rows:
        print(f"{row.label:42} {row.per_cpu_second:10.0f} {row.per_wall_second:11.0f} "
              f"{row.cpu * 1000 / row.count:8.3f}")
    ratios = {
        "di_to_vc_jwt": di.per_cpu_second / jwt.per_cpu_second,
        "di_to_raw_ed25519": di.per_cpu_second / raw.per_cpu_second,
        "di_fast_to_pyld": di_signed.per_cpu_second / di_pyld.per_cpu_second,
        "di_fast_to_oxigraph_jsonld": di_signed.per_cpu_second / di_ox.per_cpu_second,
    }
    print(f"Data Integrity / VC-JWT: {ratios['di_to_vc_jwt']:.2f} | Data Integrity / raw Ed25519: "
          f"{ratios['di_to_raw_ed25519']:.3f} | credbridge path / pyld: {ratios['di_fast_to_pyld']:.0f}x | "
          f"/ pyoxigraph JSON-LD: {ratios['di_fast_to_oxigraph_jsonld']:.1f}x")
    names = ["ed25519_sign", "vc_jwt", "data_integrity", "data_integrity_sign_only", "data_integrity_oxigraph_jsonld",
             "data_integrity_pyld", "data_integrity_new_shape", "elm", "vc_jwt_verify", "data_integrity_verify"]
    print(json.dumps({f"{n}_per_cpu_s": round(r.per_cpu_second, 1) for n, r in zip(names, rows, strict=True)}
                     | {k: round(v, 4) for k, v in ratios.items()} | {"quick": args.quick}))


if __name__ == "__main__":
    main()
