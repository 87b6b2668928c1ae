"""Group Policy Tampering: MDI external ID 2440 (Preview).

MDI: a Group Policy change that disables Microsoft Defender Antivirus, preparation for
ransomware by an attacker with elevated rights. A GPO is two halves: the groupPolicyContainer
in AD (CN={GUID},CN=Policies,CN=System,...) and its files in SYSVOL. Editing any setting bumps
``versionNumber`` (and often ``gPCMachineExtensionNames``): that alone is what every
administrator's GPMC edit does and is NOT an alert here. This detector alerts on:
* the *content* disabling Defender: a write to ``Policies\\{GUID}\\Machine\\Registry.pol``
  whose parsed PReg entries (``registry_pol`` field: key / value / data) set a
  Defender-disabling policy (``DisableAntiSpyware``, ``DisableRealtimeMonitoring``, ... = 1
  under ``Software\\Policies\\Microsoft\\Windows Defender``). Needs the SMB decoder to parse
  the written Registry.pol (not available yet: see the report of this change);
* a redirected GPO: ``gPCFileSysPath`` set to a path outside the domain's SYSVOL Policies
  folder (the GPO's files are then served from an attacker's share), 5136 / LDAP / Samba.
The container change (5136 on the GPO by the same actor within ``window``) is added as evidence.
Known false positive: planned antivirus migrations (exclude the actor).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, ClassVar

from dcwatch.detectors._common import (
    LdapBinds,
    NetworkLogons,
    actor_text,
    display,
    ds_change,
    host_ref,
    rpc_source,
    rpc_target,
)
from dcwatch.detectors.base import BoundedDict, DetectionContext, Detector, ip_ref, refs, user_ref
from dcwatch.model.activity import Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, EntityRef, Phase, Severity

K = ActivityKind
_GPO_DN = re.compile(r"^cn=(\{[0-9a-f-]{36}\}),cn=policies,cn=system,", re.I)
_GPO_PATH = re.compile(r"policies\\(\{[0-9a-f-]{36}\})\\machine\\registry\.pol$", re.I)
DEFENDER_KEY = "software\\policies\\microsoft\\windows defender"
# Policy values that turn protection off when set to 1 (Defender ADMX, WindowsDefender.admx)
DISABLING_VALUES = frozenset({
    "disableantispyware", "disableantivirus", "disablerealtimemonitoring",
    "disablebehaviormonitoring", "disableonaccessprotection", "disableioavprotection",
    "disablescanonrealtimeenable", "disableblockatfirstseen", "disableroutinelytakingaction",
    "disableintrusionpreventionsystem", "disablescriptscanning", "tamperprotection"})


class GpoTampering(Detector):
    slug: ClassVar[str] = "gpo-tampering"
    external_id: ClassVar[int] = 2440
    title: ClassVar[str] = "Group Policy Tampering"
    phase: ClassVar[Phase] = Phase.OTHER
    severity: ClassVar[Severity] = Severity.MEDIUM
    mitre: ClassVar[tuple[str, ...]] = ("T1553",)
    handles: ClassVar[frozenset[str]] = frozenset({
        K.DS_MODIFY, K.SMB_FILE_TRANSFER, K.SMB_FILE_OPEN, K.LDAP_BIND, K.LOGON})
    window: ClassVar[timedelta] = timedelta(minutes=30)  # SYSVOL write <-> container change

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self.binds = self.shared("ldap-binds", LdapBinds)
        self.logons = self.shared("network-logons", NetworkLogons)
        self._edits: BoundedDict[tuple[datetime, str, str]] = BoundedDict(10_000)
        # GPO -> (time, description, entities) of a Defender-disabling SYSVOL write, so the
        # container change that usually follows it (versionNumber bump) joins its alert
        self._disabled: BoundedDict[tuple[datetime, str, list[EntityRef]]] = BoundedDict(1_000)

    def observe(self, a: Activity) -> list[AlertDraft]:
        if a.kind is K.LDAP_BIND:
            self.binds.observe(a)
            return []
        if a.kind is K.LOGON:
            self.logons.observe(a)
            return []
        if a.kind in (K.SMB_FILE_TRANSFER, K.SMB_FILE_OPEN):
            return self._sysvol(a)
        c = ds_change(a, self.resolver, self.binds, self.logons)
        m = _GPO_DN.match(c.dn) if c else None
        if c is None or m is None:
            return []
        guid = m.group(1).upper()
        self._edits[guid] = (a.ts, actor_text(c.actor), ", ".join(c.meaningful()))
        if not c.adds("gpcfilesyspath"):
            # versionNumber / extension names: what every GPO edit writes; evidence only
            return self._container_after(a, guid, c)
        out = []
        for path in c.values.get("gpcfilesyspath") or []:
            p = path.lower().replace("/", "\\")
            if "\\sysvol\\" in p and "\\policies\\" + guid.lower() in p:
                continue
            who = actor_text(c.actor)
            out.append(self.draft(
                key=guid,
                activities=[a],
                description=f"{who} redirected Group Policy {guid} to {path} on "
                            f"{display(c.dc)}: computers applying it load its settings from "
                            f"outside SYSVOL.",
                entities=refs(user_ref(c.actor, "actor"), EntityRef("gpo", guid, "modified"),
                              host_ref(c.src_host, "source computer", c.src_ip),
                              ip_ref(c.src_ip, "source IP") if c.src_host else None,
                              host_ref(c.dc, "domain controller")),
                evidence={k: v for k, v in (
                    ("gpo", guid), ("setting", "gPCFileSysPath"), ("new_path", path),
                    ("actor", who), ("domain_controller", display(c.dc)),
                    ("source_ip", c.src_ip)) if v},
            ))
        return out

    def _sysvol(self, a: Activity) -> list[AlertDraft]:
        f = a.fields
        entries = f.get("registry_pol")  # only a Registry.pol read carries it: tested first
        if not isinstance(entries, list):
            return []
        m = _GPO_PATH.search(str(f.get("path") or ""))
        if m is None:
            return []
        disabling = [e for e in entries if _disables(e)]
        if not disabling:
            return []
        guid = m.group(1).upper()
        ip, ws = rpc_source(a, self.resolver)
        dc = rpc_target(a, self.resolver)
        who = actor_text(a.actor)
        settings = [f"{e.get('key')}\\{e.get('value')} = {e.get('data')}" for e in disabling]
        edit = self._edits.get(guid)
        container = None
        if edit and abs(a.ts - edit[0]) <= self.window:
            container = {"actor": edit[1], "attributes": edit[2], "time": edit[0].isoformat()}
        description = (f"{who} changed Group Policy {guid} on {display(dc)} to disable "
                       f"Microsoft Defender Antivirus: " + "; ".join(settings))
        entities = refs(user_ref(a.actor, "actor"), EntityRef("gpo", guid, "modified"),
                        host_ref(ws, "source computer", ip),
                        ip_ref(ip, "source IP") if ws else None,
                        host_ref(dc, "domain controller"))
        self._disabled[guid] = (a.ts, description, entities)
        return [self.draft(
            key=guid,
            activities=[a],
            description=description,
            entities=entities,
            evidence={k: v for k, v in (
                ("gpo", guid), ("settings", settings), ("actor", who),
                ("container_change", container), ("domain_controller", display(dc)),
                ("source_ip", ip)) if v},
        )]


    def _container_after(self, a: Activity, guid: str, c: Any) -> list[AlertDraft]:
        """The GPO container change that follows a Defender-disabling SYSVOL write: evidence
        of the same alert (the engine folds it into the open one)."""
        done = self._disabled.get(guid)
        if done is None or not timedelta(0) <= a.ts - done[0] <= self.window:
            return []
        _ts, description, entities = done
        container = {"actor": actor_text(c.actor), "attributes": ", ".join(c.meaningful()),
                     "time": a.ts.isoformat()}
        return [self.draft(
            key=guid,
            activities=[a],
            description=description,
            entities=entities,
            evidence={"gpo": guid, "container_change": container},
        )]


def _disables(e: Any) -> bool:
    """A PReg entry that switches a Defender protection off (value 1 under the policy key)."""
    if not isinstance(e, dict):
        return False
    key = str(e.get("key") or "").lower().strip("\\")
    value = str(e.get("value") or "").lower()
    data = e.get("data")
    on = data in (1, "1", b"\x01\x00\x00\x00") or str(data).lower() in ("0x1", "0x00000001")
    if not key.startswith(DEFENDER_KEY) or value not in DISABLING_VALUES:
        return False
    return (not on) if value == "tamperprotection" else on
