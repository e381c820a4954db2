"""Flask app serving Moodle's REST endpoint plus the /_emulator/ control API, and a threaded runner for tests."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from credbridge.emulator.dataset import Site, SiteError
from credbridge.emulator.errors import MoodleException
from credbridge.emulator.faults import Controls, Fault, FaultError
from credbridge.emulator.params import parse_php_params
from credbridge.emulator.ws import (
    DEFAULT_SERVICE_FUNCTIONS,
    REST_ONLY_CAPABILITIES,
    VET_SYNC_CAPABILITIES,
    Dispatcher,
    Principal,
    WsConfig,
)
from credbridge.emulator.xmlformat import exception_xml, response_xml

# Tokens of the recorded site (fixtures moodle-4.5/ws-setup.json): test credentials of a loopback Moodle.
DEFAULT_TOKEN = "e6a751e9bafd40a949e603240876f70b"  # noqa: S105
NOCAP_TOKEN = "4e6c0680cfdd4a032bedd1f946e8efc9"  # noqa: S105
STATE_KEY = "credbridge_emulator"
Extension = Callable[[Flask, Site], None]

# Hooks the control API may call, with the Site method each maps to.
MUTATIONS = {
    "enrol": "enrol", "withdraw": "withdraw", "complete_activity": "complete_activity",
    "view_activity": "view_activity", "submit_assignment": "submit_assignment", "set_grade": "set_grade",
    "reverse_grade": "reverse_grade", "finish_quiz_attempt": "finish_quiz_attempt",
    "rate_competency": "rate_competency", "run_cron": "run_cron", "touch_course": "touch_course",
    "hide_activity": "hide_activity", "delete_activity": "delete_activity",
}

HTML_ERROR_PAGE = ("<!DOCTYPE html><html><head><title>Error</title></head><body><div class=\"errorbox\">"
                   "<p class=\"errormessage\">Error reading from database</p></div></body></html>")


def default_tokens(site: Site) -> dict[str, Principal]:
    """The sync token holds the role credbridge's README tells schools to create (roles.SYNC_ROLE)."""
    return {DEFAULT_TOKEN: Principal(site.config.ws_userid, VET_SYNC_CAPABILITIES),
            NOCAP_TOKEN: Principal(site.config.nocap_userid, REST_ONLY_CAPABILITIES)}


@dataclass
class EmulatorState:
    site: Site
    dispatcher: Dispatcher
    controls: Controls


def create_app(site: Site, *, tokens: dict[str, Principal] | None = None, extensions: Iterable[Extension] = (),
               functions: Iterable[str] | None = None, latency_ms: float = 0.0, debug: bool = False,
               moodle: str | None = None) -> Flask:
    """The emulator WSGI app. `extensions` are callables (app, site) -> None (e.g. the LTI platform);
    `moodle` names the release to stand in for (4.1, 4.5, 5.0; default: the site's)."""
    if moodle is not None:
        site.set_release(moodle)
    app = Flask("credbridge.emulator")
    config = WsConfig(functions=tuple(functions) if functions is not None else DEFAULT_SERVICE_FUNCTIONS,
                      debug=debug)
    state = EmulatorState(site, Dispatcher(site, dict(tokens) if tokens is not None else default_tokens(site),
                                           config), Controls(latency_ms))
    app.extensions[STATE_KEY] = state

    @app.post("/webservice/rest/server.php")
    @app.get("/webservice/rest/server.php")
    def rest() -> Response:
        pairs = list(request.args.items(multi=True)) + list(request.form.items(multi=True))
        function = next((v for k, v in pairs if k == "wsfunction"), "")
        controls = state.controls
        controls.count(function)
        delay = controls.latency_for(function)
        if delay:
            time.sleep(delay / 1000.0)
        fault = controls.next_fault(function)
        if fault is not None and fault.kind == "reset":
            _reset_connection(request.environ)
        if fault is not None and fault.kind in ("http500", "http502", "http503", "http429", "html200", "hang"):
            early = _early_fault(fault, controls)
            if early is not None:
                return early
        fmt = next((v for k, v in pairs if k == "moodlewsrestformat"), "xml")
        body, failed = _ws_body(state, pairs)
        if fmt != "json":
            # Moodle's default REST format is XML; a client that forgets moodlewsrestformat=json gets it.
            text = exception_xml(body, debug=state.dispatcher.config.debug) if failed else response_xml(body)
            content_type = "application/xml; charset=utf-8"
        else:
            text = json.dumps(body.as_json(debug=state.dispatcher.config.debug) if failed else body,
                              ensure_ascii=False, separators=(",", ":"))
            content_type = "application/json; charset=utf-8"
        if fault is not None and fault.kind == "truncated":
            text = text[: max(1, len(text) // 2)]
        elif fault is not None and fault.kind == "malformed":
            text = "{\"exception\":" + text[:20] + ",,}"
        return Response(text, status=200, content_type=content_type)

    _register_control_api(app, state)
    for extension in extensions:
        extension(app, site)
    return app


def _reset_connection(environ: dict[str, Any]) -> None:
    """Drop the TCP connection before answering (a proxy or PHP worker dying mid-request)."""
    sock = environ.get("werkzeug.socket")
    if sock is None:
        raise RuntimeError("the reset fault needs werkzeug's development server")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.shutdown(socket.SHUT_RDWR)


def _early_fault(fault: Fault, controls: Controls) -> Response | None:
    if fault.kind == "hang":
        # Longer than any sane client timeout; released early when the server stops.
        controls.released.wait(fault.hang_seconds)
        return None
    if fault.kind == "http429":
        return Response("Too many requests", status=429, headers={"Retry-After": str(fault.retry_after)},
                        content_type="text/plain")
    if fault.kind == "html200":
        return Response(HTML_ERROR_PAGE, status=200, content_type="text/html; charset=utf-8")
    status = int(fault.kind[4:])
    reason = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}[status]
    return Response(f"<html><body><h1>{status} {reason}</h1></body></html>", status=status,
                    content_type="text/html")


def _ws_body(state: EmulatorState, pairs: list[tuple[str, str]]) -> tuple[Any, bool]:
    """(result, False) or (MoodleException, True)."""
    try:
        return state.dispatcher.call(parse_php_params(pairs)), False
    except MoodleException as exc:
        return exc, True


def _register_control_api(app: Flask, state: EmulatorState) -> None:
    site, controls = state.site, state.controls

    def bad(message: str, status: int = 400) -> Response:
        response = jsonify({"error": message})
        response.status_code = status
        return response

    def body() -> dict[str, Any]:
        data = request.get_json(silent=True)
        return data if isinstance(data, dict) else {}

    @app.get("/_emulator/state")
    def state_summary() -> Response:
        summary = site.summary()
        summary.update(calls=controls.calls(), faults=controls.faults(), latency_ms=controls.latency_ms,
                       functions=list(state.dispatcher.config.functions))
        return jsonify(summary)

    @app.get("/_emulator/calls")
    def get_calls() -> Response:
        return jsonify({"calls": controls.calls(), "total": controls.total_calls()})

    @app.post("/_emulator/calls")
    def post_calls() -> Response:
        if body().get("reset"):
            controls.reset_calls()
        return jsonify({"calls": controls.calls(), "total": controls.total_calls()})

    @app.post("/_emulator/faults")
    def post_fault() -> Response:
        spec = body()
        try:
            fns = spec.get("functions")
            fault = Fault(kind=str(spec.get("kind", "")), count=spec.get("count"),
                          probability=spec.get("probability"), seed=spec.get("seed"),
                          retry_after=int(spec.get("retry_after", 1)), hang_seconds=float(spec.get("hang_seconds", 30)),
                          functions=frozenset(fns) if fns else None)
        except (FaultError, TypeError, ValueError) as exc:
            return bad(f"fault: {exc}")
        controls.add_fault(fault)
        return jsonify({"faults": controls.faults()})

    @app.delete("/_emulator/faults")
    def clear_faults() -> Response:
        controls.clear_faults()
        return jsonify({"faults": []})

    @app.post("/_emulator/latency")
    def post_latency() -> Response:
        spec = body()
        try:
            controls.set_latency(float(spec.get("ms", 0)), spec.get("function"))
        except (FaultError, TypeError, ValueError) as exc:
            return bad(f"latency: {exc}")
        return jsonify({"latency_ms": controls.latency_ms, "function_latency_ms": controls.function_latency_ms})

    @app.post("/_emulator/config")
    def post_config() -> Response:
        spec = body()
        cfg = state.dispatcher.config
        if "functions" in spec:
            if not isinstance(spec["functions"], list) or not all(isinstance(f, str) for f in spec["functions"]):
                return bad("config: functions must be a list of function names")
            cfg.functions = tuple(spec["functions"])
        if "moodle" in spec:
            try:
                site.set_release(str(spec["moodle"]))
            except ValueError as exc:
                return bad(f"config: {exc}")
        for key in ("release", "version"):
            if key in spec:
                setattr(site.config, key, str(spec[key]))
        if "aggregation_lag" in spec:
            lag = spec["aggregation_lag"]
            if lag is not None and (not isinstance(lag, int) or lag < 0):
                return bad("config: aggregation_lag must be null or an int >= 0")
            site.aggregation_lag = lag
        if "report_window_days" in spec:
            site.report_window_days = spec["report_window_days"]
        return jsonify({"functions": list(cfg.functions), "moodle": site.config.moodle,
                        "release": site.config.release, "version": site.config.version,
                        "aggregation_lag": site.aggregation_lag})

    @app.post("/_emulator/role")
    def post_role() -> Response:
        """What a Moodle admin does under Define roles: give a token's user exactly these capabilities."""
        spec = body()
        token = spec.get("token", DEFAULT_TOKEN)
        capabilities = spec.get("capabilities")
        if not isinstance(capabilities, list) or not all(isinstance(c, str) for c in capabilities):
            return bad("role: capabilities must be a list of capability names")
        tokens = state.dispatcher.tokens
        if token not in tokens:
            return bad(f"role: unknown token {str(token)[:8]}…")
        tokens[token] = Principal(tokens[token].userid, frozenset(capabilities))
        return jsonify({"capabilities": sorted(capabilities)})

    @app.post("/_emulator/clock")
    def post_clock() -> Response:
        try:
            now = site.clock.advance(int(body().get("advance", 0)))
        except (SiteError, TypeError, ValueError) as exc:
            return bad(f"clock: {exc}")
        return jsonify({"now": now})

    @app.post("/_emulator/mutate")
    def mutate() -> Response:
        spec = body()
        action = spec.get("action")
        args = spec.get("args", {})
        if action not in MUTATIONS:
            return bad(f"mutate: unknown action {action!r}; expected one of {', '.join(sorted(MUTATIONS))}")
        if not isinstance(args, dict):
            return bad("mutate: args must be an object")
        try:
            result = getattr(site, MUTATIONS[action])(**args)
        except (SiteError, TypeError) as exc:
            return bad(f"mutate {action}: {exc}")
        return jsonify({"ok": True, "result": _jsonable(result), "now": site.clock.now()})


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    fields = getattr(value, "__dataclass_fields__", None)
    if fields:
        return {name: _jsonable(getattr(value, name)) for name in fields}
    return str(value)


class QuietRequestHandler(WSGIRequestHandler):
    """No access log lines in test output."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class RunningEmulator:
    """A live emulator on 127.0.0.1 (werkzeug threaded server in a daemon thread)."""

    def __init__(self, server: BaseWSGIServer, thread: threading.Thread, app: Flask) -> None:
        self._server = server
        self._thread = thread
        self.app = app
        self._state: EmulatorState = app.extensions[STATE_KEY]
        self.url = f"http://127.0.0.1:{server.server_port}"
        self.rest_url = f"{self.url}/webservice/rest/server.php"
        self.site = self._state.site
        self.token = DEFAULT_TOKEN
        self.nocap_token = NOCAP_TOKEN

    @property
    def calls(self) -> dict[str, int]:
        return self._state.controls.calls()

    @property
    def total_calls(self) -> int:
        return self._state.controls.total_calls()

    def reset_calls(self) -> None:
        self._state.controls.reset_calls()

    def inject_fault(self, kind: str, *, count: int | None = None, probability: float | None = None,
                     seed: int | None = None, retry_after: int = 1, hang_seconds: float = 30.0,
                     functions: Iterable[str] | None = None) -> None:
        if count is None and probability is None:
            count = 1
        self._state.controls.add_fault(Fault(kind=kind, count=count, probability=probability, seed=seed,
                                             retry_after=retry_after, hang_seconds=hang_seconds,
                                             functions=frozenset(functions) if functions else None))

    def clear_faults(self) -> None:
        self._state.controls.clear_faults()

    def set_latency(self, ms: float, function: str | None = None) -> None:
        self._state.controls.set_latency(ms, function)

    def set_functions(self, functions: Iterable[str]) -> None:
        self._state.dispatcher.config.functions = tuple(functions)

    def set_role(self, capabilities: Iterable[str], token: str = DEFAULT_TOKEN) -> None:
        """Give the token's user exactly these capabilities (a Moodle admin editing the sync role)."""
        tokens = self._state.dispatcher.tokens
        tokens[token] = Principal(tokens[token].userid, frozenset(capabilities))

    def stop(self) -> None:
        self._state.controls.released.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> RunningEmulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_in_thread(site: Site, host: str = "127.0.0.1", port: int = 0, **app_kwargs: Any) -> RunningEmulator:
    if host != "127.0.0.1":
        raise ValueError("the emulator only listens on 127.0.0.1")
    app = create_app(site, **app_kwargs)
    server = make_server(host, port, app, threaded=True, request_handler=QuietRequestHandler)
    site.config.wwwroot = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="moodle-emulator",
                              daemon=True)
    thread.start()
    return RunningEmulator(server, thread, app)
