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

AD FS stories (provider "AD FS Auditing" in the Security channel; positional ``<Data>``, which
evtx_dump writes as ``{"Data": {"#text": [...]}}``; 1202 carries the AuditBase XML, 501 the
claims as type/value pairs, 307/510 a configuration change and its details: layouts
**unverified** against a live farm):

* ``adfs_attack.jsonl``: on ADFS01 an operator adds a claims-provider trust (307 + 510), then a
  MagicWeb-style sign-in as a privileged user with a certificate whose only EKU is a custom OID
  (1202 + 501).
* ``adfs_benign.jsonl``: a smart-card sign-in (clientAuth + smartcardLogon EKUs), a password
  sign-in and a failed one, the farm's trust monitoring refreshing a relying-party trust as the
  AD FS gMSA, and an administrator changing a non-trust property (extranet lockout).

Usage: python tests/data/adcs_adfs/make_fixtures.py   (writes next to this script)
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

DOMAIN_SID = "S-1-5-21-1111111111-2222222222-3333333333"
CA = "CA01.contoso.local"
ADFS = "ADFS01.contoso.local"
DC = "DC01.contoso.local"
T0 = datetime(2026, 11, 30, 8, 0, 0, tzinfo=UTC)
HERE = Path(__file__).resolve().parent
THUMBNAIL_PHOTO = "{8d3bca50-1d7e-11d0-a081-00aa006c33ed}"
CONTACT_CLASS = "{5cb41ed0-0e4c-11d0-a286-00aa003049e2}"
USERS = {"mallory": 1120, "alice": 1105, "pki.admin": 1130, "adfssvc$": 1140,
         "adfs.admin": 1150, "admin.global": 1160, "bob": 1106,
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


CLIENT_AUTH, SMARTCARD_LOGON = "1.3.6.1.5.5.7.3.2", "1.3.6.1.4.1.311.20.2.2"
MAGICWEB_EKU = "1.3.6.1.4.1.311.21.8.1234567.7654321.99.1.1"  # a custom application policy
CERT_CLAIM = "http://schemas.microsoft.com/2012/12/certificatecontext/"
TLS_CLIENT = "http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/tlsclient"
PASSWORD = "http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password"
RP_O365 = "urn:federation:MicrosoftOnline"


def adfs_event(eid: int, seconds: float, values: list[str]) -> dict:
    """An AD FS audit: Security channel, provider "AD FS Auditing", run as the AD FS gMSA."""
    ev = event(eid, seconds, {"Data": {"#text": values}}, computer=ADFS)
    ev["Event"]["System"]["Provider"] = {"#attributes": {"Name": "AD FS Auditing"}}
    ev["Event"]["System"]["Security"] = {"#attributes": {"UserID": sid(USERS["adfssvc$"])}}
    return ev


def audit_xml(kind: str, user: str, ip: str, primary: str, result: str = "Success") -> str:
    """The AuditBase document of 1200-1203 (AD FS 2016+ schema)."""
    return (
        '<?xml version="1.0" encoding="utf-16"?><AuditBase xmlns:xsi="http://www.w3.org/2001/'
        f'XMLSchema-instance" xsi:type="{kind}"><AuditType>FreshCredentials</AuditType>'
        f"<AuditResult>{result}</AuditResult><FailureType>"
        f"{'None' if result == 'Success' else 'GenericError'}</FailureType>"
        "<ErrorCode>N/A</ErrorCode><ContextComponents>"
        '<Component xsi:type="ResourceAuditComponent">'
        f"<RelyingParty>{RP_O365}</RelyingParty><ClaimsProvider>AD AUTHORITY</ClaimsProvider>"
        f"<UserId>CONTOSO\\{user}</UserId></Component>"
        '<Component xsi:type="AuthNAuditComponent">'
        f"<PrimaryAuth>{primary}</PrimaryAuth><DeviceAuth>false</DeviceAuth>"
        "<DeviceId>N/A</DeviceId><MfaPerformed>false</MfaPerformed><MfaMethod>N/A</MfaMethod>"
        "<TokenBindingProvidedId>false</TokenBindingProvidedId>"
        "<TokenBindingReferredId>false</TokenBindingReferredId>"
        "<SsoBindingValidationLevel>NotSet</SsoBindingValidationLevel></Component>"
        '<Component xsi:type="ProtocolAuditComponent"><OAuthClientId>N/A</OAuthClientId>'
        "<OAuthGrant>N/A</OAuthGrant></Component>"
        '<Component xsi:type="RequestAuditComponent">'
        "<Server>http://adfs.contoso.com/adfs/services/trust</Server>"
        "<AuthProtocol>SAMLP</AuthProtocol><NetworkLocation>Extranet</NetworkLocation>"
        f"<IpAddress>{ip}</IpAddress><ForwardedIpAddress>{ip}</ForwardedIpAddress>"
        "<ProxyIpAddress>N/A</ProxyIpAddress><NetworkIpAddress>N/A</NetworkIpAddress>"
        "<ProxyServer>WAP01</ProxyServer><UserAgentString>Mozilla/5.0 (Windows NT 10.0; "
        "Win64; x64)</UserAgentString><Endpoint>/adfs/ls/</Endpoint></Component>"
        "</ContextComponents></AuditBase>")


def sign_in(t: float, inst: str, user: str, ip: str, primary: str,
            cert: dict[str, list[str]] | None = None, ok: bool = True) -> list[dict]:
    """1202 (or 1203) and the 501 claims of the same instance."""
    kind = "FreshCredentialAudit"
    evs = [adfs_event(1202 if ok else 1203, t, [inst, audit_xml(
        kind, user, ip, primary, "Success" if ok else "Failure")])]
    if not ok:
        return evs
    pairs = ["http://schemas.microsoft.com/ws/2008/06/identity/claims/windowsaccountname",
             f"CONTOSO\\{user}",
             "http://schemas.microsoft.com/ws/2008/06/identity/claims/authenticationmethod",
             primary]
    for field, values in (cert or {}).items():
        for v in values:
            pairs += [CERT_CLAIM + field, v]
    evs.append(adfs_event(501, t, [inst, *pairs]))
    return evs


def config_change(t: float, inst: str, details: list[str]) -> list[dict]:
    """307 "The Federation Service configuration was changed" and its 510 details."""
    return [adfs_event(307, t, [inst]), adfs_event(510, t, [inst, *details])]


CORP_CA = "CN=Contoso Issuing CA, DC=contoso, DC=local"


def adfs_attack() -> list[dict]:
    evs = [tgt(0, "DC01$", "10.0.0.10")]
    evs += config_change(100, "8f1c2a9e-3b4d-4e5f-8a6b-7c8d9e0f1a2b", [
        "Caller: CONTOSO\\mallory", "Action: Add-AdfsClaimsProviderTrust",
        "Object: Name=Contoso Partner IdP; Identifier=http://idp.contoso-partner.com/adfs/"
        "services/trust; TokenSigningCertificate=CN=ADFS Signing - idp.contoso-partner.com"])
    evs += sign_in(300, "d4e5f6a7-b8c9-4d0e-9f1a-2b3c4d5e6f70", "admin.global", "203.0.113.50",
                   TLS_CLIENT, {"field/issuer": [CORP_CA],
                                "field/subject": ["CN=admin.global"],
                                "field/serialnumber": ["61000000a1b2c3d4e5f6"],
                                "extension/eku": [MAGICWEB_EKU]})
    return evs


def adfs_benign() -> list[dict]:
    evs = [tgt(0, "DC01$", "10.0.0.10")]
    evs += sign_in(100, "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "alice", "198.51.100.7",
                   TLS_CLIENT, {"field/issuer": [CORP_CA], "field/subject": ["CN=alice"],
                                "field/serialnumber": ["61000000aa11bb22cc33"],
                                "extension/eku": [CLIENT_AUTH, SMARTCARD_LOGON]})
    evs += sign_in(200, "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e", "bob", "198.51.100.8", PASSWORD)
    evs += sign_in(210, "2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f", "bob", "198.51.100.8", PASSWORD,
                   ok=False)
    # Trust monitoring refreshes the Office 365 relying party from its federation metadata
    evs += config_change(400, "3d4e5f6a-7b8c-4d9e-8f0a-1b2c3d4e5f6a", [
        "Caller: CONTOSO\\adfssvc$", "Action: Update-AdfsRelyingPartyTrust",
        "Object: Name=Microsoft Office 365 Identity Platform; federation metadata refreshed"])
    # An administrator turns on extranet lockout: not a trust
    evs += config_change(500, "4e5f6a7b-8c9d-4e0f-9a1b-2c3d4e5f6a7b", [
        "Caller: CONTOSO\\adfs.admin", "Action: Set-AdfsProperties",
        "Object: EnableExtranetLockout=True; ExtranetLockoutThreshold=10"])
    return evs


def main() -> None:
    for name, evs in (("adcs_attack.jsonl", attack()), ("adcs_benign.jsonl", benign()),
                      ("adfs_attack.jsonl", adfs_attack()), ("adfs_benign.jsonl", adfs_benign())):
        with open(HERE / name, "w", encoding="utf-8") as f:
            for e in evs:
                f.write(json.dumps(e, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
