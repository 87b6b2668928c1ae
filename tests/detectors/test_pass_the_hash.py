"""2017 pass-the-hash."""

from __future__ import annotations

from tests.detectors.netutil import WS1, WS2, alerts_of, ids_of, recording, run, wire
from tests.helpers import user

from dcwatch.model.activity import Account
from dcwatch.model.activity import ActivityKind as K


def tgt(seconds: float, who: str, src: str):
    return wire(K.KERBEROS_AS, seconds, src=src, actor=user(who), outcome="success", status=0,
                fields={"sname": "krbtgt/CONTOSO.LOCAL"})


def ntlm(seconds: float, who: str, src: str, ws: str | None = None):
    return wire(K.NTLM_AUTH, seconds, src=src, actor=user(who), protocol="ntlm", status=0,
                outcome="success", src_host=ws, fields={"via": "smb", "ntlm_version": "v2"})


def test_hash_used_from_another_computer() -> None:
    alerts = run("pass-the-hash", [tgt(0, "da.admin", WS2), ntlm(5, "da.admin", WS2),
                                   ntlm(60, "da.admin", WS1)])
    assert len(alerts) == 1
    assert alerts[0].description == ("The NTLM hash of CONTOSO\\da.admin was taken from a "
                                     "computer CONTOSO\\da.admin had logged on to earlier "
                                     "(10.0.0.22) and then used from 10.0.0.21 against "
                                     "10.0.0.10.")


def test_same_computer_by_name_or_ip_and_machine_accounts() -> None:
    machine_tgt = wire(K.KERBEROS_AS, 0, src=WS2, actor=Account("WS2$", "C"),
                       outcome="success", status=0, fields={})
    assert run("pass-the-hash", [tgt(0, "bob", WS2), machine_tgt,
                                 ntlm(5, "bob", WS2, ws="WS2")]) == []
    assert run("pass-the-hash", [ntlm(5, "bob", WS1)]) == []  # no logon seen anywhere
    assert run("pass-the-hash", [tgt(0, "bob", WS2), ntlm(11 * 3600, "bob", WS1)]) == []


def tree(seconds: float, who: str, src: str, share: str):
    return wire(K.SMB_TREE_CONNECT, seconds, src=src, actor=user(who), protocol="smb",
                status=0, outcome="success", fields={"share": share})


def test_shares_opened_with_the_hash_are_the_resources_accessed() -> None:
    acts = [tgt(0, "da.admin", WS2), ntlm(60, "da.admin", WS1),
            tree(61, "da.admin", WS1, "\\\\DC01\\IPC$"), tree(62, "da.admin", WS1, "\\\\DC01\\C$"),
            tree(63, "bob", WS1, "\\\\DC01\\data"), tree(64, "da.admin", WS2, "\\\\DC01\\D$")]
    alerts = run("pass-the-hash", acts)
    assert len(alerts) == 1
    a = alerts[0]
    assert a.evidence["resources_accessed"] == ["\\\\DC01\\C$"]
    assert a.description.endswith("against 10.0.0.10; that SMB session then opened \\\\DC01\\C$.")


def test_lab_recording() -> None:
    """pass_the_hash: dave logs on at WS2 (Kerberos), his NT hash is used from WS1 (NTLM)."""
    for name in ("dc.pcap", "samba-audit.jsonl"):
        alerts = alerts_of(recording("pass_the_hash", name), 2017)
        assert len(alerts) == 1, name
        a = alerts[0]
        assert a.description.startswith("The NTLM hash of CONTOSO\\dave was taken from a "
                                        "computer CONTOSO\\dave had logged on to earlier "
                                        "(WS2) and then used from WS1"), name
        assert {("WS1", "source computer")} <= {(e.name, e.role) for e in a.entities}
    wire_alert = alerts_of(recording("pass_the_hash"), 2017)[0]
    assert wire_alert.evidence["resources_accessed"] == ["\\\\10.77.0.10\\data"]


def test_lab_quiet_on_benign() -> None:
    assert 2017 not in ids_of(recording("benign_baseline"))
    assert 2017 not in ids_of(recording("benign_baseline", "samba-audit.jsonl"))
