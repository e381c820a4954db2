"""What every benchmark prints about where it ran, and a free loopback port for its servers."""

from __future__ import annotations

import os
import platform
import socket
from typing import Any


def machine() -> dict[str, Any]:
    return {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
            "processor": platform.processor() or platform.machine()}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
