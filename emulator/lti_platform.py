"""The LTI 1.3 platform side of the emulated Moodle 4.5 (mod_lti), mounted on the emulator's Flask app.

It answers like the recorded Moodle (fixtures/moodle-4.5/lti): third-party-initiated login with
``login_hint`` = user id and ``lti_message_hint`` = {"cmid", "launchid"}, auth.php checks,
id_tokens with Moodle's claims (lis, ext, custom, tool_platform, launch_presentation, context type
CourseSection, exp = iat + 60), certs.php, token.php, Dynamic Registration (single-use bearer
token, domain == target_link_uri host incl. port, new tools Pending), NRPS and AGS with Moodle's
media types, 400/401/409 answers and typographic-quote paging links, and the deep linking return.

Only the site's users (id, names, email, idnumber, username), courses (id, shortname, fullname,
idnumber) and enrolments (courseid, userid, roleid, status) are read.
"""

from __future__ import annotations

import hashlib
import html
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, Response, jsonify, request

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
ROLE_INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
ROLE_LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
ROLE_SYS_ADMIN = "http://purl.imsglobal.org/vocab/lis/v2/system/person#Administrator"
ROLE_INST_ADMIN = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator"
SCOPE_LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCOPE_LINEITEM_RO = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
SCOPE_RESULT = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
SCOPE_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
SCOPE_NRPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
ALL_SCOPES = (SCOPE_LINEITEM, SCOPE_LINEITEM_RO, SCOPE_RESULT, SCOPE_SCORE, SCOPE_NRPS)
MT_LINEITEMS = "application/vnd.ims.lis.v2.lineitemcontainer+json"
MT_LINEITEM = "application/vnd.ims.lis.v2.lineitem+json"
MT_SCORE = "application/vnd.ims.lis.v1.score+json"
MT_RESULTS = "application/vnd.ims.lis.v2.resultcontainer+json"
MT_NRPS = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
TOOL_CONFIG = "https://purl.imsglobal.org/spec/lti-tool-configuration"
INSTRUCTOR_ROLE_IDS = frozenset({3, 4})  # editingteacher, teacher hold mod/lti:manage in the fixtures' site
GRADEBOOK_ROLE_IDS = frozenset({5})  # student: Moodle's $CFG->gradebookroles
SESSION_COOKIE = "MoodleSessionEmu"


@dataclass
class ToolType:
    """A tool registered in mod_lti (lti_types + lti_types_config)."""

    type_id: int
    client_id: str
    name: str
    login_url: str
    redirect_uris: list[str]
    target_link_uri: str
    jwks_url: str
    status: str = "active"  # active | pending (dynamic registrations until the admin activates them)
    custom: dict[str, str] = field(default_factory=dict)
    send_name: bool = True
    send_email: bool = True
    scopes: frozenset[str] = frozenset(ALL_SCOPES)
    registration: dict[str, Any] = field(default_factory=dict)

    @property
    def deployment_id(self) -> str:
        return str(self.type_id)


@dataclass
class ResourceLink:
    """An mod_lti activity: ``cmid`` for the course module, ``instance`` = resource_link.id."""

    cmid: int
    instance: int
    course_id: int
    type_id: int
    name: str
    custom: dict[str, str] = field(default_factory=dict)
    lineitem_id: int | None = None


@dataclass
class LineItem:
    id: int
    course_id: int
    type_id: int
    label: str
    score_maximum: float
    resource_id: str = ""
    tag: str = ""
    resource_link_id: str | None = None


class LtiPlatform:
    """Moodle's mod_lti for one emulated site. Thread-safe (the emulator serves in a thread)."""

    def __init__(self, site: Any, *, base_url: str | None = None, site_name: str = "vetacc",
                 site_description: str = "VET Acceptance Moodle",
                 private_key: rsa.RSAPrivateKey | None = None) -> None:
        self.site = site
        self.base_url = base_url.rstrip("/") if base_url else None
        self.site_name = site_name
        self.site_description = site_description
        self.lock = threading.RLock()
        private = private_key or _platform_key()
        self._private_key = private  # a key object: PyJWT would re-parse (and re-check) a PEM on every token
        self._private_pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption())
        self.kid = secrets.token_hex(10)
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
        self.jwks = {"keys": [{**jwk, "alg": "RS256", "kid": self.kid, "use": "sig"}]}
        self.tools: dict[int, ToolType] = {}
        self.links: dict[int, ResourceLink] = {}
        self.line_items: dict[int, LineItem] = {}
        self.results: dict[tuple[int, int], dict[str, Any]] = {}
        self.admins: set[int] = set()
        self.registration_tokens: dict[str, bool] = {}  # token -> used
        self.access_tokens: dict[str, tuple[int, frozenset[str], float]] = {}
        self.pending_launches: dict[str, dict[str, Any]] = {}
        self.deep_link_returns: list[dict[str, Any]] = []
        self.clock = time.time
        self._ids = {"type": 0, "cmid": 100, "instance": 0, "lineitem": 1000}
        self._tool_jwks_cache: dict[str, dict[str, Any]] = {}

    # ------------------------------------------------------------------ control (tests, demo)
    @property
    def issuer(self) -> str:
        """Moodle's wwwroot: given, else the site's (serve_in_thread sets it to the bound URL)."""
        if self.base_url:
            return self.base_url
        wwwroot = getattr(getattr(self.site, "config", None), "wwwroot", None)
        if wwwroot:
            return str(wwwroot).rstrip("/")
        return request.url_root.rstrip("/")

    def _next(self, name: str) -> int:
        with self.lock:
            self._ids[name] += 1
            return self._ids[name]

    def add_tool(self, tool_base_url: str, *, client_id: str | None = None, name: str = "credbridge",
                 status: str = "active", custom: dict[str, str] | None = None,
                 scopes: frozenset[str] = frozenset(ALL_SCOPES)) -> ToolType:
        """A manually configured tool (Site administration › Manage tools › configure a tool manually)."""
        base = tool_base_url.rstrip("/")
        tool = ToolType(type_id=self._next("type"), client_id=client_id or secrets.token_urlsafe(11)[:15],
                        name=name, login_url=base + "/lti/login", redirect_uris=[base + "/lti/launch"],
                        target_link_uri=base + "/lti/launch", jwks_url=base + "/.well-known/jwks.json",
                        status=status, custom=dict(custom or {}), scopes=scopes)
        with self.lock:
            self.tools[tool.type_id] = tool
        return tool

    def activate(self, client_id: str) -> ToolType:
        tool = self.tool_by_client(client_id)
        if tool is None:
            raise KeyError(f"no tool with client_id {client_id}")
        tool.status = "active"
        return tool

    def tool_by_client(self, client_id: str) -> ToolType | None:
        return next((t for t in self.tools.values() if t.client_id == client_id), None)

    def add_link(self, course_id: int, tool: ToolType, *, name: str = "credbridge",
                 custom: dict[str, str] | None = None, with_line_item: bool = True) -> ResourceLink:
        self.site.courses[course_id]
        link = ResourceLink(cmid=self._next("cmid"), instance=self._next("instance"), course_id=course_id,
                            type_id=tool.type_id, name=name, custom=dict(custom or {}))
        if with_line_item:
            item = LineItem(id=self._next("lineitem"), course_id=course_id, type_id=tool.type_id, label=name,
                            score_maximum=100, resource_link_id=str(link.instance))
            self.line_items[item.id] = item
            link.lineitem_id = item.id
        with self.lock:
            self.links[link.cmid] = link
        return link

    def link_for(self, course_id: int, tool: ToolType) -> ResourceLink:
        for link in self.links.values():
            if link.course_id == course_id and link.type_id == tool.type_id:
                return link
        return self.add_link(course_id, tool)

    def launch_url(self, user_id: int, course_id: int, *, tool: ToolType | None = None,
                   message_type: str = "LtiResourceLinkRequest", cmid: int | None = None) -> str:
        """Where a browser goes to launch, as ``user_id`` (the emulator has no Moodle login form)."""
        tool = tool or self.default_tool()
        if message_type == "LtiDeepLinkingRequest":
            path = "/mod/lti/contentitem.php?" + urlencode({"course": course_id, "id": tool.type_id,
                                                            "user": user_id})
        else:
            cmid = cmid or self.link_for(course_id, tool).cmid
            path = "/mod/lti/launch.php?" + urlencode({"id": cmid, "user": user_id})
        return self.issuer + path

    def default_tool(self) -> ToolType:
        if not self.tools:
            raise KeyError("no tool is configured on the platform")
        return self.tools[min(self.tools)]

    def registration_url(self, tool_register_url: str, **extra: str) -> str:
        """What Moodle opens in its iframe for Dynamic Registration (fresh single-use token each time)."""
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.registration_tokens[token] = False
        query = {"openid_configuration": f"{self.issuer}/mod/lti/openid-configuration.php",
                 "registration_token": token, **extra}
        sep = "&" if "?" in tool_register_url else "?"
        return tool_register_url + sep + urlencode(query)

    # ------------------------------------------------------------------ helpers
    def _sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self._private_key, algorithm="RS256", headers={"kid": self.kid, "typ": "JWT"})

    def _user_roles(self, user_id: int, course_id: int) -> list[str] | None:
        roles: list[str] = []
        enrolment = next((e for e in self.site.enrolments.values()
                          if e.courseid == course_id and e.userid == user_id and e.status == 0), None)
        if enrolment is not None:
            roles.append(ROLE_INSTRUCTOR if enrolment.roleid in INSTRUCTOR_ROLE_IDS else ROLE_LEARNER)
        if user_id in self.admins:
            roles = [r for r in roles if r != ROLE_LEARNER] + [ROLE_SYS_ADMIN, ROLE_INST_ADMIN]
        return roles or None

    def _guid(self) -> str:
        return hashlib.md5(urlsplit(self.issuer).netloc.encode(), usedforsecurity=False).hexdigest()

    def id_token_claims(self, tool: ToolType, user_id: int, course_id: int, message_type: str, nonce: str,
                        link: ResourceLink | None) -> dict[str, Any]:
        """The payload Moodle 4.5 builds (lti_build_request_lti13 / lti_build_standard_message)."""
        user, course = self.site.users[user_id], self.site.courses[course_id]
        base = self.issuer
        now = int(self.clock())
        roles = self._user_roles(user_id, course_id) or []
        memberships = f"{base}/mod/lti/services.php/CourseSection/{course_id}/bindings/{tool.type_id}/memberships"
        custom = {**tool.custom, **(link.custom if link else {})}
        custom = {k: self._substitute(v, user, course) for k, v in custom.items()}
        custom["context_memberships_url"] = memberships
        claims: dict[str, Any] = {
            "nonce": nonce, "iat": now, "exp": now + 60, "iss": base, "aud": tool.client_id,
            LTI + "deployment_id": tool.deployment_id,
            LTI + "target_link_uri": tool.target_link_uri,
            "sub": str(user.id),
            LTI + "lis": {"person_sourcedid": user.idnumber or "", "course_section_sourcedid": course.idnumber or ""},
            LTI + "roles": roles,
            LTI + "context": {"id": str(course.id), "label": course.shortname, "title": course.fullname,
                              "type": ["CourseSection"]},
            LTI + "message_type": message_type,
        }
        if link is not None:
            claims[LTI + "resource_link"] = {"title": link.name, "description": "", "id": str(link.instance)}
            # LTI 1.1 outcomes, which Moodle still sends when the tool may return grades
            sourcedid = {"data": {"instanceid": str(link.instance), "userid": str(user.id),
                                  "typeid": str(tool.type_id), "launchid": secrets.randbelow(10**9)},
                         "hash": secrets.token_hex(32)}
            claims["https://purl.imsglobal.org/spec/lti-bo/claim/basicoutcome"] = {
                "lis_result_sourcedid": json.dumps(sourcedid, separators=(",", ":")),
                "lis_outcome_service_url": f"{base}/mod/lti/service.php"}
        if tool.send_name:
            claims.update({"given_name": user.firstname, "family_name": user.lastname,
                           "name": f"{user.firstname} {user.lastname}"})
        ext = {"user_username": user.username, "lms": "moodle-2"} if tool.send_name else {"lms": "moodle-2"}
        claims[LTI + "ext"] = ext
        if tool.send_email:
            claims["email"] = user.email
        presentation: dict[str, Any] = {"locale": getattr(user, "lang", "en") or "en"}
        if link is not None:
            presentation.update({"document_target": "iframe", "return_url": f"{base}/mod/lti/return.php?course="
                                 f"{course.id}&launch_container=3&instanceid={link.instance}&sesskey=emu"})
        claims[LTI + "launch_presentation"] = presentation
        claims[LTI + "tool_platform"] = {"product_family_code": "moodle", "version": "2024100700",
                                         "guid": self._guid(), "name": self.site_name,
                                         "description": self.site_description}
        claims[LTI + "version"] = "1.3.0"
        claims[LTI + "custom"] = custom
        ags: dict[str, Any] = {"scope": sorted(s for s in tool.scopes if "lti-ags" in s),
                               "lineitems": f"{base}/mod/lti/services.php/{course.id}/lineitems?type_id={tool.type_id}"}
        if link is not None and link.lineitem_id is not None:
            ags["lineitem"] = self.lineitem_url(self.line_items[link.lineitem_id])
        claims["https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"] = ags
        claims["https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"] = {
            "context_memberships_url": memberships, "service_versions": ["1.0", "2.0"]}
        if message_type == "LtiDeepLinkingRequest":
            claims["https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"] = {
                "accept_types": ["ltiResourceLink"], "accept_presentation_document_targets": ["frame", "iframe",
                                                                                               "window"],
                "accept_copy_advice": False, "accept_multiple": True, "accept_unsigned": False,
                "auto_create": False, "can_confirm": False,
                "deep_link_return_url": f"{base}/mod/lti/contentitem_return.php?course={course.id}"
                                        f"&id={tool.type_id}&sesskey=emu",
                "title": tool.name, "text": ""}
        return claims

    @staticmethod
    def _substitute(value: str, user: Any, course: Any) -> str:
        return {"$Person.sourcedId": user.idnumber, "$User.username": user.username,
                "$CourseSection.sourcedId": course.idnumber, "$User.id": str(user.id)}.get(value, value)

    def lineitem_url(self, item: LineItem) -> str:
        base = f"{self.issuer}/mod/lti/services.php/{item.course_id}/lineitems/{item.id}"
        return f"{base}/lineitem?type_id={item.type_id}"

    def fetch_tool_jwks(self, tool: ToolType, *, refresh: bool = False) -> dict[str, Any]:
        if refresh or tool.jwks_url not in self._tool_jwks_cache:
            self._tool_jwks_cache[tool.jwks_url] = requests.get(tool.jwks_url, timeout=10).json()
        return self._tool_jwks_cache[tool.jwks_url]

    def tool_key(self, tool: ToolType, kid: str | None) -> Any:
        for refresh in (False, True):
            for key in jwt.PyJWKSet.from_dict(self.fetch_tool_jwks(tool, refresh=refresh)).keys:
                if key.key_id == kid:
                    return key.key
        return None


def _platform_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


# ---------------------------------------------------------------------- HTTP
def _autopost(action: str, fields: dict[str, str], title: str = "Launching") -> Response:
    inputs = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                     for k, v in fields.items())
    body = (f"<!doctype html><html><head><title>{title}</title></head><body>"
            f'<form id="ltiform" method="post" action="{html.escape(action)}">{inputs}</form>'
            '<script>document.getElementById("ltiform").submit();</script></body></html>')
    return Response(body, content_type="text/html; charset=utf-8")


def _text(status: int, message: str) -> Response:
    return Response(message, status=status, content_type="text/html; charset=utf-8")


def _service_error(status: int, accept: str = "") -> Response:
    """Moodle's services.php error body (mod/lti/classes/local/ltiservice/response.php)."""
    body = {"status": status, "reason": {400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
                                         409: "Conflict"}.get(status, "Error"),
            "request": {"method": request.method, "url": request.full_path.rstrip("?"),
                        "accept": request.headers.get("Accept", "*/*"),
                        "contentType": request.headers.get("Content-Type", "")}}
    return Response(json.dumps(body), status=status, content_type="application/json; charset=utf-8")


def _typographic_next(url: str) -> str:
    # Moodle writes rel=“next” in UTF-8; HTTP headers travel as bytes, which clients read as latin-1
    return f"<{url}>; rel=“next”".encode().decode("latin-1")


def register(app: Flask, site: Any, *, base_url: str | None = None, tool_base_url: str | None = None,
             client_id: str | None = None, **platform_kwargs: Any) -> LtiPlatform:
    """Mount the platform on an emulator app (an extension ``(app, site) -> None`` via functools.partial).
    With ``tool_base_url`` a tool is configured manually up front. The platform is also kept as
    ``app.extensions['lti_platform']``."""
    platform = LtiPlatform(site, base_url=base_url, **platform_kwargs)
    if tool_base_url:
        platform.add_tool(tool_base_url, client_id=client_id)
    app.extensions["lti_platform"] = platform
    _routes(app, platform)
    return platform


def create_platform_app(site: Any, **kwargs: Any) -> tuple[Flask, LtiPlatform]:
    """The platform alone, for tests that do not need the Web Services emulator."""
    app = Flask("credbridge.emulator.lti_platform")
    return app, register(app, site, **kwargs)


def _routes(app: Flask, p: LtiPlatform) -> None:
    def current_user() -> int | None:
        value = request.cookies.get(SESSION_COOKIE, "")
        return int(value) if value.isdigit() else None

    def start_login(tool: ToolType, user_id: int, hint: dict[str, Any], target: str) -> Response:
        if tool.status != "active":
            return _text(403, "The tool is pending: an administrator must activate it first.")
        launchid = f"ltilaunch{tool.type_id}_{secrets.randbelow(10**10)}"
        p.pending_launches[launchid] = {**hint, "user": user_id, "type_id": tool.type_id}
        message_hint = json.dumps({"cmid": hint.get("cmid"), "launchid": launchid}) if hint.get("cmid") \
            else json.dumps({"launchid": launchid})
        fields = {"iss": p.issuer, "target_link_uri": target, "login_hint": str(user_id),
                  "lti_message_hint": message_hint, "client_id": tool.client_id,
                  "lti_deployment_id": tool.deployment_id}
        response = _autopost(tool.login_url, fields)
        response.set_cookie(SESSION_COOKIE, str(user_id), httponly=True)
        return response

    @app.get("/mod/lti/launch.php")
    def lti_launch() -> Response:
        link = p.links.get(request.args.get("id", type=int) or 0)
        user_id = request.args.get("user", type=int) or current_user()
        if link is None or user_id is None or user_id not in p.site.users:
            return _text(404, "Invalid course module id or user")
        if p._user_roles(user_id, link.course_id) is None:
            return _text(403, "Sorry, but you do not currently have permissions to do that (not enrolled).")
        tool = p.tools[link.type_id]
        return start_login(tool, user_id, {"cmid": link.cmid, "course": link.course_id,
                                           "message_type": "LtiResourceLinkRequest"}, tool.target_link_uri)

    @app.get("/mod/lti/contentitem.php")
    def contentitem() -> Response:
        tool = p.tools.get(request.args.get("id", type=int) or 0)
        course_id = request.args.get("course", type=int) or 0
        user_id = request.args.get("user", type=int) or current_user()
        if tool is None or course_id not in p.site.courses or user_id is None:
            return _text(404, "Invalid tool, course or user")
        if ROLE_INSTRUCTOR not in (p._user_roles(user_id, course_id) or []) and user_id not in p.admins:
            return _text(403, "Sorry, but you do not currently have permissions to do that (mod/lti:addinstance).")
        return start_login(tool, user_id, {"course": course_id, "message_type": "LtiDeepLinkingRequest"},
                           tool.target_link_uri)

    @app.get("/mod/lti/auth.php")
    def auth() -> Response:
        q = request.args
        for name in ("scope", "response_type", "client_id", "redirect_uri", "login_hint", "nonce"):
            if not q.get(name):
                return _text(400, f"Missing parameter: {name}")
        tool = p.tool_by_client(q["client_id"])
        if tool is None:
            return _text(400, "invalid_client: Unknown client_id")
        if q["redirect_uri"] not in tool.redirect_uris:
            return _text(400, "invalid_request: Unregistered redirect_uri")
        state = q.get("state", "")

        def error(code: str, description: str) -> Response:
            fields = {"error": code, "error_description": description}
            if state:
                fields["state"] = state
            return _autopost(q["redirect_uri"], fields)

        if q["scope"] != "openid":
            return error("invalid_scope", "Invalid scope")
        if q["response_type"] != "id_token":
            return error("unsupported_response_type", "Invalid response_type")
        if q.get("response_mode") != "form_post":
            return error("invalid_request", "Invalid response_mode")
        if q.get("prompt") != "none":
            return error("invalid_request", "Invalid prompt")
        user_id = current_user()
        if user_id is None or str(user_id) != q["login_hint"]:
            return error("access_denied", "User login required" if user_id is None else "Invalid login_hint")
        try:
            hint = json.loads(q.get("lti_message_hint", "{}"))
        except ValueError:
            return error("invalid_request", "Invalid lti_message_hint")
        launch = p.pending_launches.pop(str(hint.get("launchid", "")), None)
        if launch is None or launch["user"] != user_id or launch["type_id"] != tool.type_id:
            return error("invalid_request", "Invalid launch id")
        link = p.links.get(launch.get("cmid") or 0)
        claims = p.id_token_claims(tool, user_id, launch["course"], launch["message_type"], q["nonce"], link)
        fields = {"id_token": p._sign(claims)}
        if state:
            fields["state"] = state
        return _autopost(q["redirect_uri"], fields)

    @app.get("/mod/lti/certs.php")
    def certs() -> Response:
        return jsonify(p.jwks)

    @app.get("/mod/lti/openid-configuration.php")
    def openid_configuration() -> Response:
        base = p.issuer
        return jsonify({
            "issuer": base, "token_endpoint": f"{base}/mod/lti/token.php",
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
            "jwks_uri": f"{base}/mod/lti/certs.php", "authorization_endpoint": f"{base}/mod/lti/auth.php",
            "registration_endpoint": f"{base}/mod/lti/openid-registration.php",
            "scopes_supported": ["openid", *ALL_SCOPES], "response_types_supported": ["id_token"],
            "subject_types_supported": ["public", "pairwise"], "id_token_signing_alg_values_supported": ["RS256"],
            "claims_supported": ["sub", "iss", "name", "given_name", "family_name", "email"],
            "https://purl.imsglobal.org/spec/lti-platform-configuration": {
                "product_family_code": "moodle", "version": "4.5 (Build: 20241007)",
                "messages_supported": [{"type": "LtiResourceLinkRequest"}, {"type": "LtiDeepLinkingRequest"}],
                "variables": ["basic-lti-launch-request", "ContextSelection", "Person.sourcedId",
                              "User.username", "CourseSection.sourcedId"]},
        })

    @app.post("/mod/lti/openid-registration.php")
    def openid_registration() -> Response:
        auth = request.headers.get("Authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if not token:
            return _text(401, "missing_registration_token")
        with p.lock:
            used = p.registration_tokens.get(token)
            if used is None:
                return _text(401, "invalid_registration_token")
            if used:
                return _text(401, "token_already_used")
            p.registration_tokens[token] = True
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return _text(400, "invalid_request: the body is not JSON")
        config = body.get(TOOL_CONFIG) or {}
        for name in ("initiate_login_uri", "redirect_uris", "jwks_uri", "client_name"):
            if not body.get(name):
                return _text(400, f"missing_{name}")
        if "id_token" not in (body.get("response_types") or []):
            return _text(400, "invalid_response_types")
        if body.get("token_endpoint_auth_method") != "private_key_jwt":
            return _text(400, "invalid_token_endpoint_auth_method")
        target = config.get("target_link_uri", "")
        if not config.get("domain") or urlsplit(target).netloc != config["domain"]:
            return _text(400, "domain_targetlinkuri_mismatch")
        scopes = frozenset(s for s in str(body.get("scope", "")).split() if s in ALL_SCOPES)
        tool = ToolType(type_id=p._next("type"), client_id=secrets.token_urlsafe(11)[:15], name=body["client_name"],
                        login_url=body["initiate_login_uri"], redirect_uris=list(body["redirect_uris"]),
                        target_link_uri=target, jwks_url=body["jwks_uri"], status="pending", scopes=scopes,
                        send_name="name" in (config.get("claims") or []),
                        send_email="email" in (config.get("claims") or []), registration=body)
        with p.lock:
            p.tools[tool.type_id] = tool
        answer = {**body, "client_id": tool.client_id,
                  TOOL_CONFIG: {**config, "deployment_id": tool.deployment_id}}
        return jsonify(answer)

    @app.post("/mod/lti/token.php")
    def token() -> Response:
        form = request.form

        def fail(code: str) -> Response:
            return Response(json.dumps({"error": code}), status=400, content_type="text/html; charset=utf-8")

        if form.get("grant_type") != "client_credentials":
            return fail("unsupported_grant_type")
        if form.get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" \
                or not form.get("client_assertion") or not form.get("scope"):
            return fail("invalid_request")
        assertion = form["client_assertion"]
        try:
            header = jwt.get_unverified_header(assertion)
            sub = jwt.decode(assertion, options={"verify_signature": False}).get("sub")
        except jwt.PyJWTError:
            return fail("invalid_request")
        tool = p.tool_by_client(str(sub))
        if tool is None or tool.status != "active":
            return fail("invalid_client")
        key = p.tool_key(tool, header.get("kid"))
        if key is None:
            return Response('{\n  "error" : ""kid" invalid, unable to lookup correct key"\n}', status=400,
                            content_type="text/html; charset=utf-8")
        try:
            jwt.decode(assertion, key, algorithms=["RS256"], audience=f"{p.issuer}/mod/lti/token.php",
                       options={"require": ["iss", "sub", "aud", "exp", "iat"]}, leeway=5)
        except jwt.PyJWTError:
            return fail("invalid_client")
        requested = form["scope"].split()
        granted = [s for s in requested if s in tool.scopes]
        if not granted:
            return fail("invalid_scope")
        access = secrets.token_hex(16)
        with p.lock:
            p.access_tokens[access] = (tool.type_id, frozenset(granted), p.clock() + 3600)
        return Response(json.dumps({"access_token": access, "token_type": "Bearer", "expires_in": 3600,
                                    "scope": " ".join(granted)}), content_type="text/html; charset=utf-8")

    def authorised(type_id: int, *any_of: str) -> bool:
        auth = request.headers.get("Authorization", "")
        found = p.access_tokens.get(auth[7:].strip()) if auth.lower().startswith("bearer ") else None
        return found is not None and found[0] == type_id and found[2] > p.clock() and bool(found[1] & set(any_of))

    def page(items: list[Any], url: str) -> tuple[list[Any], str | None]:
        limit = request.args.get("limit", type=int) or 0
        start = request.args.get("from", type=int) or 0
        if not limit:
            return items, None
        chunk = items[start:start + limit]
        if start + limit >= len(items):
            return chunk, None
        query = {k: v for k, v in request.args.items() if k not in ("from",)}
        query["from"] = str(start + limit)
        return chunk, url + "?" + urlencode(query)

    @app.get("/mod/lti/services.php/CourseSection/<int:course_id>/bindings/<int:type_id>/memberships")
    def memberships(course_id: int, type_id: int) -> Response:
        if not authorised(type_id, SCOPE_NRPS):
            return _service_error(401)
        if request.headers.get("Accept") not in (MT_NRPS, None, "*/*"):
            return _service_error(400)
        course = p.site.courses.get(course_id)
        if course is None:
            return _service_error(404)
        role = request.args.get("role")
        tool = p.tools[type_id]
        members = []
        for enrolment in sorted(p.site.enrolments.values(),
                                key=lambda e: (p.site.users[e.userid].lastname, p.site.users[e.userid].firstname)):
            if enrolment.courseid != course_id or enrolment.status != 0:
                continue
            short = "Instructor" if enrolment.roleid == 3 else "Learner"
            if role and role not in (short, f"http://purl.imsglobal.org/vocab/lis/v2/membership#{short}"):
                continue
            user = p.site.users[enrolment.userid]
            member = {"status": "Active", "roles": [short], "user_id": str(user.id),
                      "lis_person_sourcedid": user.idnumber or ""}
            if tool.send_name:
                member.update({"name": f"{user.firstname} {user.lastname}", "given_name": user.firstname,
                               "family_name": user.lastname})
            if tool.send_email:
                member["email"] = user.email
            if tool.send_name:
                member["ext_user_username"] = user.username
            members.append(member)
        base = f"{p.issuer}/mod/lti/services.php/CourseSection/{course_id}/bindings/{type_id}/memberships"
        chunk, next_url = page(members, base)
        response = jsonify({"id": base, "context": {"id": str(course.id), "label": course.shortname,
                                                    "title": course.fullname}, "members": chunk})
        response.content_type = MT_NRPS + "; charset=utf-8"
        if next_url:
            response.headers["Link"] = f'<{next_url}>; rel="next"'
        return response

    def item_json(item: LineItem) -> dict[str, Any]:
        body: dict[str, Any] = {"id": p.lineitem_url(item), "label": item.label, "scoreMaximum": item.score_maximum,
                                "resourceId": item.resource_id, "tag": item.tag}
        if item.resource_link_id:
            body.update({"resourceLinkId": item.resource_link_id, "ltiLinkId": item.resource_link_id})
        return body

    @app.route("/mod/lti/services.php/<int:course_id>/lineitems", methods=["GET", "POST"])
    def lineitems(course_id: int) -> Response:
        type_id = request.args.get("type_id", type=int) or 0
        if type_id not in p.tools:
            return _service_error(404)
        if request.method == "POST":
            if not authorised(type_id, SCOPE_LINEITEM):
                return _service_error(401)
            if request.headers.get("Content-Type", "").split(";")[0].strip() != MT_LINEITEM:
                return _service_error(400)
            body = request.get_json(force=True, silent=True) or {}
            if not body.get("label") or not isinstance(body.get("scoreMaximum"), int | float):
                return _service_error(400)
            item = LineItem(id=p._next("lineitem"), course_id=course_id, type_id=type_id, label=body["label"],
                            score_maximum=body["scoreMaximum"], resource_id=body.get("resourceId", ""),
                            tag=body.get("tag", ""), resource_link_id=body.get("resourceLinkId"))
            p.line_items[item.id] = item
            response = Response(json.dumps({**body, "id": p.lineitem_url(item)}), status=201,
                                content_type=MT_LINEITEM + "; charset=utf-8")
            return response
        if not authorised(type_id, SCOPE_LINEITEM, SCOPE_LINEITEM_RO):
            return _service_error(401)
        if request.headers.get("Accept") != MT_LINEITEMS:
            return _service_error(400)
        a = request.args
        items = [i for i in sorted(p.line_items.values(), key=lambda i: i.id)
                 if i.course_id == course_id and i.type_id == type_id
                 and (not a.get("resource_link_id") or i.resource_link_id == a["resource_link_id"])
                 and (not a.get("resource_id") or i.resource_id == a["resource_id"])
                 and (not a.get("tag") or i.tag == a["tag"])]
        chunk, next_url = page([item_json(i) for i in items],
                               f"{p.issuer}/mod/lti/services.php/{course_id}/lineitems")
        response = Response(json.dumps(chunk), content_type=MT_LINEITEMS + "; charset=utf-8")
        if next_url:
            response.headers["Link"] = _typographic_next(next_url)
        return response

    def find_item(course_id: int, item_id: int) -> LineItem | None:
        item = p.line_items.get(item_id)
        type_id = request.args.get("type_id", type=int)
        return item if item and item.course_id == course_id and item.type_id == type_id else None

    @app.get("/mod/lti/services.php/<int:course_id>/lineitems/<int:item_id>/lineitem")
    def lineitem(course_id: int, item_id: int) -> Response:
        item = find_item(course_id, item_id)
        if item is None:
            return _service_error(404)
        if not authorised(item.type_id, SCOPE_LINEITEM, SCOPE_LINEITEM_RO):
            return _service_error(401)
        return Response(json.dumps(item_json(item)), content_type=MT_LINEITEM + "; charset=utf-8")

    @app.post("/mod/lti/services.php/<int:course_id>/lineitems/<int:item_id>/lineitem/scores")
    def scores(course_id: int, item_id: int) -> Response:
        item = find_item(course_id, item_id)
        if item is None:
            return _service_error(404)
        if not authorised(item.type_id, SCOPE_SCORE):
            return _service_error(401)
        if request.headers.get("Content-Type", "").split(";")[0].strip() != MT_SCORE:
            return _service_error(400)
        body = request.get_json(force=True, silent=True)
        if not isinstance(body, dict) or not body.get("userId") or not body.get("timestamp"):
            return _service_error(400)
        user_id = int(body["userId"]) if str(body["userId"]).isdigit() else 0
        enrolment = next((e for e in p.site.enrolments.values() if e.courseid == course_id
                          and e.userid == user_id), None)
        if enrolment is None or enrolment.roleid not in GRADEBOOK_ROLE_IDS:
            return _service_error(400)  # Moodle: the user must hold a gradebook role in the course
        try:
            stamp = int(datetime.fromisoformat(str(body["timestamp"]).replace("Z", "+00:00")).timestamp())
        except ValueError:
            return _service_error(400)
        previous = p.results.get((item.id, user_id))
        if previous is not None and stamp <= previous["timestamp"]:
            return _service_error(409)
        result: dict[str, Any] = {"timestamp": stamp, "comment": body.get("comment")}
        if body.get("gradingProgress") == "FullyGraded" and body.get("scoreGiven") is not None:
            maximum = float(body.get("scoreMaximum") or item.score_maximum)
            result["score"] = round(float(body["scoreGiven"]) / maximum * item.score_maximum, 5)
        else:
            result["score"] = previous.get("score") if previous else None
        p.results[(item.id, user_id)] = result
        return Response("", status=200, content_type=MT_SCORE + "; charset=utf-8")

    @app.get("/mod/lti/services.php/<int:course_id>/lineitems/<int:item_id>/lineitem/results")
    def results(course_id: int, item_id: int) -> Response:
        item = find_item(course_id, item_id)
        if item is None:
            return _service_error(404)
        if not authorised(item.type_id, SCOPE_RESULT):
            return _service_error(401)
        if request.headers.get("Accept") != MT_RESULTS:
            return _service_error(400)
        wanted = request.args.get("user_id")
        rows = []
        for (iid, uid), result in sorted(p.results.items(), key=lambda kv: kv[0][1]):
            if iid != item.id or (wanted and str(uid) != wanted):
                continue
            rows.append({"id": f"{p.lineitem_url(item).replace('/lineitem?', '/lineitem/results?')}&user_id={uid}",
                         "userId": str(uid), "resultScore": result["score"], "resultMaximum": item.score_maximum,
                         "comment": result.get("comment"), "scoreOf": p.lineitem_url(item),
                         "timestamp": datetime.fromtimestamp(result["timestamp"], UTC).isoformat()})
        chunk, next_url = page(rows, f"{p.issuer}/mod/lti/services.php/{course_id}/lineitems/{item.id}"
                                     "/lineitem/results")
        response = Response(json.dumps(chunk), content_type=MT_RESULTS + "; charset=utf-8")
        if next_url:
            response.headers["Link"] = _typographic_next(next_url)
        return response

    @app.post("/mod/lti/contentitem_return.php")
    def contentitem_return() -> Response:
        tool = p.tools.get(request.args.get("id", type=int) or 0)
        course_id = request.args.get("course", type=int) or 0
        token = request.form.get("JWT", "")
        if tool is None or not token:
            return _text(400, "Missing JWT or tool")
        try:
            header = jwt.get_unverified_header(token)
            key = p.tool_key(tool, header.get("kid"))
            if key is None or header.get("alg") != "RS256":
                return _text(400, "Invalid JWT: unknown kid or algorithm")
            claims = jwt.decode(token, key, algorithms=["RS256"], audience=p.issuer, issuer=tool.client_id,
                                options={"require": ["iss", "aud", "iat", "exp", "nonce"]}, leeway=5)
        except jwt.PyJWTError as exc:
            return _text(400, f"Invalid JWT: {exc}")
        checks = {LTI + "message_type": "LtiDeepLinkingResponse", LTI + "version": "1.3.0",
                  LTI + "deployment_id": tool.deployment_id}
        for claim, wanted in checks.items():
            if claims.get(claim) != wanted:
                return _text(400, f"Invalid JWT: {claim} is {claims.get(claim)!r}")
        items = claims.get("https://purl.imsglobal.org/spec/lti-dl/claim/content_items")
        if not isinstance(items, list):
            return _text(400, "Invalid JWT: no content_items")
        created = []
        for item in items:
            if item.get("type") != "ltiResourceLink":
                return _text(400, f"Unsupported content item type {item.get('type')!r}")
            link = p.add_link(course_id, tool, name=item.get("title") or tool.name,
                              custom={str(k): str(v) for k, v in (item.get("custom") or {}).items()},
                              with_line_item="lineItem" in item)
            if "lineItem" in item and link.lineitem_id is not None:
                li = p.line_items[link.lineitem_id]
                li.score_maximum = item["lineItem"].get("scoreMaximum", 100)
                li.label = item["lineItem"].get("label", li.label)
                li.resource_id = item["lineItem"].get("resourceId", "")
                li.tag = item["lineItem"].get("tag", "")
            created.append(link.cmid)
        p.deep_link_returns.append({"claims": claims, "cmids": created})
        listing = "".join(f'<li class="cmid">{c}</li>' for c in created)
        return _text(200, f"<!doctype html><title>Content added</title><ul>{listing}</ul>")
