"""Authentication-coercion calls (2415, 2416, 2426): an RPC call that tells a DC to reach a UNC
path on another host. Shared helpers: UNC host extraction and the common draft."""

from __future__ import annotations

import re
from typing import Any

from dcwatch.detectors._common import host_ref
from dcwatch.detectors._netcommon import DcGate, acct_text, source, target_dc, where, wire
from dcwatch.detectors.base import DetectionContext, Detector, refs, user_ref
from dcwatch.entities.resolver import short
from dcwatch.model.activity import Activity
from dcwatch.model.alert import AlertDraft, EntityRef, Severity

_UNC = re.compile(r"^\\\\([^\\/@]+)(?:@(\d+))?")


def unc_host(path: Any) -> str | None:
    """``\\\\host@80\\share\\x`` -> ``host`` (None when not a UNC path)."""
    if not isinstance(path, str):
        return None
    m = _UNC.match(path.strip())
    return m.group(1) if m else None


def other_host(dc_ip: str | None, dc_name: str | None, host: str | None) -> bool:
    """A UNC host that is not the DC itself (localhost/its name/its IP)."""
    if not host:
        return False
    h = host.lower().rstrip(".")
    if h in ("localhost", "127.0.0.1", "::1", ".") or h == (dc_ip or "").lower():
        return False
    return not (dc_name and short(h) and short(h) == short(dc_name))


def coercion_draft(det: Detector, a: Activity, method: str, listener: str | None,
                   path: str | None, what: str) -> AlertDraft:
    """One alert per (source, DC); success raises severity to High."""
    ip, host = source(a, det.resolver)
    dc = target_dc(a, det.resolver)
    success = a.outcome == "success"
    verb = "made" if success else "tried to make"
    to = f" to authenticate to {listener}" if listener else ""
    return det.draft(
        key=f"{(ip or host or '?').lower()}|{(dc or '').lower()}",
        activities=[a],
        description=(f"{acct_text(a.actor)} on {where(ip, host)} {verb} {dc}{to} over "
                     f"{what} ({method}{', ' + path if path else ''})."),
        entities=refs(user_ref(a.actor, "attacker"),
                      host_ref(host, "source computer", ip),
                      host_ref(dc, "target domain controller"),
                      EntityRef("computer", listener, "coerced destination")
                      if listener else None),
        evidence={"method": method, "path": path, "listener": listener,
                  "outcome": a.outcome, "status": a.status, "source_ip": ip,
                  "source_computer": host, "pipe": a.fields.get("pipe")},
        severity=Severity.HIGH if success else Severity.MEDIUM,
        require_dc=a.dst_ip or a.host,
    )


class CoercionDetector(Detector):
    """Base of the coercion detectors: wire targets wait in a ``DcGate`` until their DC role
    is known (or, at the end, the capture shows no other DC)."""

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self.gate = DcGate(self.resolver)

    def emit(self, a: Activity, draft: AlertDraft) -> list[AlertDraft]:
        """Hold or pass a draft about ``a``'s server."""
        return self.gate.hold(a.dst_ip or a.host or "", draft) if wire(a) else [draft]

    def finish(self) -> list[AlertDraft]:
        return self.gate.release()
