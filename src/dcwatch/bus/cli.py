"""The ``--bus*`` options shared by ``dcwatch ship`` and ``dcwatch center``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click


def bus_options(fn: Callable) -> Callable:
    """The --bus option family (URL, credentials, TLS)."""
    for opt in reversed([
        click.option("--bus", "bus_url", default="nats://127.0.0.1:4222", show_default=True,
                     envvar="DCWATCH_BUS", help="NATS server URL(s), comma-separated."),
        click.option("--bus-creds", envvar="DCWATCH_BUS_CREDS", type=click.Path(dir_okay=False),
                     help="NATS credentials file (JWT + nkey)."),
        click.option("--bus-user", envvar="DCWATCH_BUS_USER"),
        click.option("--bus-password", envvar="DCWATCH_BUS_PASSWORD"),
        click.option("--bus-token", envvar="DCWATCH_BUS_TOKEN"),
        click.option("--bus-ca", type=click.Path(dir_okay=False),
                     help="CA bundle that signed the NATS server's certificate (tls://)."),
        click.option("--bus-cert", type=click.Path(dir_okay=False),
                     help="Client certificate for mutual TLS."),
        click.option("--bus-key", type=click.Path(dir_okay=False)),
    ]):
        fn = opt(fn)
    return fn


def make_bus(kw: dict[str, Any]) -> Any:
    """BusOptions from the --bus-* options (removed from ``kw``)."""
    from dcwatch.bus.jetstream import BusOptions

    return BusOptions(url=kw.pop("bus_url"), creds=kw.pop("bus_creds"),
                      user=kw.pop("bus_user"), password=kw.pop("bus_password"),
                      token=kw.pop("bus_token"), tls_ca=kw.pop("bus_ca"),
                      tls_cert=kw.pop("bus_cert"), tls_key=kw.pop("bus_key"))
