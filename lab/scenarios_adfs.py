"""AD FS scenarios of the dcwatch lab: the farm's DKM key read from Active Directory.

Samba has no AD FS, so the scenario first lays down in the DC's directory what an AD FS farm
installation leaves there (the DKM container with its key contact, the farm's service account),
locally on the DC with samba-tool / ldbmodify (no network: not in the capture), then records the
reads. Loaded by lab/run.py (``load_extra_scenarios``); attack steps in lab/attacks_adfs.py.
"""

from __future__ import annotations

import base64
import os
import uuid

MOD = "lab.attacks_adfs"
SVC = "svc_adfs"
SVC_PW = "AdfsFarm!Svc2024"
PROGRAM_DATA = "CN=Microsoft,CN=Program Data"


def install(run) -> None:
    PW = run.PW
    ADFS_DN = f"CN=ADFS,{PROGRAM_DATA},{run.BASE_DN}"

    def step(s, ns, name, *args, desc=""):
        return run.step(s, ns, name, *args, desc=desc, module=MOD)

    def ldb_value(dn: str, attr: str) -> str:
        r = run.sh(["ldbsearch", "-H", str(run.SAMBA / "private" / "sam.ldb"), "-b", dn,
                    "-s", "base", attr], ns="dcw-dc", capture=True, quiet=True)
        for line in r.stdout.splitlines():
            if line.startswith(attr + ":"):
                return line.split(":", 1)[1].strip()
        raise RuntimeError(f"no {attr} on {dn}")

    def adfs_farm(s) -> str:
        """What Install-AdfsFarm leaves in AD, written on the DC (local, no network): the
        service account, CN=ADFS under CN=Microsoft,CN=Program Data, a DKM group container
        (GUID name, DACL protected: SYSTEM, Domain/Enterprise Admins and the service account),
        its CryptoPolicy contact and a key contact whose thumbnailPhoto is a random 32-byte
        key. Returns the group container's GUID name."""
        run.samba_tool("user", "create", SVC, SVC_PW, "--description",
                       "AD FS farm service account")
        svc_sid = ldb_value(f"CN={SVC},CN=Users,{run.BASE_DN}", "objectSid")
        group, key_id = str(uuid.uuid4()), str(uuid.uuid4())
        key = base64.b64encode(os.urandom(32)).decode()
        sddl = (f"O:DAG:DAD:PAI(A;CI;GA;;;SY)(A;CI;GA;;;DA)(A;CI;GA;;;EA)"
                f"(A;CI;GA;;;{svc_sid})")
        gdn = f"CN={group},{ADFS_DN}"
        ldif = [
            f"dn: {ADFS_DN}\nchangetype: add\nobjectClass: container\n",
            f"dn: {gdn}\nchangetype: add\nobjectClass: container\n"
            f"nTSecurityDescriptor: {sddl}\n",
            f"dn: CN=CryptoPolicy,{gdn}\nchangetype: add\nobjectClass: contact\n"
            f"displayName: {key_id}\n",
            f"dn: CN={key_id},{gdn}\nchangetype: add\nobjectClass: contact\n"
            f"l: {key_id}\nthumbnailPhoto:: {key}\n",
        ]
        run.ldbmodify("\n".join(ldif))
        s.steps.append(
            f"DC01 (local, no network; setup standing in for the AD FS farm installation, "
            f"Samba has no AD FS): `samba-tool user create {SVC}`; ldbmodify adds {ADFS_DN}, "
            f"the DKM group container CN={group} (protected DACL: SYSTEM, Domain Admins, "
            f"Enterprise Admins, {SVC}: generic all), contacts CryptoPolicy and CN={key_id} "
            f"(thumbnailPhoto = 32 random bytes)")
        return group

    @run.scenario(
        "adfs_dkm_key_read",
        expected="2413",
        key_entities=f"da.admin;{SVC};WS1;10.77.0.21;WS2;DC01;ADFS",
        notes="Golden SAML preparation: the AD FS DKM key read over LDAP. Samba has no AD FS, "
        "so the scenario first writes on the DC (locally, outside the capture) what an AD FS "
        "farm installation leaves in AD: the farm's service account svc_adfs, "
        "CN=ADFS,CN=Microsoft,CN=Program Data,DC=contoso,DC=local, a GUID-named DKM group "
        "container under it (protected DACL: SYSTEM, Domain/Enterprise Admins, svc_adfs), its "
        "CryptoPolicy contact and a key contact whose thumbnailPhoto is a random 32-byte key. "
        "Legitimate read: WS2 stands in for the AD FS server; WS2$ and svc_adfs log on (kinit) "
        "and svc_adfs reads the CryptoPolicy contact and the group's key contact with "
        "thumbnailPhoto (cleartext LDAP, simple bind); svc_adfs is configured as the farm's "
        "service account in scan-options.toml (service_accounts tunable of 2413), as an "
        "operator would, so no alert. Attack: from WS1 da.admin (logged on with kinit, SYSVOL "
        "listed over SMB/NTLM) runs ADFSDump's LDAP key extraction: subtree search of "
        "CN=ADFS,... with filter (&(objectClass=contact)(!(cn=CryptoPolicy))) for "
        "thumbnailphoto (simple bind, cleartext LDAP); the key is returned.",
        audit_expected="",
        audit_tolerated="",
    )
    def sc_adfs_dkm_key_read(s):
        group = adfs_farm(s)
        run.machine_logon(s, "dcw-ws2")
        run.kinit(s, "dcw-ws2", SVC, SVC_PW, "svcadfs.cc",
                  "the AD FS service starts on WS2 (stand-in farm server): svc_adfs logs on")
        step(s, "dcw-ws2", "dkm_service_read", "--user", SVC, "--password", SVC_PW,
             "--group", group, desc="the AD FS service account loads the DKM key")
        run.machine_logon(s, "dcw-ws1")
        run.kinit(s, "dcw-ws1", "da.admin", PW["da.admin"], "da.admin.cc",
                  "da.admin logs on at WS1 (kinit)")
        run.tool(s, "dcw-ws1", f"smbclient -n WS1 //dc01.{run.DNS_DOMAIN}/sysvol "
                 f"-U 'CONTOSO\\da.admin%{PW['da.admin']}' -c 'ls'", "da.admin maps SYSVOL (NTLM)")
        step(s, "dcw-ws1", "adfsdump_ldap", "--user", "da.admin", "--password", PW["da.admin"],
             desc="ADFSDump-style DKM key extraction over LDAP")
