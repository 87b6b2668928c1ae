"""Response actions on Active Directory over LDAP (ldap3): disable a user, force a password
reset at next logon, remove a user from a group; and their undo (enable).

Every action first reads the object and computes the exact change (attribute, old value, new
value). ``dry_run`` stops there; otherwise the change is written with an LDAP modify and read
back to confirm. Who may run actions and the audit trail are the caller's business (CLI: the
operator's bind account, and the store's audit log when ``--db`` is given; portal: admins
only, CSRF-protected, with a confirmation step, audited).

Never touched: krbtgt (RID 502) and domain controller accounts; the built-in Administrator
(RID 500) only with ``force``. A group the user belongs to through ``primaryGroupID`` cannot be
left by removing a ``member`` value, which the plan says instead of failing on the DC.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from dcwatch.entities.directory import (
    UF_ACCOUNTDISABLE,
    UF_SERVER_TRUST_ACCOUNT,
    DirectoryError,
    _first,
    _int,
    _list,
    _search,
    _text,
    sid_text,
)
from dcwatch.entities.resolver import rid

ACTIONS = {
    "disable-user": "Disable the account (userAccountControl ACCOUNTDISABLE)",
    "enable-user": "Enable the account again (undo disable)",
    "force-password-reset": "Force a password change at next logon (pwdLastSet = 0)",
    "remove-from-group": "Remove the account from a group (member value deleted)",
}


class ResponseError(DirectoryError):
    """An action was refused (protected account, not found) or the DC rejected it."""


@dataclass(slots=True)
class Change:
    dn: str
    attribute: str
    operation: str  # replace | delete
    old: Any
    new: Any
    what: str


@dataclass(slots=True)
class ActionResult:
    """What an action would change (dry run) or changed."""

    action: str
    target: str
    dry_run: bool
    changes: list[Change] = field(default_factory=list)
    done: bool = False
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return d

    def text(self) -> str:
        head = f"{'[dry run] ' if self.dry_run else ''}{self.action} {self.target}: {self.message}"
        lines = [head]
        for c in self.changes:
            lines.append(f"  {c.dn}: {c.attribute} {c.old!r} -> {c.new!r} ({c.what})")
        return "\n".join(lines)


def _escape_filter(v: str) -> str:
    out = []
    for ch in v:
        if ch in "*()\\\0":
            out.append(f"\\{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


class Responder:
    """Response actions over a bound ldap3 connection."""

    def __init__(self, conn: Any, base: str | None = None) -> None:
        self.conn = conn
        self.base = base or self._default_base()

    def _default_base(self) -> str:
        for _dn, attrs in _search(self.conn, "", "(objectClass=*)", ["defaultNamingContext"],
                                  scope="BASE"):
            v = _text(_first({k.lower(): x for k, x in attrs.items()}, "defaultnamingcontext"))
            if v:
                return v
        raise ResponseError("the server's rootDSE names no defaultNamingContext; give --base")

    def find(self, name: str, kind: str = "user") -> tuple[str, dict[str, Any]]:
        """(DN, attributes) of a user or group by sAMAccountName, DOMAIN\\name, UPN or DN."""
        n = name.strip()
        if "=" in n and "," in n:
            flt = f"(distinguishedName={_escape_filter(n)})"
        else:
            low = n.rsplit("\\", 1)[-1]
            if "@" in low and kind == "user":
                flt = (f"(|(userPrincipalName={_escape_filter(low)})"
                       f"(sAMAccountName={_escape_filter(low.split('@', 1)[0])}))")
            else:
                flt = f"(sAMAccountName={_escape_filter(low.split('@', 1)[0])})"
        cls = "(objectClass=group)" if kind == "group" else \
            "(&(objectClass=user)(!(objectClass=computer)))"
        hits = list(_search(self.conn, self.base, f"(&{cls}{flt})",
                            ["objectSid", "sAMAccountName", "userAccountControl", "pwdLastSet",
                             "primaryGroupID", "member", "distinguishedName"]))
        if not hits:
            raise ResponseError(f"no {kind} named {name!r} under {self.base}")
        if len(hits) > 1:
            raise ResponseError(f"{name!r} names {len(hits)} {kind}s; give the DN")
        dn, attrs = hits[0]
        return dn, {k.lower(): v for k, v in attrs.items()}

    def _guard(self, dn: str, a: dict[str, Any], force: bool) -> None:
        sid = sid_text(_first(a, "objectsid"))
        r = rid(sid)
        uac = _int(_first(a, "useraccountcontrol")) or 0
        if r == 502:
            raise ResponseError(f"{dn}: krbtgt is never changed by a response action")
        if uac & UF_SERVER_TRUST_ACCOUNT:
            raise ResponseError(f"{dn}: a domain controller account is never changed")
        if r == 500 and not force:
            raise ResponseError(f"{dn}: the built-in Administrator needs --force")

    # --- actions -------------------------------------------------------------------------------

    def disable_user(self, name: str, dry_run: bool = True, force: bool = False
                     ) -> ActionResult:
        """Set ACCOUNTDISABLE in userAccountControl."""
        return self._uac(name, dry_run, force, disable=True)

    def enable_user(self, name: str, dry_run: bool = True, force: bool = False) -> ActionResult:
        """Clear ACCOUNTDISABLE in userAccountControl."""
        return self._uac(name, dry_run, force, disable=False)

    def _uac(self, name: str, dry_run: bool, force: bool, disable: bool) -> ActionResult:
        action = "disable-user" if disable else "enable-user"
        dn, a = self.find(name)
        self._guard(dn, a, force)
        old = _int(_first(a, "useraccountcontrol")) or 0
        new = old | UF_ACCOUNTDISABLE if disable else old & ~UF_ACCOUNTDISABLE
        res = ActionResult(action, dn, dry_run)
        if new == old:
            res.message = "already disabled" if disable else "already enabled"
            res.done = not dry_run
            return res
        res.changes.append(Change(dn, "userAccountControl", "replace", old, new,
                                  "set ACCOUNTDISABLE (0x2)" if disable
                                  else "clear ACCOUNTDISABLE (0x2)"))
        return self._apply(res, lambda: _int(_first(self.find(dn)[1], "useraccountcontrol"))
                           == new)

    def force_password_reset(self, name: str, dry_run: bool = True, force: bool = False
                             ) -> ActionResult:
        """pwdLastSet = 0: the user must change the password at next logon."""
        dn, a = self.find(name)
        self._guard(dn, a, force)
        old = _int(_first(a, "pwdlastset"))
        res = ActionResult("force-password-reset", dn, dry_run)
        if old == 0:
            res.message = "a password change at next logon is already required"
            res.done = not dry_run
            return res
        res.changes.append(Change(dn, "pwdLastSet", "replace", old, 0,
                                  "user must change password at next logon"))
        return self._apply(res, lambda: _int(_first(self.find(dn)[1], "pwdlastset")) == 0)

    def remove_from_group(self, name: str, group: str, dry_run: bool = True,
                          force: bool = False) -> ActionResult:
        """Delete the user's DN from the group's ``member``."""
        dn, a = self.find(name)
        self._guard(dn, a, force)
        gdn, g = self.find(group, kind="group")
        res = ActionResult("remove-from-group", dn, dry_run)
        members = {m.lower() for m in _list(g, "member")}
        if dn.lower() not in members:
            pg = _int(_first(a, "primarygroupid"))
            gsid = sid_text(_first(g, "objectsid"))
            if pg is not None and rid(gsid) == pg:
                raise ResponseError(f"{gdn} is the primary group of {dn}: change primaryGroupID"
                                    " first; removing a member value cannot do it")
            res.message = f"not a direct member of {gdn} (nested membership is not changed)"
            res.done = not dry_run
            return res
        res.changes.append(Change(gdn, "member", "delete", dn, None, f"remove {dn}"))
        return self._apply(res, lambda: dn.lower() not in {
            m.lower() for m in _list(self.find(gdn, kind="group")[1], "member")})

    # --- writing -------------------------------------------------------------------------------

    def _apply(self, res: ActionResult, verify: Any) -> ActionResult:
        import ldap3

        if res.dry_run:
            res.message = "would change " + ", ".join(c.attribute for c in res.changes)
            return res
        for c in res.changes:
            if c.operation == "delete":
                mod = {c.attribute: [(ldap3.MODIFY_DELETE, [c.old])]}
            else:
                mod = {c.attribute: [(ldap3.MODIFY_REPLACE, [str(c.new)])]}
            if not self.conn.modify(c.dn, mod):
                r = self.conn.result or {}
                raise ResponseError(f"{c.dn}: modify {c.attribute} refused: "
                                    f"{r.get('description')} {r.get('message', '')}".strip())
        if not verify():
            raise ResponseError(f"{res.target}: the change was accepted but does not read back")
        res.done = True
        res.message = "changed " + ", ".join(c.attribute for c in res.changes)
        return res


def run_action(conn: Any, action: str, name: str, group: str | None = None,
               dry_run: bool = True, force: bool = False, base: str | None = None
               ) -> ActionResult:
    """Dispatch one action by its CLI name."""
    r = Responder(conn, base)
    if action == "disable-user":
        return r.disable_user(name, dry_run, force)
    if action == "enable-user":
        return r.enable_user(name, dry_run, force)
    if action == "force-password-reset":
        return r.force_password_reset(name, dry_run, force)
    if action == "remove-from-group":
        if not group:
            raise ResponseError("remove-from-group needs a group")
        return r.remove_from_group(name, group, dry_run, force)
    raise ResponseError(f"unknown action {action!r} (known: {', '.join(ACTIONS)})")
