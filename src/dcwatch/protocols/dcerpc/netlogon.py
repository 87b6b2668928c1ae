"""Netlogon stub decoders (MS-NRPC 3.5.4.4): secure channel setup (Zerologon, CVE-2020-1472).

Zerologon shows as NetrServerReqChallenge / NetrServerAuthenticate2/3 with an all-zero client
challenge and credential, then NetrServerPasswordSet2 with an all-zero new password; the
decoders flag those all-zero values instead of copying key material into activities.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dcwatch.protocols.dcerpc.ndr import NdrReader

Decoder = Callable[[NdrReader], dict[str, Any]]

# MS-NRPC 2.2.1.3.13 NETLOGON_SECURE_CHANNEL_TYPE
CHANNEL_TYPES = {
    0: "NullSecureChannel",
    1: "MsvApSecureChannel",
    2: "WorkstationSecureChannel",
    3: "TrustedDnsDomainSecureChannel",
    4: "TrustedDomainSecureChannel",
    5: "UasServerSecureChannel",
    6: "ServerSecureChannel",
    7: "CdcServerSecureChannel",
}


def _req_challenge(r: NdrReader) -> dict[str, Any]:
    # MS-NRPC 3.5.4.4.1 NetrServerReqChallenge(PrimaryName, [string] ComputerName, ClientChallenge)
    primary = r.unique_wstr("PrimaryName")
    computer = r.wstr("ComputerName")
    challenge = r.raw(8, "ClientChallenge")
    return {"server": primary, "computer": computer, "challenge_all_zero": challenge == bytes(8)}


def _authenticate(r: NdrReader, with_flags: bool = True) -> dict[str, Any]:
    # MS-NRPC 3.5.4.4.2/3 NetrServerAuthenticate3/2(PrimaryName, AccountName,
    #   SecureChannelType, ComputerName, ClientCredential, [in,out] NegotiateFlags)
    primary = r.unique_wstr("PrimaryName")
    account = r.wstr("AccountName")
    channel = r.enum("SecureChannelType")
    computer = r.wstr("ComputerName")
    cred = r.raw(8, "ClientCredential")
    out: dict[str, Any] = {
        "server": primary,
        "account": account,
        "channel_type": CHANNEL_TYPES.get(channel, channel),
        "computer": computer,
        "credential_all_zero": cred == bytes(8),
    }
    if with_flags:
        out["negotiate_flags"] = r.u32("NegotiateFlags")
    return out


def _authenticate1(r: NdrReader) -> dict[str, Any]:
    return _authenticate(r, with_flags=False)


def _password_set2(r: NdrReader) -> dict[str, Any]:
    # MS-NRPC 3.5.4.4.5 NetrServerPasswordSet2(PrimaryName, AccountName, SecureChannelType,
    #   ComputerName, Authenticator, ClearNewPassword (NL_TRUST_PASSWORD, 516 bytes))
    primary = r.unique_wstr("PrimaryName")
    account = r.wstr("AccountName")
    channel = r.enum("SecureChannelType")
    computer = r.wstr("ComputerName")
    r.align(4)  # NETLOGON_AUTHENTICATOR holds a ULONG
    auth = r.raw(12, "Authenticator")
    password = r.raw(516, "ClearNewPassword")
    return {
        "server": primary,
        "account": account,
        "channel_type": CHANNEL_TYPES.get(channel, channel),
        "computer": computer,
        "authenticator_all_zero": auth == bytes(12),
        "password_all_zero": password == bytes(516),
    }


def _password_set(r: NdrReader) -> dict[str, Any]:
    # MS-NRPC 3.5.4.4.6 NetrServerPasswordSet(..., Authenticator, UasNewPassword (16 bytes))
    primary = r.unique_wstr("PrimaryName")
    account = r.wstr("AccountName")
    channel = r.enum("SecureChannelType")
    computer = r.wstr("ComputerName")
    r.align(4)
    r.raw(12, "Authenticator")
    password = r.raw(16, "UasNewPassword")
    return {
        "server": primary,
        "account": account,
        "channel_type": CHANNEL_TYPES.get(channel, channel),
        "computer": computer,
        "password_all_zero": password == bytes(16),
    }


def _trust_get(r: NdrReader) -> dict[str, Any]:
    # MS-NRPC 3.5.4.4.8 NetrServerTrustPasswordsGet / 3.5.4.7.6 NetrServerGetTrustInfo:
    #   (TrustedDcName, AccountName, SecureChannelType, ComputerName, Authenticator)
    primary = r.unique_wstr("TrustedDcName")
    account = r.wstr("AccountName")
    channel = r.enum("SecureChannelType")
    computer = r.wstr("ComputerName")
    return {
        "server": primary,
        "account": account,
        "channel_type": CHANNEL_TYPES.get(channel, channel),
        "computer": computer,
    }


REQUESTS: dict[int, Decoder] = {
    4: _req_challenge,
    5: _authenticate1,
    15: _authenticate,
    26: _authenticate,
    6: _password_set,
    30: _password_set2,
    42: _trust_get,
    46: _trust_get,
}
RESPONSES: dict[int, Decoder] = {}
