"""Helpers shared by the portal and output tests (synthetic alerts, form login)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from dcwatch.model.activity import Account, Activity, ActivityKind, Origin
from dcwatch.model.alert import Alert, EntityRef, Phase, Severity, Status

PASSWORD = "correct-horse-1"
T0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)


def make_alert(i: int, *, severity: str = "high", phase: str = "credential-access",
               user: str = "CONTOSO\\mallory", computer: str = "WS01", n_acts: int = 3) -> Alert:
    """A synthetic DCSync-like alert number ``i`` with activities."""
    ts = T0 + timedelta(minutes=i)
    acts = [Activity(ts=ts + timedelta(seconds=k), kind=ActivityKind.PROCESS_CREATED,
                     origin=Origin("synthetic.evtx", i * 100 + k, "evtx"),
                     host="DC1.contoso.local", src_ip=f"10.0.0.{i % 250 + 1}",
                     src_host=f"{computer}.contoso.local",
                     actor=Account(user.split("\\")[1], "CONTOSO", f"S-1-5-21-1-2-3-{1000 + i}"),
                     event_id=4688, protocol="event",
                     fields={"command_line": f"cmd.exe /c whoami #{i}-{k}",
                             "record_id": i * 100 + k})
            for k in range(n_acts)]
    return Alert(
        id=f"alert{i:06d}", type="dcsync", external_id=2006,
        title="Suspected DCSync attack (replication of directory services)",
        description=f"{user} on {computer} ran malicious replication requests against DC1.",
        severity=Severity(severity), phase=Phase(phase), status=Status.OPEN,
        first_seen=ts, last_seen=ts + timedelta(seconds=n_acts), key=f"k{i}",
        entities=[EntityRef("user", user, "attacker", sid=f"S-1-5-21-1-2-3-{1000 + i}"),
                  EntityRef("computer", computer, "source computer", ip=f"10.0.0.{i % 250 + 1}"),
                  EntityRef("computer", "DC1", "target domain controller")],
        evidence={"replication_requests": ["DS-Replication-Get-Changes-All"],
                  "outcome": "success",
                  "attempts": [{"time": ts.isoformat(), "account": user, "result": "ok"}]},
        activities=acts, count=n_acts, mitre=("T1003.006",))

def login(client: Any, user: str, password: str = PASSWORD) -> str:
    """Log in through the form; returns the session's CSRF token (from a page)."""
    r = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', r.text).group(1)
    r = client.post("/login", data={"username": user, "password": password, "csrf": token,
                                    "next": "/alerts"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return csrf_of(client)

def csrf_of(client: Any, path: str = "/alerts") -> str:
    """The session CSRF token embedded in a page's forms."""
    r = client.get(path)
    assert r.status_code == 200, r.text
    return re.search(r'name="csrf" value="([^"]+)"', r.text).group(1)
