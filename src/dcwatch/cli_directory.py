"""``dcwatch directory``, ``dcwatch lmp``, ``dcwatch respond`` and ``dcwatch report``.

Registered in ``dcwatch.cli`` with ``main.add_command``. Bind passwords come from
``--password``, the ``DCW_LDAP_PASSWORD`` environment variable, or a prompt; never from the
command line in scripts (it shows in ``ps``).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

import click

from dcwatch.errors import DcwatchError


def _err(msg: str) -> None:
    click.echo(msg, err=True)


def _store(db: str) -> Any:
    from dcwatch.store import Store

    try:
        return Store(db)
    except DcwatchError as e:
        _err(f"dcwatch: {e}")
        sys.exit(2)


def _when(v: str | None) -> datetime | None:
    if not v:
        return None
    try:
        d = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{v!r}: expected an ISO date/time") from None
    return d.replace(tzinfo=UTC) if d.tzinfo is None else d


def ldap_options(f: Any) -> Any:
    """The connection options shared by ``directory sync`` and ``respond``."""
    opts = [
        click.option("--server", required=True, help="ldap://DC (plain or --start-tls) or "
                     "ldaps://DC."),
        click.option("--bind", help="Account to bind as (user@domain, DOMAIN\\user or a DN)."),
        click.option("--password", envvar="DCW_LDAP_PASSWORD",
                     help="Bind password (default: $DCW_LDAP_PASSWORD, else a prompt)."),
        click.option("--base", help="Search base (default: the defaultNamingContext)."),
        click.option("--start-tls", is_flag=True, help="StartTLS on ldap://."),
        click.option("--kerberos", is_flag=True, help="SASL GSSAPI with the current ticket "
                     "cache instead of a password."),
        click.option("--insecure", is_flag=True, help="Do not verify the server certificate."),
        click.option("--ca-file", help="CA bundle for LDAPS/StartTLS."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def _target(server: str, bind: str | None, password: str | None, base: str | None,
            start_tls: bool, kerberos: bool, insecure: bool, ca_file: str | None) -> Any:
    from dcwatch.entities.directory import LdapTarget

    if not kerberos and bind and password is None:
        password = click.prompt(f"password for {bind}", hide_input=True, err=True)
    if server.startswith("ldap://") and not start_tls and not kerberos:
        _err("dcwatch: warning: simple bind over plain LDAP sends the password in clear "
             "(use ldaps:// or --start-tls outside a lab)")
    return LdapTarget(server, bind, password, base, start_tls, kerberos, not insecure, ca_file)


# --- directory ------------------------------------------------------------------------------------


@click.group()
def directory() -> None:
    """Directory knowledge: sync from a DC over LDAP, or import a BloodHound collection."""


@directory.command("sync")
@ldap_options
@click.option("--db", required=True, help="Store to keep the directory in.")
@click.option("--full", is_flag=True, help="Read everything again (default: changes since the "
              "last sync, by uSNChanged).")
@click.option("--honeytoken", multiple=True, help="Tag an account as a honeytoken (repeatable).")
def directory_sync(server: str, bind: str | None, password: str | None, base: str | None,
                   start_tls: bool, kerberos: bool, insecure: bool, ca_file: str | None,
                   db: str, full: bool, honeytoken: tuple[str, ...]) -> None:
    """Read users, computers, groups, memberships, SPNs, UAC flags and trusts from a DC."""
    from dcwatch.entities.directory import sync_ldap
    from dcwatch.store.directory import DirectoryStore

    store = _store(db)
    ds = DirectoryStore(store)
    prev = None if full else ds.load_snapshot()
    if prev is not None and prev.source != server:
        prev = None  # USNs are per DC: another server means a full read
    t = _target(server, bind, password, base, start_tls, kerberos, insecure, ca_file)
    try:
        snap, st = sync_ldap(t, prev)
    except DcwatchError as e:
        _err(f"dcwatch: {e}")
        sys.exit(2)
    ds.save_snapshot(snap, honeytoken)
    sens = snap.sensitive()
    kinds = {k: sum(1 for o in snap.objects.values() if o.kind == k)
             for k in ("user", "computer", "group")}
    mode = "incremental" if st["incremental"] else "full"
    _err(f"dcwatch: {mode} sync of {snap.domain} from {server}: read {st['read']} object(s), "
         f"{st['deleted']} deleted; now {kinds['user']} users, {kinds['computer']} computers, "
         f"{kinds['group']} groups, {len(sens)} sensitive, {len(snap.domain_controllers())} "
         f"DC(s), {len(snap.trusts)} trust(s); highestCommittedUSN {snap.highest_usn}")


@directory.command("import")
@click.argument("paths", nargs=-1, required=True)
@click.option("--db", required=True)
@click.option("--honeytoken", multiple=True, help="Tag an account as a honeytoken (repeatable).")
def directory_import(paths: tuple[str, ...], db: str, honeytoken: tuple[str, ...]) -> None:
    """Import a BloodHound/SharpHound collection (JSON files, a folder or the zip)."""
    from dcwatch.entities.directory import load_bloodhound
    from dcwatch.store.directory import DirectoryStore

    try:
        snap = load_bloodhound(list(paths))
    except (DcwatchError, OSError, ValueError) as e:
        _err(f"dcwatch: {e}")
        sys.exit(2)
    store = _store(db)
    DirectoryStore(store).save_snapshot(snap, honeytoken)
    _err(f"dcwatch: imported {len(snap.objects)} object(s) of {snap.domain}: "
         f"{sum(len(v) for v in snap.local_admins.values())} local admin right(s), "
         f"{len(snap.sessions)} session(s), {len(snap.sensitive())} sensitive")


@directory.command("show")
@click.argument("name")
@click.option("--db", required=True)
def directory_show(name: str, db: str) -> None:
    """One object: SID, DN, flags, groups (direct and recursive), why sensitive."""
    from dcwatch.store.directory import DirectoryStore

    snap = DirectoryStore(_store(db)).load_snapshot()
    o = snap.by_name(name) if snap else None
    if o is None:
        _err(f"dcwatch: {name}: not in the directory of {db}")
        sys.exit(2)
    assert snap is not None
    sens = snap.sensitive()
    direct = sorted(snap.objects[g].qualified for g in snap.groups_of(o.sid)
                    if g in snap.objects)
    nested = sorted(snap.objects[g].qualified for g in snap.recursive_groups(o.sid)
                    if g in snap.objects)
    for k, v in (("name", o.qualified), ("kind", o.kind), ("sid", o.sid), ("dn", o.dn),
                 ("flags", ", ".join(o.flags()) or "-"), ("spns", ", ".join(o.spns) or "-"),
                 ("groups", ", ".join(direct) or "-"), ("all groups", ", ".join(nested) or "-"),
                 ("sensitive", sens.get(o.sid, "no")), ("tags", ", ".join(o.tags) or "-")):
        click.echo(f"{k:12} {v}")


@directory.command("tag")
@click.argument("name")
@click.argument("tag", type=click.Choice(["honeytoken", "sensitive"]))
@click.option("--remove", is_flag=True)
@click.option("--db", required=True)
def directory_tag(name: str, tag: str, remove: bool, db: str) -> None:
    """Tag (or untag) an account or group as honeytoken or sensitive; kept across syncs."""
    from dcwatch.store.directory import DirectoryStore

    store = _store(db)
    ds = DirectoryStore(store)
    if not ds.tag(name, tag, not remove):
        _err(f"dcwatch: {name}: not in the directory of {db}")
        sys.exit(2)
    snap = ds.load_snapshot()
    if snap is not None:
        store.save_entities(snap.entity_rows())


# --- lateral movement paths -----------------------------------------------------------------------


@click.command("lmp")
@click.argument("name", required=False)
@click.option("--db", required=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.option("--at", help="Point in time (ISO); sessions of the 48 h before it count.")
def lmp(name: str | None, db: str, fmt: str, at: str | None) -> None:
    """Lateral movement paths: of one account (from and to it), or every exposed sensitive
    account."""
    import orjson

    from dcwatch.entities.lmp import LateralMovement
    from dcwatch.store.directory import DirectoryStore

    ds = DirectoryStore(_store(db))
    snap = ds.load_snapshot()
    if snap is None:
        _err("dcwatch: no directory in this store: run dcwatch directory sync or import")
        sys.exit(2)
    sessions = ds.sessions()
    lm = LateralMovement(snap, sessions, now=_when(at))
    if name:
        data = {"account": name, "from": [p.to_dict() for p in lm.paths_from(name, 10)],
                "to": [p.to_dict() for p in lm.paths_to(name, 10)],
                "evidence": lm.evidence_for(name)}
        if fmt == "json":
            click.echo(orjson.dumps(data).decode())
            return
        for line in data["evidence"] or [f"{name}: on no lateral movement path"]:
            click.echo(line)
        return
    ex = lm.exposed_accounts()
    if fmt == "json":
        click.echo(orjson.dumps([e.to_dict() for e in ex]).decode())
        return
    if not ex:
        click.echo("no sensitive account is exposed through a lateral movement path")
    for e in ex:
        click.echo(f"{e.account} ({e.why}): {e.initiators} non-sensitive account(s) can reach "
                   f"it; credentials on {', '.join(e.computers)}")
        for p in e.samples:
            click.echo(f"    {p.text()}")


# --- response actions -----------------------------------------------------------------------------


@click.group()
def respond() -> None:
    """Response actions on AD over LDAP: disable a user, force a password reset, remove from a
    group (``--dry-run`` shows the change without writing it)."""


def _respond(action: str, name: str, group: str | None, t: Any, dry_run: bool, force: bool,
             yes: bool, db: str | None, actor: str | None) -> None:
    from dcwatch.entities.directory import connect
    from dcwatch.entities.respond import run_action

    try:
        conn = connect(t)
        try:
            plan = run_action(conn, action, name, group, dry_run=True, force=force,
                              base=t.base)
            click.echo(plan.text())
            if dry_run or not plan.changes:
                return
            if not yes and not click.confirm("apply this change?", err=True):
                _err("dcwatch: nothing changed")
                sys.exit(1)
            res = run_action(conn, action, name, group, dry_run=False, force=force,
                             base=t.base)
        finally:
            conn.unbind()
    except DcwatchError as e:
        _err(f"dcwatch: {e}")
        if db:
            _audit(db, actor or t.bind or "cli", action, name, group, error=str(e))
        sys.exit(2)
    click.echo(res.text())
    if db:
        _audit(db, actor or t.bind or "cli", action, name, group, result=res.to_dict())


def _audit(db: str, actor: str, action: str, name: str, group: str | None, **detail: Any
           ) -> None:
    from dcwatch.store.portal import Portal

    Portal(_store(db)).audit(actor, f"respond.{action}", None, target=name, group=group,
                             via="cli", **detail)


def _respond_cmd(action: str, with_group: bool = False) -> Any:
    def cmd(name: str, group: str | None = None, *, server: str, bind: str | None,
            password: str | None, base: str | None, start_tls: bool, kerberos: bool,
            insecure: bool, ca_file: str | None, dry_run: bool, force: bool, yes: bool,
            db: str | None, actor: str | None) -> None:
        t = _target(server, bind, password, base, start_tls, kerberos, insecure, ca_file)
        _respond(action, name, group, t, dry_run, force, yes, db, actor)

    from dcwatch.entities.respond import ACTIONS

    cmd.__doc__ = ACTIONS[action] + "."
    f: Any = cmd
    for o in reversed([
        click.option("--dry-run", is_flag=True, help="Show the change, write nothing."),
        click.option("--force", is_flag=True, help="Allow the built-in Administrator."),
        click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation."),
        click.option("--db", help="Store whose audit log records the action."),
        click.option("--actor", help="Who runs it, for the audit log (default: --bind)."),
    ]):
        f = o(f)
    f = ldap_options(f)
    if with_group:
        f = click.argument("group")(f)
    f = click.argument("name")(f)
    return click.command(action)(f)


for _a in ("disable-user", "enable-user", "force-password-reset"):
    respond.add_command(_respond_cmd(_a))
respond.add_command(_respond_cmd("remove-from-group", with_group=True))


# --- reports --------------------------------------------------------------------------------------


@click.command("report")
@click.argument("name", type=click.Choice(["summary", "sensitive-groups", "cleartext-passwords",
                                           "lateral-movement"]))
@click.option("--db", required=True)
@click.option("--format", "fmt", type=click.Choice(["xlsx", "html"]), default="xlsx",
              show_default=True)
@click.option("--out", "-o", help="Output file (default: dcwatch-NAME.FORMAT; - for stdout).")
@click.option("--since", help="Period start (ISO date/time, UTC).")
@click.option("--until", help="Period end (ISO date/time, UTC).")
def report(name: str, db: str, fmt: str, out: str | None, since: str | None,
           until: str | None) -> None:
    """Reports: summary, modifications to sensitive groups, passwords exposed in cleartext,
    lateral movement paths to sensitive accounts."""
    from dcwatch.outputs.reports import build, to_html, to_xlsx

    rep = build(name, _store(db), _when(since), _when(until))
    data = to_xlsx(rep) if fmt == "xlsx" else to_html(rep).encode()
    out = out or f"dcwatch-{name}.{fmt}"
    if out == "-":
        sys.stdout.buffer.write(data)
    else:
        with open(out, "wb") as f:
            f.write(data)
        rows = sum(len(s.rows) for s in rep.sheets)
        _err(f"dcwatch: {rep.title}: {rows} row(s) in {len(rep.sheets)} sheet(s) -> {out}")
