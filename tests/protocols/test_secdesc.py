"""Binary security descriptors rendered as SDDL (nTSecurityDescriptor in LDAP writes)."""

from __future__ import annotations

import re
import struct
import uuid

from dcwatch.protocols import secdesc


def _sid(text: str) -> bytes:
    parts = text.split("-")
    subs = [int(x) for x in parts[3:]]
    return bytes([1, len(subs)]) + int(parts[2]).to_bytes(6, "big") + struct.pack(
        f"<{len(subs)}I", *subs)


def _ace(typ: int, flags: int, mask: int, sid: str, obj: str | None = None) -> bytes:
    body = struct.pack("<I", mask)
    if typ == 5:
        body += struct.pack("<I", 1 if obj else 0) + (uuid.UUID(obj).bytes_le if obj else b"")
    body += _sid(sid)
    return struct.pack("<BBH", typ, flags, 4 + len(body)) + body


def _sd(aces: list[bytes], owner: str = "S-1-5-32-544") -> bytes:
    acl = b"".join(aces)
    acl = struct.pack("<BBHHH", 2, 0, 8 + len(acl), len(aces), 0) + acl
    own = _sid(owner)
    head = struct.pack("<BBHIIII", 1, 0, 0x8004, 20, 0, 0, 20 + len(own))
    return head + own + acl


def test_owner_and_dacl_aces() -> None:
    guid = "bf967a86-0de6-11d0-a285-00aa003049e2"
    raw = _sd([_ace(0, 0x02, 0xF01FF, "S-1-5-21-1-2-3-1106"),
               _ace(5, 0x12, 0x20, "S-1-5-10", guid)])
    assert secdesc.to_sddl(raw) == (
        "O:S-1-5-32-544D:(A;CI;0xf01ff;;;S-1-5-21-1-2-3-1106)"
        f"(OA;CIID;0x20;{guid};;S-1-5-10)")


def test_cut_short_keeps_the_aces_that_fit() -> None:
    raw = _sd([_ace(0, 0, 0x4, "S-1-5-11"), _ace(0, 0, 0xF01FF, "S-1-5-21-1-2-3-1106")])
    assert secdesc.to_sddl(raw[:-6]) == "O:S-1-5-32-544D:(A;;0x4;;;S-1-5-11)"
    assert secdesc.to_sddl(b"\x01\x00") == ""
    assert secdesc.to_sddl(b"\x02" + bytes(40)) == ""


def test_ldap_modify_of_ntsecuritydescriptor_is_rendered() -> None:
    """The lab's adminsdholder_acl capture: the ModifyRequest's descriptor reaches the
    ds.object_modified activity as SDDL, with the ACE the attacker appended last."""
    from pathlib import Path

    import pytest

    from dcwatch.model.activity import ActivityKind as K
    from dcwatch.pipeline import ActivityStream

    rec = Path(__file__).resolve().parents[1] / "data/recordings/adminsdholder_acl/dc.pcap"
    if not rec.exists():
        pytest.skip("lab recording adminsdholder_acl not present")
    (mod,) = [a for a in ActivityStream([str(rec)]) if a.kind is K.DS_MODIFY]
    (sd,) = mod.fields["values"]["nTSecurityDescriptor"]
    assert sd.startswith("D:(")
    assert re.search(r"\(A;;0xf01ff;;;S-1-5-21-\d+-\d+-\d+-1106\)$", sd)  # alice (RID 1106)
