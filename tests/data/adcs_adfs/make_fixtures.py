"""Write synthetic AD CS / AD FS Security events (evtx_dump JSON lines, one event per line).

No recording of these attacks exists under ../shared/data, so these small logs are built by
hand, field by field after the Security-Auditing manifest (same shape as
scripts/make_demo_recording.py). Two certification-authority stories and a DC log:

* ``adcs_attack.jsonl``: CA01 sees DC01's machine account log on over NTLM from a workstation
  address and a DomainController certificate requested for it through web enrollment (ESC8);
  then an operator changes the CA permissions and certificate-manager settings, turns the
  audit filter off and deletes request rows. DC01 logs a 4662 read of the AD FS DKM key by a
  user account.
* ``adcs_benign.jsonl``: the false positives the catalogue names: DC02 auto-enrolls from itself
  (Kerberos logon from its own address, ``ccm:`` naming itself), a user enrolls a User
  certificate, the audit filter is set back to all categories, a clean-up deletes 0 rows, and
  the AD FS gMSA reads its DKM key.

Usage: python tests/data/adcs_adfs/make_fixtures.py   (writes next to this script)
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

DOMAIN_SID = "S-1-5-21-1111111111-2222222222-3333333333"
CA = "CA01.contoso.local"
DC = "DC01.contoso.local"
T0 = datetime(2026, 11, 30, 8, 0, 0, tzinfo=UTC)
HERE = Path(__file__).resolve().parent
THUMBNAIL_PHOTO = "{8d3bca50-1d7e-11d0-a081-00aa006c33ed}"
CONTACT_CLASS = "{5cb41ed0-0e4c-11d0-a286-00aa003049e2}"
USERS = {"mallory": 1120, "alice": 1105, "pki.admin": 1130, "adfssvc$": 1140,
         "DC01$": 1000, "DC02$": 1001, "WS01$": 1201}
_rid = 20_000


def sid(rid: int) -> str:
    return f"{DOMAIN_SID}-{rid}"


def event(eid: int, seconds: float, data: dict, computer: str = CA) -> dict:
    global _rid
    _rid += 1
    ts = (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    system = {
        "Provider": {"#attributes": {"Name": "Microsoft-Windows-Security-Auditing",
                                     "Guid": "{54849625-5478-4994-a5ba-3e3b0328c30d}"}},
        "EventID": eid,
        "TimeCreated": {"#attributes": {"SystemTime": ts}},
        "EventRecordID": _rid,
        "Channel": "Security",
        "Computer": computer,
    }
    return {"Event": {"System": system, "EventData": data}}


def subject(user: str, logon_id: str) -> dict:
    return {"SubjectUserSid": sid(USERS[user]), "SubjectUserName": user,
            "SubjectDomainName": "CONTOSO", "SubjectLogonId": logon_id}


def logon(t: float, user: str, ip: str, ws: str, logon_id: str, pkg: str) -> dict:
    return event(4624, t, {
        "SubjectUserSid": "S-1-0-0", "SubjectUserName": "-", "SubjectDomainName": "-",
        "SubjectLogonId": "0x0", "TargetUserSid": sid(USERS[user]), "TargetUserName": user,
        "TargetDomainName": "CONTOSO", "TargetLogonId": logon_id, "LogonType": 3,
        "LogonProcessName": "Kerberos" if pkg == "Kerberos" else "NtLmSsp",
        "AuthenticationPackageName": pkg, "WorkstationName": "-" if pkg == "Kerberos" else ws,
        "IpAddress": ip, "IpPort": "50112", "LmPackageName": "-" if pkg == "Kerberos"
        else "NTLM V2", "KeyLength": 128 if pkg != "Kerberos" else 0, "ProcessName": "-"})


def tgt(t: float, user: str, ip: str) -> dict:
    """4768 on the DC: a machine account's TGT teaches dcwatch its address."""
    return event(4768, t, {"TargetUserName": user, "TargetDomainName": "CONTOSO.LOCAL",
                           "TargetSid": sid(USERS[user]), "ServiceName": "krbtgt",
                           "TicketOptions": "0x40810010", "Status": "0x0",
                           "TicketEncryptionType": "0x12", "PreAuthType": "2",
                           "IpAddress": f"::ffff:{ip}", "IpPort": "50100"}, computer=DC)


def request(t: float, rid: int, requester: str, attributes: str, issued: bool = True
            ) -> list[dict]:
    d = {"RequestId": str(rid), "Requester": f"CONTOSO\\{requester}", "Attributes": attributes}
    evs = [event(4886, t, d)]
    if issued:
        name = requester.rstrip("$")
        evs.append(event(4887, t + 1, {**d, "Disposition": "3",
                                       "SubjectKeyIdentifier": "9f 21 0c 4e 77 1a",
                                       "Subject": f"CN={name}.contoso.local"}))
    return evs


def dkm_read(t: float, user: str, logon_id: str) -> dict:
    return event(4662, t, {
        **subject(user, logon_id), "ObjectServer": "DS",
        "ObjectType": f"%{CONTACT_CLASS}",
        "ObjectName": "%{3c9e2f41-8a1b-4d5e-9f60-7b1c2d3e4f50}",
        "OperationType": "Object Access", "HandleId": "0x0", "AccessList": "%%7684",
        "AccessMask": "0x10", "Properties": f"%%7684\n\t\t{THUMBNAIL_PHOTO}\n\t{CONTACT_CLASS}\n",
        "AdditionalInfo": "-", "AdditionalInfo2": ""}, computer=DC)


def attack() -> list[dict]:
    evs = [tgt(0, "DC01$", "10.0.0.10"), tgt(5, "WS01$", "10.0.0.66")]
    # ESC8: DC01's coerced NTLM authentication relayed from WS01 to the CA's web enrollment
    evs.append(logon(300, "DC01$", "10.0.0.66", "DC01", "0xA1001", "NTLM"))
    evs += request(301, 41, "DC01$", "CertificateTemplate:DomainController\n"
                   "UserAgent:Mozilla/5.0 (Windows NT 10.0; Win64; x64)")
    # The operator takes over the CA and covers the tracks
    sddl = f"O:BAG:DUD:(A;;CR;;;AU)(A;;CCDCLCSWRPWPDTLOCRSDRCWDWO;;;{sid(USERS['mallory'])})"
    evs.append(event(4882, 600, {**subject("mallory", "0xB2002"), "SecurityDescriptor": sddl}))
    evs.append(event(4890, 610, {**subject("mallory", "0xB2002"), "Enable": "1",
                                 "CertificateManagers": "CONTOSO\\mallory"}))
    evs.append(event(4885, 620, {**subject("mallory", "0xB2002"), "AuditFilter": "0"}))
    evs.append(event(4896, 630, {**subject("mallory", "0xB2002"), "Table": "Request",
                                 "Filter": "RequestId <= 41", "RowsDeleted": "2"}))
    # Golden SAML preparation: a user account reads the DKM key on the DC
    evs.append(dkm_read(900, "mallory", "0xC3003"))
    return evs


def benign() -> list[dict]:
    evs = [tgt(0, "DC02$", "10.0.0.11"), tgt(5, "WS01$", "10.0.0.21")]
    # DC auto-enrollment from the DC itself (DCOM, Kerberos)
    evs.append(logon(300, "DC02$", "10.0.0.11", "-", "0xA1002", "Kerberos"))
    evs += request(301, 42, "DC02$", "CertificateTemplate:DomainController\n"
                   "ccm:DC02.contoso.local")
    # A user enrolls for a User certificate through web enrollment
    evs.append(logon(400, "alice", "10.0.0.21", "WS01", "0xA1003", "NTLM"))
    evs += request(401, 43, "alice", "CertificateTemplate:User\n"
                   "UserAgent:Mozilla/5.0 (Windows NT 10.0; Win64; x64)")
    # Planned maintenance leaves every audit category on; a clean-up that deleted nothing
    evs.append(event(4885, 620, {**subject("pki.admin", "0xB2003"), "AuditFilter": "127"}))
    evs.append(event(4896, 630, {**subject("pki.admin", "0xB2003"), "Table": "Request",
                                 "Filter": "RequestId <= 1", "RowsDeleted": "0"}))
    # The AD FS gMSA reads its own DKM key
    evs.append(dkm_read(900, "adfssvc$", "0xC3004"))
    return evs


def main() -> None:
    for name, evs in (("adcs_attack.jsonl", attack()), ("adcs_benign.jsonl", benign())):
        with open(HERE / name, "w", encoding="utf-8") as f:
            for e in evs:
                f.write(json.dumps(e, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
