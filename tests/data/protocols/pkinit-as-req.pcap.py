"""Generator of pkinit-as-req.pcap: PKINIT AS-REQs (RFC 4556) carrying client certificates.

A workstation (10.0.0.21) logs alice on with a smart-card certificate issued by the enterprise
CA (chain: end-entity + CA certificate, SignerInfo by issuer and serial), over TCP/88 with an
AS-REP; then a certificate with SAN dNSName and a 2050+ GeneralizedTime notAfter over UDP/88
(KRB-ERROR reply); then an AS-REQ whose PA-PK-AS-REQ carries no certificate. Certificates are
built with the DER writer of tests/protocols/wire.py (dummy keys and signatures).
Run: ``.venv/bin/python tests/data/protocols/pkinit-as-req.pcap.py`` (then
``scripts/make_tshark_oracles.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "protocols"))

import wire as w

WS, DC, REALM = "10.0.0.21", "10.0.0.10", "CORP.LOCAL"
CA = "CN=corp-CA,DC=corp,DC=local"
ca = w.certificate(CA, CA, 0x1F, "20250101000000Z", "20350101000000Z")
leaf = w.certificate(CA, "CN=alice,CN=Users,DC=corp,DC=local", 0x610000000ABC00FF,
                     upn="alice@corp.local", ski=bytes(range(20)))
machine = w.certificate("CN=other-CA,O=Example", "CN=ws01.corp.local", 0x80, "20260301120000Z",
                        "20600301120000Z", dns=("ws01.corp.local", "ws01"))
frames: list[tuple[float, bytes]] = []

tcp = w.TcpSession(WS, 49700, DC, 88, t0=1_767_261_600.0)
req = w.kdc_req(10, REALM, "krbtgt/CORP.LOCAL", cname="alice",
                padata=(w.pa_pk_as_req((leaf, ca), (CA, 0x610000000ABC00FF)),
                        w.pa(128, w.seq(w.ctx(0, w.boolean(True))))))
tcp.send(True, len(req).to_bytes(4, "big") + req)
rep = w.kdc_rep(11, REALM, "alice", w.ticket(REALM, "krbtgt/CORP.LOCAL", 18, b"tgt-alice"),
                padata=(w.pa(17, b"\x30\x00"),))
tcp.send(False, len(rep).to_bytes(4, "big") + rep)
tcp.fin()
frames += tcp.frames

t = tcp.t + 1
req2 = w.kdc_req(10, REALM, "krbtgt/CORP.LOCAL", cname="WS01$",
                 padata=(w.pa_pk_as_req((machine,)),))
frames.append((t, w.ether(w.ipv4(WS, DC, 17, w.udp(50001, 88, req2)))))
err = w.krb_error(62, REALM, "krbtgt/CORP.LOCAL", "WS01$")  # KDC_ERR_CLIENT_NOT_TRUSTED
frames.append((t + 0.002, w.ether(w.ipv4(DC, WS, 17, w.udp(88, 50001, err)))))
req3 = w.kdc_req(10, REALM, "krbtgt/CORP.LOCAL", cname="bob", padata=(w.pa_pk_as_req(()),))
frames.append((t + 1, w.ether(w.ipv4(WS, DC, 17, w.udp(50002, 88, req3)))))

out = Path(__file__).with_suffix("")
out.write_bytes(w.pcap(frames))
print(f"wrote {out} ({len(frames)} frames)")
