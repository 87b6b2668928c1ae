"""Incidents in the portal: the list, one incident's time-ordered story, and the API
(``/api/v1/incidents``). Incidents are correlated on demand from the stored alerts
(``dcwatch.store.incidents``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from dcwatch.incidents import Incident
from dcwatch.store.incidents import get_incident, stored_incidents
from dcwatch.web.pages import PageAuth, render
from dcwatch.web.security import Auth, api_auth

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["dcwatch"])
ApiAuth = Annotated[Auth, Depends(api_auth)]


def _store(request: Request) -> Any:
    return request.app.state.store


def _out(inc: Incident, base: str | None = None) -> dict[str, Any]:
    d = inc.to_dict()
    d["alerts"] = [{"id": a.id, "external_id": a.external_id, "title": a.title,
                    "severity": a.severity.value, "phase": a.phase.value,
                    "status": a.status.value, "first_seen": a.first_seen.isoformat()}
                   for a in inc.alerts]
    if base:
        d["url"] = f"{base.rstrip('/')}/incidents/{inc.id}"
    return d


@router.get("/incidents")
def incidents_page(*, request: Request, status: str | None = None, auth: PageAuth) -> Response:
    """Incidents, newest first (alerts sharing an attacker-side entity in time)."""
    incs = stored_incidents(_store(request))
    if status == "open":
        incs = [i for i in incs if any(a.status.value == "open" for a in i.alerts)]
    return render(request, "incidents.html", auth, incidents=incs, status=status or "")


@router.get("/incidents/{incident_id}")
def incident_page(*, request: Request, incident_id: str, auth: PageAuth) -> Response:
    """One incident: its summary, entities and the story in time order."""
    inc = get_incident(_store(request), incident_id)
    if inc is None:
        raise HTTPException(404, "No such incident (its alerts may have been deleted).")
    by_id = {a.id: a for a in inc.alerts}
    return render(request, "incident.html", auth, inc=inc, by_id=by_id)


@api.get("/incidents", summary="List incidents")
def api_incidents(*, request: Request, limit: int = 100, offset: int = 0,
                  auth: ApiAuth) -> dict[str, Any]:
    """Incidents, newest first, with their alerts and story."""
    incs = stored_incidents(_store(request))
    base = request.app.state.base_url
    return {"total": len(incs), "limit": limit, "offset": offset,
            "items": [_out(i, base) for i in incs[offset: offset + max(0, min(limit, 1000))]]}


@api.get("/incidents/{incident_id}", summary="One incident")
def api_incident(*, request: Request, incident_id: str, auth: ApiAuth) -> dict[str, Any]:
    """One incident with its time-ordered story."""
    inc = get_incident(_store(request), incident_id)
    if inc is None:
        raise HTTPException(404, "no such incident")
    return _out(inc, request.app.state.base_url)
