"""LDAPS / Global Catalog over TLS (636, 3269): only metadata is visible, nothing is decrypted.

The analyzer notes each TLS connection as the weird ``ldap_tls_connection`` (and anything that is
not a TLS record as ``ldap_tls_not_tls``) so the summary says how much LDAP was opaque.
"""

from __future__ import annotations

from dcwatch.protocols.flow import Emit, FlowInfo

TLS_HANDSHAKE = 0x16  # RFC 8446 5.1 ContentType handshake


class TlsNoteAnalyzer:
    """Counts TLS connections on LDAPS ports; ignores their bytes."""

    __slots__ = ("flow", "seen")

    def __init__(self, flow: FlowInfo, emit: Emit) -> None:
        self.flow = flow
        self.seen = False

    def data(self, from_client: bool, payload: bytes) -> None:
        """Look at the first client byte only."""
        if self.seen or not from_client or not payload:
            return
        self.seen = True
        if self.flow.context is not None:
            tls = payload[0] == TLS_HANDSHAKE
            self.flow.context.weird("ldap_tls_connection" if tls else "ldap_tls_not_tls")

    def gap(self, from_client: bool, nbytes: int) -> None:
        """Nothing to resynchronise."""

    def close(self) -> None:
        """Nothing pending."""
