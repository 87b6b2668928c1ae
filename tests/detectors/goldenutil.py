"""Synthetic Kerberos exchanges for the golden-ticket family tests."""

from __future__ import annotations

from typing import Any

from tests.detectors.netutil import WS1, wire
from tests.helpers import user

from dcwatch.model.activity import Activity
from dcwatch.model.activity import ActivityKind as K


def issue_tgt(seconds: float, who: str, fp: str, etype: int = 18, src: str = WS1) -> Activity:
    """The KDC issues a TGT (AS-REP)."""
    return wire(K.KERBEROS_AS, seconds, src=src, actor=user(who), outcome="success", status=0,
                fields={"sname": "krbtgt/CONTOSO.LOCAL", "ticket_fingerprint": fp,
                        "ticket_etype": etype, "reply_cname": who, "etypes": [18, 17],
                        "pa_types": [2], "preauth_etype": 18})


def present(seconds: float, used: str, etype: int = 18, status: int = 0,
            cname: str | None = None, svc: str = "cifs/dc01.contoso.local", src: str = WS1,
            **fields: Any) -> Activity:
    """A TGS-REQ presenting TGT ``used``; ``status`` 0 = TGS-REP naming ``cname``."""
    f: dict[str, Any] = {"sname": svc, "used_ticket_fingerprint": used, "used_ticket_etype": etype,
                         "used_ticket_sname": "krbtgt/CONTOSO.LOCAL", "etypes": [23, 18]}
    if status == 0:
        f.update(ticket_fingerprint=f"svc-{used}-{seconds}", ticket_etype=18, reply_cname=cname)
    f.update(fields)
    return wire(K.KERBEROS_TGS, seconds, src=src, actor=user(cname) if cname else None,
                outcome="success" if status == 0 else "failure", status=status, fields=f)
