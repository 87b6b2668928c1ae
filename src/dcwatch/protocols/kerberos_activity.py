"""Kerberos on the wire -> activities: one per AS/TGS exchange, kpasswd and AP-REQ helpers.

The analyzer pairs each request with the next reply or KRB-ERROR of the same flow (UDP: one
5-tuple; TCP: one connection, RFC 4120 section 7.2.2 record marking) and emits
``kerberos.as_request`` / ``kerberos.tgs_request`` when the reply arrives (outcome ``None`` when
the flow ends first). Every ticket issued in clear (AS-REP/TGS-REP) records its owner in
``FlowContext.ticket_owners`` so later AP-REQs can name their client (for a FAST-armored TGS-REP,
whose outer cname is the anonymous armor principal, the owner of the presented TGT).

For the GSS-API code of SMB/LDAP/DCE-RPC: call :func:`kerberos.parse_ap_req` on the krb5 inner
token (after the ``01 00`` TOK_ID) and :func:`ap_req_activity` to build ``kerberos.ap_request``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dcwatch.errors import InputError, Malformed
from dcwatch.model.activity import Account, Activity, ActivityKind
from dcwatch.protocols import kerberos as krb
from dcwatch.protocols.flow import Emit, FlowContext, FlowInfo

MAX_RECORD = 1 << 20  # largest TCP record we buffer (tickets with big PACs are ~64 KiB)
MAX_PENDING = 64  # requests awaiting a reply per flow
MAX_TICKET_OWNERS = 200_000  # bounded memory: oldest owners are forgotten first
KPASSWD_PORT = 464  # RFC 3244 section 2
KPASSWD_VERSIONS = (0x0001, 0xFF80)  # RFC 3244 change/set password; MS-KILE 3.1.5.3 0xff80
ANONYMOUS_CNAME = "wellknown/anonymous"  # RFC 8062 section 3 anonymous principal


@dataclass(slots=True)
class _Pending:
    req: krb.KdcReq | krb.ApReq
    frame: int
    ts: datetime | None
    kpasswd_version: int | None = None


def remember_owner(context: FlowContext | None, fp: str, cname: str, crealm: str) -> None:
    """Record the owner of a ticket issued in clear (bounded dict, FIFO eviction)."""
    if context is None:
        return
    owners = context.ticket_owners
    if fp not in owners and len(owners) >= MAX_TICKET_OWNERS:
        del owners[next(iter(owners))]
    owners[fp] = (cname, crealm)


def ticket_owner(context: FlowContext | None, fp: str | None) -> tuple[str, str] | None:
    """The ``(cname, crealm)`` that a ticket was issued to, if its issue was seen."""
    if context is None or fp is None:
        return None
    return context.ticket_owners.get(fp)


def ap_req_activity(flow: FlowInfo, ap: krb.ApReq, protocol: str = "kerberos", *,
                    frame: int | None = None, ts: datetime | None = None,
                    status: int | None = None, **extra: Any) -> Activity:
    """``kerberos.ap_request`` for an AP-REQ seen on ``flow`` (SMB, LDAP, RPC, kpasswd).

    ``frame``/``ts`` default to the packet being fed (pass the request's when the activity is
    emitted at the response); ``status`` is the application's verdict (SMB SESSION_SETUP)."""
    if frame is None:
        frame = flow.frame
    owner = ticket_owner(flow.context, ap.ticket_fingerprint)
    fields: dict[str, Any] = {
        "service": ap.sname, "realm": ap.realm, "ticket_fingerprint": ap.ticket_fingerprint,
        "ticket_etype": ap.ticket_etype, "ticket_kvno": ap.kvno,
        "authenticator_etype": ap.authenticator_etype, "app_protocol": protocol,
        "client": f"{owner[0]}@{owner[1]}" if owner else None, "sub": frame,
    }
    fields.update(extra)
    return flow.activity(
        ActivityKind.KERBEROS_AP, frame, ts or flow.ts, "kerberos", fields,  # type: ignore[arg-type]
        actor=Account(owner[0], owner[1]) if owner else None,
        target=Account(ap.sname, ap.realm),
        outcome=None if status is None else ("success" if status == 0 else "failure"),
        status=status,
    )


class KerberosAnalyzer:
    """Kerberos KDC (88) and kpasswd (464) over TCP and UDP (stream and datagram analyzer)."""

    def __init__(self, flow: FlowInfo, emit: Emit) -> None:
        self.flow = flow
        self.emit = emit
        self.bufs: dict[bool, bytearray] = {True: bytearray(), False: bytearray()}
        self.pending: list[_Pending] = []
        self.kpasswd = flow.server_port == KPASSWD_PORT

    def _weird(self, name: str) -> None:
        if self.flow.context is not None:
            self.flow.context.weird(name)

    def data(self, from_client: bool, payload: bytes) -> None:
        """TCP: 4-byte big-endian record length then the message (RFC 4120 7.2.2)."""
        buf = self.bufs[from_client]
        buf += payload
        error: InputError | None = None
        while len(buf) >= 4:
            n = int.from_bytes(buf[:4], "big")
            if n & 0x80000000 or n > MAX_RECORD:  # high bit reserved (RFC 4120 7.2.2)
                buf.clear()
                raise Malformed(f"kerberos: TCP record length 0x{n:08x} is not valid")
            if len(buf) < 4 + n:
                return
            record = bytes(buf[4 : 4 + n])
            del buf[: 4 + n]
            try:
                self._message(from_client, record)
            except InputError as e:  # keep going with the next record, report the first
                error = error or e
        if error is not None:
            raise error

    def datagram(self, from_client: bool, payload: bytes) -> None:
        """UDP: one message per datagram."""
        self._message(from_client, bytes(payload))

    def gap(self, from_client: bool, nbytes: int) -> None:
        """Lost bytes: the record framing is gone, drop what was buffered."""
        self.bufs[from_client].clear()
        self._weird("kerberos_content_gap")

    def close(self) -> None:
        """Flush requests that never got a reply."""
        for p in self.pending:
            self._emit_exchange(p, None)
        self.pending.clear()

    # -- messages ---------------------------------------------------------------------------
    def _message(self, from_client: bool, data: bytes) -> None:
        if self.kpasswd and data[:1] not in (b"\x6a", b"\x6c", b"\x7e", b"\x6b", b"\x6d"):
            self._kpasswd(from_client, data)
            return
        msg = krb.parse(data)
        if isinstance(msg, krb.KdcReq):
            if len(self.pending) >= MAX_PENDING:
                self._emit_exchange(self.pending.pop(0), None)
                self._weird("kerberos_too_many_pending")
            self.pending.append(_Pending(msg, self.flow.frame, self.flow.ts))
        elif isinstance(msg, krb.KdcRep):
            self._remember(msg)
            self._reply(msg, msg.msg_type - 1)
        elif isinstance(msg, krb.KrbError):
            self._reply(msg, None)
        else:  # a bare AP-REQ on the KDC port (unusual)
            self.emit(ap_req_activity(self.flow, msg))

    def _remember(self, rep: krb.KdcRep) -> None:
        """Record who the issued ticket belongs to (before the reply is paired and emitted)."""
        cname, crealm = rep.cname, rep.crealm
        if rep.msg_type == krb.TGS_REP and cname.lower() == ANONYMOUS_CNAME:
            # FAST (RFC 6113): Heimdal/Samba answer an armored TGS-REQ with the anonymous armor
            # principal as the outer cname; the client is only inside the encrypted part. The
            # ticket belongs to the owner of the TGT the request presented.
            req = next((p.req for p in self.pending
                        if getattr(p.req, "msg_type", None) == krb.TGS_REQ), None)
            used = (req.tgs_ap_req.ticket_fingerprint
                    if isinstance(req, krb.KdcReq) and req.tgs_ap_req and not req.s4u_user
                    else None)
            owner = ticket_owner(self.flow.context, used)
            if owner is None:
                self._weird("kerberos_fast_reply_owner_unknown")
                return  # no owner rather than the armor principal
            cname, crealm = owner
        remember_owner(self.flow.context, rep.ticket.fingerprint, cname, crealm)

    def _reply(self, msg: krb.KdcRep | krb.KrbError, req_type: int | None) -> None:
        for i, p in enumerate(self.pending):
            if req_type is None or getattr(p.req, "msg_type", None) == req_type:
                del self.pending[i]
                self._emit_exchange(p, msg)
                return
        self._weird("kerberos_reply_without_request")
        self._emit_exchange(None, msg)

    def _kpasswd(self, from_client: bool, data: bytes) -> None:
        """RFC 3244 section 2: msg length, version, AP-REQ/AP-REP length, then the token."""
        if len(data) < 6:
            raise Malformed(f"kpasswd: header needs 6 bytes, {len(data)} left")
        version = int.from_bytes(data[2:4], "big")
        n = int.from_bytes(data[4:6], "big")
        if 6 + n > len(data):
            raise Malformed(f"kpasswd: AP-REQ length {n} exceeds the {len(data) - 6} bytes left")
        if not from_client:
            err = krb.parse(data[6 + n :]) if n == 0 and len(data) > 6 else None
            if self.pending:
                self._emit_exchange(self.pending.pop(0), err if isinstance(err, krb.KrbError)
                                    else "ok")
            return
        if version not in KPASSWD_VERSIONS:
            self._weird("kpasswd_unknown_version")
        ap = krb.parse_ap_req(data[6 : 6 + n])
        self.pending.append(_Pending(ap, self.flow.frame, self.flow.ts, version))

    def _emit_exchange(self, p: _Pending | None, reply: object) -> None:
        flow = self.flow
        if p is not None and isinstance(p.req, krb.ApReq):  # kpasswd
            status = reply.error_code if isinstance(reply, krb.KrbError) else (
                0 if reply == "ok" else None)
            self.emit(ap_req_activity(flow, p.req, "kpasswd", frame=p.frame, ts=p.ts,
                                      status=status, kpasswd_version=p.kpasswd_version))
            return
        req = p.req if p is not None else None
        assert req is None or isinstance(req, krb.KdcReq)
        rep = reply if isinstance(reply, krb.KdcRep) else None
        err = reply if isinstance(reply, krb.KrbError) else None
        msg_type = req.msg_type if req else (rep.msg_type - 1 if rep else krb.AS_REQ)
        if req is None and err is not None and err.sname and err.sname.startswith("krbtgt/"):
            msg_type = krb.AS_REQ
        elif req is None and err is not None:
            msg_type = krb.TGS_REQ
        kind = ActivityKind.KERBEROS_AS if msg_type == krb.AS_REQ else ActivityKind.KERBEROS_TGS
        frame = p.frame if p else flow.frame
        fields: dict[str, Any] = {"sub": frame, "transport": flow.transport}
        realm = req.realm if req else (rep.crealm if rep else (err.realm if err else None))
        sname = req.sname if req and req.sname else (
            rep.ticket.sname if rep else (err.sname if err else None))
        fields["sname"], fields["realm"] = sname, realm
        if req is not None:
            fields.update(
                etypes=list(req.etypes), pa_types=list(req.pa_types),
                preauth_etype=req.preauth_etype,
                kdc_options=krb.kdc_option_names(req.kdc_options),
                kdc_options_int=req.kdc_options, include_pac=req.include_pac,
                s4u_user=req.s4u_user, till=req.till, rtime=req.rtime,
            )
            if req.addresses:
                fields["addresses"] = list(req.addresses)
            if req.pkinit_cert is not None:
                fields["pkinit_cert"] = req.pkinit_cert.as_dict(req.pkinit_chain)
            elif req.pkinit_error is not None:
                fields["pkinit_error"] = req.pkinit_error
                self._weird("kerberos_pkinit_undecodable")
            if req.msg_type == krb.TGS_REQ:
                # client-supplied authorization data (RFC 4120 5.4.1): MS14-068 forged PACs
                fields["enc_authorization_data"] = req.authz_data_etype is not None
                if req.authz_data_etype is not None:
                    fields["enc_authorization_data_etype"] = req.authz_data_etype
            if req.tgs_ap_req is not None:
                ap = req.tgs_ap_req
                fields.update(used_ticket_fingerprint=ap.ticket_fingerprint,
                              used_ticket_etype=ap.ticket_etype,
                              used_ticket_sname=ap.sname,
                              authenticator_etype=ap.authenticator_etype)
            if req.additional_tickets:
                fields["additional_tickets"] = [
                    {"fingerprint": t.fingerprint, "etype": t.etype, "sname": t.sname,
                     "owner": "@".join(o) if (o := ticket_owner(flow.context, t.fingerprint))
                     else None}
                    for t in req.additional_tickets]
        if rep is not None:
            fields.update(reply_etype=rep.enc_etype, ticket_etype=rep.ticket.etype,
                          ticket_kvno=rep.ticket.kvno,
                          ticket_fingerprint=rep.ticket.fingerprint,
                          reply_cname=rep.cname, reply_pa_types=list(rep.pa_types))
        if err is not None:
            fields["e_text"] = err.e_text
        actor = self._actor(kind, req, rep, err)
        status = 0 if rep else (err.error_code if err else None)
        self.emit(flow.activity(
            kind, frame, (p.ts if p else None) or flow.ts, "kerberos", fields,  # type: ignore[arg-type]
            actor=actor,
            target=Account(sname, realm) if kind == ActivityKind.KERBEROS_TGS and sname
            else None,
            outcome=None if status is None else ("success" if status == 0 else "failure"),
            status=status,
        ))

    def _actor(self, kind: ActivityKind, req: krb.KdcReq | None, rep: krb.KdcRep | None,
               err: krb.KrbError | None) -> Account | None:
        if kind == ActivityKind.KERBEROS_AS:
            if req is not None and req.cname:
                return Account(req.cname, req.realm)
            if rep is not None:
                return Account(rep.cname, rep.crealm)
            return Account(err.cname, err.crealm) if err and err.cname else None
        used = req.tgs_ap_req.ticket_fingerprint if req and req.tgs_ap_req else None
        owner = ticket_owner(self.flow.context, used)
        if owner is not None:
            return Account(owner[0], owner[1])
        if req is not None and req.s4u_user:
            return None  # S4U2self: the reply names the impersonated user, not the requester
        if rep is not None:
            return Account(rep.cname, rep.crealm)
        return Account(err.cname, err.crealm) if err and err.cname else None
