"""The dcwatch portal: FastAPI app with server-rendered pages and the REST API (/api/v1).

Everything is served locally (no CDN): templates and static files ship in this package.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from dcwatch import __version__
from dcwatch.model.activity import Account
from dcwatch.model.alert import EntityRef
from dcwatch.store.db import Store
from dcwatch.store.portal import Portal
from dcwatch.web.security import LoginRequired, PasswordChangeRequired

HERE = Path(__file__).parent
PHASE_LABELS = {
    "reconnaissance": "Reconnaissance",
    "credential-access": "Compromised credentials",
    "lateral-movement": "Lateral movement",
    "persistence-privilege-escalation": "Domain dominance",
    "exfiltration": "Exfiltration",
    "other": "Other",
}
KIND_ICONS = {"user": "U", "computer": "PC", "ip": "IP", "group": "G", "domain": "D",
              "service": "S", "file": "F"}


def entity_url(kind: str, name: str) -> str:
    """Link to an entity page."""
    return "/entity?" + urlencode({"kind": kind, "name": name})


def account_entity(acct: Account | None) -> tuple[str, str] | None:
    """(kind, name) of the entity page an activity's account links to."""
    if acct is None or not (acct.name or acct.sid):
        return None
    if acct.is_machine and acct.name:
        return "computer", acct.name[:-1].upper()
    name = acct.name or acct.sid or "?"
    return "user", f"{acct.domain}\\{name}" if acct.domain and acct.name else name


def fmt_dt(v: datetime | None, with_ms: bool = False) -> str:
    """UTC display of a datetime."""
    if v is None:
        return "—"
    v = v.astimezone(UTC)
    return v.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC" if with_ms else \
        v.strftime("%Y-%m-%d %H:%M:%S UTC")


def linkify(text: str, entities: list[EntityRef]) -> Markup:
    """Escape a description and turn the entity names in it into links."""
    names: dict[str, EntityRef] = {}
    for e in entities:
        names.setdefault(e.name, e)
        short = e.name.rsplit("\\", 1)[-1]
        if short != e.name and len(short) > 2:
            names.setdefault(short, e)
    if not names:
        return escape(text)
    pat = re.compile("|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)),
                     re.IGNORECASE)
    out: list[str] = []
    pos = 0
    lower = {k.lower(): v for k, v in names.items()}
    for m in pat.finditer(text):
        ref = lower.get(m.group(0).lower())
        if ref is None:
            continue
        out.append(str(escape(text[pos:m.start()])))
        href = escape(entity_url(ref.kind, ref.name))
        out.append(f'<a class="ent ent-{escape(ref.kind)}" href="{href}">'
                   f'{escape(m.group(0))}</a>')
        pos = m.end()
    out.append(str(escape(text[pos:])))
    return Markup("".join(out))


def humanize(key: str) -> str:
    """evidence_key -> Evidence key."""
    s = key.replace("_", " ").strip()
    return s[:1].upper() + s[1:]


def query_with(request: Request, **changes: Any) -> str:
    """The current query string with some parameters replaced (pagination links)."""
    params = dict(request.query_params)
    for k, v in changes.items():
        if v is None or v == "":
            params.pop(k, None)
        else:
            params[k] = str(v)
    return "?" + urlencode(params)


def make_templates() -> Jinja2Templates:
    """Jinja2 environment with the portal's filters."""
    tpl = Jinja2Templates(directory=str(HERE / "templates"))
    env = tpl.env
    env.add_extension("jinja2.ext.do")
    env.filters["dt"] = fmt_dt
    env.filters["dtms"] = lambda v: fmt_dt(v, True)
    env.filters["humanize"] = humanize
    env.filters["urlq"] = lambda s: quote(str(s), safe="")
    env.globals.update(entity_url=entity_url, account_entity=account_entity, linkify=linkify,
                       PHASE_LABELS=PHASE_LABELS, KIND_ICONS=KIND_ICONS, version=__version__,
                       query_with=query_with)
    env.tests["mapping"] = lambda v: isinstance(v, dict)
    env.tests["records"] = lambda v: isinstance(v, list) and bool(v) and all(
        isinstance(x, dict) for x in v)
    env.tests["seq"] = lambda v: isinstance(v, list | tuple)
    return tpl


def create_app(store: Store | str, *, demo: bool = False, base_url: str | None = None,
               secure_cookies: bool | None = None) -> FastAPI:
    """Build the portal app over a store (or a database path/URL)."""
    from dcwatch.web import api, pages

    if isinstance(store, str):
        store = Store(store)
    app = FastAPI(title="dcwatch API", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url=None,
                  description="Alerts, entities, activities and exclusions of dcwatch. "
                              "Authenticate with `Authorization: Bearer <token>` "
                              "(`dcwatch user token NAME`).")
    app.state.store = store
    app.state.portal = Portal(store)
    app.state.portal.optimize()
    app.state.demo = demo
    app.state.base_url = base_url
    app.state.secure_cookies = secure_cookies
    app.state.templates = make_templates()

    @app.middleware("http")
    async def headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        h = response.headers
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("X-Frame-Options", "DENY")
        h.setdefault("Referrer-Policy", "same-origin")
        h.setdefault("Content-Security-Policy",
                     "default-src 'self'; img-src 'self' data:; style-src 'self' "
                     "'unsafe-inline'; script-src 'self'; form-action 'self'; "
                     "frame-ancestors 'none'; base-uri 'none'")
        if not request.url.path.startswith("/static/"):
            h.setdefault("Cache-Control", "no-store")
        return response

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, _: LoginRequired) -> Response:
        nxt = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse("/login?" + urlencode({"next": nxt}), status_code=303)

    @app.exception_handler(PasswordChangeRequired)
    async def to_password(request: Request, _: PasswordChangeRequired) -> Response:
        return RedirectResponse("/account/password", status_code=303)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": exc.detail}, exc.status_code,
                                headers=getattr(exc, "headers", None))
        auth = getattr(request.state, "auth", None)
        return app.state.templates.TemplateResponse(
            request, "error.html", {"status": exc.status_code, "detail": exc.detail,
                                    "auth": auth}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": jsonable_encoder(exc.errors())}, 422)
        return HTMLResponse("invalid request", 422)

    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    from dcwatch.web import directory, incidents

    app.include_router(api.router)
    app.include_router(incidents.api)
    app.include_router(pages.router)
    app.include_router(incidents.router)
    app.include_router(directory.router)
    return app
