"""DCShadow scenario of the dcwatch lab: a workstation registered as a domain controller pushes
changes through replication (mimikatz ``lsadump::dcshadow``).

Loaded by lab/run.py (``load_extra_scenarios``): ``install(run)`` registers the scenario with
run.py's ``scenario`` decorator; the attack steps live in lab/attacks_dcshadow.py.
"""

from __future__ import annotations

MOD = "lab.attacks_dcshadow"


def install(run) -> None:
    PW = run.PW
    da = ("--user", "da.admin", "--password", PW["da.admin"])

    step = run.module_step(MOD)

    @run.scenario(
        "dcshadow",
        expected="2028;2029",
        key_entities="da.admin;WS1;WS1$;10.77.0.21;DC01;10.77.0.10",
        notes="DCShadow (mimikatz lsadump::dcshadow) from WS1 as da.admin (Domain Admins; logged "
        "on with kinit, SYSVOL listed over SMB/NTLM). Registration: LDAP AddRequest (simple "
        "bind, cleartext) of the server object CN=WS1,CN=Servers,CN=Default-First-Site-Name,"
        "CN=Sites,CN=Configuration (dNSHostName, serverReference = WS1$); its nTDSDSA child "
        "CN=NTDS Settings created with DRSUAPI IDL_DRSAddEntry (opnum 17, NTLM, packet privacy; "
        "nTDSDSA is system-only over LDAP), accepted; an LDAP ModifyRequest adds the SPNs "
        "GC/ws1.contoso.local/contoso.local and E3514235-4B06-11D1-AB04-00C04FC2DCD2/<dsa "
        "guid>/contoso.local to WS1$. Push: DRSBind + "
        "IDL_DRSReplicaAdd (opnum 5) for DC=contoso,DC=local naming <dsa guid>._msdcs."
        "contoso.local as the replication source. Samba 4.17 implements no DsReplicaAdd (its "
        "replication service answers NT_STATUS_NOT_IMPLEMENTED, the client gets DCE/RPC fault "
        "0x6d8, cannot perform), so the DC never connects back to WS1: no DRSGetNCChanges "
        "from the DC to the rogue, no object change pushed. Unregistration over LDAP: the added "
        "SPNs removed, the nTDSDSA and server objects deleted. 2028: DC SPNs written to a "
        "computer that is not a DC (wire and audit); 2029: DRSReplicaAdd from a non-DC.",
        audit_expected="2028",
    )
    def sc_dcshadow(s):
        run.machine_logon(s, "dcw-ws1")
        run.kinit(s, "dcw-ws1", "da.admin", PW["da.admin"], "da.cc", "da.admin logs on at WS1")
        run.tool(s, "dcw-ws1", f"smbclient -n WS1 //dc01.{run.DNS_DOMAIN}/sysvol "
                 f"-U 'CONTOSO\\da.admin%{PW['da.admin']}' -c 'ls'", "da.admin maps SYSVOL (NTLM)")
        step(s, "register", *da, "--host", "WS1",
             desc="lsadump::dcshadow: WS1 registered as a DC (server + nTDSDSA objects, SPNs)")
        step(s, "push", *da, "--host", "WS1",
             desc="lsadump::dcshadow /push: DRSBind + DRSReplicaAdd naming WS1's DSA")
        step(s, "unregister", *da, "--host", "WS1",
             desc="lsadump::dcshadow: WS1's DC registration removed")
