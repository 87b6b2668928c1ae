"""REST API under /api/v1 (OpenAPI at /api/v1/openapi.json, behind authentication)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from dcwatch.model.alert import Status
from dcwatch.store.portal import CLASSIFICATIONS, AlertFilter, Portal
from dcwatch.web.security import Auth, api_auth, portal_of, require

router = APIRouter(prefix="/api/v1", tags=["dcwatch"])
ApiAuth = Annotated[Auth, Depends(api_auth)]

StatusName = Literal["open", "closed", "suppressed", "deleted"]
SeverityName = Literal["low", "medium", "high"]
ClassificationName = Literal["true-positive", "benign-true-positive", "false-positive"]


class EntityOut(BaseModel):
    """An entity named by an alert, with its role."""

    kind: str
    name: str
    role: str
    sid: str | None = None
    ip: str | None = None


class AlertOut(BaseModel):
    """An alert (without its activity log: see /alerts/{id}/activities)."""

    id: str
    type: str
    external_id: int
    title: str
    description: str
    severity: str
    phase: str
    status: str
    first_seen: str
    last_seen: str
    count: int
    mitre: list[str]
    entities: list[EntityOut]
    evidence: dict[str, Any]
    classification: str | None = None
    assigned_to: str | None = None
    status_changed_at: str | None = None
    url: str | None = None


class AlertPage(BaseModel):
    """One page of alerts."""

    total: int
    limit: int
    offset: int
    items: list[AlertOut]


class ActivityPage(BaseModel):
    """One page of an alert's activity log (normalized activities)."""

    total: int
    limit: int
    offset: int
    items: list[dict[str, Any]]


class AlertUpdate(BaseModel):
    """Change an alert: status (close needs a classification), assignee, comment."""

    status: StatusName | None = None
    classification: ClassificationName | None = None
    exclude: bool = Field(False, description="close and exclude the attacker/source entities")
    assigned_to: str | None = None
    comment: str | None = None


class EntitySummary(BaseModel):
    """An entity and how many alerts name it."""

    kind: str
    name: str
    alerts: int


class EntityPage(BaseModel):
    """Entities matching a search."""

    total: int
    limit: int
    offset: int
    items: list[EntitySummary]


class EntityDetail(BaseModel):
    """An entity: identifiers, roles, alert count, recent alerts and activities."""

    kind: str
    name: str
    sids: list[str]
    ips: list[str]
    roles: list[str]
    alerts: int
    recent_alerts: list[AlertOut]
    recent_activities: list[dict[str, Any]]


class ExclusionIn(BaseModel):
    """A new exclusion: detection slug (or *), entity kind, value."""

    slug: str = "*"
    kind: Literal["user", "computer", "ip", "any"]
    value: str = Field(min_length=1, max_length=400)
    comment: str | None = None
    expires_at: datetime | None = None


class ExclusionPatch(BaseModel):
    """Fields of an exclusion to change."""

    slug: str | None = None
    kind: Literal["user", "computer", "ip", "any"] | None = None
    value: str | None = Field(None, min_length=1, max_length=400)
    comment: str | None = None
    expires_at: datetime | None = None


class ExclusionOut(BaseModel):
    """A stored exclusion."""

    id: int
    slug: str
    kind: str
    value: str
    comment: str | None = None
    expires_at: datetime | None = None
    author: str
    alert_id: str | None = None
    created_at: datetime


class ExclusionPageOut(BaseModel):
    """A page of exclusions."""

    total: int
    limit: int
    offset: int
    items: list[ExclusionOut]


def _alert_out(request: Request, view: Any) -> AlertOut:
    d = view.to_dict()
    base = request.app.state.base_url or str(request.base_url).rstrip("/")
    d["url"] = f"{base}/alerts/{view.alert.id}"
    return AlertOut(**d)


def _filter(
    status: str | None,
    phase: str | None,
    severity: str | None,
    type_: str | None,
    entity: str | None,
    since: datetime | None,
    until: datetime | None,
    q: str | None,
) -> AlertFilter:
    return AlertFilter(status, phase, severity, type_, entity, since, until, q)


@router.get("/openapi.json", include_in_schema=False)
def openapi(*, request: Request, auth: ApiAuth) -> JSONResponse:
    """The OpenAPI document of this API."""
    return JSONResponse(request.app.openapi())


@router.get("/alerts", response_model=AlertPage)
def list_alerts(
    *,
    request: Request,
    auth: ApiAuth,
    status: StatusName | None = None,
    phase: str | None = None,
    severity: SeverityName | None = None,
    type: Annotated[str | None, Query(description="detector slug")] = None,
    entity: Annotated[str | None, Query(description="entity name/IP/SID substring")] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    q: Annotated[str | None, Query(description="text in title or description")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> AlertPage:
    """Alerts, newest first, filtered and paged (``total`` counts all matches)."""
    views, total = portal_of(request).query_alerts(
        _filter(status, phase, severity, type, entity, since, until, q), limit, offset
    )
    return AlertPage(
        total=total, limit=limit, offset=offset, items=[_alert_out(request, v) for v in views]
    )


def _get(portal: Portal, alert_id: str) -> Any:
    v = portal.alert(alert_id)
    if v is None:
        raise HTTPException(404, "no such alert")
    return v


@router.get("/alerts/{alert_id}", response_model=AlertOut)
def get_alert(*, alert_id: str, request: Request, auth: ApiAuth) -> AlertOut:
    """One alert."""
    return _alert_out(request, _get(portal_of(request), alert_id))


@router.patch("/alerts/{alert_id}", response_model=AlertOut | None)
def update_alert(*, alert_id: str, body: AlertUpdate, request: Request, auth: ApiAuth) -> Any:
    """Change status / classification / assignee, or comment (analyst role)."""
    require(auth, "analyst")
    portal = portal_of(request)
    _get(portal, alert_id)
    who = auth.user.name
    if body.status:
        st = Status(body.status)
        if st is Status.CLOSED and body.classification not in CLASSIFICATIONS:
            raise HTTPException(422, "closing needs a classification")
        if st is Status.CLOSED and body.exclude:
            portal.close_and_exclude(alert_id, who, body.classification or "", body.comment)
        else:
            portal.change_status(alert_id, st, who, body.classification, body.comment)
        if st is Status.DELETED:
            return JSONResponse(None, 200)
    elif body.comment:
        portal.add_comment(alert_id, who, body.comment)
    if "assigned_to" in body.model_fields_set:
        portal.assign(alert_id, body.assigned_to, who)
    return _alert_out(request, _get(portal, alert_id))


@router.get("/alerts/{alert_id}/activities", response_model=ActivityPage)
def alert_activities(
    *,
    alert_id: str,
    request: Request,
    auth: ApiAuth,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ActivityPage:
    """The alert's activity log, chronological, paged."""
    portal = portal_of(request)
    _get(portal, alert_id)
    acts, total = portal.alert_activities(alert_id, limit, offset)
    return ActivityPage(total=total, limit=limit, offset=offset, items=[a.to_dict() for a in acts])


@router.get("/alerts/{alert_id}/entities", response_model=list[EntityOut])
def alert_entities(*, alert_id: str, request: Request, auth: ApiAuth) -> list[EntityOut]:
    """The entities of an alert with their roles."""
    v = _get(portal_of(request), alert_id)
    return [EntityOut(**e.to_dict()) for e in v.alert.entities]


@router.get("/entities", response_model=EntityPage)
def list_entities(
    *,
    request: Request,
    auth: ApiAuth,
    q: Annotated[str, Query(description="name/IP/SID substring")] = "",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> EntityPage:
    """Entities named by alerts, with alert counts."""
    items, total = portal_of(request).entities(q, limit, offset)
    return EntityPage(
        total=total, limit=limit, offset=offset, items=[EntitySummary(**i) for i in items]
    )


@router.get("/entities/{kind}", response_model=EntityDetail)
def get_entity(
    *, kind: str, request: Request, name: Annotated[str, Query()], auth: ApiAuth
) -> EntityDetail:
    """One entity (``?name=``): identifiers, recent alerts and activities."""
    portal = portal_of(request)
    info = portal.entity_info(kind, name)
    if not info.alerts:
        raise HTTPException(404, "no such entity")
    views, _ = portal.entity_alerts(kind, name, limit=20)
    acts = portal.entity_activities(kind, name, info.ips, limit=50)
    return EntityDetail(
        kind=kind,
        name=name,
        sids=info.sids,
        ips=info.ips,
        roles=info.roles,
        alerts=info.alerts,
        recent_alerts=[_alert_out(request, v) for v in views],
        recent_activities=[a.to_dict() for a in acts],
    )


@router.get("/exclusions", response_model=ExclusionPageOut)
def list_exclusions(
    *,
    request: Request,
    auth: ApiAuth,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ExclusionPageOut:
    """Exclusions, newest first."""
    rows, total = portal_of(request).list_exclusions(limit, offset)
    return ExclusionPageOut(
        total=total, limit=limit, offset=offset, items=[ExclusionOut(**r) for r in rows]
    )


@router.post("/exclusions", response_model=ExclusionOut, status_code=201)
def create_exclusion(*, body: ExclusionIn, request: Request, auth: ApiAuth) -> ExclusionOut:
    """Add an exclusion (admin role)."""
    require(auth, "admin")
    portal = portal_of(request)
    try:
        xid = portal.add_exclusion(
            body.slug, body.kind, body.value, auth.user.name, body.comment, body.expires_at
        )
    except ValueError as e:
        raise HTTPException(422, str(e)) from None
    return ExclusionOut(**portal.get_exclusion(xid))  # type: ignore[arg-type]


@router.get("/exclusions/{xid}", response_model=ExclusionOut)
def get_exclusion(*, xid: int, request: Request, auth: ApiAuth) -> ExclusionOut:
    """One exclusion."""
    r = portal_of(request).get_exclusion(xid)
    if r is None:
        raise HTTPException(404, "no such exclusion")
    return ExclusionOut(**r)


@router.patch("/exclusions/{xid}", response_model=ExclusionOut)
def patch_exclusion(
    *, xid: int, body: ExclusionPatch, request: Request, auth: ApiAuth
) -> ExclusionOut:
    """Change an exclusion (admin role)."""
    require(auth, "admin")
    portal = portal_of(request)
    changes = {k: getattr(body, k) for k in body.model_fields_set}
    try:
        ok = portal.update_exclusion(xid, auth.user.name, **changes)
    except ValueError as e:
        raise HTTPException(422, str(e)) from None
    if not ok:
        raise HTTPException(404, "no such exclusion")
    return ExclusionOut(**portal.get_exclusion(xid))  # type: ignore[arg-type]


@router.delete("/exclusions/{xid}", status_code=204)
def delete_exclusion(*, xid: int, request: Request, auth: ApiAuth) -> None:
    """Remove an exclusion (admin role)."""
    require(auth, "admin")
    if not portal_of(request).delete_exclusion(xid, auth.user.name):
        raise HTTPException(404, "no such exclusion")
