"""NTLMSSP and GSS-API/SPNEGO parsing: impacket-built messages, spec edge cases, bounds."""

from __future__ import annotations

import struct

import pytest

from dcwatch.errors import Malformed
from dcwatch.protocols import gssapi, ntlm

pytest.importorskip("impacket")
from impacket import ntlm as intlm
from impacket.spnego import SPNEGO_NegTokenInit, SPNEGO_NegTokenResp, TypesMech


def _type2() -> bytes:
    """A server CHALLENGE with target info and a timestamp (what Windows sends)."""
    flags = (
        ntlm.NEGOTIATE_UNICODE
        | 0x00080000
        | 0x00800000
        | 0x00000200
        | 0x00008000
        | 0x02000000
        | 0x20000000
    )
    target = "CORP".encode("utf-16-le")
    info = b"".join(
        struct.pack("<HH", k, len(v)) + v
        for k, v in (
            (ntlm.AV_NB_COMPUTER_NAME, "DC01".encode("utf-16-le")),
            (ntlm.AV_NB_DOMAIN_NAME, "CORP".encode("utf-16-le")),
            (ntlm.AV_DNS_COMPUTER_NAME, "dc01.corp.local".encode("utf-16-le")),
            (ntlm.AV_TIMESTAMP, struct.pack("<Q", 133_000_000_000_000_000)),
        )
    ) + struct.pack("<HH", 0, 0)
    head = ntlm.SIGNATURE + struct.pack("<I", 2) + struct.pack("<HHI", len(target), len(target), 56)
    head += struct.pack("<I", flags) + b"\x11" * 8 + bytes(8)
    head += struct.pack("<HHI", len(info), len(info), 56 + len(target)) + bytes(8)
    return head + target + info


def test_negotiate_challenge_authenticate_v2() -> None:
    t1 = intlm.getNTLMSSPType1("WS01", "CORP")
    neg = ntlm.parse(t1.getData())
    assert isinstance(neg, ntlm.NtlmNegotiate)
    chal = ntlm.parse(_type2())
    assert isinstance(chal, ntlm.NtlmChallenge)
    assert chal.target_info["nb_computer_name"] == "DC01"
    t3, _key = intlm.getNTLMSSPType3(t1, _type2(), "alice", "Passw0rd!", "CORP", use_ntlmv2=True)
    auth = ntlm.parse(t3.getData())
    assert isinstance(auth, ntlm.NtlmAuthenticate)
    assert (auth.user, auth.domain, auth.ntlm_version) == ("alice", "CORP", "v2")
    assert auth.timestamp is not None
    assert auth.target_spn == "cifs/dc01.corp.local"  # impacket adds MsvAvTargetName
    assert str(auth.account) == "CORP\\alice"
    assert "NEGOTIATE_UNICODE" in ntlm.flag_names(auth.flags)


def test_authenticate_v1() -> None:
    t1 = intlm.getNTLMSSPType1("WS01", "CORP")
    t3, _ = intlm.getNTLMSSPType3(t1, _type2(), "bob", "pw", "CORP", use_ntlmv2=False)
    auth = ntlm.parse(t3.getData())
    assert auth.ntlm_version == "v1"
    assert auth.nt_response_len == 24
    assert not auth.mic_present


def _auth_blob(
    user: str = "",
    nt: bytes = b"",
    lm: bytes = b"",
    flags: int = 0x1,
    av: bytes | None = None,
    mic: bool = False,
) -> bytes:
    if av is not None:
        nt = b"\x00" * 16 + b"\x01\x01" + bytes(6) + bytes(8) + b"\x22" * 8 + bytes(4) + av
    head = 88 if mic else 64
    payload = b""
    fields = []
    for raw in (lm, nt, b"", user.encode("utf-16-le"), b"", b""):
        fields.append(struct.pack("<HHI", len(raw), len(raw), head + len(payload)))
        payload += raw
    msg = ntlm.SIGNATURE + struct.pack("<I", 3) + b"".join(fields) + struct.pack("<I", flags)
    msg += bytes(head - len(msg))
    return msg + payload


def test_anonymous_and_mic_and_spn() -> None:
    anon = ntlm.parse(_auth_blob(lm=b"\x00"))
    assert anon.anonymous
    assert anon.account is None
    av = (
        struct.pack("<HHI", ntlm.AV_FLAGS, 4, ntlm.AV_FLAG_MIC_PRESENT)
        + struct.pack("<HH", ntlm.AV_TARGET_NAME, 20)
        + "cifs/dc01\x00".encode("utf-16-le")
        + struct.pack("<HH", ntlm.AV_CHANNEL_BINDINGS, 16)
        + b"\x07" * 16
        + struct.pack("<HH", 0, 0)
    )
    m = ntlm.parse(_auth_blob("eve", av=av, mic=True))
    assert m.mic_present
    assert m.mic_field
    assert m.channel_bindings_present
    assert m.target_spn == "cifs/dc01\x00".rstrip("\x00") or m.target_spn.startswith("cifs/dc01")
    no_room = ntlm.parse(_auth_blob("eve", av=av, mic=False))
    assert not no_room.mic_present  # MsvAvFlags says MIC, but the message has no MIC field


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"NTLMSSP\x00",
        b"NTLMSSP\x00\x09\x00\x00\x00",
        b"XXXXXXXX\x01\x00\x00\x00",
        ntlm.SIGNATURE + struct.pack("<I", 3) + struct.pack("<HHI", 500, 500, 64) + bytes(52),
    ],
)
def test_bad_blobs_raise_malformed(blob: bytes) -> None:
    with pytest.raises(Malformed, match="ntlm"):
        ntlm.parse(blob)


def test_spnego_init_and_resp() -> None:
    t1 = intlm.getNTLMSSPType1("WS01", "CORP")
    init = SPNEGO_NegTokenInit()
    init["MechTypes"] = [TypesMech["NTLMSSP - Microsoft NTLM Security Support Provider"]]
    init["MechToken"] = t1.getData()
    tok = gssapi.unwrap(init.getData())
    assert tok.spnego == "init"
    assert tok.mech == "ntlm"
    assert tok.mech_types == ("ntlm",)
    resp = SPNEGO_NegTokenResp()
    resp["NegState"] = b"\x02"
    resp["SupportedMech"] = TypesMech["NTLMSSP - Microsoft NTLM Security Support Provider"]
    tok = gssapi.unwrap(resp.getData())
    assert tok.spnego == "resp"
    assert tok.neg_state == "reject"
    with pytest.raises(Malformed, match="gssapi"):
        gssapi.unwrap(b"\x60\x05\x06\x03\x2a\x03\x04")


# ---------------------------------------------------------------- server names (name resolution)


def test_auth_activity_names_the_server_from_the_challenge() -> None:
    """MsvAvNbComputerName / DnsComputerName / DnsDomainName of the CHALLENGE reach ntlm.auth."""
    from datetime import UTC, datetime

    from dcwatch.model.activity import Origin

    chal = ntlm.parse(_type2())
    assert isinstance(chal, ntlm.NtlmChallenge)
    t1 = intlm.getNTLMSSPType1("WS01", "CORP")
    t3, _key = intlm.getNTLMSSPType3(t1, _type2(), "alice", "Passw0rd!", "CORP", use_ntlmv2=True)
    auth = ntlm.parse(t3.getData())
    assert isinstance(auth, ntlm.NtlmAuthenticate)
    kw = {"ts": datetime(2024, 1, 1, tzinfo=UTC), "origin": Origin("t.pcap", 3, "pcap"),
          "via": "dcerpc"}
    act = ntlm.auth_activity(auth, challenge=chal, **kw)
    f = act.fields
    assert (f["server_netbios_name"], f["server_dns_name"]) == ("DC01", "dc01.corp.local")
    assert f["server_dns_domain"] is None  # this CHALLENGE has no MsvAvDnsDomainName
    assert f["workstation"] == auth.workstation  # the client's name stays where it was
    bare = ntlm.auth_activity(auth, **kw).fields  # no CHALLENGE seen (capture started late)
    assert bare["server_netbios_name"] is None
    assert bare["server_dns_name"] is None


def test_auth_activity_carries_av_flags_and_mic_field() -> None:
    """ntlm.auth keeps MsvAvFlags and the MIC field's presence apart (2039 needs both)."""
    from datetime import UTC, datetime

    from dcwatch.model.activity import Origin

    av = struct.pack("<HHI", ntlm.AV_FLAGS, 4, ntlm.AV_FLAG_MIC_PRESENT) + struct.pack(
        "<HH", 0, 0)
    kw = {"ts": datetime(2024, 1, 1, tzinfo=UTC), "origin": Origin("t.pcap", 1, "pcap"),
          "via": "smb"}
    stripped = ntlm.auth_activity(ntlm.parse(_auth_blob("eve", av=av, mic=False)), **kw)
    assert (stripped.fields["av_flags"], stripped.fields["mic_field"]) == (2, False)
    kept = ntlm.auth_activity(ntlm.parse(_auth_blob("eve", av=av, mic=True)), **kw)
    assert (kept.fields["av_flags"], kept.fields["mic_field"]) == (2, True)


def _otrf_ntlm(name: str) -> list:
    from .oracle_util import run_or_skip

    return [a for a in run_or_skip(name).activities if a.kind.value == "ntlm.auth"]


@pytest.mark.parametrize("name", ["smbexec_ws5", "smbexec_ws6"])
def test_smb_ntlm_auth_carries_the_server_names(name: str) -> None:
    """SMB SESSION_SETUP: the CHALLENGE (STATUS_MORE_PROCESSING_REQUIRED) names WORKSTATION6."""
    acts = _otrf_ntlm(name)
    assert acts
    for a in acts:
        assert a.fields["server_netbios_name"] == "WORKSTATION6"
        assert a.fields["server_dns_name"] == "WORKSTATION6.theshire.local"
        assert a.fields["server_dns_domain"] == "theshire.local"
        assert a.fields["workstation"] == "WORKSTATION5"


@pytest.mark.tshark
@pytest.mark.parametrize("name", ["smbexec_ws5", "smbexec_ws6"])
def test_server_names_match_tshark(name: str) -> None:
    """The names match tshark's ntlmssp.challenge.target_info fields of the same capture."""
    import shutil
    import subprocess
    import tempfile

    from .smbrpc_streams import pcap_bytes

    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed")
    acts = _otrf_ntlm(name)
    got = pcap_bytes(name)
    assert got is not None
    fields = ["ntlmssp.challenge.target_info.nb_computer_name",
              "ntlmssp.challenge.target_info.dns_computer_name",
              "ntlmssp.challenge.target_info.dns_domain_name"]
    with tempfile.NamedTemporaryFile(suffix=".pcap") as tmp:
        tmp.write(got[1])
        tmp.flush()
        cmd = ["tshark", "-r", tmp.name, "-Y", "ntlmssp.messagetype == 2", "-T", "fields"]
        for f in fields:
            cmd += ["-e", f]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    expected = {tuple(line.split("\t")) for line in out.splitlines() if line}
    assert expected
    assert {(a.fields["server_netbios_name"], a.fields["server_dns_name"],
             a.fields["server_dns_domain"]) for a in acts} <= expected
