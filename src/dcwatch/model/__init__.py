"""The contracts between stages: activities in, alerts out."""

from dcwatch.model.activity import Account, Activity, ActivityKind, Origin
from dcwatch.model.alert import Alert, AlertDraft, EntityRef, Phase, Severity, Status

__all__ = [
    "Account",
    "Activity",
    "ActivityKind",
    "Alert",
    "AlertDraft",
    "EntityRef",
    "Origin",
    "Phase",
    "Severity",
    "Status",
]
