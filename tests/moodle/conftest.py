"""A small scripted HTTP server on 127.0.0.1 that answers like Moodle's REST endpoint (or fails
like a proxy in front of it), for the client's tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

Handler = Callable[[Request], Response]


@dataclass
class ScriptedServer:
    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    script: list[Handler] = field(default_factory=list)
    default: Handler | None = None

    def reply(self, *handlers: Handler) -> None:
        self.script.extend(handlers)


def json_reply(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Handler:
    return lambda _req: Response(json.dumps(body), status=status, headers=headers,
                                 content_type="application/json")


def raw_reply(text: str, status: int = 200, content_type: str = "text/html",
              headers: dict[str, str] | None = None) -> Handler:
    return lambda _req: Response(text, status=status, content_type=content_type, headers=headers)


@pytest.fixture(scope="session")
def _scripted_server() -> Iterator[ScriptedServer]:
    state: dict[str, ScriptedServer] = {}

    def app(environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        server = state["server"]
        server.requests.append({"path": request.path, "form": list(request.form.items(multi=True))})
        handler = server.script.pop(0) if server.script else server.default
        if handler is None:
            return Response("no scripted reply", status=599)(environ, start_response)
        return handler(request)(environ, start_response)

    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    state["server"] = ScriptedServer(url=f"http://127.0.0.1:{httpd.server_port}")
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state["server"]
    finally:
        httpd.shutdown()
        thread.join(5)


@pytest.fixture
def scripted(_scripted_server: ScriptedServer) -> ScriptedServer:
    _scripted_server.requests.clear()
    _scripted_server.script.clear()
    _scripted_server.default = None
    return _scripted_server
