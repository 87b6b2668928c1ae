"""2432 Suspicious Domain Controller certificate request (ESC8)."""

from __future__ import annotations

from tests.detectors.adcsutil import CA, attack_alerts, benign_alerts, ca_op, of
from tests.detectors.conftest import act, run

from dcwatch.detectors.engine import Exclusion
from dcwatch.model.activity import Account
from dcwatch.model.activity import ActivityKind as K

SLUG = "dc-certificate-request-esc8"
DC01 = Account("DC01$", "CONTOSO", "S-1-5-21-1-2-3-1000")


def _logon(ts: float, ip: str, acct: Account = DC01) -> object:
    return act(K.LOGON, ts, host=CA, actor=acct, src_ip=ip, src_host="DC01",
               fields={"logon_type": 3, "logon_id": f"0x{int(ts) + 100:x}"})


def _tgt(ts: float, ip: str, acct: Account = DC01) -> object:
    return act(K.KERBEROS_AS, ts, actor=acct, src_ip=ip, outcome="success", status=0)


def _request(ts: float, attrs: str, template: str = "DomainController",
             requester: Account = DC01, ccm: str | None = None) -> object:
    return ca_op("request_received", ts, actor=None, target=requester, template=template,
                 request_attributes=attrs, client_machine=ccm, request_id="41")


def test_fires_on_relayed_web_enrollment_end_to_end() -> None:
    alerts = of(attack_alerts(), 2432)
    assert len(alerts) == 1
    a = alerts[0]
    assert a.count == 2  # 4886 received, 4887 issued
    assert a.description.startswith(
        "A DomainController certificate for domain controller DC01 was issued on certification "
        "authority CA01 from WS01, not by DC01 itself (it came through web enrollment; DC01$ "
        "logged on to the CA from 10.0.0.66")
    roles = {(e.name, e.role) for e in a.entities}
    assert {("DC01", "domain controller"), ("WS01", "source computer"),
            ("10.0.0.66", "source IP"), ("CA01", "certification authority")} <= roles


def test_quiet_on_dc_auto_enrollment_end_to_end() -> None:
    assert of(benign_alerts(), 2432) == []


def test_logon_from_another_address_alone_fires() -> None:
    acts = [_tgt(0, "10.0.0.10"), _logon(100, "10.0.0.66"),
            _request(101, "CertificateTemplate:DomainController")]
    alerts = run(acts, SLUG)
    assert len(alerts) == 1
    assert alerts[0].evidence["requester_ip"] == "10.0.0.66"


def test_logon_from_the_dc_itself_is_quiet() -> None:
    acts = [_tgt(0, "10.0.0.10"), _logon(100, "10.0.0.10"),
            _request(101, "CertificateTemplate:DomainController", ccm="DC01.contoso.local")]
    assert run(acts, SLUG) == []


def test_client_machine_other_than_the_dc_fires() -> None:
    attrs = "CertificateTemplate:DomainControllerAuthentication\nccm:ws01.contoso.local"
    acts = [_request(0, attrs, template="DomainControllerAuthentication",
                     ccm="ws01.contoso.local")]
    alerts = run(acts, SLUG)
    assert len(alerts) == 1
    assert "names client machine ws01.contoso.local" in alerts[0].description


def test_user_template_and_non_dc_requester_are_quiet() -> None:
    web = "CertificateTemplate:User\nUserAgent:Mozilla/5.0"
    assert run([_request(0, web, template="User")], SLUG) == []
    alice = Account("alice", "CONTOSO")
    assert run([_request(0, web.replace("User", "DomainController"), requester=alice)],
               SLUG) == []


def test_excluded_domain_controller() -> None:
    acts = [_request(0, "CertificateTemplate:DomainController\nUserAgent:Mozilla/5.0")]
    assert len(run(acts, SLUG)) == 1
    assert run(acts, SLUG, exclusions=[Exclusion(SLUG, "computer", "DC01")]) == []
