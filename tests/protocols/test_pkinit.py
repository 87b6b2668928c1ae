"""PKINIT client certificates (RFC 4556, RFC 5652, RFC 5280) vs tshark and cryptography.

The fixture ``tests/data/protocols/pkinit-as-req.pcap`` is synthetic (generator beside it); its
oracle ``pkinit-as-req.tshark.json`` comes from scripts/make_tshark_oracles.py.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from dcwatch.errors import InputError, Malformed, Truncated
from dcwatch.model.activity import ActivityKind
from dcwatch.protocols import kerberos, pkinit
from dcwatch.sources.base import SourceStats
from dcwatch.sources.pcap import read_capture

from . import wire as w

DATA = Path(__file__).resolve().parents[1] / "data" / "protocols"
PCAP = DATA / "pkinit-as-req.pcap"
ORACLE = DATA / "pkinit-as-req.tshark.json"
_TSHARK_ATTR = {"CN": "id-at-commonName", "DC": "dc", "O": "id-at-organizationName"}
CA = "CN=corp-CA,DC=corp,DC=local"


def tshark_dn(dn: str) -> str:
    """Our RFC 4514 text in tshark's label spelling."""
    return ",".join(f"{_TSHARK_ATTR[k]}={v}" for k, v in (p.split("=", 1) for p in dn.split(",")))


def tshark_time(iso: str) -> str:
    return f"{iso[:10]} {iso[11:19]} (UTC)"


def as_requests() -> dict[str, dict]:
    with PCAP.open("rb") as fh:
        acts = [a for a in read_capture(fh, str(PCAP), SourceStats(str(PCAP)))
                if a.kind is ActivityKind.KERBEROS_AS]
    return {str(a.origin.record): a.fields for a in acts}


def test_agrees_with_tshark_oracle() -> None:
    oracle = json.loads(ORACLE.read_text())["frames"]
    ours = as_requests()
    assert set(ours) == set(oracle) == {"4", "9", "11"}
    for no, exp in oracle.items():
        cert = ours[no].get("pkinit_cert")
        if "cms.certificates" not in exp:
            assert cert is None, f"frame {no}"
            continue
        assert cert["chain_length"] == int(exp["cms.certificates"][0])
        assert tshark_dn(cert["issuer"]) in exp["dn.issuer"]
        assert tshark_dn(cert["subject"]) in exp["dn.subject"]
        assert cert["serial"] in exp["x509af.serialNumber"]
        if "cms.serialNumber" in exp:  # the SignerInfo names the end-entity certificate
            assert cert["serial"] == exp["cms.serialNumber"][0]
        assert cert["san_dns"] == exp.get("x509ce.dNSName", [])
        assert cert["san_upns"] == exp.get("x509sat.UTF8String", [])
        times = exp.get("x509af.utcTime", []) + exp.get("x509af.generalizedTime", [])
        assert tshark_time(cert["not_before"]) in times
    assert ours["9"]["pkinit_cert"]["not_after"] == "2060-03-01T12:00:00Z"  # GeneralizedTime


def test_fields_of_the_smart_card_logon() -> None:
    cert = as_requests()["4"]["pkinit_cert"]
    assert cert["issuer"] == CA
    assert cert["subject"] == "CN=alice,CN=Users,DC=corp,DC=local"
    assert cert["serial"] == "610000000abc00ff"
    assert (cert["not_before"], cert["not_after"]) == ("2026-01-01T00:00:00Z",
                                                       "2027-01-01T00:00:00Z")
    assert cert["san_upn"] == "alice@corp.local"
    leaf = w.certificate(CA, "CN=alice,CN=Users,DC=corp,DC=local", 0x610000000ABC00FF,
                         upn="alice@corp.local", ski=bytes(range(20)))
    assert cert["thumbprint"] == hashlib.sha1(leaf).hexdigest()


@pytest.mark.tshark
@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
def test_oracle_is_current() -> None:
    out = subprocess.run(["tshark", "-r", str(PCAP), "-Y", "kerberos.msg_type == 10", "-T",
                          "fields", "-e", "x509af.serialNumber"], capture_output=True,
                         text=True, check=True).stdout.split("\n")
    oracle = json.loads(ORACLE.read_text())["frames"]
    want = [",".join(v.get("x509af.serialNumber", [])) for _, v in
            sorted(oracle.items(), key=lambda x: int(x[0]))]
    assert out[: len(want)] == want


def test_real_certificate_from_cryptography() -> None:
    crypto = pytest.importorskip("cryptography")
    del crypto
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "local"),
                      x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "corp"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "Ad, \"min\"")])
    upn = x509.OtherName(x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2.3"),
                         b"\x0c\x15administrator@corp.lo")
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(0x1234567890ABCDEF1234)
            .not_valid_before(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
            .not_valid_after(dt.datetime(2126, 1, 1, tzinfo=dt.UTC))
            .add_extension(x509.SubjectAlternativeName(
                [upn, x509.DNSName("dc01.corp.local")]), critical=False)
            .sign(key, hashes.SHA256()))
    der = cert.public_bytes(serialization.Encoding.DER)
    value = w.seq(w.tlv(0x80, w.signed_auth_pack((der,))))
    got, chain = pkinit.parse_pa_pk_as_req(value, 0, len(value))
    assert got is not None
    assert chain == 1
    assert got.subject == got.issuer == cert.subject.rfc4514_string()
    assert got.serial == f"{cert.serial_number:x}"
    assert got.thumbprint == cert.fingerprint(hashes.SHA1()).hex()
    assert got.not_before == "2026-01-01T00:00:00Z"
    assert got.not_after == "2126-01-01T00:00:00Z"
    assert got.san_upns == ("administrator@corp.lo",)
    assert got.san_dns == ("dc01.corp.local",)


def test_signer_by_subject_key_identifier_and_leaf_fallback() -> None:
    ca = w.certificate(CA, CA, 1)
    leaf = w.certificate(CA, "CN=bob", 2, ski=b"\x01\x02")
    sd = w.seq(w.tlv(0x80, w.signed_auth_pack((ca, leaf))))
    got, chain = pkinit.parse_pa_pk_as_req(sd, 0, len(sd))
    assert got is not None
    assert got.subject == "CN=bob"
    assert chain == 2


@pytest.mark.parametrize(("value", "error", "match"), [
    (w.seq(w.tlv(0x81, b"\x00")), Malformed, "signedAuthPack"),
    (w.seq(w.tlv(0x80, w.seq(w.oid("1.2.840.113549.1.7.1")))), Malformed, "contentType"),
    (w.seq(w.tlv(0x80, w.signed_auth_pack((w.seq(w.seq(w.integer(1))),)))), Malformed,
     "TBSCertificate"),
    (w.seq(w.tlv(0x80, w.signed_auth_pack((w.certificate(CA, CA, 1),)))[:-40]), Truncated,
     "exceeds"),
])
def test_errors(value: bytes, error: type[InputError], match: str) -> None:
    with pytest.raises(error, match=match):
        pkinit.parse_pa_pk_as_req(value, 0, len(value))


def test_undecodable_certificate_keeps_the_as_req() -> None:
    bad = w.pa(16, w.seq(w.tlv(0x80, b"\x30\x03\x06\x01\x00")))
    msg = kerberos.parse(w.kdc_req(10, "CORP.LOCAL", "krbtgt/CORP.LOCAL", cname="alice",
                                   padata=(bad,)))
    assert isinstance(msg, kerberos.KdcReq)
    assert msg.pa_types == (16,)
    assert msg.pkinit_cert is None
    assert msg.pkinit_error
    assert "pkinit" in msg.pkinit_error
