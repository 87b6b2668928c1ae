"""One DCE/RPC association (TCP connection or SMB named pipe): PDUs in, ``rpc.*`` activities out.

Tracks presentation contexts (bind/alter_context -> interface), reassembles request and response
fragments per call_id, decodes stubs when they are in clear (NDR20, not sealed), reads the auth
verifier of bind/alter_context/auth3 for the authenticated user, and emits one ``rpc.call`` per
request/response pair (origin = the request's last fragment). ``DceRpcTcpAnalyzer`` is the flow
layer's entry point for TCP 135 and the dynamic ports learned from ept_map responses.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dcwatch.errors import InputError, Malformed
from dcwatch.model.activity import Account, Activity, ActivityKind, Origin
from dcwatch.protocols import gssapi, ntlm
from dcwatch.protocols.dcerpc import rpc, stubs
from dcwatch.protocols.dcerpc.interfaces import (
    BIND_TIME_FEATURES_PREFIX,
    NDR64,
    interface_name,
    operation_name,
)
from dcwatch.protocols.dcerpc.ndr import NdrReader
from dcwatch.protocols.flow import Emit, FlowContext, FlowInfo
from dcwatch.protocols.kerberos_activity import ap_req_activity

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_CALL_BYTES = 8 * 1024 * 1024  # reassembly cap per call and direction (DRS replies are big)
MAX_PENDING_CALLS = 1024
MAX_HANDLES = 4096
# Interfaces whose decoders are checked against tshark under NDR64 (Windows 10+ clients prefer
# NDR64 for EPM and SAMR); the others report {"ndr64": true} instead of guessing.
NDR64_DECODED = frozenset({"epm", "samr"})
MAX_BUFFER = 2 * rpc.MAX_FRAG  # more than one PDU buffered means we lost framing


@dataclass(slots=True)
class _Ctx:
    interface: str
    uuid: str
    version: str
    ndr64: bool


@dataclass(slots=True)
class _Call:
    call_id: int
    ctx_id: int
    opnum: int
    little: bool
    auth_level: int | None
    obj: str | None
    parts: list[bytes] = field(default_factory=list)
    size: int = 0
    frags: int = 0
    frame: int = 0
    ts: datetime = EPOCH
    args: dict[str, Any] | None = None
    resp_parts: list[bytes] = field(default_factory=list)
    resp_size: int = 0
    complete: bool = False  # request's last fragment seen


class DceRpcConnection:
    """DCE/RPC over one byte stream pair. Never raises: bad input is counted as malformed."""

    def __init__(
        self,
        flow: FlowInfo,
        emit: Emit,
        *,
        transport: str = "tcp",
        pipe: str | None = None,
        session_actor: Callable[[], Account | None] | None = None,
        via: str = "dcerpc",
    ) -> None:
        if flow.context is None:
            flow.context = FlowContext()
        self.flow = flow
        self.ctx: FlowContext = flow.context
        self.emit = emit
        self.transport = transport
        self.pipe = pipe
        self.session_actor = session_actor
        self.via = via
        self._buf = {True: bytearray(), False: bytearray()}
        self._contexts: dict[int, _Ctx] = {}
        self._binds: dict[int, tuple[list[rpc.Context], int, datetime, bool]] = {}
        self._calls: dict[int, _Call] = {}
        self._handles: dict[str, str] = {}
        self.auth_type: int | None = None
        self.auth_level: int | None = None
        self.actor: Account | None = None
        self._challenge: ntlm.NtlmChallenge | None = None  # from bind_ack: the server's names
        self._desync = {True: False, False: False}
        self._at: tuple[int, datetime | None] | None = None

    # ------------------------------------------------------------ framing
    def feed(
        self,
        from_client: bool,
        data: bytes | memoryview,
        frame: int | None = None,
        ts: datetime | None = None,
    ) -> None:
        """Bytes of one direction, in order. ``frame``/``ts`` override the flow's current ones."""
        self._at = (frame, ts) if frame is not None else None
        try:
            self._feed(from_client, data)
        finally:
            self._at = None

    def _feed(self, from_client: bool, data: bytes | memoryview) -> None:
        buf = self._buf[from_client]
        if self._desync[from_client]:
            return
        if not buf:
            # Nothing buffered (the usual case: one PDU per SMB READ/WRITE/IOCTL or TCP
            # segment): parse the PDUs in place, buffer only an incomplete tail.
            view = data if isinstance(data, memoryview) else memoryview(data)
            pos = self._pdus(from_client, view)
            if pos < 0:
                return
            if pos < len(view):
                buf += view[pos:]
                if len(buf) > MAX_BUFFER:
                    self.ctx.weird("dcerpc_buffer_overflow")
                    buf.clear()
            return
        buf += data
        pos = 0
        n = len(buf)
        while n - pos >= 10:
            try:
                frag = rpc.frag_length(buf, pos)
            except InputError as exc:
                self._bad(exc, "dcerpc_bad_header")
                self._desync[from_client] = True
                buf.clear()
                return
            if frag < rpc.HEADER_LEN:
                self._bad(Malformed(f"dcerpc: frag_length {frag} < 16"), "dcerpc_bad_header")
                self._desync[from_client] = True
                buf.clear()
                return
            if n - pos < frag:
                break
            self._pdu(from_client, memoryview(bytes(buf[pos : pos + frag])))
            pos += frag
        if pos:
            del buf[:pos]
        if len(buf) > MAX_BUFFER:
            self.ctx.weird("dcerpc_buffer_overflow")
            buf.clear()

    def _pdus(self, from_client: bool, view: memoryview) -> int:
        """Hand every complete PDU of ``view`` on; the bytes used, or -1 when framing is lost."""
        pos = 0
        n = len(view)
        while n - pos >= 10:
            try:
                frag = rpc.frag_length(view, pos)
            except InputError as exc:
                self._bad(exc, "dcerpc_bad_header")
                self._desync[from_client] = True
                return -1
            if frag < rpc.HEADER_LEN:
                self._bad(Malformed(f"dcerpc: frag_length {frag} < 16"), "dcerpc_bad_header")
                self._desync[from_client] = True
                return -1
            if n - pos < frag:
                break
            self._pdu(from_client, view[pos : pos + frag] if pos or frag != n else view)
            pos += frag
        return pos

    def gap(self, from_client: bool) -> None:
        """Bytes were lost in one direction: framing cannot be trusted any more."""
        self._buf[from_client].clear()
        self._desync[from_client] = True
        self.ctx.weird("dcerpc_gap")

    def _bad(self, exc: InputError, weird: str) -> None:
        self.ctx.malformed += 1
        self.ctx.weird(weird)
        del exc

    # ------------------------------------------------------------ PDUs
    def _pdu(self, from_client: bool, data: memoryview) -> None:
        try:
            pdu = rpc.parse_pdu(data)
            t = pdu.ptype
            if t == rpc.REQUEST and from_client:
                self._request(pdu)
            elif t == rpc.RESPONSE and not from_client:
                self._response(pdu)
            elif t == rpc.FAULT and not from_client:
                self._fault(pdu)
            elif t in (rpc.BIND, rpc.ALTER_CONTEXT) and from_client:
                self._bind(pdu)
            elif t in (rpc.BIND_ACK, rpc.ALTER_CONTEXT_RESP, rpc.BIND_NAK) and not from_client:
                self._bind_ack(pdu)
            elif t == rpc.AUTH3 and from_client:
                self._auth(pdu)
            elif t in rpc.PTYPE_NAMES:
                pass  # shutdown, cancel, orphaned: nothing to report
            else:
                self.ctx.weird("dcerpc_unexpected_ptype")
        except InputError as exc:
            self._bad(exc, "dcerpc_malformed_pdu")

    def _now(self) -> tuple[int, datetime]:
        if self._at is not None:
            return self._at[0], self._at[1] or self.flow.ts or EPOCH
        return self.flow.frame, self.flow.ts or EPOCH

    def _auth(self, pdu: rpc.Pdu) -> None:
        """Read the auth verifier of bind / alter_context / auth3 (MS-RPCE 2.2.2.11)."""
        if pdu.auth_type is None:
            return
        self.auth_type = pdu.auth_type
        self.auth_level = pdu.auth_level
        if not pdu.auth_value or pdu.auth_type not in (9, 10, 16):
            return
        tok, _err = gssapi.safe_unwrap(pdu.auth_value)
        if tok is None:
            self.ctx.malformed += 1
            self.ctx.weird("dcerpc_bad_auth_token")
            return
        frame, ts = self._now()
        origin = Origin(self.flow.source, frame, "pcap")
        if isinstance(tok.ntlm, ntlm.NtlmAuthenticate):
            self.actor = tok.ntlm.account
            self.emit(
                ntlm.auth_activity(
                    tok.ntlm,
                    ts=ts,
                    origin=origin,
                    via=self.via,
                    src_ip=self.flow.client_ip,
                    src_port=self.flow.client_port,
                    dst_ip=self.flow.server_ip,
                    dst_port=self.flow.server_port,
                    challenge=self._challenge,
                )
            )
        elif tok.ap_req is not None:
            act = ap_req_activity(
                self.flow, tok.ap_req, "dcerpc", frame=frame, ts=ts, via=self.via
            )
            if act.actor is not None:
                self.actor = act.actor
            self.emit(act)

    def _bind(self, pdu: rpc.Pdu) -> None:
        contexts = rpc.parse_bind(pdu)
        frame, ts = self._now()
        if len(self._binds) > MAX_PENDING_CALLS:
            self._binds.clear()
        self._binds[pdu.call_id] = (contexts, frame, ts, pdu.ptype == rpc.ALTER_CONTEXT)
        self._auth(pdu)

    def _bind_ack(self, pdu: rpc.Pdu) -> None:
        pending = self._binds.pop(pdu.call_id, None)
        if pdu.ptype == rpc.BIND_NAK:
            results: list[rpc.BindAckResult] = []
            nak_reason = (
                struct.unpack_from("<H" if pdu.little else ">H", pdu.body)[0]
                if len(pdu.body) >= 2
                else None
            )
        else:
            _addr, results = rpc.parse_bind_ack(pdu)
            nak_reason = None
            if pdu.auth_value:
                tok, _err = gssapi.safe_unwrap(pdu.auth_value)
                if tok is not None and tok.neg_state == "reject":
                    self.ctx.weird("dcerpc_auth_rejected")
                if tok is not None and isinstance(tok.ntlm, ntlm.NtlmChallenge):
                    self._challenge = tok.ntlm
        if pending is None:
            self.ctx.weird("dcerpc_bind_ack_without_bind")
            return
        contexts, frame, ts, alter = pending
        by_name: dict[str, tuple[rpc.Context, bool, int | None]] = {}
        for i, c in enumerate(contexts):
            if c.transfer and c.transfer[0].startswith(BIND_TIME_FEATURES_PREFIX):
                continue  # MS-RPCE 3.3.1.5.3 bind time feature negotiation, not an interface
            res = results[i] if i < len(results) else None
            accepted = res is not None and res.result == 0
            name = interface_name(c.uuid)
            if accepted and res is not None:
                self._contexts[c.ctx_id] = _Ctx(name, c.uuid, c.version, res.transfer == NDR64)
            reason = nak_reason if res is None else (None if accepted else res.reason)
            if name not in by_name or (accepted and not by_name[name][1]):
                by_name[name] = (c, accepted, reason)
        for name, (c, accepted, reason) in by_name.items():
            self._emit_bind(c, name, accepted, alter, frame, ts, reason)

    def _emit_bind(
        self,
        c: rpc.Context,
        name: str,
        accepted: bool,
        alter: bool,
        frame: int,
        ts: datetime,
        reason: int | None,
    ) -> None:
        self.emit(
            self._activity(
                ActivityKind.RPC_BIND,
                frame,
                ts,
                status=reason,
                outcome="success" if accepted else "failure",
                fields={
                    "interface": name,
                    "interface_uuid": c.uuid,
                    "version": c.version,
                    "accepted": accepted,
                    "alter_context": alter,
                    "auth_type": rpc.AUTH_TYPES.get(self.auth_type or 0, self.auth_type),
                    "auth_level": rpc.AUTH_LEVELS.get(self.auth_level or 1, self.auth_level),
                    "pipe": self.pipe,
                    "transport": self.transport,
                },
            )
        )

    def _request(self, pdu: rpc.Pdu) -> None:
        ctx_id, opnum, obj, stub = rpc.parse_request(pdu)
        call = self._calls.get(pdu.call_id)
        if pdu.flags & rpc.PFC_FIRST_FRAG or call is None or call.complete:
            if call is not None and call.complete:
                self._finish(call, None, fault=False)  # a reused call_id: the old one had no reply
            if not pdu.flags & rpc.PFC_FIRST_FRAG:
                self.ctx.weird("dcerpc_fragment_without_first")
            if len(self._calls) >= MAX_PENDING_CALLS:
                self.ctx.weird("dcerpc_too_many_pending_calls")
                for old in list(self._calls.values())[: MAX_PENDING_CALLS // 2]:
                    self._finish(old, None, fault=False)
            level = pdu.auth_level if pdu.auth_type is not None else None
            call = _Call(pdu.call_id, ctx_id, opnum, pdu.little, level, obj)
            self._calls[pdu.call_id] = call
        call.frags += 1
        last = pdu.flags & rpc.PFC_LAST_FRAG
        single: memoryview | None = None  # a one-fragment call is decoded in place, no copy
        if call.size + len(stub) > MAX_CALL_BYTES:
            self.ctx.weird("dcerpc_call_too_large")
        elif last and not call.parts:
            single = stub
            call.size += len(stub)
        else:
            call.parts.append(bytes(stub))
            call.size += len(stub)
        if last:
            call.complete = True
            call.frame, call.ts = self._now()
            whole = single if single is not None else b"".join(call.parts)
            call.args = self._decode(call, whole, request=True)
            call.parts = []

    def _response(self, pdu: rpc.Pdu) -> None:
        _ctx_id, stub = rpc.parse_response(pdu)
        call = self._calls.get(pdu.call_id)
        if call is None:
            self.ctx.weird("dcerpc_response_without_request")
            return
        last = pdu.flags & rpc.PFC_LAST_FRAG
        single: memoryview | None = None  # a one-fragment response is decoded in place
        if call.resp_size + len(stub) <= MAX_CALL_BYTES:
            if last and not call.resp_parts:
                single = stub
            else:
                call.resp_parts.append(bytes(stub))
            call.resp_size += len(stub)
        if last:
            data = single if single is not None else b"".join(call.resp_parts)
            call.resp_parts = []
            status = None
            sealed = self._sealed(call)
            if not sealed and len(data) >= 4:
                status = struct.unpack_from("<I" if pdu.little else ">I", data, len(data) - 4)[0]
            resp = self._decode(call, data, request=False)
            if resp and call.args is not None:
                call.args.update({k: v for k, v in resp.items() if k not in call.args})
            self._finish(call, status, fault=False)

    def _fault(self, pdu: rpc.Pdu) -> None:
        _ctx_id, status = rpc.parse_fault(pdu)
        call = self._calls.get(pdu.call_id)
        if call is None:
            self.ctx.weird("dcerpc_fault_without_request")
            return
        self._finish(call, status, fault=True)

    def _sealed(self, call: _Call) -> bool:
        level = call.auth_level if call.auth_level is not None else None
        return level == rpc.AUTH_LEVEL_PRIVACY

    def _decode(
        self, call: _Call, stub: bytes | memoryview, *, request: bool
    ) -> dict[str, Any] | None:
        c = self._contexts.get(call.ctx_id)
        if c is None or self._sealed(call) or call.size > MAX_CALL_BYTES:
            return {} if request else None
        if c.ndr64 and c.interface not in NDR64_DECODED:
            return {"ndr64": True} if request else None
        dec = (stubs.request_decoder if request else stubs.response_decoder)(
            c.interface, call.opnum
        )
        if dec is None:
            return {} if request else None
        try:
            out = dec(NdrReader(stub, call.little, ndr64=c.ndr64))
        except InputError as exc:
            self.ctx.weird("dcerpc_stub_malformed")
            return {"decode_error": str(exc)} if request else None
        return self._handles_in(out) if request else self._handles_out(call, out, c.interface)

    # ------------------------------------------------------------ context handles
    def _handles_in(self, args: dict[str, Any]) -> dict[str, Any]:
        h = args.pop("handle", None)
        if h is not None and h in self._handles:
            args["handle_of"] = self._handles[h]
        return args

    def _handles_out(self, call: _Call, resp: dict[str, Any], interface: str) -> dict[str, Any]:
        h = resp.pop("new_handle", None)
        args = call.args or {}
        if h is None:
            return resp
        label = _handle_label(args)
        if label:
            if len(self._handles) >= MAX_HANDLES:
                self._handles.clear()
            self._handles[h] = label
        return resp

    # ------------------------------------------------------------ emit
    def _finish(self, call: _Call, status: int | None, *, fault: bool) -> None:
        self._calls.pop(call.call_id, None)
        if not call.complete:
            call.frame, call.ts = self._now()
        c = self._contexts.get(call.ctx_id)
        iface = c.interface if c else f"ctx{call.ctx_id}"
        sealed = self._sealed(call)
        args = call.args if call.args is not None else {}
        if c and c.interface == "epm" and "towers" in args:
            self._learn_ports(args["towers"])
        level = call.auth_level if call.auth_level is not None else self.auth_level
        fields: dict[str, Any] = {
            "interface": iface,
            "interface_uuid": c.uuid if c else None,
            "opnum": call.opnum,
            "operation": operation_name(iface, call.opnum),
            "auth_type": rpc.AUTH_TYPES.get(self.auth_type or 0, self.auth_type),
            "auth_level": rpc.AUTH_LEVELS.get(level or 1, level),
            "sealed": sealed,
            "args": args,
            "fault": fault,
            "pipe": self.pipe,
            "transport": self.transport,
            "call_id": call.call_id,
            "fragments": call.frags,
            "stub_length": call.size,
        }
        if call.obj:
            fields["object_uuid"] = call.obj
        self.emit(
            self._activity(
                ActivityKind.RPC_CALL,
                call.frame,
                call.ts,
                status=status,
                outcome=stubs.outcome(iface, status, fault),
                fields=fields,
            )
        )

    def _learn_ports(self, towers: list[dict[str, Any]]) -> None:
        for t in towers:
            port = t.get("port")
            if t.get("protocol") != "tcp" or not port:
                continue
            name = t.get("interface") or "unknown"
            self.ctx.rpc_ports[(self.flow.server_ip, port)] = name
            ip = t.get("ip")
            if ip and ip != "0.0.0.0" and ip != self.flow.server_ip:
                self.ctx.rpc_ports[(ip, port)] = name

    def _activity(
        self,
        kind: ActivityKind,
        frame: int,
        ts: datetime,
        *,
        status: int | None,
        outcome: str | None,
        fields: dict[str, Any],
    ) -> Activity:
        actor = self.actor
        if actor is None and self.session_actor is not None:
            actor = self.session_actor()
        return self.flow.activity(kind, frame, ts, "dcerpc", fields, actor=actor, status=status,
                                  outcome=outcome)

    def close(self) -> None:
        """End of the association: report calls that never got a response."""
        for call in list(self._calls.values()):
            if call.complete:
                self._finish(call, None, fault=False)
        self._calls.clear()


def _handle_label(args: dict[str, Any]) -> str | None:
    """What a new context handle stands for, from the request that opened it."""
    if args.get("key"):
        return str(args["key"])
    if args.get("subkey") is not None:
        parent = args.get("handle_of")
        return f"{parent}\\{args['subkey']}" if parent else str(args["subkey"])
    for k in ("service", "domain_sid", "printer", "path", "machine", "server"):
        if args.get(k):
            return str(args[k])
    if args.get("rid") is not None:
        return f"rid:{args['rid']}"
    return None


class DceRpcTcpAnalyzer:
    """StreamAnalyzer for ncacn_ip_tcp (TCP 135 and EPM-learned dynamic ports)."""

    def __init__(self, flow: FlowInfo, emit: Emit) -> None:
        self.conn = DceRpcConnection(flow, emit, transport="tcp")

    def data(self, from_client: bool, payload: bytes) -> None:
        """In-order bytes of one direction."""
        try:
            self.conn.feed(from_client, payload)
        except Exception:  # noqa: BLE001 -- analyzer boundary: counted, never crashes the run
            self.conn.ctx.malformed += 1
            self.conn.ctx.weird("dcerpc_analyzer_error")

    def gap(self, from_client: bool, nbytes: int) -> None:
        """Lost bytes: stop parsing that direction."""
        self.conn.gap(from_client)

    def close(self) -> None:
        """Flush calls without responses."""
        try:
            self.conn.close()
        except Exception:  # noqa: BLE001 -- analyzer boundary: counted, never crashes the run
            self.conn.ctx.malformed += 1
            self.conn.ctx.weird("dcerpc_analyzer_error")


__all__ = ["DceRpcConnection", "DceRpcTcpAnalyzer"]
