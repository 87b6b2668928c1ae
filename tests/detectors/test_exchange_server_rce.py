"""2414 ProxyLogon: msExchExternalHostName written with script or by a computer account."""

from __future__ import annotations

import pytest
from tests.conftest import RECORDINGS
from tests.detectors.netutil import ids_of, run
from tests.helpers import act, user

from dcwatch.model.activity import Account
from dcwatch.model.activity import ActivityKind as K

SLUG = "exchange-server-rce"
DN = ("CN=OAB (Default Web Site),CN=HTTP,CN=Protocols,CN=EXCH01,CN=Servers,CN=Exchange "
      "Administrative Group,CN=Administrative Groups,CN=Contoso,CN=Microsoft Exchange,"
      "CN=Services,CN=Configuration,DC=contoso,DC=local")


def write(value: str, actor: Account):
    return act(K.DS_MODIFY, 0, actor=actor, fields={
        "dn": DN, "attributes": ["msExchExternalHostName"],
        "values": {"msExchExternalHostName": [value]}, "operation": "value_added"})


def test_script_value_fires() -> None:
    shell = 'http://f/<script language="JScript" runat="server">eval(Request["p"]);</script>'
    alerts = run(SLUG, [write(shell, user("admin"))])
    assert len(alerts) == 1
    assert alerts[0].description.startswith("CONTOSO\\admin changed msExchExternalHostName of "
                                            "the Exchange object OAB (Default Web Site)")
    assert alerts[0].evidence["script_values"] == [shell]


def test_machine_account_writer_fires_admin_url_change_quiet() -> None:
    assert len(run(SLUG, [write("mail.contoso.com", Account("EXCH01$", "CONTOSO"))])) == 1
    assert run(SLUG, [write("mail.contoso.com", user("exadmin"))]) == []


@pytest.mark.parametrize("scenario", sorted(p.name for p in RECORDINGS.iterdir() if p.is_dir()))
def test_recordings_stay_quiet(scenario: str) -> None:
    for name in ("dc.pcap", "samba-audit.jsonl"):
        p = RECORDINGS / scenario / name
        if p.exists():
            assert 2414 not in ids_of(p)
