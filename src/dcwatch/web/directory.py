"""Directory data, lateral movement paths and response actions on entity pages; the reports page.

Response actions (admin only, CSRF-protected, audited) take two steps: ``/respond/plan`` runs the
action as a dry run and shows the exact change with a confirmation form; ``/respond/apply``
writes it. The confirmation carries an HMAC of (action, account, group) under the session's
CSRF token, so an apply without the plan step of the same session is refused.

The DC and bind account come from ``app.state.response_target`` (an ``LdapTarget``) or the
environment: ``DCW_RESPONSE_SERVER``, ``DCW_RESPONSE_BIND``, ``DCW_RESPONSE_PASSWORD`` (and
``DCW_RESPONSE_START_TLS=1``, ``DCW_RESPONSE_BASE``). Tests set ``app.state.response_connect``
to a callable that returns a bound ldap3 connection.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import Response
from markupsafe import Markup

from dcwatch.errors import DcwatchError
from dcwatch.web.pages import PageAuth, render
from dcwatch.web.security import Auth, check_csrf, portal_of, require

router = APIRouter(include_in_schema=False)
LMP_TTL = 60.0  # seconds a built lateral-movement graph is reused across page views
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _lateral(request: Request) -> tuple[Any, Any]:
    """(snapshot, LateralMovement) of the store, cached for LMP_TTL seconds."""
    from dcwatch.entities.lmp import LateralMovement
    from dcwatch.store.directory import DirectoryStore

    st = request.app.state
    cached = getattr(st, "lmp_cache", None)
    if cached is not None and time.monotonic() - cached[0] < LMP_TTL:
        return cached[1], cached[2]
    ds = DirectoryStore(st.store)
    snap = ds.load_snapshot()
    lm = LateralMovement(snap, ds.sessions()) if snap is not None else None
    st.lmp_cache = (time.monotonic(), snap, lm)
    return snap, lm


def entity_directory(request: Request, kind: str, name: str, auth: Auth) -> dict[str, Any]:
    """Context for the entity page's directory, lateral-movement and response sections."""
    snap, lm = _lateral(request)
    if snap is None or kind not in ("user", "computer", "group"):
        return {"dir_obj": None}
    o = snap.by_name(name)
    if o is None:
        return {"dir_obj": None}
    sens = snap.sensitive()
    groups = sorted((snap.objects[g] for g in snap.groups_of(o.sid) if g in snap.objects),
                    key=lambda x: x.qualified)
    nested = sorted((snap.objects[g] for g in snap.recursive_groups(o.sid)
                     if g in snap.objects), key=lambda x: x.qualified)
    members = sorted((snap.objects[m] for m in snap.members.get(o.sid, ())
                      if m in snap.objects), key=lambda x: x.qualified) \
        if o.kind == "group" else []
    paths_from = lm.paths_from(o.qualified, 5) if lm and o.kind == "user" else []
    paths_to = lm.paths_to(o.qualified, 5) if lm and o.kind == "user" else []
    svg = Markup(lm.svg(paths_to + paths_from)) if lm and (paths_from or paths_to) else None
    admins = sorted(snap.objects[p].qualified if p in snap.objects else p
                    for p in snap.local_admins.get(o.name.upper(), ())) \
        if o.kind == "computer" else []
    can_respond = (o.kind == "user" and auth.user.can("admin") and not auth.demo)
    return {"dir_obj": o, "dir_sensitive": sens.get(o.sid), "dir_groups": groups,
            "dir_nested": nested, "dir_members": members, "lmp_from": paths_from,
            "lmp_to": paths_to, "lmp_svg": svg, "dir_admins": admins,
            "can_respond": can_respond, "respond_ready": _configured(request)}


# --- response actions -----------------------------------------------------------------------------


def _configured(request: Request) -> bool:
    st = request.app.state
    return bool(getattr(st, "response_connect", None) or getattr(st, "response_target", None)
                or os.environ.get("DCW_RESPONSE_SERVER"))


def _connect(request: Request) -> Any:
    from dcwatch.entities.directory import LdapTarget, connect

    st = request.app.state
    fn = getattr(st, "response_connect", None)
    if fn is not None:
        return fn()
    t = getattr(st, "response_target", None)
    if t is None:
        server = os.environ.get("DCW_RESPONSE_SERVER")
        if not server:
            raise HTTPException(503, "response actions are not configured "
                                "(DCW_RESPONSE_SERVER, DCW_RESPONSE_BIND, DCW_RESPONSE_PASSWORD)")
        t = LdapTarget(server, os.environ.get("DCW_RESPONSE_BIND"),
                       os.environ.get("DCW_RESPONSE_PASSWORD"),
                       start_tls=os.environ.get("DCW_RESPONSE_START_TLS") == "1")
    return connect(t)


def _token(auth: Auth, action: str, name: str, group: str) -> str:
    msg = f"{action}|{name}|{group}".encode()
    return hmac.new(auth.csrf.encode(), msg, hashlib.sha256).hexdigest()


def _run(request: Request, action: str, name: str, group: str, dry_run: bool) -> Any:
    from dcwatch.entities.respond import ACTIONS, run_action

    if action not in ACTIONS:
        raise HTTPException(400, f"unknown action {action!r}")
    st = request.app.state
    t = getattr(st, "response_target", None)
    base = getattr(st, "response_base", None) or os.environ.get("DCW_RESPONSE_BASE") or \
        (t.base if t is not None else None)
    conn = _connect(request)
    try:
        return run_action(conn, action, name, group or None, dry_run=dry_run, base=base)
    finally:
        conn.unbind()


@router.post("/respond/plan")
def respond_plan(*, request: Request, action: Annotated[str, Form()],
                 name: Annotated[str, Form()], group: Annotated[str, Form()] = "",
                 csrf: Annotated[str, Form()] = "", auth: PageAuth) -> Response:
    """Step 1: the dry run, with a confirmation form."""
    check_csrf(auth, csrf)
    require(auth, "admin")
    try:
        plan = _run(request, action, name, group, dry_run=True)
    except DcwatchError as e:
        return render(request, "respond.html", auth, status_code=400, plan=None, error=str(e),
                      action=action, account=name, group=group, token="")
    return render(request, "respond.html", auth, plan=plan, error=None, action=action,
                  account=name, group=group, token=_token(auth, action, name, group))


@router.post("/respond/apply")
def respond_apply(*, request: Request, action: Annotated[str, Form()],
                  name: Annotated[str, Form()], group: Annotated[str, Form()] = "",
                  confirm: Annotated[str, Form()] = "", csrf: Annotated[str, Form()] = "",
                  auth: PageAuth) -> Response:
    """Step 2: write the confirmed change to the directory (audited, also when refused)."""
    check_csrf(auth, csrf)
    require(auth, "admin")
    if not confirm or not hmac.compare_digest(confirm, _token(auth, action, name, group)):
        raise HTTPException(400, "confirm the action from its dry-run page first")
    portal = portal_of(request)
    try:
        res = _run(request, action, name, group, dry_run=False)
    except DcwatchError as e:
        portal.audit(auth.user.name, f"respond.{action}", None, target=name,
                     group=group or None, via="portal", error=str(e))
        return render(request, "respond.html", auth, status_code=502, plan=None,
                      error=str(e), action=action, account=name, group=group, token="")
    portal.audit(auth.user.name, f"respond.{action}", None, target=name, group=group or None,
                 via="portal", result=res.message,
                 changes=[f"{c.dn}: {c.attribute} {c.old} -> {c.new}" for c in res.changes])
    request.app.state.lmp_cache = None
    return render(request, "respond.html", auth, plan=res, error=None, action=action,
                  account=name, group=group, token="", applied=True)


# --- reports --------------------------------------------------------------------------------------


@router.get("/reports")
def reports_page(*, request: Request, auth: PageAuth) -> Response:
    """The reports (Excel or HTML download, optional period)."""
    from dcwatch.outputs.reports import REPORTS

    return render(request, "reports.html", auth, reports=REPORTS)


@router.get("/reports/{name}.{fmt}")
def report_download(*, request: Request, name: str, fmt: str, since: str | None = None,
                    until: str | None = None, auth: PageAuth) -> Response:
    """One report over the period."""
    from dcwatch.outputs.reports import REPORTS, build, to_html, to_xlsx
    from dcwatch.web.pages import _dt

    if name not in REPORTS or fmt not in ("xlsx", "html"):
        raise HTTPException(404, "no such report")
    rep = build(name, request.app.state.store, _dt(since), _dt(until))
    portal_of(request).audit(auth.user.name, "report.download", None, report=name, fmt=fmt)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    if fmt == "html":
        return Response(to_html(rep), media_type="text/html; charset=utf-8")
    return Response(to_xlsx(rep), media_type=XLSX, headers={
        "Content-Disposition": f'attachment; filename="dcwatch-{name}-{stamp}.xlsx"'})
