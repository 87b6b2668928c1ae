"""Hypothesis fuzzing of the LSARPC stub decoders: any stub, random or a mutated impacket-built
one, gives a dict or a dcwatch InputError, in NDR20 or NDR64, either byte order."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dcwatch.errors import InputError
from dcwatch.protocols.dcerpc import lsarpc, stubs
from dcwatch.protocols.dcerpc.ndr import NdrReader

pytest.importorskip("impacket")
from impacket.dcerpc.v5 import lsad, lsat
from impacket.dcerpc.v5.dtypes import NULL

FUZZ = settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
H = b"\x07" * 20


def _seeds() -> dict[tuple[bool, int], bytes]:
    """(request?, opnum) -> a valid stub marshalled by impacket."""
    op2 = lsad.LsarOpenPolicy2()
    op2["SystemName"] = "\\\\DC01\x00"
    for k in ("RootDirectory", "ObjectName", "SecurityDescriptor"):
        op2["ObjectAttributes"][k] = NULL
    qos = lsad.SECURITY_QUALITY_OF_SERVICE()
    qos["Length"], qos["ImpersonationLevel"], qos["ContextTrackingMode"] = 12, 2, 1
    qos["EffectiveOnly"] = 0
    op2["ObjectAttributes"]["SecurityQualityOfService"] = qos
    op2["DesiredAccess"] = lsad.POLICY_GET_PRIVATE_INFORMATION
    op2r = lsad.LsarOpenPolicy2Response()
    op2r["PolicyHandle"], op2r["ErrorCode"] = H, 0
    osec = lsad.LsarOpenSecret()
    osec["PolicyHandle"], osec["SecretName"] = H, "G$BCKUPKEY_PREFERRED"
    osec["DesiredAccess"] = lsad.SECRET_QUERY_VALUE
    osecr = lsad.LsarOpenSecretResponse()
    osecr["SecretHandle"], osecr["ErrorCode"] = H, 0
    qs = lsad.LsarQuerySecret()
    qs["SecretHandle"] = H
    qs["EncryptedCurrentValue"]["Buffer"] = NULL
    qs["EncryptedOldValue"]["Buffer"] = NULL
    qs["OldValueSetTime"] = NULL
    qsr = lsad.LsarQuerySecretResponse()
    qsr["EncryptedCurrentValue"]["Length"] = qsr["EncryptedCurrentValue"]["MaximumLength"] = 24
    qsr["EncryptedCurrentValue"]["Buffer"] = list(b"\x42" * 24)
    qsr["CurrentValueSetTime"] = 1
    qsr["EncryptedOldValue"] = NULL
    qsr["OldValueSetTime"] = NULL
    qsr["ErrorCode"] = 0
    rpd = lsad.LsarRetrievePrivateData()
    rpd["PolicyHandle"], rpd["KeyName"] = H, "G$BCKUPKEY_d5e2b34c-9f1e-4b0a-8c3d-112233445566"
    rpdr = lsad.LsarRetrievePrivateDataResponse()
    rpdr["EncryptedData"]["Length"] = rpdr["EncryptedData"]["MaximumLength"] = 16
    rpdr["EncryptedData"]["Buffer"] = list(b"\x99" * 16)
    rpdr["ErrorCode"] = 0
    names = lsat.LsarLookupNames()
    names["PolicyHandle"], names["Count"] = H, 1
    item = lsat.RPC_UNICODE_STRING()
    item["Data"] = "krbtgt"
    names["Names"].append(item)
    names["TranslatedSids"]["Sids"] = NULL
    names["LookupLevel"] = lsat.LSAP_LOOKUP_LEVEL.LsapLookupWksta
    sids = lsat.LsarLookupSids()
    sids["PolicyHandle"] = H
    sids["SidEnumBuffer"]["Entries"] = 1
    info = lsat.LSAPR_SID_INFORMATION()
    info["Sid"].fromCanonical("S-1-5-21-1-2-3-500")
    sids["SidEnumBuffer"]["SidInfo"].append(info)
    sids["TranslatedNames"]["Names"] = NULL
    sids["LookupLevel"] = lsat.LSAP_LOOKUP_LEVEL.LsapLookupWksta
    return {
        (True, 44): op2.getData(),
        (False, 44): op2r.getData(),
        (True, 28): osec.getData(),
        (False, 28): osecr.getData(),
        (True, 30): qs.getData(),
        (False, 30): qsr.getData(),
        (True, 43): rpd.getData(),
        (False, 43): rpdr.getData(),
        (True, 14): names.getData(),
        (True, 15): sids.getData(),
    }


SEEDS = _seeds()
OPS = [(True, op) for op in sorted(lsarpc.REQUESTS)] + [
    (False, op) for op in sorted(lsarpc.RESPONSES)
]


def _decode(request: bool, opnum: int, data: bytes, little: bool, ndr64: bool) -> None:
    dec = (stubs.request_decoder if request else stubs.response_decoder)("lsarpc", opnum)
    assert dec is not None
    with contextlib.suppress(InputError):
        out = dec(NdrReader(data, little, ndr64=ndr64))
        assert isinstance(out, dict)


def test_seeds_decode() -> None:
    for (request, opnum), data in SEEDS.items():
        dec = (stubs.request_decoder if request else stubs.response_decoder)("lsarpc", opnum)
        assert dec is not None
        assert isinstance(dec(NdrReader(data)), dict), (request, opnum)


@FUZZ
@given(
    op=st.sampled_from(OPS), data=st.binary(max_size=512), little=st.booleans(), ndr64=st.booleans()
)
def test_random_stubs(op: tuple[bool, int], data: bytes, little: bool, ndr64: bool) -> None:
    _decode(*op, data, little, ndr64)


@FUZZ
@given(op=st.sampled_from(OPS), seed=st.sampled_from(sorted(SEEDS)), data=st.data())
def test_mutated_stubs(op: tuple[bool, int], seed: tuple[bool, int], data: st.DataObject) -> None:
    # a seed of one call fed to its own decoder (usually) or to another one
    base = SEEDS[seed] if data.draw(st.booleans()) else SEEDS.get(op, SEEDS[seed])
    buf = bytearray(base)
    for _ in range(data.draw(st.integers(1, 8))):
        kind = data.draw(st.sampled_from(["flip", "cut", "big", "splice"]))
        if not buf:
            break
        i = data.draw(st.integers(0, len(buf) - 1))
        if kind == "flip":
            buf[i] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "cut":
            del buf[i:]
        elif kind == "big":  # a hostile count or pointer
            buf[i : i + 4] = data.draw(
                st.sampled_from([b"\xff\xff\xff\x7f", b"\xff" * 4, b"\x00\x00\x01\x00"])
            )
        else:
            buf[i:i] = data.draw(st.binary(max_size=16))
    _decode(*op, bytes(buf), data.draw(st.booleans()), data.draw(st.booleans()))
