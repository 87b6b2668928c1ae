"""Values the LDAP decoder and the Samba audit normaliser keep for takeover-prone attributes."""

from __future__ import annotations

from pathlib import Path

import pytest

from dcwatch.model.activity import ActivityKind as K
from dcwatch.pipeline import ActivityStream

REC = Path(__file__).resolve().parents[1] / "data" / "recordings" / "honeytoken_tamper"


@pytest.mark.parametrize("name", ["dc.pcap", "samba-audit.jsonl"])
def test_mfa_phone_written_to_the_decoy_is_kept(name: str) -> None:
    """The lab's honeytoken_tamper run: da.admin sets mobile/telephoneNumber of backup.admin;
    wire and audit both carry the new value (the audit as ``action:value``)."""
    path = REC / name
    if not path.exists():
        pytest.skip("lab recording honeytoken_tamper not present")
    mods = [a for a in ActivityStream([str(path)]) if a.kind is K.DS_MODIFY
            and "mobile" in (a.fields.get("attributes") or [])]
    assert len(mods) == 1
    (value,) = mods[0].fields["values"]["mobile"]
    assert value.rsplit(":", 1)[-1] == "+1 555 0100"


@pytest.mark.parametrize("name", ["dc.pcap", "samba-audit.jsonl"])
def test_rbcd_descriptor_rendered_as_sddl(name: str) -> None:
    """The lab's rbcd_machine_write run (Samba 4.22): the binary
    msDS-AllowedToActOnBehalfOfOtherIdentity value rbcd.py writes is rendered as SDDL on the
    wire and in the audit, as 5136 logs it, so the SID allowed to delegate is visible."""
    path = REC.parent / "rbcd_machine_write" / name
    if not path.exists():
        pytest.skip("lab recording rbcd_machine_write not present")
    attr = "msDS-AllowedToActOnBehalfOfOtherIdentity"
    mods = [a for a in ActivityStream([str(path)]) if a.kind is K.DS_MODIFY
            and attr in (a.fields.get("attributes") or [])]
    assert len(mods) == 1
    (value,) = mods[0].fields["values"][attr]
    sddl = value.split(":", 1)[1] if value.startswith("replace:") else value
    assert sddl.startswith("O:S-1-5-32-544D:(A;;0xf01ff;;;S-1-5-21-")
    assert sddl.endswith("-1116)")


@pytest.mark.parametrize(("raw", "text"), [
    (b"corp.local", "corp.local"),
    (b"a*b(c)d\\e", "a\\2ab\\28c\\29d\\5ce"),
    (b"\x06\x00\x00\x00", "\\06\\00\\00\\00"),  # NtVer of a CLDAP ping
    (b"tab\there\x7f", "tab\\09here\\7f"),
    ("café".encode(), "café"),
    (b"\xff\xfe", "\\ff\\fe"),  # not UTF-8: every byte escaped
])
def test_filter_value_escaping(raw: bytes, text: str) -> None:
    """RFC 4515 section 3: ``* ( ) \\``, controls and DEL as ``\\xx``; other text as is."""
    from dcwatch.protocols.ldap import escape_value

    assert escape_value(raw) == text
