"""LDAPv3 messages (RFC 4511 section 4) and search filters in RFC 4515 string form.

Decodes what detection needs: binds (name, simple/SASL/Sicily, never the password: only
whether a cleartext one was sent), searches (base, scope, filter, attributes, limits),
results, and add/modify/delete/modDN with attribute names and the values of a small allow-list
of security-relevant attributes. SASL wrapping and activities: ``ldap_activity``.
Validated against tshark: tests/protocols/test_ldap.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from dcwatch.errors import Malformed
from dcwatch.protocols import asn1, secdesc
from dcwatch.protocols.asn1 import MAX_DEPTH, children, expect, tlv

# RFC 4511 section 4.2 .. 4.14: protocolOp [APPLICATION n] identifier octets.
BIND_REQ, BIND_RESP, UNBIND_REQ = 0x60, 0x61, 0x42
SEARCH_REQ, SEARCH_ENTRY, SEARCH_DONE, SEARCH_REF = 0x63, 0x64, 0x65, 0x73
MODIFY_REQ, MODIFY_RESP, ADD_REQ, ADD_RESP = 0x66, 0x67, 0x68, 0x69
DEL_REQ, DEL_RESP, MODDN_REQ, MODDN_RESP = 0x4A, 0x6B, 0x6C, 0x6D
COMPARE_REQ, COMPARE_RESP, ABANDON_REQ = 0x6E, 0x6F, 0x50
EXTENDED_REQ, EXTENDED_RESP, INTERMEDIATE_RESP = 0x77, 0x78, 0x79
RESPONSES = {BIND_RESP, SEARCH_DONE, MODIFY_RESP, ADD_RESP, DEL_RESP, MODDN_RESP,
             COMPARE_RESP, EXTENDED_RESP}
SCOPES = {0: "base", 1: "one", 2: "sub"}  # RFC 4511 4.5.1.2
MODIFY_OPS = {0: "add", 1: "delete", 2: "replace", 3: "increment"}  # RFC 4511 4.6, RFC 4525
SASL_IN_PROGRESS = 14  # RFC 4511 4.1.9 saslBindInProgress
# MS-ADTS 6.3.1.9 / 6.3.5: opcodes of the LDAP ping's Netlogon answer (NETLOGON_NT_VERSION_5EX
# answers 23/25, older clients get 19/21); "unknown" = no account matched the User/AAC clauses
NETLOGON_OPCODES = {19: "LOGON_SAM_LOGON_RESPONSE", 21: "LOGON_SAM_USER_UNKNOWN",
                    23: "LOGON_SAM_LOGON_RESPONSE_EX", 25: "LOGON_SAM_USER_UNKNOWN_EX"}
STARTTLS_OID = "1.3.6.1.4.1.1466.20037"  # RFC 4511 4.14.1
# Security attributes whose values we keep (MS-ADTS / alerts.md 0.5), lowercase.
VALUE_ATTRS = {"serviceprincipalname", "useraccountcontrol", "member", "sidhistory",
               "dnshostname", "samaccountname", "gpcfilesyspath", "msds-allowedtodelegateto",
               "msds-supportedencryptiontypes", "primarygroupid",
               # an account takeover rewrites these (MFA phone, logon script, certificate
               # mapping): honeytoken-attribute-modified shows the new value
               "mobile", "othermobile", "telephonenumber", "mail", "userprincipalname",
               "displayname", "description", "scriptpath", "profilepath", "homedirectory",
               "altsecurityidentities"}
# Security attributes we only mark as present (secrets or large binary blobs).
PRESENCE_ATTRS = {"msds-keycredentiallink", "unicodepwd", "userpassword", "dbcspwd",
                  "supplementalcredentials"}
# Binary security descriptors, rendered as SDDL as 5136 logs them: nTSecurityDescriptor and
# RBCD's msDS-AllowedToActOnBehalfOfOtherIdentity (its DACL names who may delegate).
SD_ATTRS = {"ntsecuritydescriptor", "msds-allowedtoactonbehalfofotheridentity"}
SID_ATTRS = {"sidhistory", "objectsid"}
MAX_VALUES = 64  # values kept per attribute


@dataclass(slots=True)
class LdapOp:
    """One decoded LDAPMessage: its ID, protocolOp tag and the fields that matter."""

    message_id: int
    op: int
    info: dict[str, Any] = field(default_factory=dict)


# RFC 4515 section 3: characters a filter value escapes (``* ( ) \\``, controls, DEL), found
# by one regex search and replaced by one str.translate, not tested one by one in Python
# (every search filter has values; CLDAP pings carry binary NtVer values)
_SPECIAL = re.compile(r"[*()\\\x00-\x1f\x7f]")
_ESCAPES = {c: f"\\{c:02x}" for c in (*range(0x20), 0x7F, *map(ord, "*()\\"))}


def escape_value(raw: bytes) -> str:
    """RFC 4515 section 3 value escaping: ``* ( ) \\``, controls and non-UTF-8 as ``\\xx``."""
    try:
        s = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "".join(f"\\{x:02x}" for x in raw)
    if _SPECIAL.search(s) is None:
        return s
    return s.translate(_ESCAPES)


def render_filter(b: bytes, off: int, end: int, depth: int = 0) -> tuple[str, int]:
    """Render the Filter (RFC 4511 4.5.1.7) at ``off`` as an RFC 4515 string; return next off."""
    if depth > MAX_DEPTH:
        raise Malformed(f"ldap: filter nested deeper than {MAX_DEPTH}")
    t, s, e = tlv(b, off, end)
    if t in (0xA0, 0xA1):  # and [0], or [1]: SET OF Filter
        parts = []
        o = s
        while o < e:
            text, o = render_filter(b, o, e, depth + 1)
            parts.append(text)
        return f"({'&' if t == 0xA0 else '|'}{''.join(parts)})", e
    if t == 0xA2:  # not [2]
        text, _ = render_filter(b, s, e, depth + 1)
        return f"(!{text})", e
    if t in (0xA3, 0xA5, 0xA6, 0xA8):  # AttributeValueAssertion
        ops = {0xA3: "=", 0xA5: ">=", 0xA6: "<=", 0xA8: "~="}
        _, as_, ae = tlv(b, s, e)
        _, vs, ve = tlv(b, ae, e)
        return f"({asn1.text(b, as_, ae)}{ops[t]}{escape_value(b[vs:ve])})", e
    if t == 0x87:  # present [7] AttributeDescription
        return f"({asn1.text(b, s, e)}=*)", e
    if t == 0xA4:  # substrings [4]
        _, as_, ae = tlv(b, s, e)
        ss, se = expect(b, ae, e, asn1.SEQUENCE, "substrings")
        initial, anys, final = "", [], ""
        for ct, cs, ce in children(b, ss, se):
            v = escape_value(b[cs:ce])
            if ct == 0x80:
                initial = v
            elif ct == 0x81:
                anys.append(v)
            elif ct == 0x82:
                final = v
            else:
                raise Malformed(f"ldap: substring choice 0x{ct:02x} is not initial/any/final")
        mid = "*".join([initial, *anys, final])
        return f"({asn1.text(b, as_, ae)}={mid})", e
    if t == 0xA9:  # extensibleMatch [9] MatchingRuleAssertion
        rule = typ = ""
        value = b""
        dn = False
        for ct, cs, ce in children(b, s, e):
            if ct == 0x81:
                rule = asn1.text(b, cs, ce)
            elif ct == 0x82:
                typ = asn1.text(b, cs, ce)
            elif ct == 0x83:
                value = b[cs:ce]
            elif ct == 0x84:
                dn = asn1.boolean(b, cs, ce)
        return (f"({typ}{':dn' if dn else ''}{':' + rule if rule else ''}:="
                f"{escape_value(value)})"), e
    raise Malformed(f"ldap: filter choice 0x{t:02x} is not defined in RFC 4511 4.5.1")


def _str(b: bytes, off: int, end: int) -> tuple[str, int]:
    _, s, e = tlv(b, off, end)
    return asn1.text(b, s, e), e


def _int(b: bytes, off: int, end: int) -> tuple[int, int]:
    t, s, e = tlv(b, off, end)
    if t not in (asn1.INTEGER, asn1.ENUMERATED):
        raise Malformed(f"ldap: INTEGER expected, found tag 0x{t:02x}")
    return asn1.int_value(b, s, e), e


def sid_text(raw: bytes) -> str:
    """Binary SID (MS-DTYP 2.4.2.2) as ``S-1-...``; hex when it does not parse."""
    if len(raw) < 8 or len(raw) != 8 + 4 * raw[1]:
        return raw.hex()
    subs = [str(int.from_bytes(raw[8 + 4 * i : 12 + 4 * i], "little")) for i in range(raw[1])]
    return "-".join(["S", str(raw[0]), str(int.from_bytes(raw[2:8], "big")), *subs])


def _attribute(b: bytes, s: int, e: int) -> tuple[str, Any]:
    """PartialAttribute: name, and its values if allow-listed (``True`` for presence-only)."""
    name, o = _str(b, s, e)
    low = name.lower()
    if low in SD_ATTRS:  # binary: rendered as SDDL, as 5136 logs it
        vs, ve = expect(b, o, e, asn1.SET, "vals")
        return name, [secdesc.to_sddl(bytes(b[cs:ce])) for _, cs, ce in children(b, vs, ve)][
            :MAX_VALUES]
    if low in PRESENCE_ATTRS:
        return name, True
    if low not in VALUE_ATTRS:
        return name, None
    vs, ve = expect(b, o, e, asn1.SET, "vals")
    vals = []
    for _, cs, ce in children(b, vs, ve):
        raw = b[cs:ce]
        vals.append(sid_text(raw) if low in SID_ATTRS else raw.decode("utf-8", "replace"))
        if len(vals) >= MAX_VALUES:
            break
    return name, vals


def _netlogon(b: bytes, s: int, e: int) -> dict[str, Any]:
    """The opcode of a ``Netlogon`` value in a SearchResultEntry (RFC 4511 4.5.2): the answer
    to an LDAP ping (MS-ADTS 6.3.3), whose first two octets say what the DC found (6.3.1.9)."""
    _, ns, o = tlv(b, s, e)  # objectName: "" for the rootDSE, which an LDAP ping reads;
    if ns != o or o >= e:  # other entries (thousands in a directory dump) are not looked into
        return {}
    ls, le = expect(b, o, e, asn1.SEQUENCE, "attributes")
    for _, xs, xe in children(b, ls, le):
        name, q = _str(b, xs, xe)
        if name.lower() != "netlogon":
            continue
        vs, ve = expect(b, q, xe, asn1.SET, "vals")
        for _, cs, ce in children(b, vs, ve):
            if ce - cs >= 2:
                out: dict[str, Any] = {"netlogon_opcode": int.from_bytes(b[cs:cs + 2], "little")}
                out.update(netlogon_names(b[cs:ce]))
                return out
    return {}


def netlogon_names(v: bytes) -> dict[str, Any]:
    """The DC's names in a NETLOGON_SAM_LOGON_RESPONSE_EX (MS-ADTS 6.3.1.9, opcodes 23/25):
    Opcode, Sbz, Flags, DomainGuid, then RFC 1035 names (compressed, pointers relative to the
    structure): DnsForestName, DnsDomainName, DnsHostName, NetbiosDomainName,
    NetbiosComputerName, UserName, DcSiteName, ClientSiteName. {} for anything else."""
    if len(v) < 24 or int.from_bytes(v[:2], "little") not in (23, 25):
        return {}
    flags = int.from_bytes(v[4:8], "little")
    names: list[str] = []
    o = 24
    try:
        for _ in range(8):
            name, o = _rfc1035(v, o)
            names.append(name)
    except (IndexError, ValueError):
        return {}
    out: dict[str, Any] = {"netlogon_flags": flags}
    for key, value in zip(("netlogon_forest", "netlogon_domain_dns", "netlogon_dc_dns",
                           "netlogon_domain", "netlogon_dc_name", "netlogon_user",
                           "netlogon_dc_site", "netlogon_client_site"), names, strict=True):
        if value:
            out[key] = value
    return out


def _rfc1035(v: bytes, o: int) -> tuple[str, int]:
    """A compressed name at ``o`` (labels, or a 0xC0 pointer into ``v``); (name, offset after)."""
    labels: list[str] = []
    end = -1
    hops = 0
    while True:
        n = v[o]
        if n == 0:
            o += 1
            break
        if n & 0xC0 == 0xC0:
            if end < 0:
                end = o + 2
            o = ((n & 0x3F) << 8) | v[o + 1]
            hops += 1
            if hops > 16:
                raise ValueError("pointer loop")
            continue
        if n & 0xC0 or o + 1 + n > len(v):
            raise ValueError("bad label")
        labels.append(v[o + 1:o + 1 + n].decode("utf-8", "replace"))
        o += 1 + n
    return ".".join(labels), (end if end >= 0 else o)


def result(b: bytes, s: int, e: int) -> dict[str, Any]:
    """LDAPResult (RFC 4511 4.1.9): code, matched DN, diagnostic message."""
    code, o = _int(b, s, e)
    matched, o = _str(b, o, e)
    diag, o = _str(b, o, e)
    return {"result_code": code, "matched_dn": matched, "diagnostic": diag}


def parse_message(b: bytes, off: int, end: int) -> tuple[LdapOp, int]:
    """Parse the LDAPMessage at ``off`` (RFC 4511 4.2); return it and the offset after it."""
    s, e = expect(b, off, end, asn1.SEQUENCE, "LDAPMessage")
    msgid, o = _int(b, s, e)
    op, os_, oe = tlv(b, o, e)
    info: dict[str, Any] = {}
    if op == BIND_REQ:
        info["version"], p = _int(b, os_, oe)
        info["name"], p = _str(b, p, oe)
        at, as_, ae = tlv(b, p, oe)
        if at == 0x80:  # simple [0]: never keep the password, only whether one was sent
            info.update(auth="simple", cleartext_password=ae > as_)
        elif at == 0xA3:  # sasl [3] SaslCredentials
            info["auth"] = "sasl"
            info["mechanism"], q = _str(b, as_, ae)
            if q < ae:
                _, cs, ce = tlv(b, q, ae)
                info["credentials"] = b[cs:ce]
        elif at in (0x89, 0x8A, 0x8B):  # MS-ADTS 5.1.1.1.3 Sicily discovery/negotiate/response
            info.update(auth="sicily", mechanism="NTLM", credentials=b[as_:ae])
        else:
            info["auth"] = f"0x{at:02x}"
    elif op == SEARCH_REQ:
        info["base"], p = _str(b, os_, oe)
        scope, p = _int(b, p, oe)
        info["scope"] = scope
        info["deref"], p = _int(b, p, oe)
        info["size_limit"], p = _int(b, p, oe)
        info["time_limit"], p = _int(b, p, oe)
        _, _, p = tlv(b, p, oe)  # typesOnly
        info["filter"], p = render_filter(b, p, oe)
        attrs: list[str] = []
        if p < oe:
            ls, le = expect(b, p, oe, asn1.SEQUENCE, "attributes")
            attrs = [asn1.text(b, cs, ce) for _, cs, ce in children(b, ls, le)]
        info["attributes"] = attrs
    elif op in RESPONSES:
        info.update(result(b, os_, oe))
        if op in (EXTENDED_RESP, BIND_RESP):
            for ct, cs, ce in children(b, os_, oe):
                if ct == 0x87:  # serverSaslCreds [7]
                    info["server_credentials"] = b[cs:ce]
    elif op == SEARCH_ENTRY:
        info.update(_netlogon(b, os_, oe))
    elif op == MODIFY_REQ:
        info["dn"], p = _str(b, os_, oe)
        cs_, ce_ = expect(b, p, oe, asn1.SEQUENCE, "changes")
        changes = []
        for _, xs, xe in children(b, cs_, ce_):
            mop, q = _int(b, xs, xe)
            ms, me = expect(b, q, xe, asn1.SEQUENCE, "modification")
            name, vals = _attribute(b, ms, me)
            changes.append((MODIFY_OPS.get(mop, str(mop)), name, vals))
        info["changes"] = changes
    elif op == ADD_REQ:
        info["dn"], p = _str(b, os_, oe)
        ls, le = expect(b, p, oe, asn1.SEQUENCE, "attributes")
        info["changes"] = [("add", *_attribute(b, xs, xe)) for _, xs, xe in children(b, ls, le)]
    elif op == DEL_REQ:
        info["dn"] = asn1.text(b, os_, oe)
    elif op == MODDN_REQ:
        info["dn"], p = _str(b, os_, oe)
        info["new_rdn"], p = _str(b, p, oe)
        _, ds, de = tlv(b, p, oe)
        info["delete_old_rdn"] = asn1.boolean(b, ds, de)
        if de < oe:
            _, ns, ne = tlv(b, de, oe)
            info["new_superior"] = asn1.text(b, ns, ne)
    elif op == EXTENDED_REQ:
        for ct, cs, ce in children(b, os_, oe):
            if ct == 0x80:  # requestName [0]
                info["oid"] = asn1.text(b, cs, ce)
    if oe < e:  # controls [0] (RFC 4511 4.1.11)
        ct, cs, ce = tlv(b, oe, e)
        if ct == 0xA0:
            info["controls"] = [_str(b, xs, xe)[0] for _, xs, xe in children(b, cs, ce)]
    return LdapOp(msgid, op, info), e
