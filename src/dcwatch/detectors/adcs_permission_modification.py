"""Suspicious modifications to the AD CS security permissions/settings: MDI external ID 2435.

The certification authority's security permissions (who may manage the CA or certificates,
who may enroll) or its certificate-manager restrictions are changed: the path to ESC7-style
abuse (granting oneself ManageCA / ManageCertificates). AD CS sensor only.
Sources: AD CS events 4882 (CA security permissions changed) and 4890 (certificate manager
settings changed) on the CA; the new values are reported as evidence.
Known false positive: PKI administrators' planned changes (exclude them).
"""

from __future__ import annotations

from typing import ClassVar

from dcwatch.detectors._adcs import ca_alert_parts, ca_key, kept
from dcwatch.detectors.base import BoundedDict, DetectionContext, Detector
from dcwatch.model.activity import Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, Phase, Severity

CHANGES = {
    "security_permissions_changed": "the security permissions",
    "manager_settings_changed": "the certificate manager settings",
}


class AdcsPermissionModification(Detector):
    slug: ClassVar[str] = "adcs-permission-modification"
    external_id: ClassVar[int] = 2435
    title: ClassVar[str] = "Suspicious modifications to the AD CS security permissions/settings"
    phase: ClassVar[Phase] = Phase.PERSISTENCE
    severity: ClassVar[Severity] = Severity.MEDIUM
    mitre: ClassVar[tuple[str, ...]] = ("T1484",)
    handles: ClassVar[frozenset[str]] = frozenset({ActivityKind.ADCS_SECURITY_CHANGED})

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self._changed: BoundedDict[list[str]] = BoundedDict(10_000)  # key -> what, in order

    def observe(self, a: Activity) -> list[AlertDraft]:
        what = CHANGES.get(a.fields.get("adcs") or "")
        if what is None:
            return []
        who, ca, entities = ca_alert_parts(a, self.resolver)
        key = ca_key(a, self.resolver)
        changed = self._changed.get(key) or []
        if what not in changed:
            changed = [*changed, what]
        self._changed[key] = changed  # the open alert's description names every change
        return [self.draft(
            key=key,
            activities=[a],
            description=f"{who} changed {' and '.join(changed)} of certification authority "
                        f"{ca}.",
            entities=entities,
            evidence=kept((("certification_authority", ca), ("changes", changed),
                           ("new_settings", a.fields.get("details")))),
        )]
