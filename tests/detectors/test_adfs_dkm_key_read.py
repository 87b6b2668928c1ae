"""2413 Suspected AD FS DKM key read."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.conftest import RECORDINGS
from tests.detectors.adcsutil import MALLORY, attack_alerts, benign_alerts, of
from tests.detectors.conftest import DC_IP, act, run

from dcwatch.detectors.base import DetectionConfig, coerce_tunable
from dcwatch.detectors.engine import Exclusion
from dcwatch.evaluation import scan_options
from dcwatch.model.activity import Account
from dcwatch.model.activity import ActivityKind as K
from dcwatch.pipeline import scan

SLUG = "adfs-dkm-key-read"
THUMB = "8d3bca50-1d7e-11d0-a081-00aa006c33ed"
CONTACT = "5cb41ed0-0e4c-11d0-a286-00aa003049e2"
ADFS = "CN=ADFS,CN=Microsoft,CN=Program Data,DC=contoso,DC=local"


def _read(actor: Account, ts: float = 0, mask: int = 0x10, props: tuple = (THUMB, CONTACT),
          otype: str = CONTACT) -> object:
    return act(K.DS_ACCESS, ts, actor=actor,
               fields={"object_server": "DS", "object_type": otype, "access_mask": mask,
                       "object_name": "3c9e2f41-8a1b-4d5e-9f60-7b1c2d3e4f50",
                       "properties": list(props)})


def _search(ts: float = 0, attrs: list | None = None, base: str = ADFS,
            who: Account | None = None, entries: int | None = None) -> list:
    conn = {"src_ip": "10.0.0.66", "src_port": 50000, "dst_ip": DC_IP, "dst_port": 389,
            "protocol": "ldap", "host": DC_IP}
    bind = act(K.LDAP_BIND, ts, actor=who or Account("mallory", "CONTOSO"), outcome="success",
               **conn)
    fields = {"base_dn": base, "filter": "(&(objectClass=contact)(!(cn=CryptoPolicy)))",
              "attributes": attrs if attrs is not None else ["thumbnailPhoto"]}
    if entries is not None:
        fields["entries"] = entries
    search = act(K.LDAP_SEARCH, ts + 1, fields=fields, **conn)
    return [bind, search]


def test_fires_on_4662_end_to_end() -> None:
    alerts = of(attack_alerts(), 2413)
    assert len(alerts) == 1
    assert alerts[0].description == ("CONTOSO\\mallory read the AD FS DKM key (thumbnailPhoto "
                                     "of the key object in the AD FS container) from DC01.")
    assert ("CONTOSO\\mallory", "actor") in {(e.name, e.role) for e in alerts[0].entities}


def test_quiet_on_the_adfs_gmsa_end_to_end() -> None:
    assert of(benign_alerts(), 2413) == []


def test_configured_service_account_is_quiet() -> None:
    svc = Account("svc_adfs", "CONTOSO", "S-1-5-21-1-2-3-1150")
    assert len(run([_read(svc)], SLUG)) == 1
    cfg = DetectionConfig(tunables={SLUG: {"service_accounts": frozenset({"svc_adfs"})}})
    assert run([_read(svc)], SLUG, config=cfg) == []


def test_other_objects_or_writes_are_quiet() -> None:
    user_class = "bf967aba-0de6-11d0-a285-00aa003049e2"
    assert run([_read(MALLORY, otype=user_class)], SLUG) == []  # a user's photo
    assert run([_read(MALLORY, mask=0x20)], SLUG) == []  # write property, not a read
    assert run([_read(MALLORY, props=(CONTACT,))], SLUG) == []


def test_wire_ldap_search_fires_and_names_the_bound_user() -> None:
    alerts = run(_search(), SLUG)
    assert len(alerts) == 1
    assert alerts[0].description.startswith("CONTOSO\\mallory on 10.0.0.66 read the AD FS DKM")


def test_wire_search_elsewhere_or_without_the_key_is_quiet() -> None:
    assert run(_search(attrs=["cn", "objectGUID"]), SLUG) == []
    assert run(_search(base="CN=Users,DC=contoso,DC=local"), SLUG) == []


def test_repeat_updates_and_exclusion() -> None:
    acts = [_read(MALLORY, 0), _read(MALLORY, 30)]
    alerts = run(acts, SLUG)
    assert len(alerts) == 1
    assert alerts[0].count == 2
    assert run(acts, SLUG, exclusions=[Exclusion(SLUG, "user", "mallory")]) == []


@pytest.mark.parametrize("configured", [["svc_adfs"], "CONTOSO\\svc_adfs,svc_other",
                                        ["SVC_ADFS@contoso.local"]])
def test_service_account_from_configuration_text(configured: object) -> None:
    """Configuration files and --tunable give lists or comma-separated text, any name form."""
    svc = Account("svc_adfs@contoso.local")  # a simple bind's UPN
    assert len(run(_search(who=svc), SLUG)) == 1
    cfg = DetectionConfig(tunables={SLUG: {"service_accounts": configured}})
    assert run(_search(who=svc), SLUG, config=cfg) == []
    assert len(run(_search(), SLUG, config=cfg)) == 1  # anyone else still alerts


def test_wire_evidence_names_attribute_and_entries() -> None:
    alert = run(_search(entries=2), SLUG)[0]
    assert alert.evidence["attribute"] == "thumbnailPhoto"
    assert alert.evidence["object"] == ADFS
    assert alert.evidence["access"].endswith(": 2 entries returned")


def test_coerce_tunable() -> None:
    assert coerce_tunable(frozenset(), "a, b,") == frozenset({"a", "b"})
    assert coerce_tunable((), ["a"]) == ("a",)
    assert coerce_tunable(5, "7") == 7
    assert coerce_tunable(False, "yes") is True
    assert coerce_tunable(timedelta(minutes=1), "90") == timedelta(seconds=90)
    assert coerce_tunable(frozenset(), frozenset({"x"})) == frozenset({"x"})


def test_lab_recording_attacker_alerts_service_account_quiet() -> None:
    """adfs_dkm_key_read: da.admin's ADFSDump-style search from WS1 alerts; svc_adfs, the
    farm's service account named in the recording's scan-options.toml, reads quietly."""
    opts = scan_options(str(RECORDINGS / "adfs_dkm_key_read" / "dc.pcap"))
    assert opts.config.tunables == {SLUG: {"service_accounts": ["svc_adfs"]}}
    alerts = of(scan(opts).alerts, 2413)
    assert len(alerts) == 1
    ents = {(e.role, e.name) for e in alerts[0].entities}
    assert {("actor", "CONTOSO\\da.admin"), ("source computer", "WS1"),
            ("domain controller", "DC01")} <= ents
    assert alerts[0].evidence["object"].startswith("CN=ADFS,CN=Microsoft,CN=Program Data,")
    assert alerts[0].evidence["access"].endswith("1 entry returned")
