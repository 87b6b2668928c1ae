"""Kerberos, LDAP and DNS activities from the synthetic capture and the shared recordings."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from dcwatch.model.activity import Activity
from dcwatch.protocols import kerberos as krb
from dcwatch.protocols.flow import FlowContext, FlowInfo
from dcwatch.protocols.kerberos_activity import ap_req_activity
from dcwatch.sources.base import SourceStats
from dcwatch.sources.pcap import read_capture

from . import wire as w

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO / ".." / "shared" / "data"
SYNTHETIC = REPO / "tests" / "data" / "protocols" / "synthetic-dc.pcap"


def decode(data: bytes) -> tuple[list[Activity], SourceStats]:
    """All activities of a capture."""
    stats = SourceStats("t")
    acts = list(read_capture(io.BytesIO(data), "t.pcap", stats))
    return acts, stats


@pytest.fixture(scope="module")
def synthetic() -> list[Activity]:
    """Activities of synthetic-dc.pcap."""
    acts, stats = decode(SYNTHETIC.read_bytes())
    assert stats.skipped == 0
    assert stats.activities == len(acts)
    return acts


def by_kind(acts: list[Activity], kind: str) -> list[Activity]:
    """Activities of one kind in frame order."""
    return sorted((a for a in acts if a.kind == kind), key=lambda a: a.origin.record or 0)


def test_as_exchanges(synthetic: list[Activity]) -> None:
    """Pre-auth required/failed, success with TGT fingerprint, unknown client, fragmented reply."""
    as_ = by_kind(synthetic, "kerberos.as_request")
    assert [a.status for a in as_] == [25, 24, 0, 6, 0]
    assert [a.outcome for a in as_] == ["failure", "failure", "success", "failure", "success"]
    assert str(as_[0].actor) == "CORP.LOCAL\\alice"
    assert as_[0].fields["include_pac"] is True
    assert as_[0].fields["pa_types"] == [128]
    assert as_[1].fields["preauth_etype"] == 23
    assert as_[1].fields["e_text"] == "pre-auth failed"
    ok = as_[2]
    assert ok.fields["ticket_fingerprint"] == w.fp(b"TGT-alice" * 20)
    assert ok.fields["addresses"] == ["WS01"]
    assert ok.fields["kdc_options"] == ["forwardable", "renewable", "renewable-ok"]
    assert ok.fields["till"] == "2037-09-13T02:48:05Z"
    assert (ok.src_ip, ok.dst_ip, ok.dst_port, ok.host) == ("10.0.0.50", "10.0.0.10", 88,
                                                           "10.0.0.10")
    assert as_[3].fields["transport"] == "udp"
    assert as_[4].fields["ticket_fingerprint"] == w.fp(bytes(range(256)) * 10)


def test_tgs_exchanges(synthetic: list[Activity]) -> None:
    """Client from the TGT owner, RC4 request, S4U2self user, S4U2proxy additional ticket."""
    tgs = by_kind(synthetic, "kerberos.tgs_request")
    assert [a.status for a in tgs] == [0, 0, 0, 7]
    roast, s4u_self, s4u_proxy, v6 = tgs
    assert str(roast.actor) == "CORP.LOCAL\\alice"  # owner of the TGT seen in the AS-REP
    assert roast.target is not None
    assert roast.target.name == "MSSQLSvc/sql01.corp.local:1433"
    assert roast.fields["etypes"] == [23]
    assert roast.fields["ticket_etype"] == 23
    assert roast.fields["used_ticket_fingerprint"] == w.fp(b"TGT-alice" * 20)
    assert s4u_self.fields["s4u_user"] == "administrator@CORP.LOCAL"
    assert s4u_self.actor is None  # svc's TGT issue was not seen; reply cname is the victim
    assert s4u_self.fields["reply_cname"] == "administrator"
    assert "constrained-delegation" in s4u_proxy.fields["kdc_options"]
    assert s4u_proxy.fields["additional_tickets"][0]["owner"] == "administrator@CORP.LOCAL"
    assert v6.src_ip == "fd00::50"
    assert v6.target.name == "host/gone.corp.local"
    # no client-supplied authorization data in these requests (RFC 4120 5.4.1 [10])
    assert [a.fields["enc_authorization_data"] for a in tgs] == [False] * 4
    assert "enc_authorization_data_etype" not in roast.fields


def test_ticket_owner_lookup_for_ap_req() -> None:
    """An AP-REQ presenting a ticket issued earlier names its client (pass-the-ticket)."""
    ctx = FlowContext(ticket_owners={w.fp(b"ST"): ("alice", "CORP.LOCAL")})
    flow = FlowInfo("tcp", "10.0.0.9", 50000, "10.0.0.10", 445, "x.pcap", frame=7, context=ctx)
    from datetime import UTC, datetime

    flow.ts = datetime(2024, 1, 1, tzinfo=UTC)
    ap = krb.parse_ap_req(w.ap_req(w.ticket("CORP.LOCAL", "cifs/dc01", 18, b"ST")))
    act = ap_req_activity(flow, ap, "smb")
    assert act.kind == "kerberos.ap_request"
    assert act.fields["client"] == "alice@CORP.LOCAL"
    assert act.fields["service"] == "cifs/dc01"
    assert act.fields["ticket_etype"] == 18


def test_ldap_activities(synthetic: list[Activity]) -> None:
    """Binds (no password kept), a search with entries, add/modify/delete/modDN."""
    binds = by_kind(synthetic, "ldap.bind")
    assert [b.status for b in binds] == [0, 49]
    assert binds[0].fields["cleartext_password"] is True
    assert "Secret123" not in repr(binds[0].to_dict())
    search = by_kind(synthetic, "ldap.search")[0]
    assert search.fields["entries"] == 2
    assert search.fields["size_limit"] == 1000
    assert search.fields["filter"] == (
        "(&(objectCategory=person)(objectClass=user)(servicePrincipalName=*)(!(cn=krbtgt))"
        "(|(adminCount>=1)(description=*pass*)(sAMAccountName=adm*)(cn=a\\2ab\\28c\\29\\5c))"
        "(userAccountControl:1.2.840.113556.1.4.803:=4194304))")
    mod = by_kind(synthetic, "ds.object_modified")
    assert mod[0].fields["values"] == {"servicePrincipalName": ["http/evil.corp.local"],
                                       "msDS-KeyCredentialLink": True,
                                       "description": ["hello"]}
    assert mod[0].fields["attributes"] == ["servicePrincipalName", "msDS-KeyCredentialLink",
                                           "description"]
    assert mod[1].fields["operation"] == "moddn"
    assert mod[1].fields["new_rdn"] == "CN=DC01"
    add = by_kind(synthetic, "ds.object_created")[0]
    assert add.fields["values"]["sAMAccountName"] == ["EVIL$"]
    assert add.fields["values"]["unicodePwd"] is True  # presence only, never the value
    dele = by_kind(synthetic, "ds.object_deleted")[0]
    assert dele.status == 50
    assert dele.outcome == "failure"


def test_dns_activities(synthetic: list[Activity]) -> None:
    """Query/response pairs over UDP and TCP with type names, rcode and entropy."""
    q = by_kind(synthetic, "dns.query")
    assert [a.fields["qtype_name"] for a in q] == ["A", "SRV", "A", "TXT", "AXFR"]
    assert q[0].fields["answers"] == 1
    assert q[2].fields["rcode_name"] == "NXDOMAIN"
    assert q[2].outcome == "failure"
    assert q[3].fields["entropy"] > 3.5
    assert q[4].fields["transport"] == "tcp"
    assert q[4].fields["answers"] == 3


def test_uids_are_unique(synthetic: list[Activity]) -> None:
    """Two exchanges never share a uid."""
    assert len({a.uid for a in synthetic}) == len(synthetic)


def _otrf(member_part: str) -> bytes:
    for z in sorted(SHARED.glob("otrf-dev/*/network/*.zip")):
        with zipfile.ZipFile(z) as zf:
            for m in zf.namelist():
                if member_part in m:
                    return zf.read(m)
    pytest.skip("../shared/data is absent")


def test_rubeus_asktgt_rc4() -> None:
    """Rubeus asktgt /rc4: an AS exchange asking only RC4 with an RC4 encrypted timestamp."""
    acts, stats = decode(_otrf("rubeus_asktgt"))
    (a,) = by_kind(acts, "kerberos.as_request")
    assert a.fields["etypes"] == [23]
    assert a.fields["preauth_etype"] == 23
    assert a.actor is not None
    assert a.actor.name == "pgustavo"
    assert a.outcome == "success"
    assert a.fields["ticket_etype"] == 18
    assert stats.fatal is None


def test_ldap_sasl_integrity_unwrapped() -> None:
    """Signed-only SASL (krb5 CFX wrap) LDAP searches are decoded; the bind names the user."""
    acts, _ = decode(_otrf("WORKSTATION5"))
    searches = by_kind(acts, "ldap.search")
    assert {s.fields["base_dn"] for s in searches} >= {
        "DC=theshire,DC=local", "cn=policies,cn=system,DC=theshire,DC=local"}
    binds = by_kind(acts, "ldap.bind")
    # the first bind presents a ticket issued before the capture began: client unknown
    assert [b.actor.name if b.actor else None for b in binds] == [None, "pgustavo"]
    ap = [a for a in by_kind(acts, "kerberos.ap_request") if a.fields.get("app_protocol") == "ldap"]
    assert [a.fields["client"] for a in ap] == [None, "pgustavo@THESHIRE.LOCAL"]


# ---------------------------------------------------------------- ticket owners (FAST, SMB, RPC)

RECORDINGS = REPO / "tests" / "data" / "recordings"


def test_fast_tgs_reply_belongs_to_the_tgt_owner() -> None:
    """Regression: with FAST (PA-FX-FAST 136) Samba/Heimdal put the anonymous armor principal in
    the TGS-REP's outer cname; the service ticket belongs to the owner of the presented TGT."""
    from datetime import UTC, datetime

    from dcwatch.protocols.kerberos_activity import KerberosAnalyzer

    ctx = FlowContext()
    flow = FlowInfo("udp", "10.0.0.9", 50000, "10.0.0.10", 88, "x.pcap", frame=1, context=ctx)
    flow.ts = datetime(2024, 1, 1, tzinfo=UTC)
    out: list[Activity] = []
    kdc = KerberosAnalyzer(flow, out.append)
    tgt = w.ticket("CORP.LOCAL", "krbtgt/CORP.LOCAL", 18, b"TGT")
    kdc.datagram(True, w.kdc_req(10, "CORP.LOCAL", "krbtgt/CORP.LOCAL", cname="alice"))
    kdc.datagram(False, w.kdc_rep(11, "CORP.LOCAL", "alice", tgt))
    st = w.ticket("CORP.LOCAL", "cifs/dc01", 18, b"ST")
    kdc.datagram(True, w.kdc_req(12, "CORP.LOCAL", "cifs/dc01",
                                 padata=(w.pa(1, w.ap_req(tgt)), w.pa(136, b"armor"))))
    kdc.datagram(False, w.kdc_rep(13, "WELLKNOWN:ANONYMOUS", "WELLKNOWN/ANONYMOUS", st))
    assert ctx.ticket_owners[w.fp(b"ST")] == ("alice", "CORP.LOCAL")
    tgs = by_kind(out, "kerberos.tgs_request")[0]
    assert tgs.fields["reply_cname"] == "WELLKNOWN/ANONYMOUS"  # the wire value stays reported
    assert str(tgs.actor) == "CORP.LOCAL\\alice"
    # an anonymous PKINIT AS-REP (the armor TGT itself) does belong to the anonymous principal
    armor = w.ticket("CORP.LOCAL", "krbtgt/CORP.LOCAL", 18, b"ARMOR")
    kdc.datagram(True, w.kdc_req(10, "CORP.LOCAL", "krbtgt/CORP.LOCAL",
                                 cname="WELLKNOWN/ANONYMOUS"))
    kdc.datagram(False, w.kdc_rep(11, "WELLKNOWN:ANONYMOUS", "WELLKNOWN/ANONYMOUS", armor))
    assert ctx.ticket_owners[w.fp(b"ARMOR")] == ("WELLKNOWN/ANONYMOUS", "WELLKNOWN:ANONYMOUS")


def test_ap_req_activity_request_frame_and_status() -> None:
    """SMB/RPC emit the AP-REQ at the response: origin, ts and sub are the request's."""
    from datetime import UTC, datetime

    ctx = FlowContext(ticket_owners={w.fp(b"ST"): ("alice", "CORP.LOCAL")})
    flow = FlowInfo("tcp", "10.0.0.9", 50000, "10.0.0.10", 445, "x.pcap", frame=9, context=ctx)
    flow.ts = datetime(2024, 1, 1, 0, 0, 9, tzinfo=UTC)
    ap = krb.parse_ap_req(w.ap_req(w.ticket("CORP.LOCAL", "cifs/dc01", 18, b"ST")))
    req_ts = datetime(2024, 1, 1, 0, 0, 7, tzinfo=UTC)
    act = ap_req_activity(flow, ap, "smb", frame=7, ts=req_ts, status=0, via="smb")
    assert (act.origin.record, act.ts, act.fields["sub"]) == (7, req_ts, 7)
    assert (act.status, act.outcome) == (0, "success")
    assert act.fields["via"] == "smb"
    assert act.fields["app_protocol"] == "smb"


@pytest.mark.parametrize("name", ["killchain", "pass_the_ticket"])
def test_kerberos_smb_session_actor_is_the_ticket_owner(name: str) -> None:
    """Samba AD lab: every SMB Kerberos session whose ticket the capture saw issued (TGS-REP)
    names the ticket's owner, and its kerberos.ap_request uses ap_req_activity's field names."""
    path = RECORDINGS / name / "dc.pcap"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    acts, _ = decode(path.read_bytes())
    issued = {a.fields["ticket_fingerprint"]: a for a in by_kind(acts, "kerberos.tgs_request")
              if a.fields.get("ticket_fingerprint") and a.actor is not None}
    aps = {a.origin.record: a for a in by_kind(acts, "kerberos.ap_request")
           if a.fields.get("via") == "smb"}
    sessions = [a for a in by_kind(acts, "smb.session_setup") if a.fields["auth"] == "kerberos"
                and a.fields["ticket_fingerprint"] in issued]
    assert sessions, "no Kerberos SMB session with its TGS-REP in the capture"
    for s in sessions:
        owner = issued[s.fields["ticket_fingerprint"]].actor
        assert s.actor == owner
        assert "anonymous" not in str(s.actor).lower()
        ap = aps[s.origin.record]  # both carry the SESSION_SETUP request's frame
        assert ap.fields["ticket_fingerprint"] == s.fields["ticket_fingerprint"]
        assert ap.actor == owner
        assert ap.fields["client"] == f"{owner.name}@{owner.domain}"
        assert ap.fields["service"] == s.fields["service"]
        assert ap.fields["ticket_etype"] == s.fields["ticket_etype"]
        assert "kvno" not in ap.fields  # the old SMB/RPC-only name; now ticket_kvno


def test_rpc_ntlm_auth_names_the_server() -> None:
    """NTLM over DCE/RPC (bind_ack CHALLENGE, auth3/alter_context AUTHENTICATE) in the lab
    recordings: ntlm.auth carries the DC's names from the CHALLENGE."""
    found = []
    for path in sorted(RECORDINGS.glob("*/dc.pcap")):
        acts, _ = decode(path.read_bytes())
        found += [a for a in by_kind(acts, "ntlm.auth") if a.fields["via"] == "dcerpc"]
    if not found:
        pytest.skip("no NTLM-authenticated DCE/RPC in the recordings")
    for a in found:
        assert a.fields["server_netbios_name"], a.origin
        assert a.fields["server_dns_name"], a.origin
        assert a.fields["server_dns_domain"], a.origin


def test_kpasswd_change_is_an_ap_request_at_the_request_frame() -> None:
    """RFC 3244 over UDP/464: the AP-REQ is reported with the request's frame/ts and the reply's
    verdict (ap_req_activity's frame/ts/status, no uid recomputation)."""
    import struct
    from datetime import UTC, datetime

    from dcwatch.protocols.kerberos_activity import KerberosAnalyzer

    ctx = FlowContext(ticket_owners={w.fp(b"KP"): ("alice", "CORP.LOCAL")})
    flow = FlowInfo("udp", "10.0.0.9", 50000, "10.0.0.10", 464, "x.pcap", frame=3, context=ctx)
    req_ts = datetime(2024, 1, 1, 0, 0, 3, tzinfo=UTC)
    flow.ts = req_ts
    out: list[Activity] = []
    kdc = KerberosAnalyzer(flow, out.append)
    ap = w.ap_req(w.ticket("CORP.LOCAL", "kadmin/changepw", 18, b"KP"))
    kdc.datagram(True, struct.pack(">HHH", 6 + len(ap) + 4, 1, len(ap)) + ap + b"priv")
    flow.frame, flow.ts = 4, datetime(2024, 1, 1, 0, 0, 4, tzinfo=UTC)
    kdc.datagram(False, struct.pack(">HHH", 10, 1, 4) + b"arep")
    (act,) = out
    assert act.kind == "kerberos.ap_request"
    assert (act.origin.record, act.ts, act.fields["sub"]) == (3, req_ts, 3)
    assert (act.status, act.outcome) == (0, "success")
    assert act.fields["app_protocol"] == "kpasswd"
    assert act.fields["kpasswd_version"] == 1
    assert str(act.actor) == "CORP.LOCAL\\alice"
    assert act.uid == act.compute_uid()


def test_ldap_operations_carry_the_connection_s_bound_identity() -> None:
    """Searches and writes after a successful bind name the bound account; after a failed bind
    the connection is anonymous again (RFC 4511 4.2.1)."""
    from datetime import UTC, datetime

    from dcwatch.protocols.ldap_activity import LdapAnalyzer

    flow = FlowInfo("tcp", "10.0.0.21", 50000, "10.0.0.10", 389, "x.pcap", frame=1,
                    context=FlowContext())
    flow.ts = datetime(2024, 1, 1, tzinfo=UTC)
    out: list[Activity] = []
    an = LdapAnalyzer(flow, out.append)

    def bind(msgid: int, name: str, code: int) -> None:
        an.data(True, w.ldap_msg(msgid, w.app(0, w.integer(3) + w.octets(name.encode())
                                                + w.tlv(0x80, b"pw"))))
        an.data(False, w.ldap_msg(msgid, w.ldap_result(0x61, code)))

    def search(msgid: int) -> None:
        an.data(True, w.ldap_msg(msgid, w.ldap_search("DC=corp", 2, w.f_present("cn"))))
        an.data(False, w.ldap_msg(msgid, w.ldap_result(0x65, 0)))

    search(1)
    bind(2, "alice@corp.local", 0)
    search(3)
    bind(4, "bob@corp.local", 49)
    search(5)
    searches = by_kind(out, "ldap.search")
    assert [s.actor.name if s.actor else None for s in searches] == \
        [None, "alice@corp.local", None]
