"""``dcwatch serve`` (the portal) and ``dcwatch user`` (local accounts and API tokens)."""

from __future__ import annotations

import sys

import click

from dcwatch.errors import DcwatchError


def _portal(db: str):
    from dcwatch.store import Store
    from dcwatch.store.portal import Portal

    try:
        return Portal(Store(db))
    except DcwatchError as e:
        click.echo(f"dcwatch: {e}", err=True)
        sys.exit(2)


@click.command()
@click.option("--db", default="dcwatch.db", show_default=True,
              help="SQLite file (or SQLAlchemy URL) holding the alerts.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--demo", is_flag=True,
              help="Log every visitor in as a read-only demo viewer (bannered).")
@click.option("--base-url", help="Public URL of the portal (links in CEF, webhooks, Excel).")
@click.option("--notify", "targets", multiple=True,
              help="Retry pending deliveries of the outbox to this target: "
                   "syslog+udp|tcp|tls://HOST:PORT[?framing=3164] or http(s):// (repeatable).")
@click.option("--certfile", help="Serve https with this certificate (PEM).")
@click.option("--keyfile", help="Private key of --certfile.")
def serve(db: str, host: str, port: int, demo: bool, base_url: str | None,
          targets: tuple[str, ...], certfile: str | None, keyfile: str | None) -> None:
    """Run the web portal and the REST API."""
    import uvicorn

    from dcwatch.web.app import create_app

    portal = _portal(db)
    if not portal.has_users():
        user, pw = portal.add_user("admin", "admin")
        click.echo(f"dcwatch: created user '{user.name}' (role admin) with one-time password: "
                   f"{pw}\ndcwatch: sign in and choose a new password.", err=True)
    scheme = "https" if certfile else "http"
    app = create_app(portal.store, demo=demo,
                     base_url=base_url or f"{scheme}://{host}:{port}",
                     secure_cookies=True if certfile else None)
    notifier = None
    if targets:
        from dcwatch.outputs.webhook import Notifier

        notifier = Notifier(portal, targets, base_url=app.state.base_url)
        notifier.start(interval=10)
    click.echo(f"dcwatch: portal on {scheme}://{host}:{port}/"
               + (" (demo: read-only viewer)" if demo else ""), err=True)
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", ssl_certfile=certfile,
                    ssl_keyfile=keyfile)
    finally:
        if notifier:
            notifier.stop()


@click.group()
def user() -> None:
    """Portal users (roles admin, analyst, viewer) and API tokens."""


@user.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["admin", "analyst", "viewer"]), default="viewer",
              show_default=True)
@click.option("--db", default="dcwatch.db", show_default=True)
@click.option("--password-stdin", is_flag=True,
              help="Read the password from standard input instead of generating a one-time one.")
def user_add(name: str, role: str, db: str, password_stdin: bool) -> None:
    """Add a user; prints a one-time password (changed at first sign-in)."""
    portal = _portal(db)
    pw = sys.stdin.readline().rstrip("\n") if password_stdin else None
    try:
        if pw is not None and len(pw) < 8:
            raise ValueError("password must have at least 8 characters")
        u, got = portal.add_user(name, role, pw)
    except ValueError as e:
        click.echo(f"dcwatch: {e}", err=True)
        sys.exit(2)
    portal.audit("cli", "user.add", None, name=name, role=role)
    if pw is None:
        click.echo(f"user {u.name} ({u.role}) one-time password: {got}")
    else:
        click.echo(f"user {u.name} ({u.role}) added")


@user.command("list")
@click.option("--db", default="dcwatch.db", show_default=True)
def user_list(db: str) -> None:
    """List users."""
    for u in _portal(db).list_users():
        click.echo(f"{u.name}\t{u.role}" + ("\tmust change password" if u.must_change else ""))


@user.command("passwd")
@click.argument("name")
@click.option("--db", default="dcwatch.db", show_default=True)
def user_passwd(name: str, db: str) -> None:
    """Reset a password to a new one-time password."""
    import secrets

    portal = _portal(db)
    pw = secrets.token_urlsafe(12)
    if not portal.set_password(name, pw, must_change=True):
        click.echo(f"dcwatch: no user {name}", err=True)
        sys.exit(2)
    portal.audit("cli", "user.reset_password", None, name=name)
    click.echo(f"user {name} one-time password: {pw}")


@user.command("role")
@click.argument("name")
@click.argument("role", type=click.Choice(["admin", "analyst", "viewer"]))
@click.option("--db", default="dcwatch.db", show_default=True)
def user_role(name: str, role: str, db: str) -> None:
    """Change a user's role."""
    portal = _portal(db)
    if not portal.set_role(name, role):
        click.echo(f"dcwatch: no user {name}", err=True)
        sys.exit(2)
    portal.audit("cli", "user.role", None, name=name, role=role)


@user.command("delete")
@click.argument("name")
@click.option("--db", default="dcwatch.db", show_default=True)
def user_delete(name: str, db: str) -> None:
    """Delete a user."""
    portal = _portal(db)
    if not portal.delete_user(name):
        click.echo(f"dcwatch: no user {name}", err=True)
        sys.exit(2)
    portal.audit("cli", "user.delete", None, name=name)


@user.command("token")
@click.argument("name")
@click.option("--label", default="api", show_default=True)
@click.option("--db", default="dcwatch.db", show_default=True)
def user_token(name: str, label: str, db: str) -> None:
    """Create an API bearer token for a user (printed once)."""
    portal = _portal(db)
    try:
        token = portal.create_token(name, label)
    except ValueError as e:
        click.echo(f"dcwatch: {e}", err=True)
        sys.exit(2)
    portal.audit("cli", "token.create", None, name=name, label=label)
    click.echo(token)
