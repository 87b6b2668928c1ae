"""Generator of synthetic-dc.pcap: Kerberos, LDAP and DNS cases the shared recordings lack.

Kerberos over TCP/UDP (pre-auth required/failed, AS/TGS, S4U2self/S4U2proxy, unknown client,
fragmented UDP reply, IPv6 in a VLAN), LDAP (simple binds, a Kerberoasting-style search with
every filter choice, modify/add/delete/modDN of security attributes) and DNS (UDP and TCP AXFR).
Run: ``.venv/bin/python tests/data/protocols/synthetic-dc.pcap.py`` (then make_tshark_oracles).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "protocols"))

import wire as w

C, DC, REALM = "10.0.0.50", "10.0.0.10", "CORP.LOCAL"
frames: list[tuple[float, bytes]] = []


def krb_tcp(cport: int, req: bytes, rep: bytes) -> None:
    """One Kerberos exchange on its own TCP connection (RFC 4120 7.2.2 record marking)."""
    s = w.TcpSession(C, cport, DC, 88, t0=1.6e9 + len(frames))
    s.send(True, len(req).to_bytes(4, "big") + req)
    s.send(False, len(rep).to_bytes(4, "big") + rep)
    s.fin()
    frames.extend(s.frames)


def udp_pair(cport: int, sport: int, req: bytes, rep: bytes, client: str = C, dc: str = DC
             ) -> None:
    """One request/response over UDP/IPv4."""
    t = 1.6e9 + len(frames)
    frames.append((t, w.ether(w.ipv4(client, dc, 17, w.udp(cport, sport, req)))))
    frames.append((t + 0.001, w.ether(w.ipv4(dc, client, 17, w.udp(sport, cport, rep)))))


tgt = w.ticket(REALM, f"krbtgt/{REALM}", 18, b"TGT-alice" * 20)
svc_tgt = w.ticket(REALM, f"krbtgt/{REALM}", 18, b"TGT-svc" * 20)
st_admin = w.ticket(REALM, "svc", 18, b"S4U2self-admin" * 10)
pac_true = w.seq(w.ctx(0, w.boolean(True)))
# 1. AS-REQ without pre-auth -> KDC_ERR_PREAUTH_REQUIRED (25)
krb_tcp(50001, w.kdc_req(10, REALM, f"krbtgt/{REALM}", cname="alice",
                         padata=(w.pa(128, pac_true),)),
        w.krb_error(25, REALM, f"krbtgt/{REALM}", cname="alice"))
# 2. AS-REQ with an RC4 encrypted timestamp -> KDC_ERR_PREAUTH_FAILED (24)
krb_tcp(50002, w.kdc_req(10, REALM, f"krbtgt/{REALM}", cname="alice", etypes=(23,),
                         padata=(w.pa(2, w.enc_data(23, b"ts")), w.pa(128, pac_true))),
        w.krb_error(24, REALM, f"krbtgt/{REALM}", cname="alice", e_text="pre-auth failed"))
# 3. AS-REQ (AES timestamp, NetBIOS address) -> AS-REP with a TGT
krb_tcp(50003, w.kdc_req(10, REALM, f"krbtgt/{REALM}", cname="alice",
                         padata=(w.pa(2, w.enc_data(18, b"ts")), w.pa(128, pac_true)),
                         addresses=((20, b"WS01            "),)),
        w.kdc_rep(11, REALM, "alice", tgt))
# 4. TGS-REQ with that TGT, RC4 only (Kerberoasting shape) -> TGS-REP
krb_tcp(50004, w.kdc_req(12, REALM, "MSSQLSvc/sql01.corp.local:1433", etypes=(23,),
                         padata=(w.pa(1, w.ap_req(tgt)),)),
        w.kdc_rep(13, REALM, "alice", w.ticket(REALM, "MSSQLSvc/sql01.corp.local:1433", 23,
                                               b"ST-sql" * 30), enc_etype=23))
# 5. S4U2self: svc asks for a ticket to itself on behalf of administrator
for_user = w.seq(w.ctx(0, w.principal("administrator", 10)), w.ctx(1, w.gstr(REALM)),
                 w.ctx(2, w.seq(w.ctx(0, w.integer(-138)), w.ctx(1, w.octets(b"c" * 16)))),
                 w.ctx(3, w.gstr("Kerberos")))
krb_tcp(50005, w.kdc_req(12, REALM, "svc", padata=(w.pa(1, w.ap_req(svc_tgt)),
                                                   w.pa(129, for_user))),
        w.kdc_rep(13, REALM, "administrator", st_admin))
# 6. S4U2proxy: the S4U2self ticket as additional ticket, cname-in-addl-tkt
krb_tcp(50006, w.kdc_req(12, REALM, "cifs/dc01.corp.local", options=(1, 14, 15),
                         padata=(w.pa(1, w.ap_req(svc_tgt)),), additional=(st_admin,)),
        w.kdc_rep(13, REALM, "administrator", w.ticket(REALM, "cifs/dc01.corp.local", 18,
                                                       b"ST-cifs" * 30)))
# 7. UDP AS-REQ for an unknown user -> KDC_ERR_C_PRINCIPAL_UNKNOWN (6)
udp_pair(50007, 88, w.kdc_req(10, REALM, f"krbtgt/{REALM}", cname="nobody"),
         w.krb_error(6, REALM, f"krbtgt/{REALM}", cname="nobody"))
# 8. UDP AS-REP large enough to be fragmented (two IPv4 fragments)
big_tgt = w.ticket(REALM, f"krbtgt/{REALM}", 18, bytes(range(256)) * 10)
req = w.kdc_req(10, REALM, f"krbtgt/{REALM}", cname="bob",
                padata=(w.pa(2, w.enc_data(18, b"ts")),))
rep = w.udp(88, 50008, w.kdc_rep(11, REALM, "bob", big_tgt))
t = 1.6e9 + len(frames)
frames.append((t, w.ether(w.ipv4(C, DC, 17, w.udp(50008, 88, req)))))
frames.append((t + 0.001, w.ether(w.ipv4(DC, C, 17, rep[:1480], ident=77, frag=0x2000))))
frames.append((t + 0.002, w.ether(w.ipv4(DC, C, 17, rep[1480:], ident=77, frag=1480 // 8))))
# 9. TGS-REQ over UDP/IPv6 in VLAN 100 -> KDC_ERR_S_PRINCIPAL_UNKNOWN (7)
c6, d6 = bytes.fromhex("fd00" + "00" * 13 + "50"), bytes.fromhex("fd00" + "00" * 13 + "10")
t = 1.6e9 + len(frames)
frames.append((t, w.ether(w.ipv6(c6, d6, 17, w.udp(50009, 88, w.kdc_req(
    12, REALM, "host/gone.corp.local", padata=(w.pa(1, w.ap_req(tgt)),)))), 0x86DD, (100,))))
frames.append((t + 0.001, w.ether(w.ipv6(d6, c6, 17, w.udp(88, 50009, w.krb_error(
    7, REALM, "host/gone.corp.local"))), 0x86DD, (100,))))

# LDAP on one connection
s = w.TcpSession(C, 50100, DC, 389, t0=1.6e9 + len(frames))
simple = w.tlv(0x60, w.integer(3) + w.octets(b"CN=alice,CN=Users,DC=corp,DC=local")
               + w.tlv(0x80, b"Secret123"))
s.send(True, w.ldap_msg(1, simple))
s.send(False, w.ldap_msg(1, w.ldap_result(0x61, 0)))
kerberoast = w.f_and(
    w.f_eq("objectCategory", b"person"), w.f_eq("objectClass", b"user"),
    w.f_present("servicePrincipalName"), w.f_not(w.f_eq("cn", b"krbtgt")),
    w.f_or(w.f_eq("adminCount", b"1", 0xA5), w.f_sub("description", None, (b"pass",), None),
           w.f_sub("sAMAccountName", b"adm", (), None), w.f_eq("cn", b"a*b(c)\\")),
    w.f_ext("userAccountControl", "1.2.840.113556.1.4.803", b"4194304"))
s.send(True, w.ldap_msg(2, w.ldap_search("DC=corp,DC=local", 2, kerberoast,
                                         ("servicePrincipalName", "sAMAccountName"), 1000)))
entry = w.tlv(0x64, w.octets(b"CN=svc,CN=Users,DC=corp,DC=local") + w.seq())
s.send(False, w.ldap_msg(2, entry) + w.ldap_msg(2, entry)
       + w.ldap_msg(2, w.ldap_result(0x65, 0)))
mod = w.tlv(0x66, w.octets(b"CN=svc,CN=Users,DC=corp,DC=local") + w.seq(
    w.seq(w.enum(0), w.partial_attr("servicePrincipalName", b"http/evil.corp.local")),
    w.seq(w.enum(2), w.partial_attr("msDS-KeyCredentialLink", b"B:828:0002...")),
    w.seq(w.enum(2), w.partial_attr("description", b"hello"))))
s.send(True, w.ldap_msg(3, mod))
s.send(False, w.ldap_msg(3, w.ldap_result(0x67, 0)))
add = w.tlv(0x68, w.octets(b"CN=EVIL,CN=Computers,DC=corp,DC=local") + w.seq(
    w.partial_attr("objectClass", b"computer"), w.partial_attr("sAMAccountName", b"EVIL$"),
    w.partial_attr("userAccountControl", b"4096"),
    w.partial_attr("unicodePwd", b'"\x00P\x00w\x00"\x00')))
s.send(True, w.ldap_msg(4, add))
s.send(False, w.ldap_msg(4, w.ldap_result(0x69, 0)))
s.send(True, w.ldap_msg(5, w.tlv(0x4A, b"CN=old,CN=Users,DC=corp,DC=local")))
s.send(False, w.ldap_msg(5, w.ldap_result(0x6B, 50)))
moddn = w.tlv(0x6C, w.octets(b"CN=EVIL,CN=Computers,DC=corp,DC=local") + w.octets(b"CN=DC01")
              + w.boolean(True))
s.send(True, w.ldap_msg(6, moddn))
s.send(False, w.ldap_msg(6, w.ldap_result(0x6D, 0)))
bad = w.tlv(0x60, w.integer(3) + w.octets(b"bob@corp.local") + w.tlv(0x80, b"wrong"))
s.send(True, w.ldap_msg(7, bad))
s.send(False, w.ldap_msg(7, w.ldap_result(0x61, 49)))
s.fin()
frames.extend(s.frames)

# DNS
udp_pair(50200, 53, w.dns_msg(1, "dc01.corp.local", 1), w.dns_msg(1, "dc01.corp.local", 1,
                                                                 response=True, answers=1))
udp_pair(50201, 53, w.dns_msg(2, "_ldap._tcp.dc._msdcs.corp.local", 33),
         w.dns_msg(2, "_ldap._tcp.dc._msdcs.corp.local", 33, response=True))
udp_pair(50202, 53, w.dns_msg(3, "nothere.corp.local", 1),
         w.dns_msg(3, "nothere.corp.local", 1, response=True, rcode=3))
udp_pair(50203, 53, w.dns_msg(4, "x7f3kq9zt2mv8w1pl0ab.tunnel.example.com", 16),
         w.dns_msg(4, "x7f3kq9zt2mv8w1pl0ab.tunnel.example.com", 16, response=True))
s = w.TcpSession(C, 50204, DC, 53, t0=1.6e9 + len(frames))
q = w.dns_msg(5, "corp.local", 252)
r = w.dns_msg(5, "corp.local", 252, response=True, answers=3)
s.send(True, len(q).to_bytes(2, "big") + q)
s.send(False, len(r).to_bytes(2, "big") + r)
s.fin()
frames.extend(s.frames)

out = Path(__file__).with_name("synthetic-dc.pcap")
out.write_bytes(w.pcap(frames))
print(f"{out}: {len(frames)} frames")
