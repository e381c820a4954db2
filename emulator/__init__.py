"""An emulated Moodle 4.5 (Web Services, plus the LTI platform in lti_platform.py) for tests, demo and benchmarks.

Public API: `Site` (dataset.py: `Site.from_recording`, `Site.generate`, mutation hooks, `run_cron`),
`create_app` and `serve_in_thread` / `RunningEmulator` (server.py). Product code never imports this package.
"""

from credbridge.emulator.dataset import Site, SiteError
from credbridge.emulator.server import RunningEmulator, create_app, serve_in_thread

__all__ = ["RunningEmulator", "Site", "SiteError", "create_app", "serve_in_thread"]
