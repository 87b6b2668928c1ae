"""LDAP search filters as detectors see them (RFC 4515 strings from the wire or event 1644).

``clauses`` splits a filter into its simple items (attribute, matching rule, operator, value);
``enumeration_types`` (2038), ``attribute_hunts`` (2210) classify a search by what it selects;
``cldap_user`` (2437) reads the ``User`` of an LDAP ping (MS-ADTS 6.3.3).
"""

from __future__ import annotations

import re
from typing import Any

from dcwatch.model.activity import Activity

_ITEM = re.compile(r"\(([A-Za-z0-9.;-]+)((?::dn)?(?::[0-9.]+)?)?(~=|>=|<=|:=|=)([^()]*)\)")
BITAND = "1.2.840.113556.1.4.803"  # LDAP_MATCHING_RULE_BIT_AND
BITOR = "1.2.840.113556.1.4.804"
IN_CHAIN = "1.2.840.113556.1.4.1941"  # LDAP_MATCHING_RULE_IN_CHAIN
# userAccountControl bits (MS-ADTS 2.2.16) that attackers hunt for
UAC_HUNTS = {2097152: "accounts allowing DES only (USE_DES_KEY_ONLY)",
             4194304: "accounts without Kerberos pre-authentication (DONT_REQ_PREAUTH)",
             524288: "computers/accounts with unconstrained delegation "
                     "(TRUSTED_FOR_DELEGATION)",
             16777216: "accounts trusted to authenticate for delegation (protocol transition)"}
ATTR_HUNTS = {"msds-allowedtoactonbehalfofotheridentity": "resource-based constrained delegation",
              "msds-allowedtodelegateto": "constrained delegation",
              "ms-mcs-admpwd": "LAPS passwords", "mslaps-password": "LAPS passwords",
              "mslaps-encryptedpassword": "LAPS passwords",
              "msds-supportedencryptiontypes": "supported Kerberos encryption types",
              "msds-keycredentiallink": "shadow credentials (key credential links)"}
SENSITIVE_GROUP_CNS = ("domain admins", "enterprise admins", "schema admins", "administrators",
                       "account operators", "backup operators", "server operators",
                       "key admins", "enterprise key admins", "dnsadmins",
                       "group policy creator owners")


def clauses(flt: str | None) -> list[tuple[str, str, str, str]]:
    """Simple items of a filter: (attribute lower-case, rule, operator, value)."""
    if not flt:
        return []
    return [(m.group(1).lower(), (m.group(2) or "").lstrip(":dn").lstrip(":"), m.group(3),
             m.group(4)) for m in _ITEM.finditer(flt)]


def _int(v: str) -> int | None:
    try:
        return int(v)
    except ValueError:
        return None


def attribute_hunts(flt: str | None) -> list[str]:
    """What sensitive attribute values a filter selects on (2210)."""
    out: list[str] = []
    for attr, rule, _op, value in clauses(flt):
        if attr == "useraccountcontrol" and BITAND in rule:
            n = _int(value)
            for bit, what in UAC_HUNTS.items():
                if n is not None and n & bit and what not in out:
                    out.append(what)
        elif attr in ATTR_HUNTS and ATTR_HUNTS[attr] not in out:
            out.append(ATTR_HUNTS[attr])
    return out


def enumeration_types(a: Activity) -> tuple[list[str], str | None]:
    """(enumeration types, sensitive group) of a search (2038)."""
    f = a.fields
    flt = str(f.get("filter") or "")
    items = clauses(flt)
    attrs = {x for x, _, _, _ in items}
    vals = {(x, v.lower()) for x, _, _, v in items}
    types: list[str] = []

    def add(t: str) -> None:
        if t not in types:
            types.append(t)

    if ("samaccounttype", "805306368") in vals or (("objectcategory", "person") in vals and
                                                    ("objectclass", "user") in vals):
        add("all users")
    if ("objectclass", "computer") in vals or ("samaccounttype", "805306369") in vals or \
            ("objectcategory", "computer") in vals:
        add("all computers")
    if ("objectclass", "group") in vals or ("objectcategory", "group") in vals:
        add("all groups")
    if ("serviceprincipalname", "*") in vals:
        add("accounts with SPNs")
    if ("admincount", "1") in vals:
        add("admin accounts (adminCount=1)")
    if ("objectclass", "trusteddomain") in vals:
        add("domain trusts")
    if ("objectclass", "grouppolicycontainer") in vals:
        add("group policies")
    if ("objectclass", "organizationalunit") in vals:
        add("organizational units")
    group = None
    for attr, _rule, _op, value in items:
        if attr in ("memberof", "member") and "cn=" in value.lower():
            cn = value.split(",", 1)[0].split("=", 1)[-1].replace("\\", "")
            if cn.lower() in SENSITIVE_GROUP_CNS:
                group = cn
    base = str(f.get("base_dn") or "")
    wanted = {str(x).lower() for x in f.get("attributes") or ()}
    if base.lower().startswith("cn=") and "member" in wanted and "objectclass" in attrs | {""}:
        cn = base.split(",", 1)[0][3:].replace("\\", "")
        if cn.lower() in SENSITIVE_GROUP_CNS:
            group = cn
    if group:
        add(f"members of {group}")
    return types, group


def cldap_user(a: Activity) -> str | None:
    """The ``User`` asked about in a CLDAP ping (rootDSE search for ``Netlogon``)."""
    f: dict[str, Any] = a.fields
    if not f.get("cldap") and a.dst_port != 389:
        return None
    wanted = {str(x).lower() for x in f.get("attributes") or ()}
    if "netlogon" not in wanted:
        return None
    for attr, _r, op, value in clauses(str(f.get("filter") or "")):
        if attr == "user" and op == "=" and value:
            return value
    return None
