"""SMB analyzer for one TCP connection (445/139): state across messages, ``smb.*`` activities.

Follows SMB2/3 sessions (SessionId -> user from the NTLM AUTHENTICATE or the Kerberos ticket
owner), trees (TreeId -> share), opens (FileId -> name, pipe or file, bytes read/written) and
hands the bytes written/transceived/read on named pipes to a ``DceRpcConnection`` per pipe with
the pipe name and the session user as context. Encrypted (transform) and compressed messages are
counted and skipped; bulk READ/WRITE payloads on files are skipped by the framer without copies.
The header of each compressed message a client sends (MS-SMB2 2.2.42) is reported as an
``smb.negotiate`` activity with a ``compression_transform`` field (the first
``MAX_COMPRESSED_REPORTS`` per connection): the negotiated compression in use. A dedicated
activity kind would fit better; ``model/`` is not this module's to extend.
SMB1 (smb1.py): NEGOTIATE, SESSION_SETUP_ANDX (with NativeOS/NativeLanMan and the NTLM
NEGOTIATE's flags/Version) and TREE_CONNECT_ANDX (AndX chains followed) become the same
``smb.negotiate``/``smb.session_setup``/``smb.tree_connect`` kinds with ``smb1: true``;
TRANSACTION/TRANSACTION2/NT_TRANSACT requests, matched with their reply by (PID, MID), are
reported as ``smb.negotiate`` activities with an ``smb1_command`` field (subcommand, FID, MID,
reply MID, TotalDataCount, status): again a stand-in for a dedicated kind. Named-pipe RPC over
SMB1 transactions is not handed to the DCE/RPC decoder.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from dcwatch.errors import InputError, Malformed
from dcwatch.model.activity import Account, Activity, ActivityKind, Origin
from dcwatch.protocols import gssapi, ntlm
from dcwatch.protocols.dcerpc.conn import EPOCH, DceRpcConnection
from dcwatch.protocols.flow import Emit, FlowContext, FlowInfo
from dcwatch.protocols.kerberos_activity import ap_req_activity
from dcwatch.protocols.smb import preg, smb1, smb2
from dcwatch.protocols.smb.netbios import NbssFramer

MAX_PENDING = 4096  # outstanding requests kept per connection (credits rarely allow more)
MAX_FILES = 8192
MAX_POLICY_FILE = 1 << 20  # bytes of a written Registry.pol kept for parsing
MAX_COMPRESSED_REPORTS = 32  # compressed-message headers reported per connection
MORE_PROCESSING = 0xC0000016  # MS-ERREF STATUS_MORE_PROCESSING_REQUIRED
OK_DATA = (smb2.STATUS_SUCCESS, smb2.STATUS_BUFFER_OVERFLOW)  # statuses that still carry data
# Requests whose body the analyzer never reads: their response needs only the header.
_NO_REQUEST_BODY = frozenset({smb2.LOGOFF, smb2.TREE_DISCONNECT, smb2.ECHO, smb2.FLUSH,
                              smb2.LOCK, smb2.CANCEL, smb2.QUERY_DIRECTORY, smb2.CHANGE_NOTIFY,
                              smb2.QUERY_INFO, smb2.SET_INFO, smb2.OPLOCK_BREAK})


@dataclass(slots=True)
class _Session:
    actor: Account | None = None
    auth: str | None = None
    encrypted: bool = False
    workstation: str | None = None
    challenge: ntlm.NtlmChallenge | None = None  # the server's NTLM CHALLENGE (its names)


@dataclass(slots=True)
class _Tree:
    path: str
    share_type: int | None

    @property
    def is_pipe(self) -> bool:
        return self.share_type == 2 or self.path.upper().endswith("\\IPC$")


@dataclass(slots=True)
class _File:
    name: str
    share: str | None
    pipe: bool
    session_id: int
    frame: int
    ts: datetime
    bytes_read: int = 0
    bytes_written: int = 0
    rpc: DceRpcConnection | None = None
    content: bytearray | None = None  # what the client writes to a GPO's Registry.pol


@dataclass(slots=True)
class _Pending1:
    hdr: smb1.Header
    frame: int
    ts: datetime
    data: Any = None


@dataclass(slots=True)
class _Pending:
    hdr: smb2.Header
    frame: int
    ts: datetime
    data: Any = None


class SmbAnalyzer:
    """StreamAnalyzer for SMB over TCP 445 (direct) and 139 (NetBIOS session)."""

    def __init__(self, flow: FlowInfo, emit: Emit) -> None:
        if flow.context is None:
            flow.context = FlowContext()
        self.flow = flow
        self.ctx: FlowContext = flow.context
        self.emit = emit
        # partial, not lambda: the callback runs once per SMB message
        self._framers = {
            True: NbssFramer(partial(self._message, True), partial(self._prefix, True)),
            False: NbssFramer(partial(self._message, False), partial(self._prefix, False)),
        }
        self._sessions: dict[int, _Session] = {}
        self._trees: dict[tuple[int, int], _Tree] = {}
        self._files: dict[bytes, _File] = {}
        self._pending: dict[int, _Pending] = {}
        self._neg: dict[str, Any] | None = None
        self._chain_fid: bytes | None = None
        # SMB1 state: (PID, MID) -> request; UID -> (actor, auth); (UID, TID) -> share path
        self._smb1_pending: dict[tuple[int, int], _Pending1] = {}
        self._smb1_users: dict[int, tuple[Account | None, str | None]] = {}
        self._smb1_trees: dict[tuple[int, int], str] = {}
        self._smb1_offered: list[str] | None = None
        self._smb1_ntlm_neg: ntlm.NtlmNegotiate | None = None
        self._smb1_challenge: ntlm.NtlmChallenge | None = None
        self.stats = {"smb1": 0, "smb2": 0, "encrypted": 0, "compressed": 0, "bulk_skipped": 0}

    # ------------------------------------------------------------ StreamAnalyzer
    def data(self, from_client: bool, payload: bytes) -> None:
        """In-order bytes of one direction."""
        try:
            self._framers[from_client].feed(payload)
        except Exception:  # noqa: BLE001 -- analyzer boundary: counted, never crashes the run
            self.ctx.malformed += 1
            self.ctx.weird("smb_analyzer_error")

    def gap(self, from_client: bool, nbytes: int) -> None:
        """Lost bytes: resynchronise the framing; pipes in that direction lose their framing."""
        self._framers[from_client].gap()
        self.ctx.weird("smb_gap")
        for f in self._files.values():
            if f.rpc is not None:
                f.rpc.gap(from_client)

    def close(self) -> None:
        """End of connection: report transfers of files still open and unanswered RPC calls."""
        try:
            if self._neg is not None and self._neg.get("wildcard"):
                self._emit_negotiate(self._neg.get("dialect"), None, 0)
            for f in list(self._files.values()):
                self._finish_file(f)
            self._files.clear()
            self._smb1_flush()
        except Exception:  # noqa: BLE001 -- analyzer boundary: counted, never crashes the run
            self.ctx.malformed += 1
            self.ctx.weird("smb_analyzer_error")

    # ------------------------------------------------------------ framing callbacks
    def _message(self, from_client: bool, m: memoryview) -> None:
        try:
            pid = m[:4].tobytes()
            if pid == smb2.PROTOCOL_ID:
                self.stats["smb2"] += 1
                self._smb2_chain(from_client, m)
            elif pid == smb1.PROTOCOL_ID:
                self.stats["smb1"] += 1
                self._smb1(from_client, m)
            elif pid == smb2.TRANSFORM_ID:
                self._encrypted(m)
            elif pid == smb2.COMPRESSION_ID:
                self._compressed(from_client, m, len(m))
            else:
                raise Malformed(f"smb: protocol id {pid!r} is not SMB1/SMB2/transform")
        except InputError:
            self.ctx.malformed += 1
            self.ctx.weird("smb_malformed")

    def _encrypted(self, m: memoryview) -> None:
        self.stats["encrypted"] += 1
        _size, sid = smb2.transform_session(m)
        self._sessions.setdefault(sid, _Session()).encrypted = True

    def _compressed(self, from_client: bool, m: memoryview, length: int) -> None:
        """MS-SMB2 2.2.42: report the compression header a client sent (bounded per flow)."""
        self.stats["compressed"] += 1
        if not from_client or self.stats["compressed"] > MAX_COMPRESSED_REPORTS:
            return
        size, algo, flags, off = smb2.compression_header(m)
        chained = bool(flags & smb2.COMPRESSION_FLAG_CHAINED)
        payload = length - smb2.COMPRESSION_HEADER_LEN  # bytes after the header
        info = {
            "original_size": size, "algorithm": algo, "flags": flags, "chained": chained,
            "offset": None if chained else off, "length": off if chained else None,
            "message_length": length,
            # unchained: Offset bytes of uncompressed data precede the compressed segment
            "sum_overflows": not chained and size + off > 0xFFFFFFFF,
            "offset_beyond_message": not chained and off > payload,
        }
        self.emit(self._act(ActivityKind.SMB_NEGOTIATE, self.flow.frame, self._ts(), None, None,
                            {"compression_transform": info, "dialect": None, "dialects": [],
                             "smb1": False}))

    def _prefix(self, from_client: bool, prefix: memoryview, length: int) -> bool:
        """Decide from the first bytes whether a large message can be skipped unbuffered."""
        try:
            pid = bytes(prefix[:4])
            if pid == smb2.TRANSFORM_ID:
                self._encrypted(prefix)
                return True
            if pid == smb2.COMPRESSION_ID:
                self._compressed(from_client, prefix, length)
                return True
            if pid != smb2.PROTOCOL_ID:
                return False
            hdr = smb2.parse_header(prefix)
            if hdr.next_command:
                return False
            if from_client and hdr.command == smb2.WRITE and not hdr.is_response:
                fid, _off, _length = smb2.write_request_header(prefix)
                f = self._files.get(fid)
                if fid == smb2.NULL_FILE_ID or (
                    f is not None and (f.pipe or f.content is not None)
                ):
                    return False
                self._add_pending(_Pending(hdr, self.flow.frame, self._ts(), (fid, None)))
            elif not from_client and hdr.command == smb2.READ and hdr.is_response:
                p = self._pending.get(hdr.message_id)
                f = self._files.get(p.data[0]) if p is not None and p.data else None
                if f is not None and f.pipe:
                    return False
                _off, dlen = smb2.read_response_header(prefix)
                self._pending.pop(hdr.message_id, None)
                if f is not None:
                    f.bytes_read += dlen
            else:
                return False
        except InputError:
            return False
        self.stats["bulk_skipped"] += 1
        self.stats["smb2"] += 1
        return True

    # ------------------------------------------------------------ SMB1
    def _smb1(self, from_client: bool, m: memoryview) -> None:
        hdr = smb1.parse_header(m)
        if hdr.reply == from_client:
            self.ctx.weird("smb1_direction_mismatch")
            return
        cmd = hdr.command
        if cmd == smb1.COM_NEGOTIATE:
            if not hdr.reply:
                dialects = smb1.negotiate_dialects(m)
                self._smb1_offered = dialects
                self._neg = {"frame": self.flow.frame, "ts": self._ts(), "dialects": dialects,
                             "smb1": True}
            elif self._neg is not None:
                idx = smb1.negotiate_response_index(m)
                offered = self._neg["dialects"]
                chosen = offered[idx] if idx is not None and idx < len(offered) else None
                self._emit_negotiate(chosen, None, hdr.status)
            return
        if cmd in (smb1.COM_SESSION_SETUP_ANDX, smb1.COM_TREE_CONNECT_ANDX):
            if hdr.reply:
                self._smb1_andx_response(hdr, m)
            else:
                self._smb1_andx_request(hdr, m)
        elif cmd in smb1.TRANS_NAMES:
            if hdr.reply:
                self._smb1_trans_response(hdr)
            else:
                req = smb1.trans_request(m, cmd, hdr.unicode)
                self._smb1_add(hdr, req)

    def _smb1_add(self, hdr: smb1.Header, data: Any) -> None:
        if len(self._smb1_pending) >= MAX_PENDING:
            self.ctx.weird("smb1_too_many_pending")
            self._smb1_flush()
        self._smb1_pending[(hdr.pid, hdr.mid)] = _Pending1(hdr, self.flow.frame, self._ts(), data)

    def _smb1_andx_request(self, hdr: smb1.Header, m: memoryview) -> None:
        chain: list[tuple[int, Any]] = []
        for cmd, off in smb1.andx_chain(m, hdr.command):
            if cmd == smb1.COM_SESSION_SETUP_ANDX:
                req = smb1.session_setup_request(m, off, hdr.unicode)
                if req.blob is not None:
                    tok, err = gssapi.safe_unwrap(req.blob)
                    if err is not None:
                        self.ctx.malformed += 1
                        self.ctx.weird("smb_bad_security_blob")
                    if tok is not None and isinstance(tok.ntlm, ntlm.NtlmNegotiate):
                        self._smb1_ntlm_neg = tok.ntlm
                    chain.append((cmd, (req, tok)))
                else:
                    chain.append((cmd, (req, None)))
            elif cmd == smb1.COM_TREE_CONNECT_ANDX:
                chain.append((cmd, smb1.tree_connect_request(m, off, hdr.unicode)))
        self._smb1_add(hdr, chain)

    def _smb1_andx_response(self, hdr: smb1.Header, m: memoryview) -> None:
        p = self._smb1_pending.pop((hdr.pid, hdr.mid), None)
        if p is None or not isinstance(p.data, list):
            self.ctx.weird("smb1_response_without_request")
            return
        offs = dict(smb1.andx_chain(m, hdr.command)) if hdr.status in (0, MORE_PROCESSING) else {}
        for cmd, data in p.data:
            off = offs.get(cmd)
            if cmd == smb1.COM_SESSION_SETUP_ANDX:
                self._smb1_session(p, hdr, m, off, *data)
            elif cmd == smb1.COM_TREE_CONNECT_ANDX:
                self._smb1_tree(p, hdr, m, off, *data)

    def _smb1_session(self, p: _Pending1, hdr: smb1.Header, m: memoryview, off: int | None,
                      req: smb1.SessionSetupRequest, tok: gssapi.GssToken | None) -> None:
        resp = smb1.session_setup_response(m, off, hdr.unicode) if off is not None else None
        if hdr.status == MORE_PROCESSING:  # NTLM CHALLENGE: the AUTHENTICATE leg follows
            if resp is not None and resp.blob:
                ch, _err = gssapi.safe_unwrap(resp.blob)
                if ch is not None and isinstance(ch.ntlm, ntlm.NtlmChallenge):
                    self._smb1_challenge = ch.ntlm
            return
        fields: dict[str, Any] = {
            "auth": None, "smb1": True, "session_id": f"{hdr.uid:04x}", "encrypted": False,
            "native_os": req.native_os, "native_lanman": req.native_lanman,
            "extended_security": req.blob is not None, "capabilities": req.capabilities,
            "dialects_offered": self._smb1_offered, "mid": p.hdr.mid,
            "server_native_os": resp.native_os if resp is not None else None,
        }
        neg = self._smb1_ntlm_neg
        if neg is not None:
            fields["ntlm_negotiate_flags"] = neg.flags
            fields["ntlm_negotiate_version"] = list(neg.version) if neg.version else None
        actor = None
        auth_msg = tok.ntlm if tok is not None else None
        origin = Origin(self.flow.source, p.frame, "pcap")
        if isinstance(auth_msg, ntlm.NtlmAuthenticate):
            actor = auth_msg.account
            fields.update(auth="anonymous" if auth_msg.anonymous else "ntlm",
                          ntlm_version=auth_msg.ntlm_version,
                          workstation=auth_msg.workstation or None,
                          mic_present=auth_msg.mic_present, user=auth_msg.user,
                          domain=auth_msg.domain)
            self.emit(ntlm.auth_activity(
                auth_msg, ts=p.ts, origin=origin, via="smb", src_ip=self.flow.client_ip,
                src_port=self.flow.client_port, dst_ip=self.flow.server_ip,
                dst_port=self.flow.server_port, status=hdr.status,
                challenge=self._smb1_challenge))
        elif tok is not None and tok.ap_req is not None:
            act = ap_req_activity(self.flow, tok.ap_req, "smb", frame=p.frame, ts=p.ts,
                                  status=hdr.status, via="smb")
            actor = act.actor
            fields.update(auth="kerberos", ticket_fingerprint=act.fields["ticket_fingerprint"],
                          service=act.fields["service"], ticket_etype=act.fields["ticket_etype"])
            self.emit(act)
        elif tok is not None:
            fields["auth"] = tok.mech
        elif req.anonymous:
            fields["auth"] = "anonymous"
        else:
            # MS-CIFS 3.2.4.2.4: 24-byte responses are LM/NTLM(v1); longer Unicode ones NTLMv2
            fields["auth"] = "ntlm"
            fields["ntlm_version"] = ("v2" if req.unicode_password_len > 24 else
                                      "v1" if req.unicode_password_len == 24 else "lm")
            fields.update(user=req.account, domain=req.domain)
            actor = Account(req.account, req.domain or None)
        if resp is not None and resp.action & 0x0001 and fields["auth"] != "anonymous":
            fields["auth"] = "guest"  # MS-CIFS 2.2.4.53.2 Action SMB_SETUP_GUEST
        if hdr.status == 0 and len(self._smb1_users) < MAX_FILES:
            self._smb1_users[hdr.uid] = (actor, fields["auth"])
        self._smb1_ntlm_neg = None
        self._smb1_challenge = None
        self.emit(self._act(ActivityKind.SMB_SESSION, p.frame, p.ts, actor, hdr.status, fields))

    def _smb1_tree(self, p: _Pending1, hdr: smb1.Header, m: memoryview, off: int | None,
                   path: str, service: str) -> None:
        got = smb1.tree_connect_response(m, off) if off is not None else None
        svc = (got or service or "").upper()
        share_type = 2 if svc.startswith("IPC") else 1 if svc.startswith("A:") else None
        if hdr.status == 0 and len(self._smb1_trees) < MAX_FILES:
            self._smb1_trees[(hdr.uid, hdr.tid)] = path
        user = self._smb1_users.get(hdr.uid)
        self.emit(self._act(
            ActivityKind.SMB_TREE_CONNECT, p.frame, p.ts, user[0] if user else None, hdr.status,
            {"share": path, "share_name": path.rsplit("\\", 1)[-1],
             "share_type": smb2.SHARE_TYPES.get(share_type or 0), "smb1": True,
             "session_auth": user[1] if user else None, "tid": hdr.tid,
             "session_id": f"{hdr.uid:04x}"}))

    def _smb1_trans_response(self, hdr: smb1.Header) -> None:
        p = self._smb1_pending.pop((hdr.pid, hdr.mid), None)
        if p is None and hdr.command == smb1.COM_TRANSACTION2:
            # an implant answering TRANS2_SESSION_SETUP may shift the MID (kept as evidence)
            p = self._smb1_pending.pop((hdr.pid, (hdr.mid - 0x10) & 0xFFFF), None)
        if p is None or not isinstance(p.data, smb1.TransRequest):
            self.ctx.weird("smb1_response_without_request")
            return
        self._smb1_trans_emit(p, hdr.status, hdr.mid)

    def _smb1_trans_emit(self, p: _Pending1, status: int | None, reply_mid: int | None) -> None:
        req: smb1.TransRequest = p.data
        h = p.hdr
        names = (smb1.TRANS_SUBCOMMANDS if req.command == smb1.COM_TRANSACTION else
                 smb1.TRANS2_SUBCOMMANDS if req.command == smb1.COM_TRANSACTION2 else
                 smb1.NT_TRANSACT_FUNCTIONS)
        user = self._smb1_users.get(h.uid)
        self.emit(self._act(
            ActivityKind.SMB_NEGOTIATE, p.frame, p.ts, user[0] if user else None, status,
            {"dialect": None, "dialects": [], "smb1": True,
             "smb1_command": smb1.TRANS_NAMES[req.command], "subcommand": req.subcommand,
             "subcommand_name": names.get(req.subcommand) if req.subcommand is not None
             else None,
             "setup": list(req.setup), "fid": req.fid, "name": req.name,
             "total_data_count": req.total_data_count,
             "total_parameter_count": req.total_parameter_count,
             "data_count": req.data_count, "parameter_count": req.parameter_count,
             "mid": h.mid, "reply_mid": reply_mid, "pid": h.pid, "uid": h.uid, "tid": h.tid,
             "share": self._smb1_trees.get((h.uid, h.tid)),
             "session_auth": user[1] if user else None}))

    def _smb1_flush(self) -> None:
        """Report unanswered transaction requests (status None)."""
        for p in list(self._smb1_pending.values()):
            if isinstance(p.data, smb1.TransRequest):
                self._smb1_trans_emit(p, None, None)
        self._smb1_pending.clear()

    # ------------------------------------------------------------ SMB2 dispatch
    def _smb2_chain(self, from_client: bool, m: memoryview) -> None:
        self._chain_fid = None
        pos = 0
        hdr = smb2.parse_header(m)
        while True:
            nxt = hdr.next_command
            if not nxt:
                msg = m[pos:] if pos else m  # the common single message: no slice
            elif nxt < smb2.HEADER_LEN or pos + nxt > len(m) or nxt % 8:
                raise Malformed(f"smb2: NextCommand {nxt} at {pos} outside the {len(m)} bytes")
            else:
                msg = m[pos : pos + nxt]
            response = bool(hdr.flags & smb2.FLAG_RESPONSE)
            if response == from_client:
                self.ctx.weird("smb2_direction_mismatch")
            elif response:
                self._response(hdr, msg)
            else:
                self._request(hdr, msg)
            if not nxt:
                return
            pos += nxt
            hdr = smb2.parse_header(m[pos:])

    def _ts(self) -> datetime:
        return self.flow.ts or EPOCH

    def _add_pending(self, p: _Pending) -> None:
        if len(self._pending) >= MAX_PENDING:
            self.ctx.weird("smb2_too_many_pending")
            self._pending.clear()
        self._pending[p.hdr.message_id] = p

    def _request(self, hdr: smb2.Header, m: memoryview) -> None:
        flow = self.flow
        p = _Pending(hdr, flow.frame, flow.ts or EPOCH)
        cmd = hdr.command
        if cmd in _NO_REQUEST_BODY:  # nothing to remember but the header (fast path)
            pass
        elif cmd == smb2.NEGOTIATE:
            names = [smb2.dialect_name(d) for d in smb2.negotiate_request(m)]
            smb1_used = bool(self._neg and self._neg.get("smb1"))
            self._neg = {
                "frame": self.flow.frame,
                "ts": self._ts(),
                "dialects": names,
                "smb1": smb1_used,
            }
        elif cmd == smb2.SESSION_SETUP:
            _flags, blob = smb2.session_setup_request(m)
            tok, err = gssapi.safe_unwrap(blob)
            if err is not None:
                self.ctx.malformed += 1
                self.ctx.weird("smb_bad_security_blob")
            p.data = tok
        elif cmd == smb2.TREE_CONNECT:
            p.data = smb2.tree_connect_request(m)
        elif cmd == smb2.CREATE:
            p.data = smb2.create_request(m)
        elif cmd == smb2.CLOSE:
            p.data = smb2.close_request(m)
        elif cmd == smb2.READ:
            p.data = smb2.read_request(m)
        elif cmd == smb2.WRITE:
            fid, off, length = smb2.write_request_header(m)
            f = self._files.get(fid)
            if f is not None and f.rpc is not None:
                f.rpc.feed(True, smb2.buffer_at(m, off, length, "WRITE data"))
                p.data = (fid, None)
            elif fid == smb2.NULL_FILE_ID and length <= 65536:
                p.data = (fid, bytes(smb2.buffer_at(m, off, length, "WRITE data")))
            elif f is not None and f.content is not None:
                # MS-SMB2 2.2.21: the file offset follows DataOffset and Length
                (at,) = struct.unpack_from("<Q", m, smb2.HEADER_LEN + 8)
                p.data = (fid, (at, bytes(smb2.buffer_at(m, off, length, "WRITE data"))))
            else:
                p.data = (fid, None)
        elif cmd == smb2.IOCTL:
            code, fid, inp = smb2.ioctl_request(m)
            f = self._files.get(fid)
            if code == smb2.FSCTL_PIPE_TRANSCEIVE and f is not None and f.rpc is not None:
                f.rpc.feed(True, inp)
            p.data = (code, fid)
        pending = self._pending
        if len(pending) >= MAX_PENDING:
            self.ctx.weird("smb2_too_many_pending")
            pending.clear()
        pending[hdr.message_id] = p

    def _response(self, hdr: smb2.Header, m: memoryview) -> None:
        p = self._pending.get(hdr.message_id)
        if hdr.interim:
            return  # STATUS_PENDING: the final response reuses the MessageId
        if p is None:
            if hdr.command == smb2.NEGOTIATE and self._neg is not None:
                self._negotiate_response(hdr, m)
            elif hdr.message_id != 0xFFFFFFFFFFFFFFFF:  # oplock breaks are unsolicited
                self.ctx.weird("smb2_response_without_request")
            return
        del self._pending[hdr.message_id]
        cmd = hdr.command
        if cmd != p.hdr.command:
            self.ctx.weird("smb2_response_command_mismatch")
            return
        error = hdr.status not in OK_DATA and smb2.is_error_body(m)
        if cmd == smb2.NEGOTIATE:
            self._negotiate_response(hdr, m)
        elif cmd == smb2.SESSION_SETUP:
            self._session_response(p, hdr, m)
        elif cmd == smb2.TREE_CONNECT:
            self._tree_response(p, hdr, m, error)
        elif cmd == smb2.CREATE:
            self._create_response(p, hdr, m, error)
        elif cmd == smb2.CLOSE:
            f = self._files.pop(p.data, None)
            if f is not None:
                self._finish_file(f)
        elif cmd == smb2.READ and not error and hdr.status in OK_DATA:
            f = self._file(p.data[0])
            if f is not None:
                off, dlen = smb2.read_response_header(m)
                f.bytes_read += dlen
                if f.rpc is not None:
                    f.rpc.feed(False, smb2.buffer_at(m, off, dlen, "READ data"))
        elif cmd == smb2.WRITE and hdr.status == smb2.STATUS_SUCCESS and not error:
            fid, held = p.data
            f = self._file(fid)
            if f is not None:
                f.bytes_written += smb2.write_response(m)
                if held is not None and f.rpc is not None:
                    f.rpc.feed(True, held, frame=p.frame, ts=p.ts)
                elif isinstance(held, tuple) and f.content is not None:
                    _policy_write(f, *held)
        elif cmd == smb2.IOCTL and not error and hdr.status in OK_DATA:
            code, fid = p.data
            if code == smb2.FSCTL_PIPE_TRANSCEIVE:
                f = self._file(fid)
                if f is not None and f.rpc is not None:
                    _c, _fid, out = smb2.ioctl_response(m)
                    f.rpc.feed(False, out)
        elif cmd == smb2.TREE_DISCONNECT:
            self._trees.pop((p.hdr.session_id, p.hdr.tree_id or 0), None)
        elif cmd == smb2.LOGOFF:
            self._sessions.pop(p.hdr.session_id, None)

    def _file(self, fid: bytes) -> _File | None:
        if fid == smb2.NULL_FILE_ID and self._chain_fid is not None:
            fid = self._chain_fid
        return self._files.get(fid)

    # ------------------------------------------------------------ command handlers
    def _negotiate_response(self, hdr: smb2.Header, m: memoryview) -> None:
        if hdr.status != smb2.STATUS_SUCCESS or (smb2.is_error_body(m) and len(m) < 128):
            self._emit_negotiate(None, None, hdr.status)
            return
        dialect, mode, _blob = smb2.negotiate_response(m)
        if dialect == 0x02FF and self._neg is not None:
            self._neg["wildcard"] = True  # MS-SMB2 3.3.5.3.1: a real SMB2 NEGOTIATE follows
            self._neg["dialect"] = smb2.dialect_name(dialect)
            return
        self._emit_negotiate(smb2.dialect_name(dialect), bool(mode & 0x0002), hdr.status)

    def _emit_negotiate(
        self, dialect: str | None, signing_required: bool | None, status: int
    ) -> None:
        neg = self._neg or {
            "frame": self.flow.frame,
            "ts": self._ts(),
            "dialects": [],
            "smb1": False,
        }
        self._neg = None
        self.emit(
            self._act(
                ActivityKind.SMB_NEGOTIATE,
                neg["frame"],
                neg["ts"],
                None,
                status,
                {
                    "dialects": neg["dialects"],
                    "dialect": dialect,
                    "smb1": neg["smb1"],
                    "signing_required": signing_required,
                },
            )
        )

    def _session_response(self, p: _Pending, hdr: smb2.Header, m: memoryview) -> None:
        tok: gssapi.GssToken | None = p.data
        sid = hdr.session_id
        sess = self._sessions.setdefault(sid, _Session())
        if hdr.status == smb2.STATUS_MORE_PROCESSING_REQUIRED:
            # NTLM CHALLENGE or a Kerberos round trip: the final leg follows. Keep the
            # CHALLENGE: its TargetInfo names the server for the ntlm.auth activity.
            try:
                _sflags, blob = smb2.session_setup_response(m)
            except InputError:
                return
            ch, _err = gssapi.safe_unwrap(blob)
            if ch is not None and isinstance(ch.ntlm, ntlm.NtlmChallenge):
                sess.challenge = ch.ntlm
            return
        sflags = 0
        if hdr.status == smb2.STATUS_SUCCESS:
            sflags, _blob = smb2.session_setup_response(m)
        auth_msg = tok.ntlm if tok is not None else None
        ap = tok.ap_req if tok is not None else None
        fields: dict[str, Any] = {
            "auth": None,
            "session_id": f"{sid:016x}",
            "encrypted": bool(sflags & smb2.SESSION_FLAG_ENCRYPT_DATA),
        }
        actor = None
        origin = Origin(self.flow.source, p.frame, "pcap")
        if isinstance(auth_msg, ntlm.NtlmAuthenticate):
            actor = auth_msg.account
            fields.update(
                auth="anonymous" if auth_msg.anonymous else "ntlm",
                ntlm_version=auth_msg.ntlm_version,
                workstation=auth_msg.workstation or None,
                mic_present=auth_msg.mic_present,
                user=auth_msg.user,
                domain=auth_msg.domain,
            )
            sess.workstation = auth_msg.workstation or None
            self.emit(
                ntlm.auth_activity(
                    auth_msg,
                    ts=p.ts,
                    origin=origin,
                    via="smb",
                    src_ip=self.flow.client_ip,
                    src_port=self.flow.client_port,
                    dst_ip=self.flow.server_ip,
                    dst_port=self.flow.server_port,
                    status=hdr.status,
                    challenge=sess.challenge,
                )
            )
        elif ap is not None:
            act = ap_req_activity(
                self.flow, ap, "smb", frame=p.frame, ts=p.ts, status=hdr.status, via="smb"
            )
            actor = act.actor
            fields.update(
                auth="kerberos",
                ticket_fingerprint=act.fields["ticket_fingerprint"],
                service=act.fields["service"],
                ticket_etype=act.fields["ticket_etype"],
            )
            self.emit(act)
        elif tok is not None and tok.mech is not None:
            fields["auth"] = tok.mech
        if sflags & smb2.SESSION_FLAG_IS_NULL:
            fields["auth"] = "anonymous"
            actor = None
        elif sflags & smb2.SESSION_FLAG_IS_GUEST:
            fields["auth"] = "guest"
        if hdr.status == smb2.STATUS_SUCCESS:
            sess.actor = actor
            sess.auth = fields["auth"]
            sess.encrypted = sess.encrypted or fields["encrypted"]
        self.emit(self._act(ActivityKind.SMB_SESSION, p.frame, p.ts, actor, hdr.status, fields))

    def _tree_response(self, p: _Pending, hdr: smb2.Header, m: memoryview, error: bool) -> None:
        path: str = p.data
        share_type = None
        if not error and hdr.status == smb2.STATUS_SUCCESS:
            share_type = smb2.tree_connect_response(m)
            if len(self._trees) < MAX_FILES:
                self._trees[(hdr.session_id, hdr.tree_id or 0)] = _Tree(path, share_type)
        self.emit(
            self._act(
                ActivityKind.SMB_TREE_CONNECT,
                p.frame,
                p.ts,
                self._actor(hdr.session_id),
                hdr.status,
                {
                    "share": path,
                    "share_name": path.rsplit("\\", 1)[-1],
                    "share_type": smb2.SHARE_TYPES.get(share_type or 0),
                },
            )
        )

    def _create_response(self, p: _Pending, hdr: smb2.Header, m: memoryview, error: bool) -> None:
        req: smb2.CreateRequest = p.data
        tree = self._trees.get((p.hdr.session_id, p.hdr.tree_id or 0))
        pipe = tree is not None and tree.is_pipe
        action = None
        if not error and hdr.status == smb2.STATUS_SUCCESS:
            fid, action = smb2.create_response(m)
            self._chain_fid = fid
            f = _File(req.name, tree.path if tree else None, pipe, p.hdr.session_id, p.frame, p.ts)
            if not pipe and req.name.lower().endswith("registry.pol"):
                f.content = bytearray()
            if pipe:
                sid = p.hdr.session_id
                f.rpc = DceRpcConnection(
                    self.flow,
                    self.emit,
                    transport="smb",
                    pipe=req.name,
                    session_actor=lambda: self._actor(sid),
                    via="dcerpc",
                )
            if len(self._files) >= MAX_FILES:
                self.ctx.weird("smb2_too_many_open_files")
                self._files.clear()
            self._files[fid] = f
        self.emit(
            self._act(
                ActivityKind.SMB_FILE_OPEN,
                p.frame,
                p.ts,
                self._actor(p.hdr.session_id),
                hdr.status,
                {
                    "path": req.name,
                    "share": tree.path if tree else None,
                    "pipe": pipe,
                    "access": req.access,
                    "disposition": smb2.DISPOSITIONS.get(req.disposition, req.disposition),
                    "create_options": req.options,
                    "create_action": action,
                },
            )
        )

    def _finish_file(self, f: _File) -> None:
        if f.rpc is not None:
            f.rpc.close()
        if f.bytes_read or f.bytes_written:
            fields: dict[str, Any] = {
                "path": f.name,
                "share": f.share,
                "pipe": f.pipe,
                "bytes_read": f.bytes_read,
                "bytes_written": f.bytes_written,
                "closed_frame": self.flow.frame,
                "opened": f.ts.isoformat(),
            }
            if f.content:
                try:
                    fields["registry_pol"] = preg.parse(bytes(f.content))
                except Malformed:
                    self.ctx.weird("smb_bad_registry_pol")
            # stamped with the close (the time its counts are final, the packet being decoded
            # now; the last packet of the connection when it ends without one): a handle may
            # stay open for minutes, and an activity stamped with its open would reach a live
            # center behind the sensor's watermark. The open's time is in ``opened``.
            self.emit(
                self._act(
                    ActivityKind.SMB_FILE_TRANSFER,
                    f.frame,
                    self._ts(),
                    self._actor(f.session_id),
                    None,
                    fields,
                )
            )

    # ------------------------------------------------------------ activities
    def _actor(self, session_id: int) -> Account | None:
        s = self._sessions.get(session_id)
        return s.actor if s else None

    def _act(
        self,
        kind: ActivityKind,
        frame: int,
        ts: datetime,
        actor: Account | None,
        status: int | None,
        fields: dict[str, Any],
    ) -> Activity:
        fields["status"] = status
        return self.flow.activity(
            kind, frame, ts, "smb", fields, actor=actor, status=status,
            outcome=None if status is None else ("success" if status == 0 else "failure"))


def _policy_write(f: _File, at: int, data: bytes) -> None:
    """Apply one WRITE to the kept copy of a policy file (bounded; gaps are zero-filled)."""
    content = f.content
    if content is None or at + len(data) > MAX_POLICY_FILE:
        f.content = None
        return
    if len(content) < at:
        content.extend(bytes(at - len(content)))
    content[at : at + len(data)] = data
