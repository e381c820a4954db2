"""The independent verifiers (verify.mjs: Digital Bazaar's VC libraries, jsonld.js in safe mode, jose,
ajv, rdf-canonize), run in one Node process per batch of documents.

``make test`` installs them with ``npm ci`` (package-lock.json); a bare ``pytest`` run does the same
the first time, so the check never silently goes missing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
VERIFY = HERE / "verify.mjs"
INSTALLED = HERE / "node_modules" / ".package-lock.json"

Verifier = Callable[..., dict[str, dict[str, Any]]]


def _ensure_installed() -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("Node.js and npm are needed for the independent verifiers: run `make test` "
                    "(deploy/scripts/system-deps.sh installs them) or `apt-get install nodejs npm`")
    lock = HERE / "package-lock.json"
    if INSTALLED.exists() and INSTALLED.stat().st_mtime >= lock.stat().st_mtime:
        return
    result = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HERE,
                            capture_output=True, text=True, timeout=300, check=False)
    if result.returncode != 0:
        pytest.fail(f"npm ci in {HERE} failed:\n{result.stderr[-2000:]}")


@pytest.fixture(scope="session")
def independent(tmp_path_factory: pytest.TempPathFactory) -> Verifier:
    """``independent(items, resources=..., http_hosts=..., now=...)`` -> results by item name."""
    _ensure_installed()
    jobs = tmp_path_factory.mktemp("independent")
    counter = iter(range(1_000_000))

    def run(items: list[dict[str, Any]], *, resources: dict[str, Any] | None = None,
            http_hosts: list[str] | None = None, now: str | None = None) -> dict[str, dict[str, Any]]:
        names = [item["name"] for item in items]
        assert len(names) == len(set(names)), "item names must be unique"
        job = jobs / f"job-{next(counter)}.json"
        job.write_text(json.dumps({"items": items, "resources": resources or {}, "httpHosts": http_hosts or [],
                                   **({"now": now} if now else {})}), encoding="utf-8")
        done = subprocess.run(["node", str(VERIFY), str(job)], capture_output=True, text=True, timeout=300,
                              check=False)
        assert done.returncode == 0, f"verify.mjs crashed:\n{done.stderr[-3000:]}"
        results = {r["name"]: r for r in json.loads(done.stdout)["results"]}
        assert list(results) == names
        return results

    return run


def failures(result: dict[str, Any]) -> dict[str, str]:
    """The checks an item failed, with their errors (for assertion messages)."""
    return {name: check.get("error", "") for name, check in result["checks"].items() if not check["ok"]}
