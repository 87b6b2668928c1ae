"""2413 Suspected AD FS DKM key read."""

from __future__ import annotations

from tests.detectors.adcsutil import MALLORY, attack_alerts, benign_alerts, of
from tests.detectors.conftest import DC_IP, act, run

from dcwatch.detectors.base import DetectionConfig
from dcwatch.detectors.engine import Exclusion
from dcwatch.model.activity import Account
from dcwatch.model.activity import ActivityKind as K

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


def _search(ts: float = 0, attrs: list | None = None, base: str = ADFS) -> list:
    conn = {"src_ip": "10.0.0.66", "src_port": 50000, "dst_ip": DC_IP, "dst_port": 389,
            "protocol": "ldap", "host": DC_IP}
    bind = act(K.LDAP_BIND, ts, actor=Account("mallory", "CONTOSO"), outcome="success",
               **conn)
    search = act(K.LDAP_SEARCH, ts + 1, fields={
        "base_dn": base, "filter": "(&(objectClass=contact)(!(cn=CryptoPolicy)))",
        "attributes": attrs if attrs is not None else ["thumbnailPhoto"]}, **conn)
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
