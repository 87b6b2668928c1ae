"""Write the demo kill chain as Windows events in evtx_dump JSON lines (one event per line).

A small, synthetic but field-accurate Security/System log of a domain controller (DC01) seeing
an attack from workstation WS01: baseline logons, a domain admin's session, a remote service
creating a user and adding it to Administrators and Domain Admins, then DCSync. The lab
recording (tests/data/recordings/killchain) is the real-traffic version of the same story.

Usage: python scripts/make_demo_recording.py OUT.jsonl
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta

DOMAIN_SID = "S-1-5-21-1111111111-2222222222-3333333333"
DC = "DC01.contoso.local"
T0 = datetime(2026, 11, 30, 8, 0, 0, tzinfo=UTC)
_rid = 10_000


def sid(rid: int) -> str:
    return f"{DOMAIN_SID}-{rid}"


USERS = {"alice": 1105, "bob": 1106, "da.admin": 1104, "svc_backup": 1110, "WS01$": 1201,
         "WS02$": 1202, "DC01$": 1000}


def event(eid: int, seconds: float, data: dict, channel: str = "Security",
          provider: str = "Microsoft-Windows-Security-Auditing", computer: str = DC,
          qualifiers: int | None = None, user_sid: str | None = None) -> dict:
    global _rid
    _rid += 1
    ts = (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    ev_id: object = eid if qualifiers is None else {"#attributes": {"Qualifiers": qualifiers},
                                                    "#text": eid}
    system = {
        "Provider": {"#attributes": {"Name": provider}},
        "EventID": ev_id,
        "TimeCreated": {"#attributes": {"SystemTime": ts}},
        "EventRecordID": _rid,
        "Channel": channel,
        "Computer": computer,
        "Security": {"#attributes": {"UserID": user_sid}} if user_sid else None,
    }
    return {"Event": {"System": system, "EventData": data}}


def logon(t: float, user: str, ip: str, ws: str, logon_id: str, pkg: str = "Kerberos",
          ltype: int = 3) -> dict:
    return event(4624, t, {
        "SubjectUserSid": "S-1-0-0", "SubjectUserName": "-", "SubjectDomainName": "-",
        "SubjectLogonId": "0x0", "TargetUserSid": sid(USERS[user]), "TargetUserName": user,
        "TargetDomainName": "CONTOSO", "TargetLogonId": logon_id, "LogonType": ltype,
        "LogonProcessName": "Kerberos" if pkg == "Kerberos" else "NtLmSsp",
        "AuthenticationPackageName": pkg, "WorkstationName": ws if pkg != "Kerberos" else "-",
        "IpAddress": ip, "IpPort": "49700", "LmPackageName": "-" if pkg == "Kerberos"
        else "NTLM V2", "KeyLength": 0, "ProcessName": "-"})


def tgt(t: float, user: str, ip: str, etype: str = "0x12") -> dict:
    return event(4768, t, {
        "TargetUserName": user, "TargetDomainName": "CONTOSO.LOCAL",
        "TargetSid": sid(USERS[user]), "ServiceName": "krbtgt",
        "ServiceSid": sid(502), "TicketOptions": "0x40810010", "Status": "0x0",
        "TicketEncryptionType": etype, "PreAuthType": "2", "IpAddress": "::ffff:" + ip,
        "IpPort": "49666"})


def tgs(t: float, user: str, ip: str, service: str) -> dict:
    return event(4769, t, {
        "TargetUserName": f"{user}@CONTOSO.LOCAL", "TargetDomainName": "CONTOSO.LOCAL",
        "ServiceName": service, "ServiceSid": sid(1000), "TicketOptions": "0x40810000",
        "TicketEncryptionType": "0x12", "IpAddress": "::ffff:" + ip, "IpPort": "49667",
        "Status": "0x0", "LogonGuid": "{00000000-0000-0000-0000-000000000000}",
        "TransmittedServices": "-"})


def subject(user: str, logon_id: str) -> dict:
    return {"SubjectUserSid": sid(USERS[user]), "SubjectUserName": user,
            "SubjectDomainName": "CONTOSO", "SubjectLogonId": logon_id}


def main(out: str) -> None:
    evs = []
    # Baseline: users and the domain admin log on from their workstations.
    evs += [tgt(0, "alice", "10.0.0.21"), tgs(1, "alice", "10.0.0.21", "cifs/FS01"),
            tgt(30, "bob", "10.0.0.22"), tgs(31, "bob", "10.0.0.22", "ldap/DC01"),
            tgt(60, "da.admin", "10.0.0.22"), logon(61, "da.admin", "10.0.0.22", "-", "0x1001"),
            tgt(90, "WS01$", "10.0.0.21"), tgt(91, "WS02$", "10.0.0.22")]
    # The attacker on WS01 authenticates with the domain admin's stolen credentials.
    evs += [tgt(600, "da.admin", "10.0.0.21", "0x17"),
            logon(602, "da.admin", "10.0.0.21", "WS01", "0x5A5A1", pkg="NTLM")]
    # Remote code execution on the DC: a service whose command creates a user.
    cmd = ("%COMSPEC% /Q /c net user support_tmp P@ssw0rd! /add && "
           "net localgroup administrators support_tmp /add")
    evs.append(event(7045, 605, {"ServiceName": "BTOBTO", "ImagePath": cmd,
                                 "ServiceType": "user mode service",
                                 "StartType": "demand start", "AccountName": "LocalSystem"},
                     channel="System", provider="Service Control Manager",
                     qualifiers=16384, user_sid=sid(USERS["da.admin"])))
    evs.append(event(4697, 605.1, {**subject("da.admin", "0x5A5A1"), "ServiceName": "BTOBTO",
                                   "ServiceFileName": cmd, "ServiceType": "0x10",
                                   "ServiceStartType": "3", "ServiceAccount": "LocalSystem"}))
    new_sid = sid(1301)
    evs.append(event(4720, 606, {**subject("DC01$", "0x3e7"), "TargetUserName": "support_tmp",
                                 "TargetDomainName": "CONTOSO", "TargetSid": new_sid,
                                 "SamAccountName": "support_tmp"}))
    evs.append(event(4732, 607, {**subject("DC01$", "0x3e7"), "MemberName": "-",
                                 "MemberSid": new_sid, "TargetUserName": "Administrators",
                                 "TargetDomainName": "Builtin", "TargetSid": "S-1-5-32-544"}))
    evs.append(event(4728, 660, {**subject("da.admin", "0x5A5A1"),
                                 "MemberName": "CN=support_tmp,CN=Users,DC=contoso,DC=local",
                                 "MemberSid": new_sid, "TargetUserName": "Domain Admins",
                                 "TargetDomainName": "CONTOSO", "TargetSid": sid(512)}))
    # Domain dominance: DCSync of krbtgt by the domain admin account from WS01.
    props = ("%%7688\r\n\t\t{1131f6ad-9c07-11d1-f79f-00c04fc2dcd2}\r\n"
             "\t{19195a5b-6da0-11d0-afd3-00c04fd930c9}\r\n")
    for i in range(2):
        evs.append(event(4662, 700 + i, {
            **subject("da.admin", "0x5A5A1"), "ObjectServer": "DS",
            "ObjectType": "%{19195a5b-6da0-11d0-afd3-00c04fd930c9}",
            "ObjectName": "%{6b6c9f8e-0d8c-4f8a-9e26-2f6c7d2d3e01}",
            "OperationType": "Object Access", "HandleId": "0x0",
            "AccessList": "%%7688\r\n\t\t\t\t", "AccessMask": "0x100", "Properties": props}))
    # Normal replication by the DC itself: must not alert.
    evs.append(event(4662, 720, {**subject("DC01$", "0x3e7"), "ObjectServer": "DS",
                                 "ObjectType": "%{19195a5b-6da0-11d0-afd3-00c04fd930c9}",
                                 "ObjectName": "%{6b6c9f8e-0d8c-4f8a-9e26-2f6c7d2d3e01}",
                                 "OperationType": "Object Access", "AccessMask": "0x100",
                                 "Properties": props}))
    with open(out, "w", encoding="utf-8") as f:
        for e in evs:
            f.write(json.dumps(e) + "\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/data/demo/killchain.jsonl")
