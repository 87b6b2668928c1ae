"""Hypothesis: any bytes give a PKINIT certificate (or none) or an InputError, nothing else;
mutated PKINIT AS-REQs never make the Kerberos parser raise anything but InputError."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dcwatch.errors import InputError
from dcwatch.protocols import kerberos, pkinit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "protocols"))
import wire as w

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CA = "CN=corp-CA,DC=corp,DC=local"
VALUE = w.seq(w.tlv(0x80, w.signed_auth_pack(
    (w.certificate(CA, "CN=alice", 7, upn="alice@corp.local", dns=("a.corp.local",),
                   ski=b"\x01" * 20), w.certificate(CA, CA, 1)), (CA, 7))))
AS_REQ = w.kdc_req(10, "CORP.LOCAL", "krbtgt/CORP.LOCAL", cname="alice",
                   padata=(w.pa(16, VALUE),))
edits = st.lists(st.tuples(st.integers(0, 1 << 12), st.integers(0, 255)), max_size=6)


def mutate(data: bytes, ed: list[tuple[int, int]], cut: int) -> bytes:
    b = bytearray(data)
    for pos, val in ed:
        b[pos % len(b)] = val
    return bytes(b[: max(1, len(b) - cut)])


@FUZZ
@given(st.binary(max_size=600))
def test_random_bytes(data: bytes) -> None:
    with contextlib.suppress(InputError):
        pkinit.parse_pa_pk_as_req(data, 0, len(data))


@FUZZ
@given(edits, st.integers(0, 64))
def test_mutated_pa_pk_as_req(ed: list[tuple[int, int]], cut: int) -> None:
    data = mutate(VALUE, ed, cut)
    with contextlib.suppress(InputError):
        cert, _ = pkinit.parse_pa_pk_as_req(data, 0, len(data))
        assert cert is None or isinstance(cert.as_dict(), dict)


@FUZZ
@given(edits, st.integers(0, 64))
def test_mutated_as_req(ed: list[tuple[int, int]], cut: int) -> None:
    with contextlib.suppress(InputError):
        kerberos.parse(mutate(AS_REQ, ed, cut))
