"""2004 LDAP brute force (simple binds)."""

from __future__ import annotations

from tests.detectors.netutil import ids_of, recording, run, wire

from dcwatch.model.activity import ActivityKind as K


def bind(seconds: float, name: str, ok: bool = False):
    return wire(K.LDAP_BIND, seconds, protocol="ldap", status=0 if ok else 49,
                outcome="success" if ok else "failure", dst_port=389,
                fields={"auth": "simple", "name": name, "cleartext_password": True})


def test_spray_with_a_guessed_account() -> None:
    acts = [bind(i, f"user{i % 5}") for i in range(10)] + [bind(20, "user3", ok=True)]
    alerts = run("ldap-brute-force", acts)
    assert len(alerts) == 1
    a = alerts[0]
    assert "made 10 LDAP password guesses against 5 account(s)" in a.description
    assert a.evidence["guessed"] == ["user3"]


def test_thresholds() -> None:
    acts = [bind(i, "bob") for i in range(5)]
    assert run("ldap-brute-force", acts) == []
    assert len(run("ldap-brute-force", acts, threshold="medium")) == 1


def test_lab_quiet() -> None:
    assert 2004 not in ids_of(recording("benign_baseline"))


def test_fires_on_lab_recording() -> None:
    from tests.detectors.conftest import ids, lab, scan_alerts

    a = [x for x in scan_alerts(lab("ldap_brute_force/dc.pcap")) if x.external_id == 2004]
    assert len(a) == 1
    assert a[0].evidence["attempts"] == 16
    assert len(a[0].evidence["accounts"]) == 4
    assert 2004 in ids(scan_alerts(lab("ldap_brute_force")))


def test_samba_simple_bind_workstation_is_not_the_source() -> None:
    # Samba writes its own NetBIOS name as the "workstation" of an LDAP simple bind; with the
    # audit next to the pcap, the source must stay the client, not the DC.
    from tests.detectors.conftest import lab, scan_alerts

    a = next(x for x in scan_alerts(lab("ldap_brute_force")) if x.external_id == 2004)
    assert not a.description.startswith("DC01")
