"""Entity resolution: IP<->computer, SID<->account, which hosts are DCs, sensitive groups."""

from dcwatch.entities.resolver import Resolver

__all__ = ["Resolver"]
