"""LDAP (TCP 389/3268) and CLDAP (UDP 389) -> activities; SASL (RFC 4422 3.7) unwrapping.

One ``ldap.bind`` per completed bind, one ``ldap.search`` per search (at SearchResultDone, with
the entry count), ``ds.object_created/modified/deleted`` per add/modify(DN)/delete at its
response. After a GSS-SPNEGO/GSSAPI bind with integrity, every message is a SASL buffer (4-byte
length + GSS wrap token): signed-only tokens are unwrapped and parsed, sealed ones are counted
as the weird ``ldap_sasl_sealed``. NTLM and Kerberos inside SASL binds go through the GSS-API
code of ``dcwatch.protocols.gssapi`` when importable (``ntlm.auth`` / ``kerberos.ap_request``).
"""

from __future__ import annotations

import struct
from datetime import datetime
from typing import Any

from dcwatch.errors import InputError, Malformed
from dcwatch.model.activity import Account, Activity, ActivityKind, Origin
from dcwatch.protocols import ldap
from dcwatch.protocols.flow import Emit, FlowInfo

MAX_BUFFER = 16 << 20  # one LDAP message / SASL buffer larger than this is dropped
MAX_PENDING = 1024  # outstanding operations per connection
SASL_MAX = 16 << 20  # MS-ADTS 3.1.1.3.4.6: MaxReceiveBuffer default is far below
KRB5_CFX_WRAP = b"\x05\x04"  # RFC 4121 4.2.6.2 Wrap token TOK_ID
KRB5_CFX_SEALED = 0x02  # RFC 4121 4.2.2 Flags: Sealed
KRB5_OID_HDR = b"\x06\x09\x2a\x86\x48\x86\xf7\x12\x01\x02\x02"  # RFC 1964 1.2.840.113554.1.2.2
RFC1964_WRAP = b"\x02\x01"  # RFC 1964 1.2.2 / RFC 4757 7.3 Wrap token TOK_ID
NTLM_SIG_V1 = b"\x01\x00\x00\x00"  # MS-NLMP 2.2.2.9.1 NTLMSSP_MESSAGE_SIGNATURE Version
KIND_BY_OP = {ldap.ADD_REQ: ActivityKind.DS_CREATE, ldap.MODIFY_REQ: ActivityKind.DS_MODIFY,
              ldap.MODDN_REQ: ActivityKind.DS_MODIFY, ldap.DEL_REQ: ActivityKind.DS_DELETE}
OP_NAMES = {ldap.ADD_REQ: "add", ldap.MODIFY_REQ: "modify", ldap.MODDN_REQ: "moddn",
            ldap.DEL_REQ: "delete"}
RESPONSE_OF = {ldap.BIND_REQ: ldap.BIND_RESP, ldap.SEARCH_REQ: ldap.SEARCH_DONE,
               ldap.ADD_REQ: ldap.ADD_RESP, ldap.MODIFY_REQ: ldap.MODIFY_RESP,
               ldap.DEL_REQ: ldap.DEL_RESP, ldap.MODDN_REQ: ldap.MODDN_RESP}


def sasl_unwrap(token: bytes) -> bytes | None:
    """Plaintext of a signed-only SASL buffer; ``None`` when sealed (confidentiality on)."""
    if token[:2] == KRB5_CFX_WRAP:
        if len(token) < 16:
            raise Malformed(f"ldap: krb5 wrap token of {len(token)} bytes, 16 at least")
        flags, ec, rrc = token[2], *struct.unpack_from(">HH", token, 4)
        if flags & KRB5_CFX_SEALED:
            return None
        data = token[16:]
        if data:
            rrc %= len(data)
            data = data[rrc:] + data[:rrc]  # RFC 4121 4.2.5: undo the right rotation
        if ec > len(data):
            raise Malformed(f"ldap: krb5 wrap EC {ec} exceeds the {len(data)} data bytes")
        return data[: len(data) - ec]
    if token[:1] == b"\x60":  # RFC 1964 / RFC 4757 wrap: GSS header, TOK_ID 02 01
        i = token.find(KRB5_OID_HDR, 0, 16)
        if i < 0:
            raise Malformed("ldap: GSS wrap token without the krb5 OID")
        p = i + len(KRB5_OID_HDR)
        if token[p : p + 2] != RFC1964_WRAP or len(token) < p + 32:
            raise Malformed("ldap: RFC 1964 token is not a Wrap token")
        if token[p + 4 : p + 6] != b"\xff\xff":  # SEAL_ALG none
            return None
        body = token[p + 32 :]  # header 24 + confounder 8
        pad = body[-1] if body else 0
        return body[:-pad] if 0 < pad <= 8 else body
    if token[:4] == NTLM_SIG_V1 and len(token) >= 16:
        body = token[16:]
        return body if body[:1] == b"\x30" else None  # sealed NTLM data is not BER
    raise Malformed(f"ldap: SASL buffer starts with {token[:4].hex()}, no known GSS wrap")


def _ber_total(buf: bytearray) -> int | None:
    """Total size of the BER element starting ``buf`` (None: header incomplete, -1: invalid)."""
    if len(buf) < 2:
        return None
    n = buf[1]
    if n < 0x80:
        return 2 + n
    k = n & 0x7F
    if k == 0 or k > 4:  # RFC 4511 5.1: definite lengths only
        return -1
    if len(buf) < 2 + k:
        return None
    return 2 + k + int.from_bytes(buf[2 : 2 + k], "big")


def _gss(creds: bytes | None) -> Any:
    """Decode a SASL GSS-SPNEGO/GSSAPI/Sicily credential with the GSS-API module, if present."""
    if not creds:
        return None
    try:
        from dcwatch.protocols import gssapi  # the other sensor half; optional
    except ImportError:
        return None
    tok, _ = gssapi.safe_unwrap(creds)
    return tok


class LdapAnalyzer:
    """LDAP over TCP (stream) and CLDAP over UDP (datagram)."""

    def __init__(self, flow: FlowInfo, emit: Emit) -> None:
        self.flow = flow
        self.emit = emit
        self.bufs: dict[bool, bytearray] = {True: bytearray(), False: bytearray()}
        self.pending: dict[int, list[Any]] = {}  # msgid -> [LdapOp, frame, ts, entries, refs]
        self.netlogon: dict[int, dict[str, Any]] = {}  # msgid -> an LDAP ping's answer
        self.bind: dict[str, Any] = {}  # accumulated across SASL steps
        # who the connection is bound as (the last successful bind): the actor of its
        # searches and writes
        self.identity: Account | None = None
        self.dead = False  # StartTLS or unparseable framing: stop looking

    def _weird(self, name: str) -> None:
        if self.flow.context is not None:
            self.flow.context.weird(name)

    # -- transport --------------------------------------------------------------------------
    def datagram(self, from_client: bool, payload: bytes) -> None:
        """CLDAP: one or more LDAPMessages per datagram (MS-ADTS 6.3.3)."""
        b = bytes(payload)
        off = 0
        while off < len(b):
            op, off = ldap.parse_message(b, off, len(b))
            self._op(from_client, op)

    def data(self, from_client: bool, payload: bytes) -> None:
        """TCP: plain LDAPMessages or SASL buffers (4-byte length + GSS wrap token)."""
        if self.dead:
            return
        buf = self.bufs[from_client]
        buf += payload
        error: InputError | None = None
        while buf:
            b0 = buf[0]
            if b0 == 0x30:  # plain BER LDAPMessage
                e = _ber_total(buf)
                if e is None:
                    return None
                if e < 0 or e > MAX_BUFFER:
                    return self._lost(from_client, "ldap_bad_framing")
                if len(buf) < e:
                    return None
                msg = bytes(buf[:e])
                del buf[:e]
                try:
                    self._messages(from_client, msg)
                except InputError as exc:
                    error = error or exc
            elif b0 == 0x00 and len(buf) >= 4:  # SASL buffer, RFC 4422 3.7
                n = int.from_bytes(buf[:4], "big")
                if n > SASL_MAX:
                    return self._lost(from_client, "ldap_bad_framing")
                if len(buf) < 4 + n:
                    return None
                token = bytes(buf[4 : 4 + n])
                del buf[: 4 + n]
                try:
                    plain = sasl_unwrap(token)
                    if plain is None:
                        self._weird("ldap_sasl_sealed")
                    else:
                        self._messages(from_client, plain)
                except InputError as exc:
                    error = error or exc
            elif b0 == 0x00:
                return None
            else:
                return self._lost(from_client, "ldap_bad_framing")
        if error is not None:
            raise error
        return None

    def _lost(self, from_client: bool, weird: str) -> None:
        self.bufs[from_client].clear()
        self._weird(weird)

    def _messages(self, from_client: bool, b: bytes) -> None:
        off = 0
        while off < len(b):
            op, off = ldap.parse_message(b, off, len(b))
            self._op(from_client, op)

    def gap(self, from_client: bool, nbytes: int) -> None:
        """Lost bytes: BER framing is gone for this direction until the next message start."""
        self.bufs[from_client].clear()
        self._weird("ldap_content_gap")

    def close(self) -> None:
        """Emit operations that never got a response."""
        for op, frame, ts, entries, refs in list(self.pending.values()):
            self._done(op, None, frame, ts, entries, refs)
        self.pending.clear()

    # -- operations -------------------------------------------------------------------------
    def _op(self, from_client: bool, op: ldap.LdapOp) -> None:
        if op.op in RESPONSE_OF:
            if len(self.pending) >= MAX_PENDING:
                self._weird("ldap_too_many_pending")
                return
            self.pending[op.message_id] = [op, self.flow.frame, self.flow.ts, 0, 0]
            if op.op == ldap.BIND_REQ:
                self._bind_step(op)
        elif op.op == ldap.SEARCH_ENTRY or op.op == ldap.SEARCH_REF:
            p = self.pending.get(op.message_id)
            if p is not None:
                p[3 if op.op == ldap.SEARCH_ENTRY else 4] += 1
                if "netlogon_opcode" in op.info and len(self.netlogon) < MAX_PENDING:
                    self.netlogon[op.message_id] = op.info
        elif op.op in ldap.RESPONSES:
            p = self.pending.get(op.message_id)
            if p is None or RESPONSE_OF.get(p[0].op) != op.op:
                if op.op != ldap.EXTENDED_RESP:
                    self._weird("ldap_response_without_request")
                return
            del self.pending[op.message_id]
            if op.op == ldap.BIND_RESP and op.info["result_code"] == ldap.SASL_IN_PROGRESS:
                self._bind_step(op)
                return
            self._done(p[0], op, p[1], p[2], p[3], p[4])
        elif op.op == ldap.EXTENDED_REQ and op.info.get("oid") == ldap.STARTTLS_OID:
            self._weird("ldap_starttls")
            self.dead = True  # the rest of the connection is TLS

    def _bind_step(self, op: ldap.LdapOp) -> None:
        info = op.info
        if op.op == ldap.BIND_REQ:
            for k in ("version", "name", "auth", "mechanism", "cleartext_password"):
                if k in info:
                    self.bind[k] = info[k]
            creds = info.get("credentials")
        else:
            creds = info.get("server_credentials")
        tok = _gss(creds)
        if tok is None:
            return
        msg = getattr(tok, "ntlm", None)
        if msg is not None and hasattr(msg, "user"):
            self.bind["ntlm"] = msg
        elif msg is not None and hasattr(msg, "target_info"):  # CHALLENGE: the server's names
            self.bind["ntlm_challenge"] = msg
        if getattr(tok, "ap_req", None) is not None:
            self.bind["ap_req"] = tok.ap_req

    def _done(self, op: ldap.LdapOp, resp: ldap.LdapOp | None, frame: int,
              ts: datetime | None, entries: int, refs: int) -> None:
        flow = self.flow
        code = resp.info["result_code"] if resp is not None else None
        base: dict[str, Any] = {
            "ts": ts or flow.ts, "origin": Origin(flow.source, frame, "pcap"),
            "host": flow.server_ip, "src_ip": flow.client_ip, "src_port": flow.client_port,
            "dst_ip": flow.server_ip, "dst_port": flow.server_port, "protocol": "ldap",
            "status": code,
            "outcome": None if code is None else ("success" if code == 0 else "failure"),
        }
        fields: dict[str, Any] = {"message_id": op.message_id, "sub": frame}
        if flow.transport == "udp":
            fields["cldap"] = True
        if resp is not None and resp.info.get("diagnostic"):
            fields["diagnostic"] = resp.info["diagnostic"]
        if op.info.get("controls"):
            fields["controls"] = op.info["controls"]
        if op.op == ldap.SEARCH_REQ:
            i = op.info
            fields.update(base_dn=i["base"], scope=i["scope"],
                          scope_name=ldap.SCOPES.get(i["scope"], str(i["scope"])),
                          filter=i["filter"], attributes=i["attributes"],
                          size_limit=i["size_limit"], time_limit=i["time_limit"],
                          entries=entries, references=refs)
            answer = self.netlogon.pop(op.message_id, None)
            if answer is not None:  # an LDAP ping's answer (MS-ADTS 6.3.3): what the DC found
                opcode = answer["netlogon_opcode"]  # and the DC's own names
                fields.update((k, v) for k, v in answer.items() if k.startswith("netlogon_"))
                fields["netlogon_response"] = ldap.NETLOGON_OPCODES.get(opcode, str(opcode))
            self.emit(Activity(kind=ActivityKind.LDAP_SEARCH, actor=self.identity, fields=fields,
                               **base))
        elif op.op == ldap.BIND_REQ:
            self._emit_bind(base, fields, code)
        else:
            i = op.info
            changes = i.get("changes", [])
            fields.update(dn=i["dn"], operation=OP_NAMES[op.op],
                          attributes=[name for _, name, _ in changes],
                          changes=[{"op": o, "attribute": n} for o, n, _ in changes],
                          values={n: v for _, n, v in changes if v is not None})
            for k in ("new_rdn", "new_superior", "delete_old_rdn"):
                if k in i:
                    fields[k] = i[k]
            self.emit(Activity(kind=KIND_BY_OP[op.op], actor=self.identity,
                               target=Account(i["dn"]), fields=fields, **base))

    def _emit_bind(self, base: dict[str, Any], fields: dict[str, Any], code: int | None) -> None:
        b, self.bind = self.bind, {}
        name = b.get("name") or ""
        ntlm_msg = b.get("ntlm")
        fields.update(name=name, auth=b.get("auth"), mechanism=b.get("mechanism"),
                      version=b.get("version"),
                      cleartext_password=bool(b.get("cleartext_password")),
                      anonymous=b.get("auth") == "simple" and not name
                      and not b.get("cleartext_password"))
        actor = Account(name) if name else None
        if ntlm_msg is not None:
            fields.update(ntlm_user=ntlm_msg.user, ntlm_domain=ntlm_msg.domain,
                          ntlm_workstation=ntlm_msg.workstation)
            actor = ntlm_msg.account or actor
            try:
                from dcwatch.protocols import ntlm

                self.emit(ntlm.auth_activity(
                    ntlm_msg, ts=base["ts"], origin=base["origin"], via="ldap",
                    src_ip=base["src_ip"], src_port=base["src_port"], dst_ip=base["dst_ip"],
                    dst_port=base["dst_port"], status=code,
                    challenge=b.get("ntlm_challenge")))
            except (ImportError, AttributeError, TypeError):
                self._weird("ldap_ntlm_activity_unavailable")
        ap = b.get("ap_req")
        if ap is not None and hasattr(ap, "authenticator_etype"):
            from dcwatch.protocols.kerberos_activity import ap_req_activity, ticket_owner

            fields.update(service=ap.sname, ticket_fingerprint=ap.ticket_fingerprint)
            owner = ticket_owner(self.flow.context, ap.ticket_fingerprint)
            if owner is not None:
                actor = Account(owner[0], owner[1])
            self.emit(ap_req_activity(self.flow, ap, "ldap"))
        # RFC 4511 4.2.1: after a failed bind the connection is anonymous
        if code == 0:
            self.identity = None if fields["anonymous"] else actor
        elif code is not None:
            self.identity = None
        self.emit(Activity(kind=ActivityKind.LDAP_BIND, actor=actor, fields=fields, **base))
