"""Helpers of the honeytoken detectors (2014, 2427, 2428, 2429, 2439); not a detector.

Honeytokens are accounts (users or devices) the operator tags with ``--honeytoken NAME``
(product.md 4.3). Data names them in many shapes: ``backup.admin``, ``CONTOSO\\backup.admin``,
``backup.admin@contoso.local``, ``CN=backup.admin,CN=Users,...``, a SID or a RID, a device as
``WS9`` or ``WS9$``. These helpers answer "is this a honeytoken, and which one" for each shape.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase

from dcwatch.detectors._common import cn_of
from dcwatch.entities.resolver import Resolver, rid
from dcwatch.model.activity import Account

# Attributes whose value names one account (MS-ADTS 2.2 / RFC 4515 filters that target it).
NAMING_ATTRS = frozenset({"samaccountname", "userprincipalname", "cn", "name", "displayname",
                          "distinguishedname", "objectsid", "anr"})
_ASSERTION = re.compile(r"\(([A-Za-z0-9;.-]+)(~=|>=|<=|=)([^()]*)\)")
_HEX_ESCAPE = re.compile(r"\\([0-9a-fA-F]{2})")
MIN_SUBSTRING_LITERAL = 4  # (cn=b*) is a sweep, (cn=backup*) targets the decoy


def _unescape(v: str) -> str:
    """RFC 4515 3: ``\\2a`` -> ``*`` (the value as the directory compares it)."""
    return _HEX_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), v)


class Honeytokens:
    """Which names, SIDs and RIDs stand for a tagged honeytoken (learned as data flows)."""

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self.rids: dict[int, str] = {}  # RID -> honeytoken (from SAMR look-ups and SIDs)

    @property
    def active(self) -> bool:
        """Whether any honeytoken is configured (detectors stay idle otherwise)."""
        return bool(self.resolver.honeytokens)

    def match(self, value: str | None) -> str | None:
        """The honeytoken a name/UPN/DN/``DOMAIN\\name``/device name stands for, else None."""
        if not value or not self.active:
            return None
        v = value.strip()
        if "=" in v and "," in v:  # a distinguished name
            v = cn_of(v) or v
        tokens = self.resolver.honeytokens
        low = v.lower()
        if "\\" in low:
            low = low.rsplit("\\", 1)[1]
        if "@" in low:
            low = low.split("@", 1)[0]
        for cand in (low, low.rstrip("$"), low + "$" if not low.endswith("$") else low):
            if cand in tokens:
                return cand
        return None

    def account(self, acct: Account | None) -> str | None:
        """The honeytoken an account is (by name, else by a SID learned for a honeytoken)."""
        if acct is None:
            return None
        hit = self.match(acct.name)
        if hit:
            if acct.sid:
                self.learn_sid(acct.sid, hit)
            return hit
        return self.sid(acct.sid)

    def sid(self, sid: str | None) -> str | None:
        """The honeytoken a SID belongs to, when the data named both together."""
        if not sid or not self.active:
            return None
        known = self.resolver.sids.get(sid)
        hit = self.match(known.name) if known else None
        if hit:
            self.learn_sid(sid, hit)
        return hit

    def learn_sid(self, sid: str, token: str) -> None:
        """Remember the RID of a honeytoken's SID (SAMR opens users by RID)."""
        r = rid(sid)
        if r is not None:
            self.rids[r] = token

    def rid(self, value: object) -> str | None:
        """The honeytoken a RID (``1113`` or ``rid:1113``) stands for, if learned."""
        try:
            r = int(str(value).removeprefix("rid:"))
        except ValueError:
            return None
        if r not in self.rids:
            for sid, acct in list(self.resolver.sids.items()):
                if rid(sid) == r and self.match(acct.name):
                    self.rids[r] = self.match(acct.name) or ""
        return self.rids.get(r) or None

    def in_filter(self, ldap_filter: str | None) -> list[tuple[str, str]]:
        """(honeytoken, clause) for each filter clause that names a honeytoken explicitly:
        an equality on a naming attribute, or a substring whose literal part is specific."""
        out: list[tuple[str, str]] = []
        if not ldap_filter or not self.active:
            return out
        for m in _ASSERTION.finditer(ldap_filter):
            attr, value = m.group(1).lower().split(";", 1)[0], _unescape(m.group(3))
            if attr not in NAMING_ATTRS or not value or value == "*":
                continue
            clause = m.group(0)
            if attr == "objectsid":
                hit = self.sid(value)
            elif "*" in value:
                literal = value.replace("*", "")
                hit = None
                if len(literal) >= MIN_SUBSTRING_LITERAL:
                    pat = value.lower()
                    hit = next((t for t in sorted(self.resolver.honeytokens)
                                if fnmatchcase(t, pat) or fnmatchcase(t.rstrip("$"), pat)),
                               None)
            else:
                hit = self.match(value)
            if hit:
                out.append((hit, clause))
        return out
