"""Exchange Server Remote Code Execution (CVE-2021-26855): MDI external ID 2414.

ProxyLogon post-exploitation plants a web shell by writing script into an Exchange virtual
directory's ``msExchExternalHostName`` (the OAB virtual directory's ExternalUrl), an attribute
of an Exchange configuration object under ``CN=Configuration``. What the DC sees is that
directory write: an alert when the new value carries script or markup (``<``, ``>``,
``script``, ``eval(``, ``Request[``), or when the writer is a computer account (the Exchange
server itself, running the attacker's request as SYSTEM) rather than an administrator.
Sources: 5136, LDAP modify on the wire, Samba dsdbChange (attribute names and values). 4662
names written properties by schema GUID only; the GUID of msExchExternalHostName is not in the
spec, so 4662 is not used yet.
Known false positives: administrators changing Exchange external URLs (a user account writing
a plain host name stays quiet).
State: the bound identity of LDAP connections (``LdapBinds``).
"""

from __future__ import annotations

import re
from typing import ClassVar

from dcwatch.detectors._common import LdapBinds, actor_text, ds_change, host_ref
from dcwatch.detectors.base import DetectionContext, Detector, refs, user_ref
from dcwatch.model.activity import Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, EntityRef, Phase, Severity

K = ActivityKind
ATTR = "msExchExternalHostName"
_SCRIPT = re.compile(r"[<>]|script|eval\s*\(|request\s*\[|response\.|execute", re.I)


class ExchangeServerRce(Detector):
    slug: ClassVar[str] = "exchange-server-rce"
    external_id: ClassVar[int] = 2414
    title: ClassVar[str] = "Exchange Server Remote Code Execution (CVE-2021-26855)"
    phase: ClassVar[Phase] = Phase.LATERAL_MOVEMENT
    severity: ClassVar[Severity] = Severity.HIGH
    mitre: ClassVar[tuple[str, ...]] = ("T1210",)
    handles: ClassVar[frozenset[str]] = frozenset({K.DS_MODIFY, K.DS_CREATE, K.LDAP_BIND})

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self._binds = self.shared("ldap-binds", LdapBinds)

    def observe(self, a: Activity) -> list[AlertDraft]:
        if a.kind is K.LDAP_BIND:
            self._binds.observe(a)
            return []
        c = ds_change(a, self.resolver, self._binds)
        if c is None or not c.adds(ATTR):
            return []
        values = c.values.get(ATTR.lower(), [])
        script = [v for v in values if _SCRIPT.search(v)]
        machine = bool(c.actor and c.actor.is_machine)
        if not script and not machine:
            return []
        why = "a value carrying script" if script else "a computer account as the writer"
        return [self.draft(
            key=c.dn.lower(),
            activities=[a],
            description=(f"{actor_text(c.actor)} changed {ATTR} of the Exchange object "
                         f"{c.cn} ({why}), as ProxyLogon (CVE-2021-26855) post-exploitation "
                         "does to plant a web shell."),
            entities=refs(user_ref(c.actor, "actor"), EntityRef("object", c.dn, "modified"),
                          host_ref(c.src_host, "source computer", c.src_ip),
                          host_ref(c.dc, "domain controller")),
            evidence={"object": c.dn, "attribute": ATTR, "new_values": values[:5],
                      "script_values": script[:5], "machine_actor": machine,
                      "source": c.source},
        )]
