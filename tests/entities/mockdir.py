"""An ldap3 MOCK_SYNC directory shaped like the lab domain (CONTOSO.LOCAL), for unit tests."""

from __future__ import annotations

from typing import Any

import ldap3

from dcwatch.entities.directory import sid_bytes

BASE = "DC=contoso,DC=local"
DOM = "S-1-5-21-3990289225-2346223702-4027528876"
USERS = [(500, "Administrator", 0x200), (502, "krbtgt", 0x202), (1104, "da.admin", 0x200),
         (1105, "hd.admin", 0x200), (1106, "alice", 0x200), (1110, "erin", 0x200)]


def _user(conn: Any, rid: int, sam: str, uac: int, usn: int) -> None:
    conn.strategy.add_entry(f"CN={sam},CN=Users,{BASE}", {
        "objectClass": ["top", "person", "organizationalPerson", "user"],
        "objectSid": sid_bytes(f"{DOM}-{rid}"), "sAMAccountName": sam,
        "userAccountControl": str(uac), "primaryGroupID": "513", "uSNChanged": str(usn),
        "pwdLastSet": "134000000000000000", "distinguishedName": f"CN={sam},CN=Users,{BASE}"})


def _group(conn: Any, sid: str, name: str, members: list[str], container: str = "Users",
           usn: int = 100) -> None:
    dn = f"CN={name},CN={container},{BASE}"
    conn.strategy.add_entry(dn, {
        "objectClass": ["top", "group"], "objectSid": sid_bytes(sid), "sAMAccountName": name,
        "member": members, "uSNChanged": str(usn), "distinguishedName": dn})


def user_dn(sam: str) -> str:
    return f"CN={sam},CN=Users,{BASE}"


def mock_connection() -> Any:
    """A bound MOCK_SYNC connection over a small CONTOSO directory."""
    server = ldap3.Server("mock-dc01", get_info=ldap3.NONE)
    conn = ldap3.Connection(server, user="CN=svc-dcwatch,CN=Users," + BASE, password="x",
                            client_strategy=ldap3.MOCK_SYNC)
    conn.strategy.add_entry(f"CN=svc-dcwatch,CN=Users,{BASE}", {"userPassword": "x"})
    conn.strategy.add_entry(BASE, {"objectClass": ["top", "domain"],
                                   "objectSid": sid_bytes(DOM), "name": "contoso"})
    for i, (rid, sam, uac) in enumerate(USERS):
        _user(conn, rid, sam, uac, 1000 + i)
    conn.strategy.add_entry(f"CN=WS1,CN=Computers,{BASE}", {
        "objectClass": ["top", "user", "computer"], "objectSid": sid_bytes(f"{DOM}-1114"),
        "sAMAccountName": "WS1$", "userAccountControl": "4096", "primaryGroupID": "515",
        "dNSHostName": "ws1.contoso.local", "uSNChanged": "1100",
        "servicePrincipalName": ["HOST/ws1.contoso.local"]})
    conn.strategy.add_entry(f"CN=DC01,OU=Domain Controllers,{BASE}", {
        "objectClass": ["top", "user", "computer"], "objectSid": sid_bytes(f"{DOM}-1000"),
        "sAMAccountName": "DC01$", "userAccountControl": "532480", "primaryGroupID": "516",
        "dNSHostName": "dc01.contoso.local", "uSNChanged": "1101"})
    _group(conn, f"{DOM}-513", "Domain Users", [])
    _group(conn, f"{DOM}-516", "Domain Controllers", [])
    _group(conn, f"{DOM}-1116", "Tier0 Operators", [user_dn("erin")])
    _group(conn, f"{DOM}-512", "Domain Admins", [user_dn("Administrator"), user_dn("da.admin"),
                                                 f"CN=Tier0 Operators,CN=Users,{BASE}"])
    _group(conn, f"{DOM}-1103", "Helpdesk", [user_dn("hd.admin")])
    _group(conn, "S-1-5-32-548", "Account Operators", [user_dn("hd.admin")], "Builtin")
    conn.bind()
    return conn
