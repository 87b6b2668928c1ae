"""RBCD and shadow-credential scenarios of the dcwatch lab: a machine account writing
msDS-AllowedToActOnBehalfOfOtherIdentity (KrbRelayUp), RBCD on krbtgt used through S4U2proxy,
a key credential written to another account followed by PKINIT.

They need Samba 4.19+ (RBCD, the 2016 schema's msDS-KeyCredentialLink): recorded with
`python3 lab/run.py --samba backports` (Samba 4.22 from bookworm-backports). Loaded by
lab/run.py (``load_extra_scenarios``); the attack steps live in lab/attacks_rbcd.py.
"""

from __future__ import annotations

MOD = "lab.attacks_rbcd"
TRUSTED_TO_AUTH_FOR_DELEGATION = 0x1000000
NOTE_S4U = (
    " Samba's KDC (Heimdal) requires a forwardable evidence ticket for S4U2proxy also under "
    "RBCD (Windows does not), and S4U2self tickets are forwardable only for accounts with "
    "TRUSTED_TO_AUTH_FOR_DELEGATION, so the lab sets that flag on {who} on the DC (ldbmodify, "
    "no network) before the capture's traffic."
)
NOTE_SCHEMA = (
    " The backports DC clears the schema's systemOnly flag of "
    "msDS-AllowedToActOnBehalfOfOtherIdentity at provisioning: Samba enforces it on LDAP writes "
    "(\"can only be modified as system\"), Windows does not."
)


def install(run) -> None:
    PW = run.PW
    COMP = dict(run.COMPUTERS)

    step = run.module_step(MOD)

    def logon(s, user: str) -> None:
        """The attacker's session on WS1 before the LDAP work (kinit, SYSVOL over NTLM)."""
        run.kinit(s, "dcw-ws1", user, PW[user], f"{user}.cc", f"{user} logs on at WS1 (kinit)")
        run.tool(s, "dcw-ws1", f"smbclient -n WS1 //dc01.{run.DNS_DOMAIN}/sysvol "
                 f"-U 'CONTOSO\\{user}%{PW[user]}' -c 'ls'", f"{user} maps SYSVOL (NTLM)")

    def trusted_to_auth(s, dn: str, uac: int, who: str) -> None:
        run.ldbmodify(f"dn: {dn}\nchangetype: modify\nreplace: userAccountControl\n"
                      f"userAccountControl: {uac | TRUSTED_TO_AUTH_FOR_DELEGATION}\n")
        s.steps.append(f"DC01 (local, no network): TRUSTED_TO_AUTH_FOR_DELEGATION set on {who} "
                       "with ldbmodify (Samba wants forwardable S4U2self tickets for RBCD)")

    @run.scenario(
        "rbcd_machine_write",
        expected="2423",
        key_entities="WS1$;WS1;WS2$;Administrator;DC01;10.77.0.21",
        notes="KrbRelayUp / rbcd.py pattern on Samba 4.22 (bookworm-backports) from WS1: WS1 "
        "starts up (its machine account logs on, MIT kinit, and lists SYSVOL over SMB with "
        "Kerberos), then the attacker on WS1 uses "
        "WS1's machine account (its relayed authentication; here its machine password) for an "
        "LDAP simple bind (cleartext) and replaces msDS-AllowedToActOnBehalfOfOtherIdentity of "
        "WS1's own computer object with rbcd.py's descriptor (owner BUILTIN\\Administrators, "
        "one ACCESS_ALLOWED ACE 0xF01FF for WS2$, a computer the attacker controls): accepted "
        "(SELF may write it). Then, still from WS1, WS2$ gets a TGT and sends S4U2self for "
        "Administrator (granted, forwardable) and S4U2proxy with PA-PAC-OPTIONS "
        "resource-based-constrained-delegation to cifs/ws1.contoso.local (granted through the "
        "RBCD just written)." + NOTE_S4U.format(who="WS2$") + NOTE_SCHEMA,
        audit_expected="2423",
        samba="backports",
    )
    def sc_rbcd_machine_write(s):
        trusted_to_auth(s, f"CN=WS2,CN=Computers,{run.BASE_DN}", 0x1000, "WS2$")
        run.machine_logon(s, "dcw-ws1")
        run.smbclient_krb(s, "dcw-ws1", "ws1machine.cc", "sysvol", "ls",
                          "WS1 reads SYSVOL at startup (Group Policy, Kerberos)")
        step(s, "rbcd_write", "--user", "WS1$", "--password", COMP["WS1"], "--target", "WS1$",
             "--delegate-from", "WS2$",
             desc="rbcd.py -delegate-from WS2$ -delegate-to WS1$ -action write as WS1$")
        step(s, "s4u", "--user", "WS2$", "--password", COMP["WS2"], "--impersonate",
             "Administrator", "--spn", f"cifs/ws1.{run.DNS_DOMAIN}",
             desc="getST.py -spn cifs/ws1.contoso.local -impersonate Administrator as WS2$")

    @run.scenario(
        "golden_ticket_rbcd",
        expected="2040",
        key_entities="da.admin;svc_sql;krbtgt;Administrator;DC01;WS1;10.77.0.21",
        notes="RBCD on KRBTGT on Samba 4.22 (bookworm-backports) from WS1: da.admin (logged on "
        "with kinit, SYSVOL listed over SMB/NTLM) writes msDS-AllowedToActOnBehalfOfOtherIdentity "
        "of CN=krbtgt over cleartext LDAP (simple bind), allowing svc_sql (an account with the "
        "SPN MSSQLSvc/sql01.contoso.local:1433); svc_sql then gets a TGT, S4U2self for "
        "Administrator and S4U2proxy (PA-PAC-OPTIONS RBCD) to krbtgt/CONTOSO.LOCAL: the KDC "
        "issues the ticket (a TGT for Administrator). Its use for TGS-REQs (cifs/, ldap/dc01) "
        "and an SMB session setup is refused by Samba's KDC with KDC_ERR_TGT_REVOKED (Samba "
        "does not accept an S4U2proxy ticket as a TGT; Windows does)."
        + NOTE_S4U.format(who="svc_sql") + NOTE_SCHEMA,
        audit_expected="2040",
        samba="backports",
    )
    def sc_golden_rbcd(s):
        trusted_to_auth(s, f"CN=svc_sql,CN=Users,{run.BASE_DN}", 0x200, "svc_sql")
        logon(s, "da.admin")
        step(s, "rbcd_write", "--user", "da.admin", "--password", PW["da.admin"], "--target",
             "krbtgt", "--delegate-from", "svc_sql",
             desc="rbcd.py -delegate-from svc_sql -delegate-to krbtgt -action write")
        step(s, "s4u_krbtgt", "--user", "svc_sql", "--password", PW["svc_sql"],
             "--impersonate", "Administrator",
             desc="getST.py -spn krbtgt/CONTOSO.LOCAL -impersonate Administrator as svc_sql, "
             "the ticket used for TGS + SMB")

    @run.scenario(
        "shadow_credentials",
        expected="2431",
        key_entities="hd.admin;bob;DC01;WS1;10.77.0.21",
        notes="Shadow credentials on Samba 4.22 (bookworm-backports) from WS1: the helpdesk "
        "admin hd.admin (Account Operators; logged on with kinit, SYSVOL listed over SMB/NTLM) "
        "adds a KeyCredential to msDS-KeyCredentialLink of bob over cleartext LDAP (simple "
        "bind; pyWhisker --action add: a new RSA-2048 key, KEYCREDENTIALLINK_BLOB version 2 "
        "with KeyID, KeyHash, BCRYPT_RSAKEY_BLOB key material, KeyUsage NGC, KeySource AD, a "
        "random DeviceId, as DN-Binary B:<len>:<hex>:<bob's DN>): accepted. Then a PKINIT "
        "AS-REQ for bob with that key and a self-signed certificate (MIT kinit -X "
        "X509_user_identity, PA-PK-AS-REQ with DH): Samba's KDC has no PKINIT set up and "
        "answers KRB_AP_ERR_BAD_INTEGRITY, no TGT; kinit falls back to a password it does not "
        "have.",
        audit_expected="2431",
        samba="backports",
    )
    def sc_shadow_credentials(s):
        logon(s, "hd.admin")
        step(s, "shadow_credentials", "--user", "hd.admin", "--password", PW["hd.admin"],
             "--target", "bob",
             desc="pywhisker.py --action add --target bob, then PKINIT as bob")
