"""2037 NTLM relay of an Exchange server's computer account."""

from __future__ import annotations

import pytest
from tests.conftest import RECORDINGS
from tests.detectors.netutil import ids_of
from tests.helpers import act

from dcwatch.detectors.base import DetectionConfig
from dcwatch.detectors.engine import Engine
from dcwatch.entities.resolver import Resolver
from dcwatch.model.activity import Account
from dcwatch.model.activity import ActivityKind as K

SLUG = "ntlm-relay-exchange"
EXCH = Account("EXCH01$", "CONTOSO")


def ntlm(src: str, version: str = "v2", flags: tuple[str, ...] = ("NEGOTIATE_UNICODE",)):
    return act(K.NTLM_AUTH, 1, host="10.0.0.10", actor=EXCH, protocol="ntlm", src_ip=src,
               dst_ip="10.0.0.10", dst_port=389, outcome="success", status=0,
               fields={"ntlm_version": version, "flags": list(flags), "via": "ldap",
                       "workstation": "EXCH01"})


def run(acts, sensitive=(), **tun):  # type: ignore[no-untyped-def]
    cfg = DetectionConfig(tunables={SLUG: tun} if tun else {})
    return Engine(Resolver(sensitive=list(sensitive)), cfg, slugs=[SLUG]).run(acts)


def test_relayed_from_another_address_fires() -> None:
    alerts = run([ntlm("10.0.0.66")], exchange_servers=("EXCH01",),
                 exchange_addresses={"EXCH01": ["10.0.0.30"]})
    assert len(alerts) == 1
    a = alerts[0]
    assert a.description.startswith("CONTOSO\\EXCH01$, the computer account of Exchange server "
                                    "EXCH01, authenticated with NTLM to 10.0.0.10 from "
                                    "10.0.0.66, which is not EXCH01")
    assert a.severity == "medium"
    assert {e.role for e in a.entities} >= {"Exchange account", "source computer"}


def test_signed_ntlmv2_is_low_and_tag_by_sensitive() -> None:
    alerts = run([ntlm("10.0.0.66", flags=("NEGOTIATE_SIGN",))], sensitive=["EXCH01$"],
                 exchange_addresses={"EXCH01": ["10.0.0.30"]})
    assert len(alerts) == 1
    assert alerts[0].severity == "low"


def test_quiet_cases() -> None:
    addrs = {"EXCH01": ["10.0.0.30"]}
    assert run([ntlm("10.0.0.30")], exchange_servers=("EXCH01",), exchange_addresses=addrs) \
        == []  # from the Exchange server itself
    assert run([ntlm("10.0.0.66")], exchange_addresses=addrs) == []  # not an Exchange server
    assert run([ntlm("10.0.0.66")], exchange_servers=("EXCH01",)) == []  # nothing to compare


@pytest.mark.parametrize("scenario", sorted(p.name for p in RECORDINGS.iterdir() if p.is_dir()))
def test_recordings_stay_quiet(scenario: str) -> None:
    pcap = RECORDINGS / scenario / "dc.pcap"
    if not pcap.exists():
        pytest.skip(f"no capture in {scenario}")
    assert 2037 not in ids_of(pcap)
