"""Authentication, roles and CSRF for the portal and the API.

Pages: a session cookie (HttpOnly, SameSite=Lax, Secure over https) names a server-side session
that holds the user and a CSRF token; every form POST must carry that token (``csrf`` field).
The login form, which has no session yet, uses a double-submit cookie. API: ``Authorization:
Bearer <token>``, or the session cookie plus an ``X-CSRF-Token`` header for changes.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from fastapi import HTTPException, Request

from dcwatch.store.portal import Portal, User

SESSION_COOKIE = "dcw_session"
LOGIN_CSRF_COOKIE = "dcw_login_csrf"
DEMO_USER = User(0, "demo", "viewer")


class LoginRequired(Exception):
    """The page needs a logged-in user."""


class PasswordChangeRequired(Exception):
    """The user logs in with a one-time password and must change it first."""


@dataclass(slots=True)
class Auth:
    """Who is making a request, and the CSRF token of their session."""

    user: User
    csrf: str = ""
    session: str = ""
    demo: bool = False
    via_token: bool = False


def portal_of(request: Request) -> Portal:
    """The Portal the app serves."""
    return request.app.state.portal


def session_auth(request: Request) -> Auth | None:
    """The session of the request's cookie, or the demo viewer in demo mode."""
    token = request.cookies.get(SESSION_COOKIE, "")
    got = portal_of(request).session(token) if token else None
    if got:
        return Auth(got[0], got[1], token)
    if request.app.state.demo:
        return Auth(DEMO_USER, demo=True)
    return None


def page_auth(request: Request) -> Auth:
    """Dependency of every page: a logged-in user (else redirect to the login page)."""
    auth = session_auth(request)
    if auth is None:
        raise LoginRequired()
    if auth.user.must_change and request.url.path not in ("/account/password", "/logout"):
        raise PasswordChangeRequired()
    request.state.auth = auth
    return auth


def check_csrf(auth: Auth, token: str | None) -> None:
    """Reject a form POST whose CSRF token does not match the session's."""
    if not auth.csrf or not token or not hmac.compare_digest(auth.csrf, token):
        raise HTTPException(403, "CSRF token missing or invalid")


def require(auth: Auth, role: str) -> None:
    """403 unless the user has at least ``role``."""
    if auth.demo or not auth.user.can(role):
        raise HTTPException(403, f"this needs the {role} role")


def api_auth(request: Request) -> Auth:
    """Dependency of every API route: a bearer token, or a session (+ CSRF header on changes)."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        user = portal_of(request).token_user(header[7:].strip())
        if user is None:
            raise HTTPException(401, "invalid token", headers={"WWW-Authenticate": "Bearer"})
        return Auth(user, via_token=True)
    token = request.cookies.get(SESSION_COOKIE, "")
    got = portal_of(request).session(token) if token else None
    if got is None or got[0].must_change:
        raise HTTPException(401, "authentication required",
                            headers={"WWW-Authenticate": "Bearer"})
    auth = Auth(got[0], got[1], token)
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        check_csrf(auth, request.headers.get("x-csrf-token"))
    return auth


def new_login_csrf() -> str:
    """A fresh double-submit token for the login form."""
    return secrets.token_urlsafe(24)
