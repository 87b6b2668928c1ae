"""The normalized activity: what every parser produces and every detector consumes.

The same kind comes from the wire or from a log: a TGS request on port 88 and an event 4769
both become ``kerberos.tgs_request``. Detectors never see raw bytes or raw event JSON; what they
need travels in the typed top-level fields or in ``fields`` (documented per kind below).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, NamedTuple


class ActivityKind(StrEnum):
    """Closed set of activity kinds. A new kind is a protocol change, with its own tests."""

    # Logons (4624/4625/4634/4648/4672, Samba auth audit)
    LOGON = "logon.success"
    LOGON_FAILED = "logon.failed"
    LOGOFF = "logon.logoff"
    LOGON_EXPLICIT = "logon.explicit_credentials"
    LOGON_PRIVILEGED = "logon.special_privileges"
    # Kerberos (wire and 4768/4769/4770/4771)
    KERBEROS_AS = "kerberos.as_request"
    KERBEROS_TGS = "kerberos.tgs_request"
    KERBEROS_RENEW = "kerberos.ticket_renewed"
    KERBEROS_PREAUTH_FAILED = "kerberos.preauth_failed"
    KERBEROS_AP = "kerberos.ap_request"
    # NTLM (wire and 4776/8004)
    NTLM_VALIDATION = "ntlm.validation"
    NTLM_AUTH = "ntlm.auth"
    # Directory (4662, 5136/5137/5141, 1644, 4794, 4765)
    DS_ACCESS = "ds.object_access"
    DS_MODIFY = "ds.object_modified"
    DS_CREATE = "ds.object_created"
    DS_DELETE = "ds.object_deleted"
    DSRM_PASSWORD_SET = "account.dsrm_password_set"
    SID_HISTORY_ADDED = "account.sid_history_added"
    SAM_ACCESS = "sam.object_access"
    # AD CS: the certification authority's own Security events ("Audit Certification
    # Services", 4882-4900). ``host`` is the CA; ``actor`` who acted (Subject, else the event's
    # user SID); ``fields["adcs"]`` names the event's operation (request_received,
    # security_permissions_changed, ...). Requests: ``target`` the requester, fields
    # request_id, requester, request_attributes, template, client_machine (``ccm:``),
    # disposition, cert_subject. Changes: audit_filter, table, filter, rows_deleted, and every
    # other EventData item in ``details``.
    ADCS_REQUEST = "adcs.certificate_requested"  # 4886
    ADCS_ISSUED = "adcs.certificate_issued"  # 4887
    ADCS_DENIED = "adcs.certificate_denied"  # 4888
    ADCS_SECURITY_CHANGED = "adcs.security_changed"  # 4882 CA permissions, 4890 cert managers
    ADCS_AUDIT_FILTER_CHANGED = "adcs.audit_filter_changed"  # 4885
    ADCS_CONFIG_CHANGED = "adcs.configuration_changed"  # 4891 configuration, 4892 property
    ADCS_ROWS_DELETED = "adcs.database_rows_deleted"  # 4896
    ADCS_TEMPLATE_LOADED = "adcs.template_loaded"  # 4898
    ADCS_TEMPLATE_CHANGED = "adcs.template_changed"  # 4899 template, 4900 its security
    # AD FS: the federation server's audits (providers "AD FS Auditing" / "AD FS"). ``host`` is
    # the AD FS server; ``fields["adfs"]`` names the operation and ``instance_id`` ties the
    # events of one request together (a 1202 and its 501, a 307 and its 510). Token and
    # credential audits: ``actor`` the user, ``src_ip`` the first client address, ``outcome``,
    # and the AuditBase items (relying_party, primary_auth, user_agent, ...); 501: ``claims``
    # {type: [values]} and ``certificate`` (the certificatecontext claims); 307/510:
    # ``details`` (lines). The AD FS DKM key is read on a DC: that is ``ds.object_access``.
    ADFS_TOKEN = "adfs.token_request"  # 1200 issued, 1201 failed
    ADFS_CREDENTIAL = "adfs.credential_validation"  # 1202 validated, 1203 failed
    ADFS_CLAIMS = "adfs.claims"  # 501
    ADFS_CONFIG_CHANGED = "adfs.configuration_changed"  # 307
    ADFS_DETAILS = "adfs.additional_information"  # 510 (the details of a 307, among others)
    # Accounts and groups (4720-4726, 4738, 4741-4743, 4727-4758, 4781)
    ACCOUNT_CREATED = "account.created"
    ACCOUNT_ENABLED = "account.enabled"
    ACCOUNT_DISABLED = "account.disabled"
    ACCOUNT_DELETED = "account.deleted"
    ACCOUNT_CHANGED = "account.changed"
    ACCOUNT_RENAMED = "account.renamed"
    PASSWORD_CHANGED = "account.password_changed"
    PASSWORD_RESET = "account.password_reset"
    COMPUTER_CREATED = "computer.created"
    COMPUTER_CHANGED = "computer.changed"
    COMPUTER_DELETED = "computer.deleted"
    GROUP_CREATED = "group.created"
    GROUP_CHANGED = "group.changed"
    GROUP_DELETED = "group.deleted"
    GROUP_MEMBER_ADDED = "group.member_added"
    GROUP_MEMBER_REMOVED = "group.member_removed"
    # Host activity (5140/5145, 7045/4697, 4698/4702, 1102/104, 4688/Sysmon 1, 5805, RPC ETW)
    SHARE_ACCESS = "smb.share_access"
    SHARE_FILE_ACCESS = "smb.file_access"
    SERVICE_INSTALLED = "service.installed"
    TASK_CREATED = "task.created"
    TASK_UPDATED = "task.updated"
    TASK_DELETED = "task.deleted"
    LOG_CLEARED = "log.cleared"
    PROCESS_CREATED = "process.created"
    NETLOGON_AUTH_DENIED = "netlogon.auth_denied"
    RPC_CALL = "rpc.call"  # wire: one DCE/RPC request (+ its response status); ETW RPC event 6
    RPC_BIND = "rpc.bind"
    # Network-only (the wire reveals them; no event equivalent)
    SMB_NEGOTIATE = "smb.negotiate"
    SMB_SESSION = "smb.session_setup"
    SMB_TREE_CONNECT = "smb.tree_connect"
    SMB_FILE_OPEN = "smb.file_open"
    SMB_FILE_TRANSFER = "smb.file_transfer"  # bytes read/written per open file, at its close
    LDAP_BIND = "ldap.bind"
    LDAP_SEARCH = "ldap.search"  # also event 1644 (expensive/inefficient search logging)
    DNS_QUERY = "dns.query"
    RADIUS_ACCOUNTING = "radius.accounting"


class Account(NamedTuple):
    """An account as a record names it: any part may be missing (a tuple: cheap, hashable)."""

    name: str | None = None
    domain: str | None = None
    sid: str | None = None

    def __str__(self) -> str:
        if self.name and self.domain:
            return f"{self.domain}\\{self.name}"
        return self.name or self.sid or "?"

    @property
    def is_machine(self) -> bool:
        """True for computer accounts (sAMAccountName ends with ``$``)."""
        return bool(self.name) and self.name.endswith("$")  # type: ignore[union-attr]


class Origin(NamedTuple):
    """Where an activity came from, for evidence: file, and record number or frame."""

    source: str  # file path (archive members as ``archive.zip!member``) or ``live:IF``
    record: int | None = None  # EVTX EventRecordID, JSON line number, pcap frame number
    format: str = ""  # evtx, json-evtx, json-nxlog, json-winlogbeat, json-ecs, pcap, samba

    def __str__(self) -> str:
        return f"{self.source}#{self.record}" if self.record is not None else self.source


@dataclass(slots=True)
class Activity:
    """One normalized activity. ``ts`` is timezone-aware UTC."""

    ts: datetime
    kind: ActivityKind
    origin: Origin
    host: str | None = None  # the computer that recorded it (event log Computer, or pcap server)
    src_ip: str | None = None
    src_port: int | None = None
    src_host: str | None = None
    dst_ip: str | None = None
    dst_port: int | None = None
    dst_host: str | None = None
    actor: Account | None = None
    target: Account | None = None
    outcome: str | None = None  # "success" | "failure" | None when unknown
    status: int | None = None  # protocol/event result code (NTSTATUS, Kerberos error, ...)
    event_id: int | None = None  # Windows event ID when it came from a log
    protocol: str | None = None  # kerberos, ntlm, smb, ldap, ... for the wire; "event" for logs
    fields: dict[str, Any] = field(default_factory=dict)
    uid: str = ""  # stable identity of the underlying record: re-ingest does not duplicate

    def __post_init__(self) -> None:
        if not self.uid:
            self.uid = self.compute_uid()

    def compute_uid(self) -> str:
        """A stable hash of what makes this record unique (not of the file it was read from).

        A logged event is identified by its computer, channel, record ID and event ID (the same
        event read from an EVTX file and from its JSON export gets the same uid); anything else
        by its content."""
        f = self.fields
        rid = f.get("record_id")
        if rid is not None and self.event_id is not None:
            key = (f"{self.host}|{f.get('channel')}|{rid}|{self.event_id}|{self.kind!s}|"
                   f"{f.get('sub', '')}")
            return hashlib.blake2b(key.encode("utf-8", "surrogatepass"),
                                   digest_size=12).hexdigest()
        key = (  # the POSIX time (exact float repr) costs a fifth of isoformat(); kind!s
            # (str() of the StrEnum, its value) skips Enum.__format__: same text, half the cost
            f"{self.kind!s}|{self.ts.timestamp()!r}|{self.host}|{self.event_id}|"
            f"{f.get('record_id', self.origin.record)}|{self.src_ip}|{self.src_port}|"
            f"{self.dst_ip}|{self.dst_port}|{self.actor}|{self.target}|{f.get('sub', '')}"
        )
        return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``dcwatch activities --format jsonl``)."""
        d: dict[str, Any] = {
            "uid": self.uid,
            "ts": iso(self.ts),
            "kind": str(self.kind),
            "host": self.host,
        }
        for name in ("src_ip", "src_port", "src_host", "dst_ip", "dst_port", "dst_host"):
            v = getattr(self, name)
            if v is not None:
                d[name] = v
        if self.actor:
            d["actor"] = _account_dict(self.actor)
        if self.target:
            d["target"] = _account_dict(self.target)
        for name in ("outcome", "status", "event_id", "protocol"):
            v = getattr(self, name)
            if v is not None:
                d[name] = v
        if self.fields:
            d["fields"] = {k: v for k, v in self.fields.items() if v is not None}
        d["origin"] = {"source": self.origin.source, "record": self.origin.record,
                       "format": self.origin.format}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Activity:
        """Inverse of :meth:`to_dict` (store and bus round trips)."""
        o = d.get("origin") or {}
        return cls(
            ts=parse_ts(d["ts"]),
            kind=ActivityKind(d["kind"]),
            origin=Origin(o.get("source", ""), o.get("record"), o.get("format", "")),
            host=d.get("host"),
            src_ip=d.get("src_ip"),
            src_port=d.get("src_port"),
            src_host=d.get("src_host"),
            dst_ip=d.get("dst_ip"),
            dst_port=d.get("dst_port"),
            dst_host=d.get("dst_host"),
            actor=Account(**d["actor"]) if d.get("actor") else None,
            target=Account(**d["target"]) if d.get("target") else None,
            outcome=d.get("outcome"),
            status=d.get("status"),
            event_id=d.get("event_id"),
            protocol=d.get("protocol"),
            fields=d.get("fields") or {},
            uid=d.get("uid", ""),
        )


def _account_dict(a: Account) -> dict[str, str]:
    return {k: v for k, v in (("name", a.name), ("domain", a.domain), ("sid", a.sid)) if v}


def iso(ts: datetime) -> str:
    """ISO 8601 UTC with a Z, microseconds kept."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_ts(value: str) -> datetime:
    """Parse the timestamp shapes the sources use into aware UTC datetimes.

    Accepts ISO 8601 with ``Z`` or an offset, ``... UTC`` suffixes (evtx), a space instead of
    ``T`` (NXLog ``EventTime``) and 7-digit fractions (Windows ``SystemTime``).
    """
    if len(value) == 27 and value[-1] == "Z" and value[10] == "T":  # evtx: 6 digits + Z
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    s = value.strip()
    if s.endswith(" UTC"):
        s = s[:-4]
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    # Python accepts at most 6 fractional digits: cut Windows' 7th (100 ns) digit.
    dot = s.find(".")
    if dot != -1:
        end = dot + 1
        while end < len(s) and s[end].isdigit():
            end += 1
        if end - dot - 1 > 6:
            s = s[: dot + 7] + s[end:]
    ts = datetime.fromisoformat(s)
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC)
