"""JetStream set-up shared by sensors and the center (needs ``nats-py``: the ``bus`` extra)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dcwatch.bus.wire import stream_name, subjects
from dcwatch.errors import ConfigError


@dataclass(slots=True)
class BusOptions:
    """Connection and stream settings (docs/deployment.md, configuration reference)."""

    url: str = "nats://127.0.0.1:4222"
    creds: str | None = None  # NATS credentials file (user JWT + nkey seed)
    user: str | None = None
    password: str | None = None
    token: str | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    duplicate_window: float = 2 * 3600.0  # seconds: JetStream drops a re-sent uid inside it
    max_age: float = 7 * 86400.0  # seconds an activity stays in the stream (replay after crash)
    max_bytes: int = -1  # stream size bound (-1: only max_age)
    replicas: int = 1


def nats_module() -> Any:
    try:
        import nats
    except ImportError:
        raise ConfigError("the bus needs nats-py: pip install 'dcwatch[bus]'") from None
    return nats


async def connect(opts: BusOptions, name: str, **callbacks: Any) -> Any:
    """A NATS connection that reconnects for ever (callbacks: error_cb, disconnected_cb, ...)."""
    nats = nats_module()
    kw: dict[str, Any] = {"servers": [u.strip() for u in opts.url.split(",")], "name": name,
                          "allow_reconnect": True, "max_reconnect_attempts": -1,
                          "reconnect_time_wait": 0.5, "connect_timeout": 2,
                          "pending_size": 8 << 20}
    if opts.creds:
        kw["user_credentials"] = opts.creds
    if opts.user:
        kw["user"], kw["password"] = opts.user, opts.password
    if opts.token:
        kw["token"] = opts.token
    if opts.tls_ca or opts.tls_cert:
        import ssl

        ctx = ssl.create_default_context(cafile=opts.tls_ca)
        if opts.tls_cert:
            ctx.load_cert_chain(opts.tls_cert, opts.tls_key)
        kw["tls"] = ctx
    kw.update(callbacks)
    return await nats.connect(**kw)


async def ensure_stream(js: Any, site: str, opts: BusOptions) -> str:
    """Create (or update) the site's stream; returns its name."""
    from nats.js import api
    from nats.js.errors import NotFoundError

    name = stream_name(site)
    cfg = api.StreamConfig(
        name=name, subjects=[subjects(site)], retention=api.RetentionPolicy.LIMITS,
        storage=api.StorageType.FILE, discard=api.DiscardPolicy.OLD,
        duplicate_window=opts.duplicate_window, max_age=opts.max_age,
        max_bytes=opts.max_bytes, num_replicas=opts.replicas,
        description=f"dcwatch activities of site {site}")
    try:
        await js.stream_info(name)
        await js.update_stream(cfg)
    except NotFoundError:
        await js.add_stream(cfg)
    return name
