"""CLDAP "LDAP ping" answers (MS-ADTS 6.3.3): the Netlogon opcode says whether a User exists."""

from __future__ import annotations

from pathlib import Path

import pytest

from dcwatch.protocols import ldap
from dcwatch.sources.base import SourceStats
from dcwatch.sources.pcap import read_capture

REC = Path(__file__).resolve().parent.parent / "data" / "recordings" / "account_enumeration_ldap"


def _tlv(tag: int, body: bytes) -> bytes:
    assert len(body) < 0x80
    return bytes([tag, len(body)]) + body


def _entry(attr: bytes, value: bytes, dn: bytes = b"") -> bytes:
    attrs = _tlv(0x30, _tlv(0x30, _tlv(0x04, attr) + _tlv(0x31, _tlv(0x04, value))))
    return _tlv(0x30, _tlv(0x02, b"\x07") + _tlv(0x64, _tlv(0x04, dn) + attrs))


@pytest.mark.parametrize(("value", "opcode"), [(b"\x17\x00" + b"\x00" * 20, 23),
                                               (b"\x19\x00" + b"\x00" * 20, 25)])
def test_netlogon_opcode_of_a_search_entry(value: bytes, opcode: int) -> None:
    op, _ = ldap.parse_message(_entry(b"netlogon", value), 0, len(_entry(b"netlogon", value)))
    assert op.op == ldap.SEARCH_ENTRY
    assert op.info["netlogon_opcode"] == opcode


def test_other_attributes_and_entries_carry_no_opcode() -> None:
    msg = _entry(b"dnsHostName", b"dc01.contoso.local")
    op, _ = ldap.parse_message(msg, 0, len(msg))
    assert "netlogon_opcode" not in op.info
    # only the rootDSE answers an LDAP ping: other entries are not looked into
    msg = _entry(b"netlogon", b"\x17\x00" + b"\x00" * 20, dn=b"CN=x,DC=contoso,DC=local")
    op, _ = ldap.parse_message(msg, 0, len(msg))
    assert "netlogon_opcode" not in op.info


@pytest.mark.skipif(not (REC / "dc.pcap").exists(), reason="lab recording not present")
def test_samba_answers_known_and_unknown_users() -> None:
    """Samba 4.17: 23 (LOGON_SAM_LOGON_RESPONSE_EX) for the 6 real accounts pinged with
    AAC=0x10, 25 (LOGON_SAM_USER_UNKNOWN_EX) for the 34 made-up names."""
    with open(REC / "dc.pcap", "rb") as f:
        acts = [a for a in read_capture(f, "dc.pcap", SourceStats("t")) if a.kind == "ldap.search"]
    assert len(acts) == 40
    assert all(a.fields["cldap"] for a in acts)
    known = {a.fields["filter"].split("(User=")[1].split(")")[0]
             for a in acts if a.fields["netlogon_opcode"] == 23}
    assert known == {"alice", "bob", "carol", "svc_sql", "da.admin", "administrator"}
    unknown = [a for a in acts if a.fields["netlogon_response"] == "LOGON_SAM_USER_UNKNOWN_EX"]
    assert len(unknown) == 34


def _name(*labels: str) -> bytes:
    return b"".join(bytes([len(x)]) + x.encode() for x in labels) + b"\x00"


def test_the_dc_names_itself_in_its_answer() -> None:
    """NETLOGON_SAM_LOGON_RESPONSE_EX (MS-ADTS 6.3.1.9): names with RFC 1035 compression."""
    head = b"\x17\x00" + b"\x00\x00" + (0x13FD).to_bytes(4, "little") + b"\x11" * 16
    forest = _name("contoso", "local")  # at offset 24
    v = (head + forest + b"\xc0\x18"  # DnsDomainName: a pointer to the forest name
         + bytes([4]) + b"dc01" + b"\xc0\x18"  # DnsHostName: dc01 + pointer
         + _name("CONTOSO") + _name("DC01") + _name("alice") + _name("Site")
         + b"\x00"  # ClientSiteName: empty
         + b"\x05\x00\x00\x00\xff\xff\xff\xff")  # NtVersion, LmNtToken, Lm20Token
    got = ldap.netlogon_names(v)
    assert got["netlogon_forest"] == got["netlogon_domain_dns"] == "contoso.local"
    assert got["netlogon_dc_dns"] == "dc01.contoso.local"
    assert (got["netlogon_domain"], got["netlogon_dc_name"], got["netlogon_user"]) == \
        ("CONTOSO", "DC01", "alice")
    assert got["netlogon_flags"] & 0x10  # DS_DS_FLAG
    assert ldap.netlogon_names(b"\x13\x00" + v[2:]) == {}  # an older response shape
    loop = head + b"\xc0\x18" + b"\x00" * 8  # a pointer to itself
    assert ldap.netlogon_names(loop) == {}
    assert ldap.netlogon_names(v[:30]) == {}  # truncated


def test_the_lab_dc_is_known_by_name_from_ldap_pings_alone() -> None:
    from dcwatch.pipeline import ScanOptions, scan

    pcap = REC / "dc.pcap"
    if not pcap.exists():
        pytest.skip("recording absent")
    res = scan(ScanOptions([str(pcap)]))
    assert res.resolver is not None
    assert res.resolver.dc_status("10.77.0.10")[0] is True
    (alert,) = [a for a in res.alerts if a.external_id == 2437]
    assert "against DC01" in alert.description
