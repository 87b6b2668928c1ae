#!/usr/bin/env python3
"""dcwatch Active Directory lab: a Samba AD DC and two workstations in network namespaces.

Run as root from the repository root:

    python3 lab/run.py [--keep] [--scenario NAME ...] [--out DIR] [--list]

It installs what it needs (apt-get, a lab venv with impacket + ldap3), builds the lab, records
one capture per scenario (tcpdump inside the DC namespace + Samba's JSON audit records) and tears
everything down again unless --keep is given. See lab/README.md.

Only stdlib here: this file runs with the system python3 before anything is installed. The
attack steps live in lab/attacks.py and run inside the workstation namespaces with the lab venv.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LAB_DIR = Path(__file__).resolve().parent
STATE = Path(os.environ.get("DCW_LAB_STATE", "/var/lib/dcwatch-lab"))
VENV = STATE / "venv"
VPY = VENV / "bin" / "python"
SAMBA = STATE / "samba"  # provision --targetdir
GOLDEN = STATE / "samba-golden.tar"
GOLDEN_STAMP = STATE / "samba-golden.stamp"
WORK = STATE / "work"  # ccaches, hashes and other loot passed between steps
SMB_CONF = SAMBA / "etc" / "smb.conf"
SAMBA_LOG = SAMBA / "log" / "samba.log"

APT_PACKAGES = [
    "samba", "samba-ad-dc", "samba-ad-provision", "samba-dsdb-modules", "samba-vfs-modules",
    "winbind", "krb5-user", "tcpdump", "iproute2", "smbclient", "ldb-tools",
]
PIP_PACKAGES = ["impacket==0.13.1", "ldap3==2.9.1"]

REALM = "CONTOSO.LOCAL"
DOMAIN = "CONTOSO"
DNS_DOMAIN = "contoso.local"
DC_NAME = "DC01"
NET_NS = "dcw-net"  # holds the bridge
BRIDGE = "br0"
HOSTS = {  # namespace -> (ip, hostname)
    "dcw-dc": ("10.77.0.10", "dc01"),
    "dcw-ws1": ("10.77.0.21", "ws1"),
    "dcw-ws2": ("10.77.0.22", "ws2"),
}
DC_IP = HOSTS["dcw-dc"][0]
WS1_IP = HOSTS["dcw-ws1"][0]
WS2_IP = HOSTS["dcw-ws2"][0]

ADMIN_PASS = "LabAdm1n!2024"
# Accounts created at provisioning: (name, password, groups, extra)
USERS = [
    ("da.admin", "DaAdm1n!2024", ["Domain Admins"], {}),
    ("hd.admin", "HelpD3sk!2024", ["Helpdesk", "Account Operators"], {}),
    ("alice", "Alic3!Spring24", [], {}),
    ("bob", "B0b!Autumn2024", [], {}),
    ("carol", "Winter2024!", [], {}),  # weak password hit by the spray
    ("dave", "D4ve!Summer24", [], {}),
    ("erin", "Er1n!Rainy2024", [], {}),
    ("svc_sql", "SqlSvc!2024", [], {"spn": "MSSQLSvc/sql01.contoso.local:1433"}),
    ("legacy.app", "Legacy!2024", [], {"no_preauth": True}),
    ("backup.admin", "H0neyT0ken!2024", [], {"honeytoken": True}),
]
COMPUTERS = [("WS1", "Ws1MachinePass!2024"), ("WS2", "Ws2MachinePass!2024")]
HONEYTOKEN = "backup.admin"

SAMBA_OPTIONS = {
    "ldap server require strong auth": "no",
    "server smb encrypt": "if_required",  # offered, never required (impacket copes)
    "log level": (
        "1 auth_json_audit:4 dsdb_json_audit:5 dsdb_password_json_audit:5 "
        "dsdb_group_json_audit:5 dsdb_transaction_json_audit:2"
    ),
    "auth event notification": "yes",
    "dsdb event notification": "yes",
    "dns forwarder": "",
    "log file": str(SAMBA_LOG),
    "max log size": "0",
    "debug hires timestamp": "yes",
    "pid directory": str(SAMBA / "run"),
    "interfaces": "lo eth0",
    "bind interfaces only": "yes",
    "dns zone transfer clients allow": "",
    "ntlm auth": "mschapv2-and-ntlmv2-only",
}

# Bump when the provisioning recipe changes: a golden snapshot with another stamp is rebuilt.
RECIPE = json.dumps([REALM, DOMAIN, DC_NAME, ADMIN_PASS, USERS, COMPUTERS, SAMBA_OPTIONS, 4],
                    sort_keys=True)


def log(msg: str) -> None:
    print(f"[lab {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def sh(cmd: list[str] | str, check: bool = True, capture: bool = False, ns: str | None = None,
       env: dict | None = None, timeout: float | None = None, quiet: bool = False,
       cwd: Path | None = None) -> subprocess.CompletedProcess:
    if isinstance(cmd, str):
        cmd = ["bash", "-c", cmd]
    if ns:
        cmd = ["ip", "netns", "exec", ns, *cmd]
    if not quiet:
        log("$ " + " ".join(cmd))
    r = subprocess.run(cmd, check=False, text=True, env=env, timeout=timeout, cwd=cwd,
                       stdout=subprocess.PIPE if capture else None,
                       stderr=subprocess.PIPE if capture else None)
    if check and r.returncode != 0:
        if capture:
            sys.stderr.write((r.stdout or "") + (r.stderr or ""))
        raise RuntimeError(f"command failed ({r.returncode}): {' '.join(cmd)}")
    return r


# --------------------------------------------------------------------------- install

def ensure_packages() -> None:
    missing = [p for p in APT_PACKAGES
               if subprocess.run(["dpkg-query", "-W", "-f=${Status}", p], capture_output=True,
                                 text=True).stdout.strip() != "install ok installed"]
    if missing:
        log(f"installing {' '.join(missing)}")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        sh(["apt-get", "update", "-q"], env=env)
        sh(["apt-get", "install", "-y", "-q", *missing], env=env)
    # Debian starts the file-server daemons after install on systemd hosts; the lab needs none
    # of them (our DC runs in its own namespace with its own config).
    if not (VPY.exists() and subprocess.run(
            [str(VPY), "-c", "import impacket, ldap3"], capture_output=True).returncode == 0):
        log("creating lab venv " + str(VENV))
        STATE.mkdir(parents=True, exist_ok=True)
        sh([sys.executable, "-m", "venv", str(VENV)])
        sh([str(VPY), "-m", "pip", "install", "-q", *PIP_PACKAGES])


def versions() -> dict:
    samba_v = subprocess.run(["samba", "-V"], capture_output=True, text=True).stdout.strip()
    imp_v = subprocess.run([str(VPY), "-c", "import impacket.version as v;print(v.version)"],
                           capture_output=True, text=True).stdout.strip()
    ldap3_v = subprocess.run([str(VPY), "-c", "import ldap3;print(ldap3.__version__)"],
                             capture_output=True, text=True).stdout.strip()
    tcpdump_v = subprocess.run(["tcpdump", "--version"], capture_output=True,
                               text=True).stdout.splitlines()[0]
    return {"samba": samba_v, "impacket": imp_v, "ldap3": ldap3_v, "tcpdump": tcpdump_v}


# --------------------------------------------------------------------------- network

def ns_exists(ns: str) -> bool:
    return ns in subprocess.run(["ip", "netns", "list"], capture_output=True,
                                text=True).stdout.split()


def etc_files(ns: str) -> None:
    ip, host = HOSTS[ns]
    d = Path("/etc/netns") / ns
    d.mkdir(parents=True, exist_ok=True)
    lines = ["127.0.0.1 localhost"]
    for _ns, (hip, hname) in HOSTS.items():
        lines.append(f"{hip} {hname}.{DNS_DOMAIN} {hname}")
    (d / "hosts").write_text("\n".join(lines) + "\n")
    (d / "hostname").write_text(host + "\n")
    (d / "resolv.conf").write_text(f"search {DNS_DOMAIN}\nnameserver {DC_IP}\n")
    (d / "krb5.conf").write_text(f"""[libdefaults]
    default_realm = {REALM}
    dns_lookup_realm = false
    dns_lookup_kdc = false
    rdns = false
    forwardable = true

[realms]
    {REALM} = {{
        kdc = dc01.{DNS_DOMAIN}
        admin_server = dc01.{DNS_DOMAIN}
    }}

[domain_realm]
    .{DNS_DOMAIN} = {REALM}
    {DNS_DOMAIN} = {REALM}
""")


def net_up() -> None:
    for f in ("/etc/hosts", "/etc/resolv.conf", "/etc/krb5.conf", "/etc/hostname"):
        Path(f).touch(exist_ok=True)  # bind-mount targets for ip netns exec
    if not ns_exists(NET_NS):
        sh(["ip", "netns", "add", NET_NS])
        sh(["ip", "-n", NET_NS, "link", "add", BRIDGE, "type", "bridge"])
        sh(["ip", "-n", NET_NS, "link", "set", BRIDGE, "up"])
        sh(["ip", "-n", NET_NS, "link", "set", "lo", "up"])
    for i, (ns, (ip, _host)) in enumerate(HOSTS.items()):
        etc_files(ns)
        if ns_exists(ns):
            continue
        sh(["ip", "netns", "add", ns])
        a, b = f"dcwv{i}a", f"dcwv{i}b"
        sh(["ip", "link", "add", a, "type", "veth", "peer", "name", b])
        sh(["ip", "link", "set", a, "netns", ns])
        sh(["ip", "link", "set", b, "netns", NET_NS])
        sh(["ip", "-n", ns, "link", "set", a, "name", "eth0"])
        mac = f"02:77:00:00:00:{int(ip.split('.')[-1]):02x}"
        sh(["ip", "-n", ns, "link", "set", "eth0", "address", mac])
        sh(["ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", "eth0"])
        sh(["ip", "-n", ns, "link", "set", "eth0", "up"])
        sh(["ip", "-n", ns, "link", "set", "lo", "up"])
        sh(["ip", "-n", NET_NS, "link", "set", b, "master", BRIDGE])
        sh(["ip", "-n", NET_NS, "link", "set", b, "up"])
        # IPv6 off: keeps captures to the 10.77.0.0/24 story (no RS/ND chatter)
        sh(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"])


def net_down() -> None:
    for ns in [*HOSTS, NET_NS]:
        if ns_exists(ns):
            sh(["ip", "netns", "del", ns], check=False)
    for ns in HOSTS:
        shutil.rmtree(Path("/etc/netns") / ns, ignore_errors=True)


# --------------------------------------------------------------------------- samba

def samba_tool(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return sh(["samba-tool", *args, "-s", str(SMB_CONF)], ns="dcw-dc", check=check,
              capture=True)


def ldbmodify(ldif: str) -> None:
    p = subprocess.run(["ip", "netns", "exec", "dcw-dc", "ldbmodify", "-H",
                        str(SAMBA / "private" / "sam.ldb")], input=ldif, text=True,
                       capture_output=True)
    if p.returncode != 0:
        raise RuntimeError("ldbmodify failed: " + p.stdout + p.stderr)


BASE_DN = "DC=contoso,DC=local"


def provision() -> None:
    log("provisioning a new Samba AD DC (takes a minute)")
    shutil.rmtree(SAMBA, ignore_errors=True)
    SAMBA.mkdir(parents=True)
    (SAMBA / "log").mkdir()
    (SAMBA / "run").mkdir()
    opts = []
    for k, v in SAMBA_OPTIONS.items():
        opts.append(f"--option={k} = {v}")
    sh(["samba-tool", "domain", "provision", f"--realm={REALM}", f"--domain={DOMAIN}",
        "--server-role=dc", "--dns-backend=SAMBA_INTERNAL", f"--adminpass={ADMIN_PASS}",
        f"--host-name={DC_NAME}", f"--host-ip={DC_IP}", "--use-rfc2307",
        f"--targetdir={SAMBA}", *opts], ns="dcw-dc", capture=True)
    # provisioning writes the option names lower-case/as given; make sure of the log file
    samba_tool("group", "add", "Helpdesk", "--description=Helpdesk operators")
    for name, pw, groups, extra in USERS:
        samba_tool("user", "create", name, pw, "--use-username-as-cn",
                   f"--mail-address={name}@{DNS_DOMAIN}")
        for g in groups:
            samba_tool("group", "addmembers", g, name)
        if extra.get("spn"):
            samba_tool("spn", "add", extra["spn"], name)
        if extra.get("no_preauth"):
            # UF_DONT_REQUIRE_PREAUTH (0x400000) | NORMAL_ACCOUNT (0x200) | DONT_EXPIRE (0x10000)
            ldbmodify(f"dn: CN={name},CN=Users,{BASE_DN}\nchangetype: modify\n"
                      f"replace: userAccountControl\nuserAccountControl: {0x400000 | 0x200 | 0x10000}\n")
        if extra.get("honeytoken"):
            ldbmodify(f"dn: CN={name},CN=Users,{BASE_DN}\nchangetype: modify\n"
                      "replace: description\ndescription: Backup operator (honeytoken - "
                      "never used)\n")
    for comp, pw in COMPUTERS:
        samba_tool("computer", "create", comp, f"--description=workstation {comp}")
        samba_tool("user", "setpassword", comp + "$", f"--newpassword={pw}")
        samba_tool("spn", "add", f"HOST/{comp.lower()}.{DNS_DOMAIN}", comp + "$")
    # A share with a large file (large_smb_read) and a small one for ordinary reads.
    data = SAMBA / "shares" / "data"
    data.mkdir(parents=True)
    (data / "backup").mkdir()
    with open(data / "backup" / "ntds.dit", "wb") as f:
        chunk = hashlib.sha256(b"dcwatch").digest() * 4096  # 128 KiB, incompressible-ish
        for _ in range(8 * 48):  # 48 MiB
            f.write(chunk)
    (data / "readme.txt").write_text("Contoso file share\n")
    with open(SMB_CONF, "a") as f:
        f.write(f"\n[data]\n\tpath = {data}\n\tread only = yes\n")
    log("provisioned; snapshotting golden copy")
    sh(["tar", "-C", str(STATE), "-cf", str(GOLDEN), "samba"])
    GOLDEN_STAMP.write_text(hashlib.sha256(RECIPE.encode()).hexdigest())


def restore_or_provision() -> None:
    want = hashlib.sha256(RECIPE.encode()).hexdigest()
    if GOLDEN.exists() and GOLDEN_STAMP.exists() and GOLDEN_STAMP.read_text() == want:
        log("restoring Samba state from golden snapshot")
        shutil.rmtree(SAMBA, ignore_errors=True)
        sh(["tar", "-C", str(STATE), "-xf", str(GOLDEN)], quiet=True)
    else:
        provision()


def samba_pid() -> int | None:
    pf = SAMBA / "run" / "samba.pid"
    try:
        pid = int(pf.read_text().split()[0])
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError, IndexError):
        return None


def wait_port(ns: str, port: int, timeout: float = 60) -> None:
    end = time.time() + timeout
    while time.time() < end:
        out = subprocess.run(["ip", "netns", "exec", ns, "ss", "-ltnH"], capture_output=True,
                             text=True).stdout
        if any(line.split()[3].endswith(f":{port}") for line in out.splitlines()
               if len(line.split()) > 3):
            return
        time.sleep(0.5)
    raise RuntimeError(f"port {port} not listening in {ns}")


def samba_start() -> None:
    if samba_pid():
        return
    sh(["samba", "-D", "-s", str(SMB_CONF)], ns="dcw-dc")
    for port in (88, 389, 445, 53, 135):
        wait_port("dcw-dc", port)
    # a little settle time for the DRS/KDC/DNS tasks
    time.sleep(3)
    for ns in ("dcw-ws1", "dcw-ws2"):
        r = sh(["timeout", "5", "bash", "-c", f"echo > /dev/tcp/{DC_IP}/445"], ns=ns,
               check=False, quiet=True)
        if r.returncode != 0:
            raise RuntimeError(f"{ns} cannot reach the DC at {DC_IP}:445")
    log(f"samba running, pid {samba_pid()}")


def samba_stop() -> None:
    pid = samba_pid()
    if not pid:
        return
    log(f"stopping samba pid {pid}")
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        if not samba_pid():
            break
        time.sleep(0.2)
    else:
        os.kill(pid, signal.SIGKILL)


# --------------------------------------------------------------------------- capture

class Capture:
    def __init__(self, out_dir: Path, snaplen: int = 0):
        self.out_dir = out_dir
        self.snaplen = snaplen
        self.proc: subprocess.Popen | None = None

    def __enter__(self):
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.pcap = self.out_dir / "dc.pcap"
        self.log_start = SAMBA_LOG.stat().st_size if SAMBA_LOG.exists() else 0
        err = self.out_dir / ".tcpdump.err"
        self.errf = open(err, "w")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", "dcw-dc", "tcpdump", "-i", "eth0", "-n", "-U",
             "-s", str(self.snaplen), "-Z", "root", "-w", str(self.pcap),
             "not (ether proto 0x0806) and not ip6"],
            stdout=subprocess.DEVNULL, stderr=self.errf)
        for _ in range(100):
            if "listening on" in err.read_text():
                break
            time.sleep(0.1)
        time.sleep(0.3)
        return self

    def __exit__(self, *exc):
        time.sleep(1.5)  # let trailing packets and audit lines land
        if self.proc:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.errf.close()
        (self.out_dir / ".tcpdump.err").unlink(missing_ok=True)
        self.audit = extract_audit(self.log_start)
        with open(self.out_dir / "samba-audit.jsonl", "w") as f:
            for line in self.audit:
                f.write(line + "\n")
        return False


def extract_audit(start: int) -> list[str]:
    """JSON audit records Samba logged after byte offset `start`, verbatim."""
    if not SAMBA_LOG.exists():
        return []
    with open(SAMBA_LOG, "rb") as f:
        f.seek(start)
        data = f.read().decode("utf-8", "replace")
    out = []
    for line in data.splitlines():
        i = line.find("{")
        if i < 0:
            continue
        cand = line[i:].rstrip()
        try:
            obj = json.loads(cand)
        except ValueError:
            continue
        if isinstance(obj, dict) and "type" in obj and "timestamp" in obj:
            out.append(cand)
    return out


# --------------------------------------------------------------------------- attack runner

def attack(ns: str, name: str, *args: str, check: bool = True, timeout: float = 300):
    """Run one step of lab/attacks.py inside a workstation namespace with the lab venv."""
    env = dict(os.environ, PYTHONPATH=str(REPO), DCW_LAB_WORK=str(WORK),
               KRB5_CONFIG=f"/etc/krb5.conf")
    env.pop("KRB5CCNAME", None)
    r = sh([str(VPY), "-m", "lab.attacks", name, *args], ns=ns, env=env, check=False,
           capture=True, timeout=timeout, cwd=REPO)
    text = (r.stdout or "") + (r.stderr or "")
    for line in text.rstrip().splitlines():
        print(f"    {ns}| {line}")
    if check and r.returncode != 0:
        raise RuntimeError(f"attack step {name} failed in {ns}")
    return r


# --------------------------------------------------------------------------- scenarios

@dataclass
class Scenario:
    name: str
    func: object
    expected: str = ""
    key_entities: str = ""
    notes: str = ""
    tolerated: str = ""
    snaplen: int = 0
    steps: list = field(default_factory=list)  # filled at run time: provenance


SCENARIOS: dict[str, Scenario] = {}


def scenario(name: str, expected: str = "", key_entities: str = "", notes: str = "",
             tolerated: str = "", snaplen: int = 0):
    def deco(fn):
        SCENARIOS[name] = Scenario(name, fn, expected, key_entities, notes, tolerated, snaplen)
        return fn
    return deco


# SCENARIOS_HERE


# --------------------------------------------------------------------------- main

def write_labels(out: Path, rows: list[dict]) -> None:
    path = out / "labels.csv"
    existing: dict[str, dict] = {}
    if path.exists():
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                existing[row["file"]] = row
    for row in rows:
        existing[row["file"]] = row
    cols = ["file", "expected_external_ids", "key_entities", "notes", "tolerated_external_ids"]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        for k in sorted(existing):
            w.writerow({c: existing[k].get(c, "") for c in cols})


def teardown() -> None:
    samba_stop()
    net_down()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keep", action="store_true", help="leave the lab running afterwards")
    ap.add_argument("--scenario", nargs="*", default=None, help="scenarios to run (default all)")
    ap.add_argument("--out", default=str(REPO / "tests" / "data" / "recordings"))
    ap.add_argument("--list", action="store_true", help="list the scenarios and exit")
    ap.add_argument("--down", action="store_true", help="tear a kept lab down and exit")
    ap.add_argument("--no-scenarios", action="store_true", help="only build the lab")
    args = ap.parse_args(argv)
    if args.list:
        for s in SCENARIOS.values():
            print(f"{s.name:28} {s.expected or '-'}")
        return 0
    if os.geteuid() != 0:
        print("lab/run.py must run as root (network namespaces, tcpdump, samba)", file=sys.stderr)
        return 2
    if args.down:
        teardown()
        return 0
    names = args.scenario if args.scenario else list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        print(f"unknown scenario(s): {unknown}; see --list", file=sys.stderr)
        return 2
    out = Path(args.out).resolve()
    ensure_packages()
    vers = versions()
    log(f"versions: {vers}")
    failures = []
    try:
        samba_stop()
        net_up()
        restore_or_provision()
        samba_start()
        shutil.rmtree(WORK, ignore_errors=True)
        WORK.mkdir(parents=True)
        if args.no_scenarios:
            return 0
        rows = []
        for n in names:
            s = SCENARIOS[n]
            log(f"=== scenario {n}")
            d = out / n
            shutil.rmtree(d, ignore_errors=True)
            s.steps = []
            try:
                with Capture(d, s.snaplen) as cap:
                    s.func(s)
            except Exception as e:  # noqa: BLE001 - keep recording the other scenarios
                log(f"scenario {n} FAILED: {e}")
                failures.append(n)
                continue
            size = (d / "dc.pcap").stat().st_size
            log(f"scenario {n}: pcap {size} bytes, {len(cap.audit)} audit records")
            rows.append({"file": f"{n}/dc.pcap", "expected_external_ids": s.expected,
                         "key_entities": s.key_entities, "notes": s.notes,
                         "tolerated_external_ids": s.tolerated})
            rows.append({"file": f"{n}/samba-audit.jsonl",
                         "expected_external_ids": s.audit_expected
                         if hasattr(s, "audit_expected") else s.expected,
                         "key_entities": s.key_entities,
                         "notes": "same run, Samba JSON audit records. " + s.notes,
                         "tolerated_external_ids": getattr(s, "audit_tolerated", s.tolerated)})
            write_provenance(d, s, vers)
        write_labels(out, rows)
    finally:
        if not args.keep:
            teardown()
        else:
            log("--keep: lab left running; `python3 lab/run.py --down` tears it down")
    if failures:
        log(f"failed scenarios: {failures}")
        return 1
    return 0


def write_provenance(d: Path, s: Scenario, vers: dict) -> None:
    lines = [f"# {s.name}", "", s.notes, "",
             f"Recorded {time.strftime('%Y-%m-%d')} by `python3 lab/run.py --scenario {s.name}`"
             f" (dcwatch lab). Samba: {vers['samba']}; impacket {vers['impacket']}; "
             f"ldap3 {vers['ldap3']}; capture: {vers['tcpdump']} on the DC namespace's eth0.",
             "", "## Provenance (one line per capture)", "",
             f"- `dc.pcap`: tool tcpdump ({vers['tcpdump']}), command `ip netns exec dcw-dc "
             f"tcpdump -i eth0 -n -U -s {s.snaplen} -w dc.pcap 'not (ether proto 0x0806) and "
             f"not ip6'`, Samba {vers['samba']}, impacket {vers['impacket']}",
             f"- `samba-audit.jsonl`: tool Samba JSON audit logging (log level "
             f"`{SAMBA_OPTIONS['log level']}`), JSON records extracted verbatim from the DC's log"
             f" during the run, Samba {vers['samba']}, impacket {vers['impacket']}",
             "", "## Steps", ""]
    for st in s.steps:
        lines.append(f"- {st}")
    (d / "README.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
