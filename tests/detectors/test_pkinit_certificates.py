"""2047 rogue Kerberos certificate and 2425 suspicious PKINIT certificate: synthetic activities."""

from __future__ import annotations

from typing import Any

from tests.detectors.netutil import run, wire
from tests.helpers import act, user

from dcwatch.detectors.base import DetectionConfig
from dcwatch.detectors.engine import Engine, Exclusion
from dcwatch.entities.resolver import Resolver
from dcwatch.model.activity import Account, ActivityKind

CA = "CN=corp-CA,DC=corp,DC=local"


def cert(subject: str, upn: str | None, issuer: str = CA, serial: str = "61aa",
         nb: str = "2026-01-01T00:00:00Z", na: str = "2027-01-01T00:00:00Z") -> dict[str, Any]:
    return {"issuer": issuer, "subject": subject, "serial": serial, "not_before": nb,
            "not_after": na, "san_upn": upn, "san_upns": [upn] if upn else [], "san_dns": [],
            "thumbprint": f"{serial}{subject}".encode().hex()[:40], "chain_length": 1}


def logon(t: float, name: str, c: dict[str, Any], ok: bool = True, src: str = "10.0.0.21"):
    return wire(ActivityKind.KERBEROS_AS, t, src=src, actor=Account(name, "CORP.LOCAL"),
                outcome="success" if ok else "failure", status=0 if ok else 62,
                fields={"pkinit_cert": c, "pa_types": [16]})


def learned() -> list:
    return [logon(0, "alice", cert("CN=alice", "alice@corp.local")),
            logon(5, "bob", cert("CN=bob", "bob@corp.local", serial="61bb"))]


def test_2047_unknown_issuer_after_enterprise_ca_learned_fires() -> None:
    rogue = cert("CN=Administrator", "administrator@corp.local", issuer="CN=evil-CA")
    alerts = run("rogue-kerberos-certificate", [*learned(), logon(60, "Administrator", rogue)])
    assert len(alerts) == 1
    assert "evil-CA is not an enterprise CA" in alerts[0].description
    assert alerts[0].evidence["certificate"]["issuer"] == "CN=evil-CA"


def test_2047_forged_validity_fires_without_learning() -> None:
    future = cert("CN=Administrator", "administrator@corp.local", nb="2026-06-01T00:00:00Z",
                  na="2027-06-01T00:00:00Z")
    long = cert("CN=carol", "carol@corp.local", nb="2026-01-01T00:00:00Z",
                na="2046-01-01T00:00:00Z", serial="61cc")
    alerts = run("rogue-kerberos-certificate", [logon(0, "Administrator", future),
                                                logon(1, "carol", long)])
    assert len(alerts) == 2
    assert any("after the logon" in a.description for a in alerts)
    assert any("valid for 7305 days" in a.description for a in alerts)


def test_2047_quiet_on_enterprise_ca_refused_certificates_and_first_issuer() -> None:
    rogue = cert("CN=x", "x@corp.local", issuer="CN=evil-CA")
    acts = [logon(0, "alice", rogue),  # the first CA seen is not known to be rogue
            *learned(), logon(60, "carol", cert("CN=carol", "carol@corp.local", serial="61dd")),
            logon(70, "dave", rogue, ok=False)]  # refused (KDC_ERR_CLIENT_NOT_TRUSTED)
    assert run("rogue-kerberos-certificate", acts) == []


def test_2047_repeated_use_updates_one_alert_and_exclusion() -> None:
    rogue = cert("CN=Administrator", None, issuer="CN=evil-CA")
    acts = [*learned(), logon(60, "Administrator", rogue), logon(120, "Administrator", rogue)]
    alerts = run("rogue-kerberos-certificate", acts)
    assert len(alerts) == 1
    assert alerts[0].count == 2
    assert run("rogue-kerberos-certificate", acts, enterprise_cas=("CN=evil-CA", CA)) == []


def test_2425_san_for_another_account_fires() -> None:
    c = cert("CN=lowpriv", "administrator@corp.local")
    alerts = run("pkinit-suspicious-certificate", [logon(0, "lowpriv", c)])
    assert len(alerts) == 1
    assert "names another account than the one requested" in alerts[0].description


def test_2425_certificate_requested_for_someone_else_then_used() -> None:
    req = act(ActivityKind.ADCS_ISSUED, 0, host="CA01.corp.local", actor=user("lowpriv"),
              fields={"adcs": "request_issued",
                      "requester": "CORP\\lowpriv",
                      "request_attributes": "CertificateTemplate:ESC1\nSAN:upn=Administrator"})
    use = logon(600, "Administrator", cert("CN=Administrator", "administrator@corp.local"))
    alerts = run("pkinit-suspicious-certificate", [req, use])
    assert len(alerts) == 1
    assert "asked by CORP\\lowpriv" in alerts[0].description
    late = logon(3 * 86400, "Administrator", cert("CN=Administrator", "administrator@corp.local"))
    assert run("pkinit-suspicious-certificate", [req, late]) == []


def test_2425_quiet_on_own_certificates_and_updates() -> None:
    own = [logon(0, "alice", cert("CN=alice", "alice@corp.local")),
           logon(1, "WS01$", cert("CN=ws01.corp.local", "ws01@corp.local"))]
    assert run("pkinit-suspicious-certificate", own) == []
    c = cert("CN=lowpriv", "administrator@corp.local")
    alerts = run("pkinit-suspicious-certificate", [logon(0, "lowpriv", c), logon(9, "lowpriv", c)])
    assert len(alerts) == 1
    assert alerts[0].count == 2


def test_2425_exclusion() -> None:
    c = cert("CN=svc", "administrator@corp.local")
    ex = Exclusion("pkinit-suspicious-certificate", "user", "svc")
    engine = Engine(Resolver(), DetectionConfig(), slugs=["pkinit-suspicious-certificate"],
                    exclusions=[ex])
    assert engine.run([logon(0, "svc", c)]) == []
