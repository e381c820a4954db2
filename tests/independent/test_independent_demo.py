"""What the demo issues, checked by verifiers credbridge did not write, the way a wallet would: the
issuer's did:web document and the status lists are fetched from credbridge's own web server on
127.0.0.1 (jsonld.js, Digital Bazaar's Data Integrity stack, jose, ajv), ELM documents go through
pySHACL with the EC's EDC shapes. Every credential passes; every tampered copy fails; a revoked one
fails on its status.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import rdflib

from tests.independent.conftest import Verifier, failures
from tests.issuing.formats.conftest import SHAPES, elm_report

SCHOOL = "vet-college"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(*args: str, env: dict[str, str], cwd: Path, timeout: int = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "credbridge", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The demo's data after its first issuance cycle, and credbridge serving it on the demo's port."""
    root = tmp_path_factory.mktemp("demo")
    data_dir, port = root / "demo-data", _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDBRIDGE_")}
    ran = _cli("demo", "--no-browser", "--exit-after-issue", "--data-dir", str(data_dir), "--port", str(port),
               "--emulator-port", str(_free_port()), env=env, cwd=root)
    assert ran.returncode == 0, ran.stderr[-3000:]
    served_env = {**env, "CREDBRIDGE_DATABASE_URL": f"sqlite:///{data_dir / 'credbridge.db'}",
                  "CREDBRIDGE_SECRET_KEY": (data_dir / "secret.key").read_text().strip(),
                  "CREDBRIDGE_BASE_URL": f"http://127.0.0.1:{port}"}
    server = subprocess.Popen([sys.executable, "-m", "credbridge", "serve", "--port", str(port)], cwd=root,
                              env=served_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    did_url = f"http://127.0.0.1:{port}/schools/{SCHOOL}/did.json"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(did_url, timeout=5) as response:
                    did_document = json.loads(response.read())
                break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()[-3000:] if server.stderr else ""
                assert time.monotonic() < deadline, "credbridge serve did not come up"
                time.sleep(0.3)
        with sqlite3.connect(data_dir / "credbridge.db") as db:
            rows = db.execute("SELECT uuid, format, document FROM credential ORDER BY id").fetchall()
        yield {"root": root, "env": served_env, "rows": rows, "did_document": did_document}
    finally:
        server.terminate()
        server.wait(timeout=30)


def _item(uuid: str, fmt: str, document: str) -> dict[str, Any]:
    return {"name": uuid, "format": {"ob3-di": "ob3-di", "ob3-jwt": "ob3-jwt", "elm": "jsonld"}[fmt],
            "document": document}


def test_the_demo_issues_every_format(demo: dict[str, Any]) -> None:
    assert {fmt for _, fmt, _ in demo["rows"]} == {"ob3-jwt", "ob3-di", "elm"}


def test_every_credential_the_demo_issues_is_accepted(demo: dict[str, Any], independent: Verifier) -> None:
    did = demo["did_document"]["id"]
    items = [_item(uuid, fmt, document) for uuid, fmt, document in demo["rows"]]
    items.append({"name": "did document", "format": "jsonld", "document": demo["did_document"]})
    status_lists = sorted({json.loads(d)["credentialStatus"]["statusListCredential"]
                           for _, fmt, d in demo["rows"] if fmt == "ob3-di"})
    items += [{"name": url, "format": "status-list", "document": url} for url in status_lists]
    results = independent(items, http_hosts=["127.0.0.1"])
    rejected = {name: failures(result) for name, result in results.items() if not result["verified"]}
    assert rejected == {}
    assert did.startswith("did:web:127.0.0.1%3A") and status_lists


def test_every_elm_document_the_demo_issues_conforms_to_the_edc_shapes(demo: dict[str, Any]) -> None:
    shapes = rdflib.Graph()
    shapes.parse(SHAPES / "EDC-generic-full.ttl")
    shapes.parse(SHAPES / "EDC-generic-no-cv.ttl")
    elm = [(uuid, json.loads(document)) for uuid, fmt, document in demo["rows"] if fmt == "elm"]
    assert elm
    for uuid, document in elm:
        conforms, report = elm_report(shapes, document)
        assert conforms, (uuid, report[:2000])
    broken = copy.deepcopy(elm[0][1])
    del broken["credentialSubject"]["hasClaim"][0]["awardedBy"]
    assert not elm_report(shapes, broken)[0]


def _jwt_claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _jwt_index(token: str) -> str:
    return _jwt_claims(token)["credentialStatus"]["statusListIndex"]


def _tamper_jwt(token: str) -> str:
    header, _, signature = token.split(".")
    claims = _jwt_claims(token)
    claims["credentialSubject"]["achievement"]["name"] = "A credential nobody earned"
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{body}.{signature}"


def _tamper_di(text: str) -> dict[str, Any]:
    document = json.loads(text)
    document["credentialSubject"]["achievement"]["name"] = "A credential nobody earned"
    return document


def test_every_tampered_credential_is_rejected(demo: dict[str, Any], independent: Verifier) -> None:
    items = [{"name": uuid, "format": fmt, "document": _tamper_jwt(doc) if fmt == "ob3-jwt" else _tamper_di(doc)}
             for uuid, fmt, doc in demo["rows"] if fmt in ("ob3-jwt", "ob3-di")]
    results = independent(items, http_hosts=["127.0.0.1"])
    for item in items:
        broken = failures(results[item["name"]])
        assert ("jwt" if item["format"] == "ob3-jwt" else "data-integrity") in broken, (item["name"], broken)


def test_a_revoked_credential_fails_on_its_status(demo: dict[str, Any], independent: Verifier) -> None:
    uuid, fmt, document = next(row for row in demo["rows"] if row[1] == "ob3-di")
    index = json.loads(document)["credentialStatus"]["statusListIndex"]
    # all formats of one award share its status entry: the other one is another award's
    other = next(row for row in demo["rows"] if row[1] == "ob3-jwt" and _jwt_index(row[2]) != index)
    revoked = _cli("credentials", "revoke", uuid, "--public-reason", "issued_in_error", env=demo["env"],
                   cwd=demo["root"])
    assert revoked.returncode == 0, revoked.stderr[-2000:]
    results = independent([_item(uuid, fmt, document), _item(*other)], http_hosts=["127.0.0.1"])
    assert failures(results[uuid]).keys() == {"status"}
    assert "revoked" in failures(results[uuid])["status"]
    assert results[other[0]]["verified"], failures(results[other[0]])
