"""Server-rendered portal pages: login, alerts timeline, alert page, entities, search,
exclusions, users and tokens, audit log."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response

from dcwatch.model.alert import Phase, Severity, Status
from dcwatch.store.portal import CLASSIFICATIONS, EXCLUSION_KINDS, ROLES, AlertFilter
from dcwatch.web.security import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    Auth,
    check_csrf,
    new_login_csrf,
    page_auth,
    portal_of,
    require,
    session_auth,
)

router = APIRouter(include_in_schema=False)
PageAuth = Annotated[Auth, Depends(page_auth)]
PAGE = 50
ACTIVITY_PAGE = 100
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def render(
    request: Request, name: str, auth: Auth | None, status_code: int = 200, **ctx: Any
) -> Response:
    """Render a template with the common context."""
    tpl = request.app.state.templates
    ctx.update(request=request, auth=auth, demo=request.app.state.demo)
    return tpl.TemplateResponse(request, name, ctx, status_code=status_code)


def _secure(request: Request) -> bool:
    forced = request.app.state.secure_cookies
    if forced is not None:
        return bool(forced)
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "") == "https"


def _back(path: str, **params: Any) -> RedirectResponse:
    q = {k: v for k, v in params.items() if v}
    return RedirectResponse(path + (f"?{urlencode(q)}" if q else ""), status_code=303)


def _safe_next(nxt: str | None) -> str:
    if not nxt or not nxt.startswith("/") or nxt.startswith("//") or "\\" in nxt:
        return "/alerts"
    return nxt


def _dt(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        v = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return v.replace(tzinfo=UTC) if v.tzinfo is None else v


# --- login / logout / password ------------------------------------------------------------------


@router.get("/login")
def login_form(*, request: Request, next: str | None = None, error: str | None = None) -> Response:
    """The login page."""
    if session_auth(request) is not None and not request.app.state.demo:
        return RedirectResponse(_safe_next(next), status_code=303)
    token = new_login_csrf()
    resp = render(
        request,
        "login.html",
        None,
        next=_safe_next(next),
        csrf=token,
        error={
            "1": "Wrong user name or password.",
            "csrf": "Your login form expired; try again.",
        }.get(error or ""),
    )
    resp.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/login",
    )
    return resp


@router.post("/login")
def login(
    *,
    request: Request,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/alerts",
) -> Response:
    """Check the credentials and open a session."""
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not csrf or not secrets.compare_digest(cookie, csrf):
        raise HTTPException(403, "CSRF token missing or invalid")
    portal = portal_of(request)
    user = portal.authenticate(username.strip(), password)
    if user is None:
        portal.audit(username.strip()[:200] or "?", "login.failed")
        return _back("/login", error="1", next=_safe_next(next))
    token, _ = portal.create_session(user)
    portal.audit(user.name, "login")
    resp = RedirectResponse(
        "/account/password" if user.must_change else _safe_next(next), status_code=303
    )
    resp.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",
        max_age=12 * 3600,
    )
    resp.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return resp


@router.post("/logout")
def logout(*, request: Request, csrf: Annotated[str, Form()] = "", auth: PageAuth) -> Response:
    """End the session."""
    check_csrf(auth, csrf)
    portal_of(request).drop_session(auth.session)
    portal_of(request).audit(auth.user.name, "logout")
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp


@router.get("/account/password")
def password_form(*, request: Request, auth: PageAuth) -> Response:
    """Change one's password (forced after a one-time password)."""
    if auth.demo:
        raise HTTPException(403, "the demo user cannot change anything")
    return render(request, "password.html", auth, error=None)


@router.post("/account/password")
def change_password(
    *,
    request: Request,
    current: Annotated[str, Form()] = "",
    new: Annotated[str, Form()] = "",
    confirm: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
    auth: PageAuth,
) -> Response:
    """Set a new password (ends other sessions; logs in again)."""
    check_csrf(auth, csrf)
    if auth.demo:
        raise HTTPException(403, "the demo user cannot change anything")
    portal = portal_of(request)
    error = None
    if portal.authenticate(auth.user.name, current) is None:
        error = "The current password is wrong."
    elif new != confirm:
        error = "The new passwords differ."
    elif len(new) < 8:
        error = "Use at least 8 characters."
    elif new == current:
        error = "Choose a password different from the current one."
    if error:
        return render(request, "password.html", auth, status_code=400, error=error)
    portal.set_password(auth.user.name, new)
    portal.audit(auth.user.name, "password.change")
    user = portal.get_user(auth.user.name)
    token, _ = portal.create_session(user)  # type: ignore[arg-type]
    resp = RedirectResponse("/alerts", status_code=303)
    resp.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",
        max_age=12 * 3600,
    )
    return resp


# --- alerts -------------------------------------------------------------------------------------


@router.get("/")
def home(*, auth: PageAuth) -> Response:
    """Start page: the alerts timeline."""
    return RedirectResponse("/alerts", status_code=303)


def _alert_filter(
    status: str | None = None,
    phase: str | None = None,
    severity: str | None = None,
    entity: str | None = None,
    since: str | None = None,
    until: str | None = None,
    q: str | None = None,
    type: str | None = None,
) -> AlertFilter:
    """The alert filter of a page's query string (values the portal does not know are
    ignored rather than refused: these are links people edit)."""
    return AlertFilter(
        status=status if status in {s.value for s in Status} else None,
        phase=phase if phase in {p.value for p in Phase} else None,
        severity=severity if severity in {s.value for s in Severity} else None,
        type=type or None,
        entity=(entity or "").strip() or None,
        since=_dt(since),
        until=_dt(until),
        text=(q or "").strip() or None,
    )


PageFilter = Annotated[AlertFilter, Depends(_alert_filter)]


@router.get("/alerts")
def timeline(
    *,
    request: Request,
    flt: PageFilter,
    offset: Annotated[int, Query(ge=0)] = 0,
    auth: PageAuth,
) -> Response:
    """Alerts timeline, newest first, with filters and counts per kill-chain phase."""
    portal = portal_of(request)
    views, total = portal.query_alerts(flt, PAGE, offset)
    counts = portal.phase_counts(flt)
    return render(
        request,
        "alerts.html",
        auth,
        views=views,
        total=total,
        offset=offset,
        page=PAGE,
        counts=counts,
        flt=flt,
        since=request.query_params.get("since") or "",
        until=request.query_params.get("until") or "",
        statuses=[s.value for s in Status if s is not Status.DELETED],
        severities=[s.value for s in Severity],
        phases=[p.value for p in Phase],
        ok=request.query_params.get("ok"),
    )


@router.get("/alerts.xlsx")
def timeline_xlsx(*, request: Request, flt: PageFilter, auth: PageAuth) -> Response:
    """The filtered alert list as an Excel workbook."""
    from dcwatch.outputs.excel import MAX_ROWS, alerts_workbook

    views, _ = portal_of(request).query_alerts(flt, MAX_ROWS, 0)
    data = alerts_workbook(views, _base(request))
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return Response(
        data,
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="dcwatch-alerts-{stamp}.xlsx"'},
    )


def _base(request: Request) -> str:
    return request.app.state.base_url or str(request.base_url).rstrip("/")


def _view_or_404(request: Request, alert_id: str) -> Any:
    v = portal_of(request).alert(alert_id)
    if v is None:
        raise HTTPException(404, "This alert does not exist (it may have been deleted).")
    return v


@router.get("/alerts/{alert_id}")
def alert_page(
    *, request: Request, alert_id: str, offset: Annotated[int, Query(ge=0)] = 0, auth: PageAuth
) -> Response:
    """The alert page: entities, description, evidence, activity log, actions, history."""
    portal = portal_of(request)
    view = _view_or_404(request, alert_id)
    acts, n_acts = portal.alert_activities(alert_id, ACTIVITY_PAGE, offset)
    roles: dict[str, list[Any]] = {}
    for e in view.alert.entities:
        roles.setdefault(e.role, []).append(e)
    history, _ = portal.audit_entries(alert_id, limit=50)
    from dcwatch.store.portal import exclusion_candidates

    return render(
        request,
        "alert.html",
        auth,
        v=view,
        a=view.alert,
        roles=roles,
        acts=acts,
        n_acts=n_acts,
        offset=offset,
        page=ACTIVITY_PAGE,
        related=portal.related_alerts(view, 20),
        comments=portal.comments(alert_id),
        history=history,
        classifications=CLASSIFICATIONS,
        users=[u.name for u in portal.list_users()]
        if auth.user.can("analyst") and not auth.demo
        else [],
        excludable=exclusion_candidates(view.alert),
        evidence={k: v for k, v in view.alert.evidence.items() if not k.startswith("_")},
        ok=request.query_params.get("ok"),
    )


@router.get("/alerts/{alert_id}/details.xlsx")
def alert_xlsx(*, request: Request, alert_id: str, auth: PageAuth) -> Response:
    """ "Download details": the alert's Excel report."""
    from dcwatch.outputs.excel import alert_workbook

    portal = portal_of(request)
    view = _view_or_404(request, alert_id)
    view.alert.activities, _ = portal.alert_activities(alert_id, 100_000, 0)
    related = [r.alert for r in portal.related_alerts(view, 50)]
    data = alert_workbook(
        view.alert,
        f"{_base(request)}/alerts/{alert_id}",
        view.status_changed_at,
        view.classification,
        related,
    )
    portal.audit(auth.user.name, "download", alert_id)
    return Response(
        data,
        media_type=XLSX,
        headers={
            "Content-Disposition": f'attachment; filename="dcwatch-{view.alert.external_id}-'
            f'{alert_id}.xlsx"'
        },
    )


@router.post("/alerts/{alert_id}/status")
def alert_status(
    *,
    request: Request,
    alert_id: str,
    action: Annotated[str, Form()],
    classification: Annotated[str, Form()] = "",
    comment: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
    auth: PageAuth,
) -> Response:
    """Close (with classification), close and exclude, suppress, reopen or delete."""
    check_csrf(auth, csrf)
    require(auth, "analyst")
    portal = portal_of(request)
    _view_or_404(request, alert_id)
    who = auth.user.name
    try:
        if action == "close":
            portal.change_status(alert_id, Status.CLOSED, who, classification, comment)
        elif action == "close_exclude":
            portal.close_and_exclude(alert_id, who, classification, comment)
        elif action == "suppress":
            portal.change_status(alert_id, Status.SUPPRESSED, who, None, comment)
        elif action == "reopen":
            portal.change_status(alert_id, Status.OPEN, who, None, comment)
        elif action == "delete":
            portal.change_status(alert_id, Status.DELETED, who, None, comment)
            return _back("/alerts", ok="deleted")
        else:
            raise HTTPException(400, f"unknown action {action!r}")
    except ValueError as e:
        raise HTTPException(400, str(e)) from None
    return _back(f"/alerts/{alert_id}", ok=action)


@router.post("/alerts/{alert_id}/assign")
def alert_assign(
    *,
    request: Request,
    alert_id: str,
    assignee: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
    auth: PageAuth,
) -> Response:
    """Assign the alert to a user."""
    check_csrf(auth, csrf)
    require(auth, "analyst")
    _view_or_404(request, alert_id)
    if assignee and portal_of(request).get_user(assignee) is None:
        raise HTTPException(400, f"no user {assignee}")
    portal_of(request).assign(alert_id, assignee, auth.user.name)
    return _back(f"/alerts/{alert_id}", ok="assign")


@router.post("/alerts/{alert_id}/comment")
def alert_comment(
    *,
    request: Request,
    alert_id: str,
    text: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
    auth: PageAuth,
) -> Response:
    """Comment on the alert."""
    check_csrf(auth, csrf)
    require(auth, "analyst")
    _view_or_404(request, alert_id)
    try:
        portal_of(request).add_comment(alert_id, auth.user.name, text)
    except ValueError as e:
        raise HTTPException(400, str(e)) from None
    return _back(f"/alerts/{alert_id}", ok="comment")


# --- entities and search ------------------------------------------------------------------------


@router.get("/entity")
def entity_page(
    *,
    request: Request,
    kind: str,
    name: str,
    offset: Annotated[int, Query(ge=0)] = 0,
    auth: PageAuth,
) -> Response:
    """An entity: identifiers, alerts and activities involving it."""
    portal = portal_of(request)
    info = portal.entity_info(kind, name)
    views, total = portal.entity_alerts(kind, name, PAGE, offset)
    acts = portal.entity_activities(kind, name, info.ips if kind != "ip" else (), limit=100)
    seen_ips = sorted({x for a in acts for x in (a.src_ip,) if x and kind == "user"})
    from dcwatch.web.directory import entity_directory

    return render(
        request,
        "entity.html",
        auth,
        **entity_directory(request, kind, name, auth),
        info=info,
        views=views,
        total=total,
        offset=offset,
        page=PAGE,
        acts=acts,
        seen_ips=seen_ips,
    )


@router.get("/search")
def search(*, request: Request, q: str = "", auth: PageAuth) -> Response:
    """Search entities and alerts."""
    res = portal_of(request).search(q) if q.strip() else {"entities": [], "alerts": []}
    return render(request, "search.html", auth, q=q, res=res)


# --- exclusions ---------------------------------------------------------------------------------


@router.get("/exclusions")
def exclusions(*, request: Request, auth: PageAuth) -> Response:
    """The exclusion list."""
    from dcwatch.detectors import registry

    rows, total = portal_of(request).list_exclusions()
    return render(
        request,
        "exclusions.html",
        auth,
        rows=rows,
        total=total,
        kinds=EXCLUSION_KINDS,
        slugs=sorted(registry()),
    )


@router.post("/exclusions")
def exclusion_add(
    *,
    request: Request,
    slug: Annotated[str, Form()] = "*",
    kind: Annotated[str, Form()],
    value: Annotated[str, Form()],
    comment: Annotated[str, Form()] = "",
    expires: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
    auth: PageAuth,
) -> Response:
    """Add an exclusion (admin)."""
    check_csrf(auth, csrf)
    require(auth, "admin")
    try:
        portal_of(request).add_exclusion(
            slug, kind, value, auth.user.name, comment or None, _dt(expires)
        )
    except ValueError as e:
        raise HTTPException(400, str(e)) from None
    return _back("/exclusions")


@router.post("/exclusions/{xid}/delete")
def exclusion_delete(
    *, request: Request, xid: int, csrf: Annotated[str, Form()] = "", auth: PageAuth
) -> Response:
    """Remove an exclusion (admin)."""
    check_csrf(auth, csrf)
    require(auth, "admin")
    portal_of(request).delete_exclusion(xid, auth.user.name)
    return _back("/exclusions")


# --- users, tokens, audit -----------------------------------------------------------------------


@router.get("/admin/users")
def users_page(*, request: Request, auth: PageAuth) -> Response:
    """Users and API tokens (admin)."""
    require(auth, "admin")
    portal = portal_of(request)
    return render(
        request,
        "users.html",
        auth,
        users=portal.list_users(),
        tokens=portal.list_tokens(),
        roles=ROLES,
        created=None,
        new_token=None,
    )


@router.post("/admin/users")
def users_action(
    *,
    request: Request,
    action: Annotated[str, Form()],
    name: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "viewer",
    label: Annotated[str, Form()] = "",
    token_id: Annotated[int, Form()] = 0,
    csrf: Annotated[str, Form()] = "",
    auth: PageAuth,
) -> Response:
    """Add a user, change a role, reset a password, delete a user, create/revoke a token."""
    check_csrf(auth, csrf)
    require(auth, "admin")
    portal = portal_of(request)
    who = auth.user.name
    created = new_token = None
    try:
        if action == "add":
            user, pw = portal.add_user(name, role)
            created = (user.name, pw)
            portal.audit(who, "user.add", None, name=name, role=role)
        elif action == "role":
            if name == who and role != "admin":
                raise ValueError("you cannot remove your own admin role")
            portal.set_role(name, role)
            portal.audit(who, "user.role", None, name=name, role=role)
        elif action == "reset":
            pw = secrets.token_urlsafe(12)
            if not portal.set_password(name, pw, must_change=True):
                raise ValueError(f"no user {name}")
            created = (name, pw)
            portal.audit(who, "user.reset_password", None, name=name)
        elif action == "delete":
            if name == who:
                raise ValueError("you cannot delete yourself")
            portal.delete_user(name)
            portal.audit(who, "user.delete", None, name=name)
        elif action == "token":
            new_token = (name, portal.create_token(name, label or "api"))
            portal.audit(who, "token.create", None, name=name, label=label)
        elif action == "revoke":
            portal.revoke_token(token_id)
            portal.audit(who, "token.revoke", None, id=token_id)
        else:
            raise ValueError(f"unknown action {action!r}")
    except ValueError as e:
        raise HTTPException(400, str(e)) from None
    return render(
        request,
        "users.html",
        auth,
        users=portal.list_users(),
        tokens=portal.list_tokens(),
        roles=ROLES,
        created=created,
        new_token=new_token,
    )


@router.get("/audit")
def audit_page(
    *, request: Request, offset: Annotated[int, Query(ge=0)] = 0, auth: PageAuth
) -> Response:
    """The audit log (who changed what, when)."""
    rows, total = portal_of(request).audit_entries(None, PAGE * 2, offset)
    return render(request, "audit.html", auth, rows=rows, total=total, offset=offset, page=PAGE * 2)


@router.get("/api")
def api_docs(*, request: Request, auth: PageAuth) -> Response:
    """Offline API reference rendered from the OpenAPI document."""
    spec = request.app.openapi()
    ops = []
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            ops.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "params": [p["name"] for p in op.get("parameters", [])],
                }
            )
    return render(request, "api.html", auth, ops=ops)
