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
