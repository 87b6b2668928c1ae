"""CEF messages (product.md section 9, alerts.md section 0.6) and syslog delivery.

``format_cef`` renders one alert as ``CEF:0|vendor|product|version|class|title|sev|ext``;
``frame_5424`` / ``frame_3164`` add the syslog header; :class:`SyslogSender` sends over UDP,
TCP (RFC 6587 octet counting) or TLS (RFC 5425). Targets are URLs:
``syslog+udp://host:514``, ``syslog+tcp://host:601?framing=3164``,
``syslog+tls://host:6514?ca=/path/ca.pem&verify=1``.
"""

from __future__ import annotations

import re
import socket
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

from dcwatch import __version__
from dcwatch.model.alert import Alert, EntityRef

SEVERITY = {"low": 3, "medium": 5, "high": 10}

# external ID -> (CEF signature class, app) as documented per alert in alerts.md.
CLASSES: dict[int, tuple[str, str]] = {
    2002: ("AbnormalProtocolSecurityAlert", "Kerberos"),
    2003: ("AccountEnumerationSecurityAlert", "Kerberos"),
    2004: ("LdapBruteForceSecurityAlert", "Ldap"),
    2006: ("DirectoryServicesReplicationSecurityAlert", "Drsr"),
    2007: ("DnsReconnaissanceSecurityAlert", "Dns"),
    2008: ("EncryptionDowngradeSecurityAlert", "Kerberos"),
    2009: ("GoldenTicketEncryptionDowngradeSecurityAlert", "Kerberos"),
    2010: ("EncryptionDowngradeSecurityAlert", "Kerberos"),
    2012: ("EnumerateSessionsSecurityAlert", "SrvSvc"),
    2013: ("ForgedPacSecurityAlert", "Kerberos"),
    2014: ("HoneytokenActivitySecurityAlert", ""),
    2017: ("PassTheHashSecurityAlert", "Ntlm"),
    2018: ("PassTheTicketSecurityAlert", "Kerberos"),
    2019: ("RemoteExecutionSecurityAlert", "ServiceControl"),
    2020: ("RetrieveDataProtectionBackupKeySecurityAlert", "LsaRpc"),
    2021: ("SamrReconnaissanceSecurityAlert", "Samr"),
    2022: ("GoldenTicketSecurityAlert", "Kerberos"),
    2023: ("BruteForceSecurityAlert", "Kerberos"),
    2024: ("AbnormalSensitiveGroupMembershipChangeSecurityAlert", "GroupMembershipChangeEvent"),
    2025: ("AbnormalVpnSecurityAlert", "VpnConnection"),
    2026: ("MaliciousServiceCreationSecurityAlert", "ServiceInstalledEvent"),
    2027: ("ForgedPrincipalSecurityAlert", "Kerberos"),
    2028: ("DirectoryServicesRoguePromotionSecurityAlert", "Ldap"),
    2029: ("DirectoryServicesRogueReplicationSecurityAlert", "Replication Activity"),
    2030: ("SmbDataExfiltrationSecurityAlert", "Smb"),
    2031: ("DnsSuspiciousCommunicationSecurityAlert", "DnsEvent"),
    2032: ("GoldenTicketSizeAnomalySecurityAlert", "Kerberos"),
    2034: ("AbnormalProtocolSecurityAlert", "Ntlm"),
    2036: ("DnsRemoteCodeExecutionSecurityAlert", "Dns"),
    2038: ("LdapSearchReconnaissanceSecurityAlert", "LdapSearch"),
    2039: ("AbnormalNtlmSigningSecurityAlert", "Ntlm"),
}
# app values by activity protocol (for alerts whose app depends on the data: Kerberos|Ntlm ...)
_APP_BY_PROTOCOL = {"kerberos": "Kerberos", "ntlm": "Ntlm", "ldap": "Ldap", "dns": "Dns",
                    "samr": "Samr", "srvsvc": "SrvSvc", "lsarpc": "LsaRpc", "drsuapi": "Drsr",
                    "smb": "Smb", "wmi": "Wmi", "svcctl": "ServiceControl"}
_MULTI_APP = {2003, 2019, 2023}


def alert_class(alert: Alert) -> str:
    """CEF signature ID: the documented class, else CamelCase(slug) + SecurityAlert."""
    known = CLASSES.get(alert.external_id)
    if known:
        return known[0]
    return "".join(p.capitalize() for p in re.split(r"[^A-Za-z0-9]+", alert.type) if p) + \
        "SecurityAlert"


def alert_app(alert: Alert) -> str:
    """The ``app`` extension: protocol or event source behind the alert."""
    known = CLASSES.get(alert.external_id, ("", ""))[1]
    if alert.external_id in _MULTI_APP or not known:
        for a in alert.activities:
            app = _APP_BY_PROTOCOL.get((a.protocol or "").lower())
            if app:
                return app
    return known


def escape_header(value: str) -> str:
    """CEF header field: escape backslash and pipe; no line breaks."""
    return (value.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ")
            .replace("\n", " "))


def escape_value(value: str) -> str:
    """CEF extension value: escape backslash, equals sign and line breaks."""
    return (value.replace("\\", "\\\\").replace("=", "\\=").replace("\r", "\\r")
            .replace("\n", "\\n"))


def unescape_value(value: str) -> str:
    """Inverse of :func:`escape_value` (also ``\\:`` as in MDI's URLs)."""
    out = []
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            nxt = value[i + 1]
            out.append({"n": "\n", "r": "\r"}.get(nxt, nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _ts(v: datetime) -> str:
    return v.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _source(alert: Alert) -> tuple[str | None, str | None, str | None]:
    """(suser, shost, shost fqdn) from the alert's entities."""
    def is_src(e: EntityRef) -> bool:
        role = e.role.lower()
        return "attacker" in role or role.startswith("source")

    users = [e for e in alert.entities if e.kind == "user"]
    user = next((e for e in users if is_src(e)), users[0] if users else None)
    host = next((e for e in alert.entities if e.kind in ("computer", "ip") and is_src(e)), None)
    suser = user.name if user else None
    shost = host.name if host else None
    fqdn = None
    if shost:
        for a in alert.activities:
            for name in (a.src_host, a.host):
                if name and "." in name and name.split(".", 1)[0].upper() == shost.upper():
                    fqdn = name
                    break
            if fqdn:
                break
    return suser, shost, fqdn


def format_cef(alert: Alert, trigger: str = "new", url: str | None = None,
               vendor: str = "dcwatch", product: str = "dcwatch",
               version: str = __version__, incident: str | None = None) -> str:
    """One alert as a CEF message (without syslog header)."""
    header = "|".join([
        "CEF:0", escape_header(vendor), escape_header(product), escape_header(version),
        escape_header(alert_class(alert)), escape_header(alert.title),
        str(SEVERITY.get(str(alert.severity), 5)),
    ])
    suser, shost, fqdn = _source(alert)
    ext: list[tuple[str, str]] = [("start", _ts(alert.first_seen))]
    app = alert_app(alert)
    if app:
        ext.append(("app", app))
    if shost:
        ext.append(("shost", shost))
    if suser:
        ext.append(("suser", suser))
    outcome = alert.evidence.get("outcome") if isinstance(alert.evidence, dict) else None
    if isinstance(outcome, str) and outcome.lower() in ("success", "failure"):
        ext.append(("outcome", outcome.capitalize()))
    ext.append(("msg", alert.description.replace("\r\n", "\n").replace("\n", "\r\n")))
    if alert.count > 1:
        ext.append(("cnt", str(alert.count)))
    ext.append(("externalId", str(alert.external_id)))
    if url:
        ext += [("cs1Label", "url"), ("cs1", url)]
    ext += [("cs2Label", "trigger"), ("cs2", trigger)]
    if fqdn:
        ext += [("cs3Label", "shostfqdn"), ("cs3", fqdn)]
    if incident:  # dcwatch: the attack story (incident) this alert belongs to
        ext += [("cs4Label", "incident"), ("cs4", incident)]
    body = " ".join(f"{k}={_cs1(v) if k == 'cs1' else escape_value(v)}" for k, v in ext)
    return f"{header}|{body}"


def _cs1(url: str) -> str:
    # MDI escapes ':' in the alert URL (product.md section 9); CEF readers unescape it.
    return escape_value(url).replace(":", "\\:")


def parse_cef(message: str) -> tuple[list[str], dict[str, str]]:
    """Split a CEF message into its 7 header fields and its extension dict (tests, tools)."""
    start = message.find("CEF:")
    if start < 0:
        raise ValueError("not a CEF message")
    s = message[start:]
    fields: list[str] = []
    cur: list[str] = []
    i = 0
    while len(fields) < 7 and i < len(s):
        ch = s[i]
        if ch == "\\" and i + 1 < len(s):
            cur.append(s[i + 1])
            i += 2
            continue
        if ch == "|":
            fields.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    rest = s[i:]
    ext: dict[str, str] = {}
    keys = list(re.finditer(r"(?:^| )([A-Za-z0-9_]+)=", rest))
    for n, m in enumerate(keys):
        end = keys[n + 1].start() if n + 1 < len(keys) else len(rest)
        ext[m.group(1)] = unescape_value(rest[m.end():end])
    return fields, ext


def _pri(facility: int, severity: int) -> str:
    return f"<{facility * 8 + severity}>"


def frame_5424(msg: str, msgid: str, hostname: str | None = None, facility: int = 1,
               severity: int = 5, ts: datetime | None = None, procid: str | None = None
               ) -> str:
    """RFC 5424: ``<PRI>1 TIMESTAMP HOST CEF PROCID MSGID - MSG`` (APP-NAME CEF, as MDI)."""
    import os

    host = _token(hostname or socket.gethostname(), 255)
    stamp = (ts or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return (f"{_pri(facility, severity)}1 {stamp} {host} CEF {procid or os.getpid()} "
            f"{_token(msgid, 32)} - {msg}")


def frame_3164(msg: str, hostname: str | None = None, facility: int = 1, severity: int = 5,
               ts: datetime | None = None) -> str:
    """RFC 3164 (BSD): ``<PRI>Mmm dd hh:mm:ss HOST MSG`` where MSG starts with ``CEF:``."""
    t = (ts or datetime.now(UTC)).astimezone(UTC)
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    stamp = f"{months[t.month - 1]} {t.day:>2} {t:%H:%M:%S}"
    host = _token((hostname or socket.gethostname()).split(".", 1)[0], 255)
    return f"{_pri(facility, severity)}{stamp} {host} {msg}"


def _token(value: str, limit: int) -> str:
    """A syslog header token: printable ASCII without spaces, '-' when empty."""
    v = "".join(ch for ch in value if 33 <= ord(ch) <= 126)[:limit]
    return v or "-"


@dataclass(slots=True)
class SyslogTarget:
    """Where and how to send syslog: parsed from a ``syslog+PROTO://host:port?...`` URL."""

    transport: str  # udp | tcp | tls
    host: str
    port: int
    framing: str = "5424"  # 5424 | 3164
    ca: str | None = None  # CA file for TLS verification
    verify: bool = True
    facility: int = 1

    @classmethod
    def parse(cls, url: str) -> SyslogTarget:
        """Parse a syslog target URL."""
        u = urlsplit(url)
        scheme = u.scheme.lower()
        if not scheme.startswith("syslog+") or scheme[7:] not in ("udp", "tcp", "tls"):
            raise ValueError(f"{url}: expected syslog+udp://, syslog+tcp:// or syslog+tls://")
        q = {k: v[-1] for k, v in parse_qs(u.query).items()}
        framing = q.get("framing", "5424")
        if framing not in ("5424", "3164"):
            raise ValueError(f"{url}: framing must be 5424 or 3164")
        transport = scheme[7:]
        return cls(transport, u.hostname or "127.0.0.1",
                   u.port or (6514 if transport == "tls" else 514), framing, q.get("ca"),
                   q.get("verify", "1") not in ("0", "false", "no"),
                   int(q.get("facility", "1")))


class SyslogSender:
    """Sends syslog messages to one target; TCP/TLS connections are reused and re-opened."""

    def __init__(self, target: SyslogTarget | str, timeout: float = 5.0,
                 hostname: str | None = None) -> None:
        self.target = SyslogTarget.parse(target) if isinstance(target, str) else target
        self.timeout = timeout
        self.hostname = hostname
        self._sock: socket.socket | None = None

    def frame(self, cef: str, msgid: str = "-", ts: datetime | None = None) -> str:
        """Wrap a CEF message in this target's syslog framing."""
        if self.target.framing == "3164":
            return frame_3164(cef, self.hostname, self.target.facility, ts=ts)
        return frame_5424(cef, msgid, self.hostname, self.target.facility, ts=ts)

    def send(self, message: str) -> None:
        """Send one framed message; raises OSError on failure (the caller retries)."""
        data = message.encode("utf-8")
        tg = self.target
        if tg.transport == "udp":
            with socket.socket(_family(tg.host), socket.SOCK_DGRAM) as s:
                s.settimeout(self.timeout)
                s.sendto(data[:65000], (tg.host, tg.port))
            return
        payload = f"{len(data)} ".encode() + data  # RFC 6587 octet counting / RFC 5425
        for attempt in (0, 1):
            try:
                if self._sock is None:
                    self._sock = self._connect()
                self._sock.sendall(payload)
                return
            except OSError:
                self.close()
                if attempt:
                    raise

    def _connect(self) -> socket.socket:
        tg = self.target
        raw = socket.create_connection((tg.host, tg.port), timeout=self.timeout)
        if tg.transport != "tls":
            return raw
        ctx = ssl.create_default_context(cafile=tg.ca) if tg.verify else \
            ssl._create_unverified_context()
        try:
            return ctx.wrap_socket(raw, server_hostname=tg.host)
        except Exception:
            raw.close()
            raise

    def close(self) -> None:
        """Close a kept connection."""
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET
