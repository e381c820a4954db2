"""`credbridge daemon` end to end: a scheduled sync, evaluation and the outbox issue credentials,
and SIGTERM stops it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from credbridge.connector.runtime import open_runtime
from credbridge.connector.settings import load_settings
from credbridge.connector.store import migrate
from credbridge.connector.store.models import Award, Credential
from credbridge.demo import bootstrap, recorded_site_path
from credbridge.emulator.dataset import Site
from credbridge.emulator.server import serve_in_thread
from tests.conftest import TEST_SECRET_KEY


def test_daemon_syncs_issues_and_stops_on_sigterm(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'daemon.db'}"
    migrate.upgrade(url)
    with serve_in_thread(Site.from_recording(recorded_site_path())) as emulator:
        runtime = open_runtime(load_settings(database_url=url, secret_key=TEST_SECRET_KEY), configure_logging=False)
        try:
            bootstrap(runtime, emulator.url, deployment_id="1")
        finally:
            runtime.close()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CREDBRIDGE_")}
        env.update(CREDBRIDGE_DATABASE_URL=url, CREDBRIDGE_SECRET_KEY=TEST_SECRET_KEY)
        process = subprocess.Popen([sys.executable, "-m", "credbridge", "daemon", "--workers", "1"], env=env,
                                   cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        runtime = open_runtime(load_settings(database_url=url, secret_key=TEST_SECRET_KEY), configure_logging=False)
        try:
            deadline = time.monotonic() + 120
            issued = 0
            while time.monotonic() < deadline and issued < 19:
                time.sleep(1)
                with runtime.db.unit_of_work() as session:
                    issued = session.scalar(select(func.count()).select_from(Award)
                                            .where(Award.status == "issued")) or 0
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=60)
            assert process.returncode == 0, output
            assert issued == 19, output[-3000:]
            with runtime.db.unit_of_work() as session:
                assert session.scalar(select(func.count()).select_from(Credential)) > 0
                assert session.scalar(select(func.count()).select_from(Award)
                                      .where(Award.status == "pending_approval")) == 5
            assert "stopped" in output
        finally:
            if process.poll() is None:
                process.kill()
            runtime.close()
