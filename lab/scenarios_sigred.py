"""SIGRed (CVE-2020-1350) scenario of the dcwatch lab: the DC's DNS server resolves a name in
an attacker's domain, whose authoritative server answers with a crafted SIG record.

Loaded by lab/run.py (``load_extra_scenarios``); the steps (the attacker's name server and the
trigger query) live in lab/attacks_sigred.py. The DC forwards to WS1 for this scenario only
(``dns forwarder``, standing in for the NS delegation of the attacker's domain, as the PoC's
lab setup uses a conditional forwarder).
"""

from __future__ import annotations

import os
import subprocess
import time

MOD = "lab.attacks_sigred"
EVIL_DOMAIN = "dnsupd-cdn.net"
ATTACKER_IP = "10.77.0.21"


def install(run) -> None:
    step = run.module_step(MOD)

    def start(s, ns: str, name: str, *args: str, desc: str = "") -> subprocess.Popen:
        """A background step (the name server) of this module."""
        env = dict(os.environ, PYTHONPATH=str(run.REPO), DCW_LAB_WORK=str(run.WORK))
        p = subprocess.Popen(
            ["ip", "netns", "exec", ns, str(run.VPY), "-m", MOD, name, *args],
            env=env, cwd=run.REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        s.steps.append(f"{run.host_of(ns)}: {desc + ' - ' if desc else ''}background step "
                       f"`python -m {MOD} {name} {' '.join(args)}`")
        time.sleep(1.5)
        return p

    @run.scenario(
        "dns_sigred",
        expected="2036",
        key_entities=f"DC01;10.77.0.10;WS1;{ATTACKER_IP};{EVIL_DOMAIN}",
        notes="SIGRed (CVE-2020-1350) against the DC's DNS server, after the published proof of "
        f"concept. WS1 ({ATTACKER_IP}) runs the attacker's authoritative name server for "
        f"{EVIL_DOMAIN} (stdlib sockets, UDP and TCP 53); for this scenario only the DC runs "
        f"with `dns forwarder = {ATTACKER_IP}` (standing in for the domain's NS delegation; the "
        "PoC's lab uses a conditional forwarder). WS1's machine account logs on (kinit) and "
        "lists the domain's group policies on SYSVOL (SMB, Kerberos), then "
        f"WS1 asks the DC for 9.{EVIL_DOMAIN} type SIG. The DC forwards the query to WS1 over "
        "UDP and gets a truncated reply (TC bit, no records), retries over TCP and receives a "
        "65535-byte response with one SIG record whose signer name is the compression pointer "
        "0xC00D (the question's \"9\" read as a 57-byte label, further labels in the "
        "signature), so the record's size with the signer expanded passes 65535. Samba is not "
        "vulnerable (the overflow is in Windows' dns.exe): it keeps running and sends WS1 no "
        "answer (the query times out after 10 s; its log at level 1 says nothing about it). "
        "The crafted response on the DC's wire is what 2036 keys on: one alert naming DC01 "
        "(target) and WS1 (the attacker's name server).",
        samba_options={"dns forwarder": ATTACKER_IP},
    )
    def sc_dns_sigred(s):
        run.machine_logon(s, "dcw-ws1")
        run.smbclient_krb(s, "dcw-ws1", "ws1machine.cc", "sysvol",
                          f"ls {run.DNS_DOMAIN}/Policies/*", "WS1 reads its group policies "
                          "(SMB, Kerberos)")
        p = start(s, "dcw-ws1", "evildns", "--domain", EVIL_DOMAIN, "--seconds", "40",
                  desc=f"the attacker's name server for {EVIL_DOMAIN} (evildns.py)")
        try:
            step(s, "query", "--name", f"9.{EVIL_DOMAIN}",
                 desc=f"the trigger: 9.{EVIL_DOMAIN} type SIG asked of the DC")
        finally:
            run.end_step("dcw-ws1", p)
