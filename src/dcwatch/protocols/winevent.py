"""Windows event records (any channel, any export dialect) to activities.

Sources (EVTX, evtx_dump JSON, NXLog, Winlogbeat, ECS) normalise each record into an
``EventRecord``: the System part (event ID, channel, provider, computer, time, record ID) and a
flat ``data`` dict (EventData/UserData names; positional ``<Data>`` values under ``"Data"``).
``to_activity`` maps the event IDs dcwatch uses to activity kinds; all others are "unmapped".
Field names follow the Security-Auditing manifests; see learn.microsoft.com event references.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache, partial
from hashlib import blake2b
from typing import Any

from dcwatch.errors import Malformed
from dcwatch.model.activity import Account, Activity, ActivityKind, Origin

K = ActivityKind


@dataclass(slots=True)
class EventRecord:
    """One Windows event, whatever container it came in."""

    event_id: int
    channel: str
    provider: str
    computer: str
    ts: datetime
    record_id: int | None
    data: dict[str, Any]
    origin: Origin
    user_sid: str | None = None  # System/Security/@UserID


_NULLS = frozenset({"", "-", "NULL", "null", "%%1793", "(null)"})


def s(data: dict[str, Any], key: str) -> str | None:
    """A string field, with Windows' placeholders for 'nothing' mapped to None."""
    v = data.get(key)
    if v.__class__ is str:  # the usual case first
        v = v.strip()
        return None if v in _NULLS else v
    if v is None:
        return None
    v = str(v).strip()
    return None if v in _NULLS else v


def num(data: dict[str, Any], key: str) -> int | None:
    """An integer field written in decimal or 0x-hex (Status, AccessMask, etypes...)."""
    v = data.get(key)
    if v.__class__ is str:  # the usual case: skip the bool/int checks
        t = v.strip()
    else:
        if v is None or isinstance(v, bool):
            return None
        if isinstance(v, int):
            return v
        t = str(v).strip()
    if t in _NULLS:
        return None
    try:
        return int(t, 16) if t[:2].lower() == "0x" else int(t)
    except ValueError:
        raise Malformed(f"{key}: expected a number, found {t[:40]!r}") from None


def ip(value: str | None) -> str | None:
    """Normalise an address field: drop ``::ffff:`` mapping and loopback placeholders."""
    if not value or value in ("-", "::1", "127.0.0.1"):
        return None if not value or value == "-" else value
    if value.startswith("::ffff:"):
        return value[7:]
    return value


_ACCOUNT_KEYS: dict[str, tuple[str, str, str, str]] = {}


def account(data: dict[str, Any], prefix: str) -> Account | None:
    """Account from the ``<prefix>UserName/DomainName/UserSid`` triple of an event."""
    keys = _ACCOUNT_KEYS.get(prefix)
    if keys is None:
        keys = _ACCOUNT_KEYS[prefix] = (prefix + "UserName", prefix + "DomainName",
                                        prefix + "UserSid", prefix + "Sid")
    name = s(data, keys[0])
    domain = s(data, keys[1])
    sid = s(data, keys[2]) or s(data, keys[3])
    if sid == "S-1-0-0":
        sid = None
    if not (name or sid):
        return None
    return _new_account((name, domain, sid))


_new_account = partial(tuple.__new__, Account)  # Account(name, domain, sid) without __new__


_GUID_RE = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)


def guids(text: str | None) -> list[str]:
    """All GUIDs in a 4662 ``Properties``-style field, lower case."""
    return [g.lower() for g in _GUID_RE.findall(text or "")]


def _base(rec: EventRecord, kind: ActivityKind, fields: dict[str, Any] | None = None, *,
          actor: Account | None = None, target: Account | None = None,
          src_ip: str | None = None, src_port: int | None = None, src_host: str | None = None,
          dst_host: str | None = None, outcome: str | None = None,
          status: int | None = None) -> Activity:
    """The activity of one mapped event. Runs once per mapped record: explicit keywords and a
    positional ``Activity(...)`` (no ``**kw`` dict built and unpacked per record)."""
    if fields is None:
        fields = {}
    data = rec.data
    if "logon_id" not in fields and "SubjectLogonId" in data:
        fields["logon_id"] = s(data, "SubjectLogonId")
    rid = fields["record_id"] = rec.record_id
    channel = fields["channel"] = rec.channel
    host = rec.computer
    eid = rec.event_id
    uid = ""
    if rid is not None:  # Activity.compute_uid of a logged event, without the detour
        key = f"{host}|{channel}|{rid}|{eid}|{kind._value_}|{fields.get('sub', '')}"
        h = _UID_HASH.copy()  # == blake2b(digest_size=12), minus the argument parsing
        h.update(key.encode("utf-8", "surrogatepass"))
        uid = h.hexdigest()
    # Activity's fields in order: ts kind origin host src_ip src_port src_host dst_ip dst_port
    # dst_host actor target outcome status event_id protocol fields uid. None values in
    # ``fields`` are dropped when written out (Activity.to_dict).
    return Activity(rec.ts, kind, rec.origin, host, src_ip, src_port, src_host, None, None,
                    dst_host, actor, target, outcome, status, eid, "event", fields, uid)


_UID_HASH = blake2b(digest_size=12)


def _status(data: dict[str, Any], *keys: str) -> int | None:
    for k in keys:
        v = num(data, k)
        if v:
            return v
    for k in keys:
        if k in data:
            return num(data, k)
    return None


def _outcome(status: int | None) -> str | None:
    return None if status is None else ("success" if status == 0 else "failure")


# --- logons ---------------------------------------------------------------------------------


def _logon(rec: EventRecord) -> Activity:
    d = rec.data
    failed = rec.event_id == 4625
    status = _status(d, "SubStatus", "Status") if failed else 0
    kind = {4624: K.LOGON, 4625: K.LOGON_FAILED, 4634: K.LOGOFF}[rec.event_id]
    return _base(
        rec,
        kind,
        actor=account(d, "Target"),
        src_ip=ip(s(d, "IpAddress")),
        src_port=num(d, "IpPort") or None,
        src_host=s(d, "WorkstationName"),
        outcome="failure" if failed else "success",
        status=status,
        fields={
            "logon_type": num(d, "LogonType"),
            "auth_package": s(d, "AuthenticationPackageName"),
            "logon_process": (s(d, "LogonProcessName") or "").strip() or None,
            "lm_package": s(d, "LmPackageName"),
            "logon_id": s(d, "TargetLogonId"),
            "subject": str(subject) if (subject := account(d, "Subject")) else None,
            "process": s(d, "ProcessName"),
            "key_length": num(d, "KeyLength"),
        },
    )


def _explicit(rec: EventRecord) -> Activity:
    d = rec.data
    return _base(
        rec,
        K.LOGON_EXPLICIT,
        actor=account(d, "Subject"),
        target=account(d, "Target"),
        src_ip=ip(s(d, "IpAddress")),
        dst_host=s(d, "TargetServerName"),
        fields={"target_info": s(d, "TargetInfo"), "process": s(d, "ProcessName")},
    )


def _privileged(rec: EventRecord) -> Activity:
    d = rec.data
    privs = (s(d, "PrivilegeList") or "").split()
    return _base(
        rec,
        K.LOGON_PRIVILEGED,
        actor=account(d, "Subject"),
        fields={"privileges": privs, "logon_id": s(d, "SubjectLogonId")},
    )


# --- Kerberos and NTLM on the DC ---------------------------------------------------------------


def _krb_user(d: dict[str, Any]) -> Account | None:
    name = s(d, "TargetUserName")
    domain = s(d, "TargetDomainName")
    if name and "@" in name and not domain:
        name, _, domain = name.partition("@")
    sid = s(d, "TargetSid")
    if not (name or sid):
        return None
    return Account(name, domain, None if sid == "S-1-0-0" else sid)


def _kerberos(rec: EventRecord) -> Activity:
    d = rec.data
    eid = rec.event_id
    kind = {
        4768: K.KERBEROS_AS,
        4769: K.KERBEROS_TGS,
        4770: K.KERBEROS_RENEW,
        4771: K.KERBEROS_PREAUTH_FAILED,
    }[eid]
    status = _status(d, "Status", "FailureCode")
    etype = num(d, "TicketEncryptionType")
    service = s(d, "ServiceName")
    target = None
    if eid in (4769, 4770) and service:
        target = Account(service, None, s(d, "ServiceSid"))
    return _base(
        rec,
        kind,
        actor=_krb_user(d),
        target=target,
        src_ip=ip(s(d, "IpAddress")),
        src_port=num(d, "IpPort") or None,
        dst_host=rec.computer,
        outcome=_outcome(status) if eid != 4771 else "failure",
        status=status,
        fields={
            "ticket_etype": None if etype == 0xFFFFFFFF else etype,
            "preauth_type": num(d, "PreAuthType"),
            "ticket_options": num(d, "TicketOptions"),
            "service": service,
            "cert_issuer": s(d, "CertIssuerName"),
            "transited": s(d, "TransmittedServices"),
        },
    )


def _ntlm_validation(rec: EventRecord) -> Activity:
    d = rec.data
    status = _status(d, "Status")
    return _base(
        rec,
        K.NTLM_VALIDATION,
        actor=Account(s(d, "TargetUserName"), None, None) if s(d, "TargetUserName") else None,
        src_host=s(d, "Workstation"),
        dst_host=rec.computer,
        outcome=_outcome(status),
        status=status,
        fields={"package": s(d, "PackageName")},
    )


def _ntlm_8004(rec: EventRecord) -> Activity:
    d = rec.data
    user = s(d, "UserName")
    return _base(
        rec,
        K.NTLM_AUTH,
        actor=Account(user, s(d, "DomainName"), None) if user else None,
        src_host=s(d, "WorkstationName"),
        dst_host=s(d, "SChannelName"),
        fields={"secure_channel_type": num(d, "SChannelType")},
    )


# --- directory ---------------------------------------------------------------------------------


def _strip_guid(v: str | None) -> str | None:
    if v and v.startswith("%{") and v.endswith("}"):
        return v[2:-1].lower()
    return v


def _ds_access(rec: EventRecord) -> Activity:
    d = rec.data
    return _base(
        rec,
        K.DS_ACCESS,
        actor=account(d, "Subject"),
        fields={
            "object_server": s(d, "ObjectServer"),
            "object_type": _strip_guid(s(d, "ObjectType")),
            "object_name": _strip_guid(s(d, "ObjectName")),
            "operation": s(d, "OperationType"),
            "access_mask": num(d, "AccessMask"),
            "properties": guids(s(d, "Properties")),
        },
    )


def _sam_access(rec: EventRecord) -> Activity:
    d = rec.data
    return _base(
        rec,
        K.SAM_ACCESS,
        actor=account(d, "Subject"),
        fields={
            "object_server": s(d, "ObjectServer"),
            "object_type": s(d, "ObjectType"),
            "object_name": s(d, "ObjectName"),
            "access_mask": num(d, "AccessMask"),
            "process": s(d, "ProcessName"),
        },
    )


_DS_OP = {"%%14674": "value_added", "%%14675": "value_deleted"}


def _ds_change(rec: EventRecord) -> Activity:
    d = rec.data
    kind = {5136: K.DS_MODIFY, 5137: K.DS_CREATE, 5141: K.DS_DELETE}[rec.event_id]
    attr = s(d, "AttributeLDAPDisplayName")
    return _base(
        rec,
        kind,
        actor=account(d, "Subject"),
        fields={
            "dn": s(d, "ObjectDN"),
            "object_guid": _strip_guid(s(d, "ObjectGUID")),
            "object_class": s(d, "ObjectClass"),
            "attributes": [attr] if attr else None,
            "values": {attr: s(d, "AttributeValue")} if attr else None,
            "operation": _DS_OP.get(s(d, "OperationType") or "", s(d, "OperationType")),
            "correlation": s(d, "OpCorrelationID"),
            "sub": f"{attr}|{s(d, 'AttributeValue')}|{s(d, 'OperationType')}",
        },
    )


def _ldap_query(rec: EventRecord) -> Activity:
    d = rec.data
    pos = d.get("Data") if isinstance(d.get("Data"), list) else None
    if pos:  # Directory Service 1644 is positional: base, filter, ... client, ..., user

        def get(i):
            return pos[i] if i < len(pos) and pos[i] not in _NULLS else None

        client = get(4) or ""
        cip, _, cport = client.rpartition(":") if client.count(":") == 1 else (client, "", "")
        return _base(
            rec,
            K.LDAP_SEARCH,
            src_ip=ip(cip or None),
            src_port=int(cport) if cport.isdigit() else None,
            actor=Account(get(15), None, None) if get(15) else None,
            fields={
                "base": get(0),
                "filter": get(1),
                "scope": get(5),
                "attributes": get(6),
                "entries_visited": get(2),
                "entries_returned": get(3),
            },
        )
    return _base(rec, K.LDAP_SEARCH, fields={"raw": {k: str(v) for k, v in d.items()}})


# --- AD CS (Security channel, "Audit Certification Services") --------------------------------
# Certification Services events map to ``adcs.*`` kinds (none of them DC evidence: the CA
# server is not taken for a DC) with ``adcs`` naming the event's operation. Data names follow
# the Security-Auditing manifest (**unverified** against a live CA for 4882/4890/4892: every
# other EventData item is kept in ``details``).

ADCS_EVENTS: dict[int, tuple[ActivityKind, str]] = {  # event -> (kind, operation)
    4882: (K.ADCS_SECURITY_CHANGED, "security_permissions_changed"),
    4885: (K.ADCS_AUDIT_FILTER_CHANGED, "audit_filter_changed"),
    4886: (K.ADCS_REQUEST, "request_received"),
    4887: (K.ADCS_ISSUED, "request_issued"),
    4888: (K.ADCS_DENIED, "request_denied"),
    4890: (K.ADCS_SECURITY_CHANGED, "manager_settings_changed"),
    4891: (K.ADCS_CONFIG_CHANGED, "configuration_changed"),
    4892: (K.ADCS_CONFIG_CHANGED, "property_changed"),
    4896: (K.ADCS_ROWS_DELETED, "rows_deleted"),
    4898: (K.ADCS_TEMPLATE_LOADED, "template_loaded"),
    4899: (K.ADCS_TEMPLATE_CHANGED, "template_updated"),
    4900: (K.ADCS_TEMPLATE_CHANGED, "template_security_updated"),
}
_TEMPLATE_RE = re.compile(r"CertificateTemplate:\s*([^\s,;]+)", re.I)
_CCM_RE = re.compile(r"(?:^|[\s,;])ccm:\s*([^\s,;]+)", re.I)
_ADCS_KNOWN = frozenset({"RequestId", "Requester", "Attributes", "Disposition", "Subject",
                         "SubjectKeyIdentifier", "AuditFilter", "Table", "Filter", "RowsDeleted"})


def _requester(value: str | None) -> Account | None:
    if not value:
        return None
    dom, _, name = value.rpartition("\\")
    return Account(name or None, dom or None, None) if name else None


def _adcs(rec: EventRecord) -> Activity:
    d = rec.data
    attrs = s(d, "Attributes")
    template = _TEMPLATE_RE.search(attrs or "")
    ccm = _CCM_RE.search(attrs or "")
    details = {k: str(v) for k, v in d.items() if k not in _ADCS_KNOWN and
               not k.startswith("Subject") and v is not None}
    actor = account(d, "Subject") or (
        Account(None, None, rec.user_sid) if rec.user_sid else None)
    kind, op = ADCS_EVENTS[rec.event_id]
    return _base(
        rec,
        kind,
        actor=actor,
        target=_requester(s(d, "Requester")),
        fields={
            "adcs": op,
            "request_id": s(d, "RequestId"),
            "requester": s(d, "Requester"),
            "request_attributes": attrs,
            "template": template.group(1) if template else None,
            "client_machine": ccm.group(1) if ccm else None,
            "disposition": s(d, "Disposition"),
            "cert_subject": s(d, "Subject"),
            "audit_filter": num(d, "AuditFilter"),
            "table": s(d, "Table"),
            "filter": s(d, "Filter"),
            "rows_deleted": num(d, "RowsDeleted"),
            "details": details or None,
        },
    )


# --- AD FS (Security channel "AD FS Auditing"; "AD FS/Admin") --------------------------------
# The federation server's audits map to ``adfs.*`` kinds (none of them DC evidence: the AD FS
# server is not taken for a DC) with ``adfs`` naming the operation. Layouts are positional
# (**unverified** against a live farm): 1200-1203 [instance ID, AuditBase XML]; 501 [instance
# ID, claim type, value, claim type, value...]; 307 [instance ID, details...] and 510 [instance
# ID, details...] (the details of the configuration change 307 announces).

ADFS_EVENTS: dict[int, tuple[ActivityKind, str]] = {  # event -> (kind, operation)
    1200: (K.ADFS_TOKEN, "token_issued"),
    1201: (K.ADFS_TOKEN, "token_failed"),
    1202: (K.ADFS_CREDENTIAL, "credential_validated"),
    1203: (K.ADFS_CREDENTIAL, "credential_failed"),
    501: (K.ADFS_CLAIMS, "claims"),
    307: (K.ADFS_CONFIG_CHANGED, "configuration_changed"),
    510: (K.ADFS_DETAILS, "additional_information"),
}
ADFS_PROVIDERS = ("AD FS Auditing", "AD FS")
_AUDIT_TAGS = {"UserId": "user_id", "RelyingParty": "relying_party",
               "ClaimsProvider": "claims_provider", "PrimaryAuth": "primary_auth",
               "AuditResult": "result", "FailureType": "failure_type",
               "ErrorCode": "error_code", "AuthProtocol": "auth_protocol",
               "NetworkLocation": "network_location", "IpAddress": "ip_list",
               "ForwardedIpAddress": "forwarded_ip", "ProxyIpAddress": "proxy_ip",
               "Endpoint": "endpoint", "UserAgentString": "user_agent",
               "MfaPerformed": "mfa_performed"}
_TAG_RE = re.compile(r"<(\w+)>([^<]*)</\1>")
_CERT_CLAIM = "/certificatecontext/"


def adfs_audit(xml: str | None) -> dict[str, str]:
    """The AuditBase XML of AD FS 1200-1203 as {field: value} (first occurrence, 'N/A' dropped)."""
    out: dict[str, str] = {}
    for tag, value in _TAG_RE.findall(xml or ""):
        key = _AUDIT_TAGS.get(tag)
        v = value.strip()
        if key and key not in out and v and v != "N/A":
            out[key] = (v.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')
                        .replace("&apos;", "'").replace("&amp;", "&"))
    return out


def _adfs_user(value: str | None) -> Account | None:
    if not value:
        return None
    if "\\" in value:
        dom, _, name = value.rpartition("\\")
        return Account(name or None, dom or None, None) if name else None
    name, _, dom = value.partition("@")
    return Account(name, dom or None, None) if name else None


def _adfs(rec: EventRecord) -> Activity:
    d = rec.data
    pos = [None if v is None else str(v) for v in d.get("Data") or []] \
        if isinstance(d.get("Data"), list) else []
    named_vals = [str(v) for k, v in d.items() if k != "Data" and v is not None]
    values = pos or named_vals
    kind, op = ADFS_EVENTS[rec.event_id]
    instance = (values[0] or "").strip().lower() or None if values else None
    rest = [v for v in values[1:] if v is not None]
    fields: dict[str, Any] = {"adfs": op, "instance_id": instance}
    actor = Account(None, None, rec.user_sid) if rec.user_sid else None
    src_ip = None
    outcome = None
    if rec.event_id in (1200, 1201, 1202, 1203):
        xml = next((v for v in values if v and ("<AuditBase" in v or "<UserId>" in v)), None)
        audit = adfs_audit(xml)
        fields.update(audit)
        actor = _adfs_user(audit.get("user_id")) or actor
        ips = [x.strip() for x in (audit.get("ip_list") or "").split(",") if x.strip()]
        src_ip = ip(ips[0]) if ips else None
        outcome = "success" if rec.event_id in (1200, 1202) else "failure"
    elif rec.event_id == 501:  # claim type / value pairs after the instance ID
        claims: dict[str, list[str]] = {}
        for i in range(0, len(rest) - 1, 2):
            claims.setdefault(rest[i].strip(), []).append(rest[i + 1].strip())
        cert = {k.rsplit("/", 1)[-1].lower(): v if len(v) > 1 else v[0]
                for k, v in claims.items() if _CERT_CLAIM in k.lower()}
        fields.update(claims=claims or None, certificate=cert or None)
    else:  # 307 / 510: free-form details of a configuration change
        fields["details"] = [v.strip() for v in rest if v.strip()] or None
    return _base(rec, kind, actor=actor, src_ip=src_ip, outcome=outcome, fields=fields)


# --- accounts and groups -----------------------------------------------------------------------

_ACCOUNT_KINDS = {
    4720: K.ACCOUNT_CREATED,
    4722: K.ACCOUNT_ENABLED,
    4723: K.PASSWORD_CHANGED,
    4724: K.PASSWORD_RESET,
    4725: K.ACCOUNT_DISABLED,
    4726: K.ACCOUNT_DELETED,
    4738: K.ACCOUNT_CHANGED,
    4741: K.COMPUTER_CREATED,
    4742: K.COMPUTER_CHANGED,
    4743: K.COMPUTER_DELETED,
    4781: K.ACCOUNT_RENAMED,
}
_GROUP_SCOPE = {  # event -> (kind, scope, security-enabled)
    4727: (K.GROUP_CREATED, "global", True),
    4731: (K.GROUP_CREATED, "local", True),
    4754: (K.GROUP_CREATED, "universal", True),
    4744: (K.GROUP_CREATED, "local", False),
    4749: (K.GROUP_CREATED, "global", False),
    4759: (K.GROUP_CREATED, "universal", False),
    4735: (K.GROUP_CHANGED, "local", True),
    4737: (K.GROUP_CHANGED, "global", True),
    4755: (K.GROUP_CHANGED, "universal", True),
    4745: (K.GROUP_CHANGED, "local", False),
    4750: (K.GROUP_CHANGED, "global", False),
    4760: (K.GROUP_CHANGED, "universal", False),
    4730: (K.GROUP_DELETED, "global", True),
    4734: (K.GROUP_DELETED, "local", True),
    4758: (K.GROUP_DELETED, "universal", True),
    4748: (K.GROUP_DELETED, "local", False),
    4753: (K.GROUP_DELETED, "global", False),
    4763: (K.GROUP_DELETED, "universal", False),
    4728: (K.GROUP_MEMBER_ADDED, "global", True),
    4732: (K.GROUP_MEMBER_ADDED, "local", True),
    4756: (K.GROUP_MEMBER_ADDED, "universal", True),
    4746: (K.GROUP_MEMBER_ADDED, "local", False),
    4751: (K.GROUP_MEMBER_ADDED, "global", False),
    4761: (K.GROUP_MEMBER_ADDED, "universal", False),
    4729: (K.GROUP_MEMBER_REMOVED, "global", True),
    4733: (K.GROUP_MEMBER_REMOVED, "local", True),
    4757: (K.GROUP_MEMBER_REMOVED, "universal", True),
    4747: (K.GROUP_MEMBER_REMOVED, "local", False),
    4752: (K.GROUP_MEMBER_REMOVED, "global", False),
    4762: (K.GROUP_MEMBER_REMOVED, "universal", False),
}


def _account_change(rec: EventRecord) -> Activity:
    d = rec.data
    eid = rec.event_id
    target: Account | None
    if eid == 4781:
        target = Account(s(d, "NewTargetUserName"), s(d, "TargetDomainName"), s(d, "TargetSid"))
    else:
        target = account(d, "Target")
    return _base(
        rec,
        _ACCOUNT_KINDS[eid],
        actor=account(d, "Subject"),
        target=target,
        fields={
            "sam_account_name": s(d, "SamAccountName"),
            "old_name": s(d, "OldTargetUserName"),
            "new_name": s(d, "NewTargetUserName"),
            "spns": s(d, "ServicePrincipalNames"),
            "dns_host_name": s(d, "DnsHostName"),
            "sid_history": s(d, "SidHistory"),
            "allowed_to_delegate_to": s(d, "AllowedToDelegateTo"),
            "old_uac": s(d, "OldUacValue"),
            "new_uac": s(d, "NewUacValue"),
            "uac_changes": s(d, "UserAccountControl"),
            "primary_group_id": s(d, "PrimaryGroupId"),
            "password_last_set": s(d, "PasswordLastSet"),
            "display_name": s(d, "DisplayName"),
            "upn": s(d, "UserPrincipalName"),
        },
    )


def _group(rec: EventRecord) -> Activity:
    d = rec.data
    kind, scope, security = _GROUP_SCOPE[rec.event_id]
    return _base(
        rec,
        kind,
        actor=account(d, "Subject"),
        target=Account(s(d, "TargetUserName"), s(d, "TargetDomainName"), s(d, "TargetSid")),
        fields={
            "member_name": s(d, "MemberName"),
            "member_sid": s(d, "MemberSid"),
            "group_scope": scope,
            "security_enabled": security,
        },
    )


def _dsrm(rec: EventRecord) -> Activity:
    d = rec.data
    status = _status(d, "Status")
    return _base(
        rec,
        K.DSRM_PASSWORD_SET,
        actor=account(d, "Subject"),
        status=status,
        outcome=_outcome(status),
        fields={"workstation": s(d, "Workstation")},
    )


def _sid_history(rec: EventRecord) -> Activity:
    d = rec.data
    return _base(
        rec,
        K.SID_HISTORY_ADDED,
        actor=account(d, "Subject"),
        target=account(d, "Target"),
        outcome="success" if rec.event_id == 4765 else "failure",
        fields={
            "source_user": s(d, "SourceUserName"),
            "source_sid": s(d, "SourceSid"),
            "sid_list": s(d, "SidList"),
        },
    )


# --- host activity ------------------------------------------------------------------------------


def _share(rec: EventRecord) -> Activity:
    d = rec.data
    kind = K.SHARE_ACCESS if rec.event_id == 5140 else K.SHARE_FILE_ACCESS
    path = s(d, "RelativeTargetName")
    return _base(
        rec,
        kind,
        actor=account(d, "Subject"),
        src_ip=ip(s(d, "IpAddress")),
        src_port=num(d, "IpPort") or None,
        dst_host=rec.computer,
        fields={
            "share": s(d, "ShareName"),
            "share_path": s(d, "ShareLocalPath"),
            "path": path,
            "access_mask": num(d, "AccessMask"),
            "sub": path,
        },
    )


def _service(rec: EventRecord) -> Activity:
    d = rec.data
    if rec.event_id == 4697:
        actor = account(d, "Subject")
        image = s(d, "ServiceFileName")
        start = s(d, "ServiceStartType")
        account_name = s(d, "ServiceAccount")
    else:
        actor = Account(None, None, rec.user_sid) if rec.user_sid else None
        image = s(d, "ImagePath")
        start = s(d, "StartType")
        account_name = s(d, "AccountName")
    return _base(
        rec,
        K.SERVICE_INSTALLED,
        actor=actor,
        fields={
            "service_name": s(d, "ServiceName"),
            "image_path": image,
            "service_type": s(d, "ServiceType"),
            "start_type": start,
            "service_account": account_name,
        },
    )


_TASK_CMD = re.compile(r"<Command>(.*?)</Command>", re.S)
_TASK_ARGS = re.compile(r"<Arguments>(.*?)</Arguments>", re.S)


def task_command(xml: str | None) -> str | None:
    """The command line(s) of a task definition (``<Exec>`` actions), XML entities decoded."""
    if not xml:
        return None
    cmds = _TASK_CMD.findall(xml)
    args = _TASK_ARGS.findall(xml)
    if not cmds:
        return None
    parts = []
    for i, c in enumerate(cmds):
        a = args[i] if i < len(args) else ""
        parts.append(f"{c} {a}".strip())
    text = " ; ".join(parts)
    for ent, ch in (("&quot;", '"'), ("&apos;", "'"), ("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&")):
        text = text.replace(ent, ch)
    return text


def _task(rec: EventRecord) -> Activity:
    d = rec.data
    kind = {4698: K.TASK_CREATED, 4702: K.TASK_UPDATED, 4699: K.TASK_DELETED}[rec.event_id]
    xml = s(d, "TaskContentNew") or s(d, "TaskContent")
    return _base(
        rec,
        kind,
        actor=account(d, "Subject"),
        fields={
            "task_name": s(d, "TaskName"),
            "command": task_command(xml),
            "logon_id": s(d, "SubjectLogonId"),
        },
    )


def _cleared(rec: EventRecord) -> Activity:
    d = rec.data
    actor = account(d, "Subject") or (
        Account(s(d, "SubjectUserName"), s(d, "SubjectDomainName"))
        if s(d, "SubjectUserName")
        else None
    )
    return _base(
        rec,
        K.LOG_CLEARED,
        actor=actor,
        fields={"log": "Security" if rec.event_id == 1102 else s(d, "Channel")},
    )


def _process(rec: EventRecord) -> Activity:
    d = rec.data
    if rec.event_id == 4688:
        actor = account(d, "Target") if s(d, "TargetUserName") else account(d, "Subject")
        if actor and actor.name and actor.name.endswith("$") and s(d, "SubjectUserName"):
            actor = account(d, "Subject")
        fields = {
            "image": s(d, "NewProcessName"),
            "command_line": s(d, "CommandLine"),
            "parent_image": s(d, "ParentProcessName"),
            "pid": s(d, "NewProcessId"),
            "parent_pid": s(d, "ProcessId"),
        }
    else:  # Sysmon 1
        user = s(d, "User")
        dom, _, name = (user or "").rpartition("\\")
        actor = Account(name or None, dom or None, None) if user else None
        fields = {
            "image": s(d, "Image"),
            "command_line": s(d, "CommandLine"),
            "parent_image": s(d, "ParentImage"),
            "parent_command_line": s(d, "ParentCommandLine"),
            "pid": s(d, "ProcessId"),
            "parent_pid": s(d, "ParentProcessId"),
            "logon_id": s(d, "LogonId"),
        }
    return _base(rec, K.PROCESS_CREATED, actor=actor, fields=fields)


def _netlogon_denied(rec: EventRecord) -> Activity:
    d = rec.data
    pos = d.get("Data") if isinstance(d.get("Data"), list) else []
    client = s(d, "param1") or (pos[0] if pos else None)
    return _base(
        rec,
        K.NETLOGON_AUTH_DENIED,
        src_host=client,
        outcome="failure",
        fields={"client_computer": client, "binary": s(d, "Binary")},
    )


def _rpc_etw(rec: EventRecord) -> Activity:
    """Microsoft-Windows-RPC event 6: a server-side call trace (interface, opnum, auth level)."""
    d = rec.data
    uuid = (s(d, "InterfaceUuid") or "").lower()
    return _base(
        rec,
        K.RPC_CALL,
        dst_host=rec.computer,
        fields={
            "interface_uuid": uuid,
            "interface": interface_name(uuid),
            "opnum": num(d, "ProcNum"),
            "endpoint": s(d, "Endpoint"),
            "network_address": s(d, "NetworkAddress"),
            "auth_level": num(d, "AuthenticationLevel"),
            "auth_service": num(d, "AuthenticationService"),
            "rpc_protocol": num(d, "Protocol"),
            "etw": True,
        },
    )


_FALLBACK_INTERFACES = {
    "12345678-1234-abcd-ef00-01234567cffb": "netlogon",
    "12345778-1234-abcd-ef00-0123456789ac": "samr",
    "12345778-1234-abcd-ef00-0123456789ab": "lsarpc",
    "e3514235-4b06-11d1-ab04-00c04fc2dcd2": "drsuapi",
    "4b324fc8-1670-01d3-1278-5a47bf6ee188": "srvsvc",
    "367abb81-9844-35f1-ad32-98f038001003": "svcctl",
    "1ff70682-0a51-30e8-076d-740be8cee98b": "atsvc",
    "86d35949-83c9-4044-b424-db363231fd0c": "ITaskSchedulerService",
    "3dde7c30-165d-11d1-ab8f-00805f14db40": "bkrp",
    "c681d488-d850-11d0-8c52-00c04fd90f7e": "efsrpc",
    "df1941c5-fe89-4e79-bf10-463657acf44d": "efsrpc",
    "12345678-1234-abcd-ef00-0123456789ab": "spoolss",
}


def interface_name(uuid: str) -> str | None:
    """Name of a DCE/RPC interface UUID (the DCE/RPC decoder's table when present)."""
    lookup = _decoder_lookup()
    if lookup is None:
        return _FALLBACK_INTERFACES.get(uuid)
    return lookup(uuid) or _FALLBACK_INTERFACES.get(uuid)


@cache
def _decoder_lookup() -> Callable[[str], str] | None:
    """The DCE/RPC decoder's ``interface_name``, imported once (None without the decoder)."""
    try:
        from dcwatch.protocols.dcerpc.interfaces import interface_name as _name
    except ImportError:
        return None
    return _name


# --- dispatch -------------------------------------------------------------------------------------

Mapper = Callable[[EventRecord], Activity | None]

_SECURITY: dict[int, Mapper] = {
    4624: _logon,
    4625: _logon,
    4634: _logon,
    4648: _explicit,
    4672: _privileged,
    4768: _kerberos,
    4769: _kerberos,
    4770: _kerberos,
    4771: _kerberos,
    4776: _ntlm_validation,
    4662: _ds_access,
    4661: _sam_access,
    5136: _ds_change,
    5137: _ds_change,
    5141: _ds_change,
    4794: _dsrm,
    4765: _sid_history,
    4766: _sid_history,
    5140: _share,
    5145: _share,
    4697: _service,
    4698: _task,
    4699: _task,
    4702: _task,
    1102: _cleared,
    4688: _process,
    **dict.fromkeys(_ACCOUNT_KINDS, _account_change),
    **dict.fromkeys(_GROUP_SCOPE, _group),
    **dict.fromkeys(ADCS_EVENTS, _adcs),
}

# Event IDs worth a full parse: sources skip every other record before decoding its JSON.
WANTED_IDS: frozenset[int] = frozenset(_SECURITY) | {7045, 104, 5805, 1644, 8004, 6, 1} | \
    frozenset(ADFS_EVENTS)


def to_activity(rec: EventRecord) -> Activity | None:
    """Map one event to an activity, or None when dcwatch does not use that event."""
    eid = rec.event_id
    prov = rec.provider
    if eid in _SECURITY and (
        prov.startswith("Microsoft-Windows-Security-Auditing")
        or prov in ("", "Security")
        or eid == 1102
        or rec.channel.lower() == "security"
    ):
        return _SECURITY[eid](rec)
    if eid in ADFS_EVENTS and prov in ADFS_PROVIDERS:
        return _adfs(rec)
    if eid == 7045 and ("Service Control Manager" in prov or rec.channel == "System"):
        return _service(rec)
    if eid == 104 and rec.channel == "System" and "Eventlog" in prov:
        return _cleared(rec)
    if eid == 5805 and prov.upper() == "NETLOGON":
        return _netlogon_denied(rec)
    if eid == 1644 and ("Directory Service" in rec.channel or "ActiveDirectory" in prov):
        return _ldap_query(rec)
    if eid == 8004 and "NTLM" in prov:
        return _ntlm_8004(rec)
    if eid == 6 and prov == "Microsoft-Windows-RPC":
        return _rpc_etw(rec)
    if eid == 1 and "Sysmon" in prov:
        return _process(rec)
    return None
