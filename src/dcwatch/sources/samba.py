"""Samba AD DC JSON audit logs (``auth_json_audit``, ``dsdb_json_audit``,
``dsdb_group_json_audit``, ``dsdb_password_json_audit``) to activities.

Each line is ``{"timestamp": ..., "type": T, T: {...}}``. Mapping to the Windows equivalents:
Authentication -> 4624/4625 logons, Kerberos AS exchanges (4768, with the encryption type) or
NTLM validations (4776); Authorization -> logon sessions; groupChange -> 4728/4732/4756;
passwordChange -> 4723/4724; dsdbChange -> directory changes (5136/5137/5141) with attribute
names and, for a short list of security attributes, values. Samba names the DC itself in no
field, so ``host`` is the local address (the DC's IP); the resolver learns it is a DC.
"""

from __future__ import annotations

import base64
from typing import Any

from dcwatch.entities.resolver import well_known_group
from dcwatch.errors import InputError
from dcwatch.model.activity import Account, Activity, ActivityKind, Origin, parse_ts
from dcwatch.protocols import secdesc

K = ActivityKind

_SECURITY_ATTRS = frozenset({
    "member", "serviceprincipalname", "useraccountcontrol", "sidhistory", "dnshostname",
    "samaccountname", "msds-allowedtodelegateto", "gpcfilesyspath", "admincount",
    "msds-keycredentiallink", "msds-allowedtoactonbehalfofotheridentity",
    "ntsecuritydescriptor",
    # contact and logon attributes an account takeover rewrites (values shown by 2427)
    "mobile", "othermobile", "telephonenumber", "mail", "userprincipalname", "displayname",
    "description", "scriptpath", "profilepath", "homedirectory", "altsecurityidentities",
})
_BOOKKEEPING = frozenset({
    "lastlogon", "lastlogontimestamp", "logoncount", "badpwdcount", "badpasswordtime",
    "lastlogoff", "lockouttime", "msds-lastsuccessfulinteractivelogontime",
    "msds-lastfailedinteractivelogontime", "msds-failedinteractivelogoncount",
})
_ETYPES = {"aes256-cts-hmac-sha1-96": 18, "aes128-cts-hmac-sha1-96": 17,
           "arcfour-hmac-md5": 23, "des-cbc-md5": 3, "des-cbc-crc": 1}
_NTSTATUS = {"NT_STATUS_OK": 0, "NT_STATUS_NO_SUCH_USER": 0xC0000064,
             "NT_STATUS_WRONG_PASSWORD": 0xC000006A, "NT_STATUS_LOGON_FAILURE": 0xC000006D,
             "NT_STATUS_ACCOUNT_DISABLED": 0xC0000072, "NT_STATUS_ACCOUNT_LOCKED_OUT": 0xC0000234,
             "NT_STATUS_PASSWORD_EXPIRED": 0xC0000071, "NT_STATUS_ACCESS_DENIED": 0xC0000022}


def _addr(v: Any) -> tuple[str | None, int | None]:
    """``ipv4:10.0.0.1:445`` / ``ipv6:[::1]:445`` -> (ip, port)."""
    if not isinstance(v, str) or ":" not in v:
        return None, None
    _, _, rest = v.partition(":")
    if rest.startswith("["):
        ip, _, port = rest[1:].partition("]:")
    else:
        ip, _, port = rest.rpartition(":")
    if ip in ("", "::", "0.0.0.0"):
        return None, None
    return ip, (int(port) if port.isdigit() else None)


def _dn_name(dn: str | None) -> str | None:
    if not dn or not dn.upper().startswith("CN="):
        return dn
    return dn[3:].split(",", 1)[0].replace("\\", "")


def group_from_dn(dn: str | None, domain_sid: str | None) -> Account:
    """A group account from its DN, with a well-known SID where Samba's fixed names allow."""
    return well_known_group(dn, domain_sid) or Account(_dn_name(dn), None, None)


def _domain_sid(sid: str | None) -> str | None:
    if sid and sid.startswith("S-1-5-21-") and sid.count("-") >= 7:
        return sid.rsplit("-", 1)[0]
    return None


def to_activities(obj: dict[str, Any], origin: Origin,
                  state: dict[str, Any] | None = None) -> list[Activity]:
    """Activities of one Samba audit record (empty when dcwatch does not use it).

    ``state`` carries what earlier lines of the same log taught (the DC's own address, which
    group and password records do not repeat)."""
    typ = obj.get("type")
    body = obj.get(typ) if isinstance(typ, str) else None
    if not isinstance(body, dict):
        raise InputError("Samba audit record without a body object")
    ts_text = obj.get("timestamp")
    if not isinstance(ts_text, str):
        raise InputError("Samba audit record without a timestamp")
    ts = _samba_ts(ts_text)
    local_ip, local_port = _addr(body.get("localAddress"))
    remote_ip, remote_port = _addr(body.get("remoteAddress"))
    if state is not None:
        if isinstance(body.get("logonServer"), str) and body["logonServer"]:
            state["dc_name"] = body["logonServer"]  # Authorization records name the DC
        if local_ip and local_ip not in ("127.0.0.1", "::1"):
            state["dc"] = local_ip
        else:
            local_ip = local_ip or state.get("dc")
    dc_name = state.get("dc_name") if state is not None else None
    base = {"ts": ts, "origin": origin, "host": dc_name or local_ip, "src_ip": remote_ip,
            "src_port": remote_port, "dst_ip": local_ip, "dst_port": local_port,
            "protocol": "samba"}
    if typ == "Authentication":
        return _auth(body, base)
    if typ == "groupChange":
        return _group(body, base)
    if typ == "passwordChange":
        return _password(body, base)
    if typ == "dsdbChange":
        return _dsdb(body, base)
    return []


def _samba_ts(text: str):
    # "2026-11-30T08:00:00.123456+0000" (Samba) -> ISO with a colon in the offset
    t = text.strip()
    if len(t) > 5 and t[-5] in "+-" and t[-4:].isdigit():
        t = t[:-2] + ":" + t[-2:]
    try:
        return parse_ts(t)
    except ValueError:
        raise InputError(f"timestamp: cannot read {text[:40]!r}") from None


def _auth(b: dict[str, Any], base: dict[str, Any]) -> list[Activity]:
    status_text = b.get("status") or ""
    status = _NTSTATUS.get(status_text, 0 if status_text == "NT_STATUS_OK" else 0xC000006D)
    ok = status_text == "NT_STATUS_OK"
    account = b.get("clientAccount") or b.get("mappedAccount") or b.get("becameAccount")
    domain = b.get("clientDomain")
    if isinstance(account, str) and "@" in account:
        account, _, realm = account.partition("@")
        domain = domain or realm
    domain = domain or b.get("mappedDomain") or b.get("becameDomain")
    sid = b.get("becameSid") if ok else None
    actor = Account(account or None, domain or None, sid or None) if account else None
    service = b.get("serviceDescription") or ""
    pw = (b.get("passwordType") or "")
    # An LDAP simple bind carries no client workstation: Samba (auth_simple.c) fills in its own
    # NetBIOS name, which would make the DC the source of the bind. Over LDAPS/StartTLS the
    # description is "simple bind/TLS".
    simple = str(b.get("authDescription") or "").split("/", 1)[0] == "simple bind"
    ws = None if simple else b.get("workstation")
    fields = {"service": service, "auth_description": b.get("authDescription"),
              "password_type": pw, "logon_type": b.get("logonType"),
              "workstation": ws, "status_text": status_text,
              "netlogon_computer": b.get("netlogonComputer"),
              "netlogon_trust_account": b.get("netlogonTrustAccount"),
              "sub": f"{service}|{b.get('authDescription')}"}
    out = []
    kind = K.LOGON if ok else K.LOGON_FAILED
    out.append(Activity(kind=kind, actor=actor, src_host=ws or None,
                        outcome="success" if ok else "failure", status=status,
                        event_id=b.get("eventId"), fields=_clean(fields), **base))
    if service == "NETLOGON" and not ok:
        # A refused Netlogon secure-channel setup (ServerAuthenticate*): Samba's view of what
        # Windows logs as 5805, with the computer the client claimed to be.
        out.append(Activity(kind=K.NETLOGON_AUTH_DENIED, src_host=None, outcome="failure",
                            status=status, actor=actor,
                            fields=_clean({"client_computer": b.get("netlogonComputer"),
                                           "trust_account": b.get("netlogonTrustAccount"),
                                           "secure_channel_type":
                                               b.get("netlogonSecureChannelType"),
                                           "operation": b.get("authDescription"),
                                           "sub": "netlogon"}), **base))
    if service == "Kerberos KDC":
        etype = _ETYPES.get(pw.lower())
        out.append(Activity(kind=K.KERBEROS_AS, actor=actor, dst_host=base["host"],
                            outcome="success" if ok else "failure",
                            status=0 if ok else (24 if status == 0xC000006A else 6
                                                 if status == 0xC0000064 else status),
                            fields=_clean({"ticket_etype": etype, "password_type": pw,
                                           "sub": "kdc"}), **base))
    elif pw.upper().startswith("NTLM") or pw in ("LM", "NTLMv2"):
        out.append(Activity(kind=K.NTLM_VALIDATION, actor=actor,
                            src_host=ws or None, dst_host=base["host"],
                            outcome="success" if ok else "failure", status=status,
                            fields=_clean({"package": pw, "service": service, "sub": "ntlm"}),
                            **base))
    return out


def _group(b: dict[str, Any], base: dict[str, Any]) -> list[Activity]:
    action = (b.get("action") or "").lower()
    if action not in ("added", "removed"):
        return []
    if b.get("group") and str(b.get("group")).lower() == str(b.get("user") or "").lower():
        return []  # Samba 4.17 logs each new user/computer as "Added" to itself: no group
    actor_sid = b.get("userSid")
    group = group_from_dn(b.get("group"), _domain_sid(actor_sid))
    if b.get("groupSid"):
        group = Account(group.name, None, b["groupSid"])
    kind = K.GROUP_MEMBER_ADDED if action == "added" else K.GROUP_MEMBER_REMOVED
    scope = {4728: "global", 4732: "local", 4756: "universal", 4729: "global",
             4733: "local", 4757: "universal"}.get(b.get("eventId") or 0)
    if scope is None:
        scope = "local" if group.sid and group.sid.startswith("S-1-5-32-") else "global"
    return [Activity(kind=kind, actor=Account(None, None, actor_sid) if actor_sid else None,
                     target=group, event_id=b.get("eventId"),
                     outcome="success" if b.get("statusCode", 0) == 0 else "failure",
                     fields=_clean({"member_name": b.get("user"),
                                    "member_sid": b.get("userSidAdded") or b.get("memberSid"),
                                    "group_scope": scope, "group_dn": b.get("group"),
                                    "security_enabled": True}), **base)]


def _password(b: dict[str, Any], base: dict[str, Any]) -> list[Activity]:
    action = (b.get("action") or "").lower()
    kind = K.PASSWORD_RESET if "reset" in action else K.PASSWORD_CHANGED
    return [Activity(kind=kind, actor=Account(None, None, b.get("userSid"))
                     if b.get("userSid") else None,
                     target=Account(_dn_name(b.get("dn")), None, None), event_id=b.get("eventId"),
                     outcome="success" if b.get("statusCode", 0) == 0 else "failure",
                     fields=_clean({"dn": b.get("dn"), "action": b.get("action")}), **base)]


def _dsdb(b: dict[str, Any], base: dict[str, Any]) -> list[Activity]:
    op = (b.get("operation") or "").lower()
    kind = {"add": K.DS_CREATE, "modify": K.DS_MODIFY, "delete": K.DS_DELETE}.get(op)
    if kind is None or b.get("performedAsSystem"):
        return []
    attrs = b.get("attributes") or {}
    names = sorted(attrs) if isinstance(attrs, dict) else []
    if op == "modify" and all(n.lower() in _BOOKKEEPING for n in names):
        return []  # logon counters and timestamps Samba updates on every logon
    values: dict[str, list[str]] = {}
    for name in names:
        if name.lower() not in _SECURITY_ATTRS:
            continue
        spec = attrs[name]
        vals: list[str] = []
        for act in spec.get("actions", []) if isinstance(spec, dict) else []:
            for v in act.get("values", []) or []:
                if isinstance(v, dict) and "value" in v:
                    value = v["value"]
                    if v.get("base64") and name.lower() in _SD_ATTRS:
                        value = _sddl(str(value), bool(v.get("truncated")))
                    vals.append(f"{act.get('action', '')}:{value}")
        values[name] = vals
    return [Activity(kind=kind, actor=Account(None, None, b.get("userSid"))
                     if b.get("userSid") else None,
                     outcome="success" if b.get("statusCode", 0) == 0 else "failure",
                     fields=_clean({"dn": b.get("dn"), "attributes": names, "values": values,
                                    "operation": op, "transaction": b.get("transactionId")}),
                     **base)]


# binary security descriptors, logged in base64: rendered as SDDL (RBCD's names who may delegate)
_SD_ATTRS = {"ntsecuritydescriptor", "msds-allowedtoactonbehalfofotheridentity"}


def _sddl(b64: str, truncated: bool) -> str:
    """A security descriptor Samba logged in base64 as SDDL, like 5136 logs it. Samba cuts
    binary values at 1024 bytes: the ACEs past the cut are missing, and the text says so."""
    try:
        raw = base64.b64decode(b64 + "=" * (-len(b64) % 4))
    except ValueError:
        return b64
    text = secdesc.to_sddl(raw) or b64
    return text + " [truncated by the Samba audit log]" if truncated else text


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v not in (None, "", [], {})}
