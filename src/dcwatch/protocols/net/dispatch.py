"""Server port -> application analyzer, for the ports a domain controller serves.

Analyzers written in parallel by other modules (SMB, DCE/RPC) are imported lazily: when their
module is missing the port is simply not decoded. Dynamic RPC ports (learned from the endpoint
mapper into ``FlowContext.rpc_ports``) go to the DCE/RPC analyzer.
"""

from __future__ import annotations

import importlib
from typing import Any

from dcwatch.protocols.dns import DnsAnalyzer
from dcwatch.protocols.kerberos_activity import KerberosAnalyzer
from dcwatch.protocols.ldap_activity import LdapAnalyzer
from dcwatch.protocols.net.tls import TlsNoteAnalyzer
from dcwatch.protocols.radius import RadiusAnalyzer

# IANA service names: kerberos 88, kpasswd 464, ldap 389, globalcatLDAP 3268, ldaps 636,
# globalcatLDAPssl 3269, domain 53, microsoft-ds 445, netbios-ssn 139, epmap 135.
TCP_STATIC: dict[int, Any] = {
    88: KerberosAnalyzer, 464: KerberosAnalyzer,
    389: LdapAnalyzer, 3268: LdapAnalyzer,
    636: TlsNoteAnalyzer, 3269: TlsNoteAnalyzer,
    53: DnsAnalyzer,
}
UDP_STATIC: dict[int, Any] = {
    88: KerberosAnalyzer, 464: KerberosAnalyzer,
    53: DnsAnalyzer,
    389: LdapAnalyzer,  # CLDAP (MS-ADTS 6.3.3 LDAP ping)
    1813: RadiusAnalyzer,  # radius-acct (RFC 2866): VPN accounting sent to NPS on the DC
}
# (module, class name, ports) of the other sensor half: optional.
OPTIONAL_TCP = (
    ("dcwatch.protocols.smb", "SmbAnalyzer", (445, 139)),
    ("dcwatch.protocols.dcerpc", "DceRpcTcpAnalyzer", (135,)),
)
DCERPC = ("dcwatch.protocols.dcerpc", "DceRpcTcpAnalyzer")


def _optional(module: str, name: str) -> Any | None:
    try:
        return getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None


def tcp_table() -> tuple[dict[int, Any], Any | None]:
    """TCP port table including the optional analyzers found, and the DCE/RPC class (or None)."""
    table = dict(TCP_STATIC)
    for module, name, ports in OPTIONAL_TCP:
        cls = _optional(module, name)
        if cls is not None:
            for p in ports:
                table[p] = cls
    return table, _optional(*DCERPC)


def udp_table() -> dict[int, Any]:
    """UDP port table."""
    return dict(UDP_STATIC)
