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
import contextlib
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
    "samba",
    "samba-ad-dc",
    "samba-ad-provision",
    "samba-dsdb-modules",
    "samba-vfs-modules",
    "winbind",
    "krb5-user",
    "tcpdump",
    "iproute2",
    "smbclient",
    "ldb-tools",
    "python3-venv",
    "krb5-pkinit",  # MIT kinit's PKINIT (shadow-credentials scenario)
]
PIP_PACKAGES = ["impacket==0.13.1", "ldap3==2.9.1"]
# `--samba backports`: Samba 4.22 from bookworm-backports (RBCD, msDS-KeyCredentialLink) for the
# scenarios that declare samba="backports"; its DC state lives in STATE/backports (own provision
# and golden snapshot). The default mode puts bookworm's own Samba (4.17) back.
SAMBA_CHOICES = ("bookworm", "backports")
SAMBA_CHOICE = "bookworm"
SAMBA_PACKAGES = ["samba", "samba-ad-dc", "samba-ad-provision", "samba-dsdb-modules",
                  "samba-vfs-modules", "winbind", "smbclient", "ldb-tools"]
BACKPORTS_SOURCE = Path("/etc/apt/sources.list.d/dcwatch-lab-bookworm-backports.sources")
BACKPORTS_SOURCE_TEXT = (
    "# written by dcwatch lab/run.py --samba backports; removed by its default mode\n"
    "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\n"
    "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
)

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
    # constrained delegation to the DC's file service, Kerberos only (no protocol transition:
    # its S4U2self tickets are not forwardable, so S4U2proxy needs a real user's ticket)
    ("svc_web", "WebSvc!2024", [], {"spn": "HTTP/web01.contoso.local",
                                    "delegate_to": "cifs/dc01.contoso.local"}),
    ("backup.admin", "H0neyT0ken!2024", [], {"honeytoken": True}),
]
COMPUTERS = [("WS1", "Ws1MachinePass!2024"), ("WS2", "Ws2MachinePass!2024")]
HONEYTOKEN = "backup.admin"

SAMBA_OPTIONS = {
    "ldap server require strong auth": "no",
    # not even offered: impacket encrypts every SMB3 session whose server advertises the
    # encryption capability, which would hide srvsvc/samr/svcctl from the capture. Windows
    # clients do not encrypt by default either (signed, cleartext SMB 3.1.1).
    "server smb encrypt": "off",
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
RECIPE = json.dumps(
    [REALM, DOMAIN, DC_NAME, ADMIN_PASS, USERS, COMPUTERS, SAMBA_OPTIONS, 8], sort_keys=True
)


def select_samba(choice: str) -> None:
    """Point the DC's state (provision, golden snapshot, log, loot) at the Samba choice's own
    directory: STATE for bookworm's 4.17 (unchanged), STATE/backports for 4.22. The lab venv
    stays shared."""
    global SAMBA_CHOICE, SAMBA, GOLDEN, GOLDEN_STAMP, WORK, SMB_CONF, SAMBA_LOG, RECIPE
    if choice == SAMBA_CHOICE:
        return
    base = STATE / choice
    SAMBA_CHOICE = choice
    SAMBA, GOLDEN, GOLDEN_STAMP = base / "samba", base / "samba-golden.tar", \
        base / "samba-golden.stamp"
    WORK, SMB_CONF, SAMBA_LOG = base / "work", SAMBA / "etc" / "smb.conf", \
        SAMBA / "log" / "samba.log"
    SAMBA_OPTIONS.update({"log file": str(SAMBA_LOG), "pid directory": str(SAMBA / "run")})
    RECIPE = json.dumps([json.loads(RECIPE), choice, PROVISION_EXTRA.get(choice, []),
                         SCHEMA_FIXES.get(choice, "")], sort_keys=True)


# extra `samba-tool domain provision` arguments per Samba choice
PROVISION_EXTRA: dict[str, list[str]] = {}
# Schema changes after provisioning, per Samba choice. Samba (also 4.22) enforces the schema's
# systemOnly flag of msDS-AllowedToActOnBehalfOfOtherIdentity on LDAP writes ("can only be
# modified as system"); Windows lets anyone with WRITE_PROPERTY set it (Set-ADComputer
# -PrincipalsAllowedToDelegateToAccount, rbcd.py, KrbRelayUp), so the backports DC clears it.
SCHEMA_FIXES = {
    "backports": "dn: CN=ms-DS-Allowed-To-Act-On-Behalf-Of-Other-Identity,CN=Schema,"
    "CN=Configuration,DC=contoso,DC=local\nchangetype: modify\nreplace: systemOnly\n"
    "systemOnly: FALSE\n",
}


def log(msg: str) -> None:
    print(f"[lab {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def sh(
    cmd: list[str] | str,
    check: bool = True,
    capture: bool = False,
    ns: str | None = None,
    env: dict | None = None,
    timeout: float | None = None,
    quiet: bool = False,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess:
    if isinstance(cmd, str):
        cmd = ["bash", "-c", cmd]
    if ns:
        cmd = ["ip", "netns", "exec", ns, *cmd]
    if not quiet:
        log("$ " + " ".join(cmd))
    r = subprocess.run(
        cmd,
        check=False,
        text=True,
        env=env,
        timeout=timeout,
        cwd=cwd,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.PIPE if capture else None,
    )
    if check and r.returncode != 0:
        if capture:
            sys.stderr.write((r.stdout or "") + (r.stderr or ""))
        raise RuntimeError(f"command failed ({r.returncode}): {' '.join(cmd)}")
    return r


# --------------------------------------------------------------------------- install


def ensure_packages() -> None:
    missing = [
        p
        for p in APT_PACKAGES
        if subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", p], capture_output=True, text=True
        ).stdout.strip()
        != "install ok installed"
    ]
    if missing:
        log(f"installing {' '.join(missing)}")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        sh(["apt-get", "update", "-q"], env=env)
        sh(["apt-get", "install", "-y", "-q", *missing], env=env)
    ensure_samba(SAMBA_CHOICE)
    # Debian starts the file-server daemons after install on systemd hosts; the lab needs none
    # of them (our DC runs in its own namespace with its own config).
    if not (
        VPY.exists()
        and subprocess.run(
            [str(VPY), "-c", "import impacket, ldap3"], capture_output=True
        ).returncode
        == 0
    ):
        log("creating lab venv " + str(VENV))
        STATE.mkdir(parents=True, exist_ok=True)
        sh([sys.executable, "-m", "venv", str(VENV)])
        sh([str(VPY), "-m", "pip", "install", "-q", *PIP_PACKAGES])


def installed_versions() -> dict[str, str]:
    """Installed packages built from the samba source package (4.22 also builds talloc, tdb,
    tevent and ldb): name -> version."""
    out = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package} ${source:Package} ${Version} ${db:Status-Abbrev}\n"],
        capture_output=True, text=True).stdout
    return {f[0]: f[2] for f in (line.split() for line in out.splitlines())
            if len(f) >= 4 and f[1] == "samba" and f[3].startswith("ii")}


def ensure_samba(choice: str) -> None:
    """Samba from bookworm-backports (4.22) or bookworm's own (4.17), whichever `choice` says.
    backports: its own apt source file, `apt-get install -t bookworm-backports`; bookworm: every
    package installed from backports goes back to bookworm's explicit version
    (--allow-downgrades) and the source file is removed."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    inst = installed_versions()
    if choice == "backports":
        if all("~bpo" in inst.get(p, "") for p in SAMBA_PACKAGES):
            return
        log("installing Samba from bookworm-backports")
        BACKPORTS_SOURCE.write_text(BACKPORTS_SOURCE_TEXT)
        sh(["apt-get", "update", "-q"], env=env)
        sh(["apt-get", "install", "-y", "-q", "-t", "bookworm-backports", *SAMBA_PACKAGES],
           env=env)
        return
    bpo = sorted(p for p, v in inst.items() if "~bpo" in v)
    if bpo:
        want = []
        for p in bpo:
            rows = subprocess.run(["apt-cache", "madison", p], capture_output=True,
                                  text=True).stdout.splitlines()
            vers = [r.split("|")[1].strip() for r in rows
                    if r.count("|") >= 2 and "~bpo" not in r.split("|")[1]
                    and "backports" not in r.split("|")[2]]
            # a library only backports has (pulled in by 4.22): removed with it
            want.append(f"{p}={vers[0]}" if vers else f"{p}-")
        log("putting bookworm's Samba back: " + " ".join(want))
        sh(["apt-get", "install", "-y", "-q", "--allow-downgrades", *want], env=env)
    BACKPORTS_SOURCE.unlink(missing_ok=True)
    samba_v = installed_versions().get("samba", "")
    if "~bpo" in samba_v:
        raise RuntimeError(f"samba {samba_v} still installed from backports")


def versions() -> dict:
    samba_v = subprocess.run(["samba", "-V"], capture_output=True, text=True).stdout.strip()
    imp_v = subprocess.run(
        [str(VPY), "-c", "import impacket.version as v;print(v.version)"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    ldap3_v = subprocess.run(
        [str(VPY), "-c", "import ldap3;print(ldap3.__version__)"], capture_output=True, text=True
    ).stdout.strip()
    tcpdump_v = subprocess.run(
        ["tcpdump", "--version"], capture_output=True, text=True
    ).stdout.splitlines()[0]
    return {"samba": samba_v, "impacket": imp_v, "ldap3": ldap3_v, "tcpdump": tcpdump_v}


# --------------------------------------------------------------------------- network


def ns_exists(ns: str) -> bool:
    return (
        ns in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
    )


# Samba's KDC is Heimdal, whose "require-preauth" defaults to true for *every* account; only
# with it off does the per-account DONT_REQ_PREAUTH flag (AS-REP roasting) take effect.
KDC_SECTION = """
[kdc]
    require-preauth = false
"""


def etc_files(ns: str) -> None:
    _ip, host = HOSTS[ns]
    d = Path("/etc/netns") / ns
    d.mkdir(parents=True, exist_ok=True)
    lines = ["127.0.0.1 localhost"]
    for _ns, (hip, hname) in HOSTS.items():
        lines.append(f"{hip} {hname}.{DNS_DOMAIN} {hname}")
    (d / "hosts").write_text("\n".join(lines) + "\n")
    (d / "hostname").write_text(host + "\n")
    (d / "resolv.conf").write_text(f"search {DNS_DOMAIN}\nnameserver {DC_IP}\n")
    (d / "krb5.conf").write_text(
        f"""[libdefaults]
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
"""
        + (KDC_SECTION if ns == "dcw-dc" else "")
    )


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
    return sh(["samba-tool", *args, "-s", str(SMB_CONF)], ns="dcw-dc", check=check, capture=True)


def ldbmodify(ldif: str, *opts: str) -> None:
    p = subprocess.run(
        ["ip", "netns", "exec", "dcw-dc", "ldbmodify", "-H", str(SAMBA / "private" / "sam.ldb"),
         *opts],
        input=ldif,
        text=True,
        capture_output=True,
    )
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
    sh(
        [
            "samba-tool",
            "domain",
            "provision",
            f"--realm={REALM}",
            f"--domain={DOMAIN}",
            "--server-role=dc",
            "--dns-backend=SAMBA_INTERNAL",
            f"--adminpass={ADMIN_PASS}",
            f"--host-name={DC_NAME}",
            f"--host-ip={DC_IP}",
            "--use-rfc2307",
            f"--targetdir={SAMBA}",
            *PROVISION_EXTRA.get(SAMBA_CHOICE, []),
            *opts,
        ],
        ns="dcw-dc",
        capture=True,
    )
    # provision keeps only some --option values (e.g. drops "ldap server require strong auth"):
    # write the lab's [global] options into smb.conf ourselves
    set_global_options()
    if SCHEMA_FIXES.get(SAMBA_CHOICE):
        ldbmodify(SCHEMA_FIXES[SAMBA_CHOICE], "--option=dsdb:schema update allowed=true")
    samba_tool("group", "add", "Helpdesk", "--description=Helpdesk operators")
    for name, pw, groups, extra in USERS:
        samba_tool(
            "user",
            "create",
            name,
            pw,
            "--use-username-as-cn",
            f"--mail-address={name}@{DNS_DOMAIN}",
        )
        for g in groups:
            samba_tool("group", "addmembers", g, name)
        if extra.get("spn"):
            samba_tool("spn", "add", extra["spn"], name)
        if extra.get("no_preauth"):
            # UF_DONT_REQUIRE_PREAUTH (0x400000) | NORMAL_ACCOUNT (0x200) | DONT_EXPIRE (0x10000)
            ldbmodify(
                f"dn: CN={name},CN=Users,{BASE_DN}\nchangetype: modify\n"
                "replace: userAccountControl\n"
                f"userAccountControl: {0x400000 | 0x200 | 0x10000}\n"
            )
        if extra.get("delegate_to"):
            ldbmodify(
                f"dn: CN={name},CN=Users,{BASE_DN}\nchangetype: modify\n"
                f"add: msDS-AllowedToDelegateTo\nmsDS-AllowedToDelegateTo: {extra['delegate_to']}\n"
            )
        if extra.get("honeytoken"):
            ldbmodify(
                f"dn: CN={name},CN=Users,{BASE_DN}\nchangetype: modify\n"
                "replace: description\ndescription: Backup operator (honeytoken - "
                "never used)\n"
            )
    # Samba 4.17's Heimdal KDC demands pre-authentication if the *server* entry (krbtgt)
    # requires it, so a DONT_REQ_PREAUTH user is only AS-REP-roastable when krbtgt carries the
    # flag as well (krbtgt stays disabled; this only affects AS-REQs without pre-auth data for
    # accounts that themselves have DONT_REQ_PREAUTH).
    ldbmodify(
        f"dn: CN=krbtgt,CN=Users,{BASE_DN}\nchangetype: modify\n"
        f"replace: userAccountControl\nuserAccountControl: {0x400000 | 0x200 | 0x2}\n"
    )
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
    # --xattrs/--acls: SYSVOL's NT ACLs live in security.NTACL xattrs and POSIX ACLs
    sh(
        [
            "tar",
            "--xattrs",
            "--xattrs-include=*",
            "--acls",
            "--numeric-owner",
            "-C",
            str(SAMBA.parent),
            "-cf",
            str(GOLDEN),
            "samba",
        ],
        capture=True,
    )
    GOLDEN_STAMP.write_text(hashlib.sha256(RECIPE.encode()).hexdigest())


def set_global_options() -> None:
    lines = SMB_CONF.read_text().splitlines()
    keys = {k.lower() for k in SAMBA_OPTIONS}
    out, section = [], None
    for line in lines:
        st = line.strip()
        if st.startswith("["):
            section = st.lower()
            out.append(line)
            if section == "[global]":
                out.extend(f"\t{k} = {v}" for k, v in SAMBA_OPTIONS.items())
            continue
        if section == "[global]" and "=" in st and st.split("=", 1)[0].strip().lower() in keys:
            continue
        out.append(line)
    SMB_CONF.write_text("\n".join(out) + "\n")


def restore_or_provision() -> None:
    want = hashlib.sha256(RECIPE.encode()).hexdigest()
    if GOLDEN.exists() and GOLDEN_STAMP.exists() and GOLDEN_STAMP.read_text() == want:
        log("restoring Samba state from golden snapshot")
        shutil.rmtree(SAMBA, ignore_errors=True)
        sh(
            [
                "tar",
                "--xattrs",
                "--xattrs-include=*",
                "--acls",
                "--numeric-owner",
                "-p",
                "-C",
                str(SAMBA.parent),
                "-xf",
                str(GOLDEN),
            ],
            quiet=True,
        )
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
        out = subprocess.run(
            ["ip", "netns", "exec", ns, "ss", "-ltnH"], capture_output=True, text=True
        ).stdout
        if any(
            line.split()[3].endswith(f":{port}")
            for line in out.splitlines()
            if len(line.split()) > 3
        ):
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
        r = sh(
            ["timeout", "5", "bash", "-c", f"echo > /dev/tcp/{DC_IP}/445"],
            ns=ns,
            check=False,
            quiet=True,
        )
        if r.returncode != 0:
            raise RuntimeError(f"{ns} cannot reach the DC at {DC_IP}:445")
    log(f"samba running, pid {samba_pid()}")


def ns_pids(ns: str) -> list[int]:
    if not ns_exists(ns):
        return []
    out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


@contextlib.contextmanager
def scenario_samba_options(s: Scenario):
    """Run the DC with the scenario's smb.conf options (restart outside the capture), then
    restart it with the lab's defaults."""
    if not s.samba_options:
        yield
        return
    saved = dict(SAMBA_OPTIONS)
    try:
        samba_stop()
        SAMBA_OPTIONS.update(s.samba_options)
        set_global_options()
        log(f"samba restarted with {s.samba_options}")
        samba_start()
        yield
    finally:
        samba_stop()
        SAMBA_OPTIONS.clear()
        SAMBA_OPTIONS.update(saved)
        set_global_options()
        samba_start()


def samba_stop() -> None:
    """Stop the DC: samba's root process, then whatever it left behind in the DC namespace
    (smbd's on-demand samba-dcerpcd and rpcd_* workers outlive it and would keep serving
    the named pipes of a stale database). Every process in dcw-dc was started by the lab."""
    pid = samba_pid()
    if pid:
        log(f"stopping samba pid {pid}")
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            if not samba_pid():
                break
            time.sleep(0.2)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        left = ns_pids("dcw-dc")
        if not left:
            break
        log(
            f"{'terminating' if sig == signal.SIGTERM else 'killing'} {len(left)} leftover "
            f"process(es) in dcw-dc: {left}"
        )
        for p in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, sig)
        for _ in range(50):
            if not ns_pids("dcw-dc"):
                break
            time.sleep(0.2)


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
            [
                "ip",
                "netns",
                "exec",
                "dcw-dc",
                "tcpdump",
                "-i",
                "eth0",
                "-n",
                "-U",
                "-s",
                str(self.snaplen),
                "-Z",
                "root",
                "-w",
                str(self.pcap),
                "not (ether proto 0x0806) and not ip6",
            ],
            stdout=subprocess.DEVNULL,
            stderr=self.errf,
        )
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
        errtext = (self.out_dir / ".tcpdump.err").read_text()
        (self.out_dir / ".tcpdump.err").unlink(missing_ok=True)
        log("tcpdump: " + " / ".join(errtext.strip().splitlines()[1:]))
        self.packets, _first, last = pcap_summary(self.pcap)
        self.end = time.time()
        if self.packets and self.end - last > 4:
            log(f"WARNING: capture ends {self.end - last:.1f}s before the scenario did")
        self.audit = extract_audit(self.log_start)
        with open(self.out_dir / "samba-audit.jsonl", "w") as f:
            for line in self.audit:
                f.write(line + "\n")
        return False


def pcap_summary(path: Path) -> tuple[int, float, float]:
    """(packets, first ts, last ts) of a classic pcap file (stdlib only)."""
    import struct

    data = path.read_bytes() if path.exists() else b""
    if len(data) < 24:
        return 0, 0.0, 0.0
    endian = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    nano = data[:4] in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    off, n, first, last = 24, 0, 0.0, 0.0
    while off + 16 <= len(data):
        sec, frac, incl, _orig = struct.unpack_from(endian + "IIII", data, off)
        ts = sec + frac / (1e9 if nano else 1e6)
        first = first or ts
        last = ts
        n += 1
        off += 16 + incl
    return n, first, last


def extract_audit(start: int) -> list[str]:
    """JSON audit records Samba logged after byte offset `start`, verbatim."""
    if not SAMBA_LOG.exists():
        return []
    with open(SAMBA_LOG, "rb") as f:
        f.seek(start)
        data = f.read().decode("utf-8", "replace")
    out = []
    for line in data.splitlines():
        # a record is a whole JSON object at the end of a line; Samba sometimes appends it to
        # an unterminated debug message, so try each '{"timestamp"' start
        i = line.find('{"timestamp"')
        while i >= 0:
            cand = line[i:].rstrip()
            try:
                obj = json.loads(cand)
            except ValueError:
                i = line.find('{"timestamp"', i + 1)
                continue
            if isinstance(obj, dict) and "type" in obj:
                out.append(cand)
            break
    return out


# --------------------------------------------------------------------------- attack runner


def attack(ns: str, name: str, *args: str, check: bool = True, timeout: float = 300,
           module: str = "lab.attacks"):
    """Run one step of lab/attacks.py (or another attack module) inside a namespace."""
    env = dict(
        os.environ, PYTHONPATH=str(REPO), DCW_LAB_WORK=str(WORK), KRB5_CONFIG="/etc/krb5.conf"
    )
    env.pop("KRB5CCNAME", None)
    r = sh(
        [str(VPY), "-m", module, name, *args],
        ns=ns,
        env=env,
        check=False,
        capture=True,
        timeout=timeout,
        cwd=REPO,
    )
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
    audit_expected: str = ""
    audit_tolerated: str = ""
    steps: list = field(default_factory=list)  # filled at run time: provenance
    samba: str = "bookworm"  # the Samba choice (--samba) it needs
    samba_options: dict = field(default_factory=dict)  # smb.conf [global] while it records


SCENARIOS: dict[str, Scenario] = {}


def scenario(
    name: str,
    expected: str = "",
    key_entities: str = "",
    notes: str = "",
    tolerated: str = "",
    snaplen: int = 0,
    audit_expected: str = "",
    audit_tolerated: str = "",
    samba: str = "bookworm",
    samba_options: dict | None = None,
):
    """Register a scenario. expected/tolerated label dc.pcap; audit_* label samba-audit.jsonl;
    samba: the Samba it must be recorded with (`--samba`; "backports" = 4.22); samba_options:
    smb.conf [global] options the DC runs with for this scenario only (restarted before the
    capture, defaults restored after it)."""

    def deco(fn):
        SCENARIOS[name] = Scenario(
            name,
            fn,
            expected,
            key_entities,
            notes,
            tolerated,
            snaplen,
            audit_expected=audit_expected,
            audit_tolerated=audit_tolerated,
            samba=samba,
            samba_options=samba_options or {},
        )
        return fn

    return deco


# --------------------------------------------------------------------------- scenario helpers

PW = {name: pw for name, pw, _g, _e in USERS}
PW["Administrator"] = ADMIN_PASS


def nthash(password: str) -> str:
    """NT hash (MD4 of UTF-16LE) via the lab venv's impacket (hashlib may lack MD4)."""
    return subprocess.run(
        [
            str(VPY),
            "-c",
            "import sys;from impacket.ntlm import compute_nthash;"
            "print(compute_nthash(sys.argv[1]).hex())",
            password,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def host_of(ns: str) -> str:
    return f"{HOSTS[ns][1].upper()} ({HOSTS[ns][0]})"


# attack modules whose steps speak the protocols themselves (stdlib sockets), not via impacket
RAW_SOCKET_MODULES = {"lab.attacks_exfil", "lab.attacks_sigred", "lab.attacks_exploits"}


def step(s: Scenario, ns: str, name: str, *args: str, desc: str = "", check: bool = True,
         module: str = "lab.attacks"):
    """One lab.attacks step inside `ns`, recorded in the scenario's provenance."""
    r = attack(ns, name, *args, check=check, module=module)
    shown = " ".join(a if " " not in a else repr(a) for a in args)
    kind = "raw-socket step" if module in RAW_SOCKET_MODULES else "impacket/ldap3 step"
    s.steps.append(
        f"{host_of(ns)}: {desc + ' - ' if desc else ''}{kind} "
        f"`python -m {module} {name} {shown}`"
    )
    return r


def module_step(module: str):
    """``step`` for a scenario module whose attack steps live in ``module`` (the workstation
    WS1 unless ``ns`` says otherwise)."""
    def run_step(s: Scenario, name: str, *args: str, desc: str = "", ns: str = "dcw-ws1"):
        return step(s, ns, name, *args, desc=desc, module=module)

    return run_step


def tool(
    s: Scenario, ns: str, cmd: str, desc: str = "", stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess:
    """A stock client tool (MIT kinit, Samba smbclient/samba-tool) inside `ns`."""
    env = dict(os.environ)
    env.pop("KRB5CCNAME", None)
    log(f"$ [{ns}] {cmd}")
    r = subprocess.run(
        ["ip", "netns", "exec", ns, "bash", "-c", cmd],
        input=stdin,
        text=True,
        capture_output=True,
        env=env,
        timeout=120,
    )
    for line in ((r.stdout or "") + (r.stderr or "")).rstrip().splitlines()[-8:]:
        print(f"    {ns}| {line}")
    if check and r.returncode != 0:
        raise RuntimeError(f"tool command failed in {ns}: {cmd}")
    s.steps.append(f"{host_of(ns)}: {desc + ' - ' if desc else ''}`{cmd}`")
    return r


def kinit(s: Scenario, ns: str, user: str, password: str, cc: str, desc: str = "") -> None:
    tool(
        s,
        ns,
        f"KRB5CCNAME={WORK}/{cc} kinit -f '{user}@{REALM}' >/dev/null",
        desc or f"{user} logs on (MIT kinit, AES)",
        stdin=password + "\n",
    )


def machine_logon(s: Scenario, ns: str) -> None:
    """The workstation's computer account logs on (startup), as every domain member does:
    this is how the DC's capture names the computer behind an address."""
    nb = HOSTS[ns][1].upper()
    kinit(s, ns, f"{nb}$", dict(COMPUTERS)[nb], f"{nb.lower()}machine.cc",
          f"{nb} starts up: its machine account logs on (MIT kinit)")


def smbclient_krb(
    s: Scenario, ns: str, cc: str, share: str, commands: str, desc: str = "", check: bool = True
) -> None:
    nb = HOSTS[ns][1].upper()
    tool(
        s,
        ns,
        f"KRB5CCNAME={WORK}/{cc} smbclient -n {nb} //dc01.{DNS_DOMAIN}/{share} "
        f"--use-kerberos=required --use-krb5-ccache={WORK}/{cc} -c '{commands}'",
        desc,
        check=check,
    )


DEFAULT_GPO = "{31B2F340-016D-11D2-945F-00C04FB984F9}"
DC_GPO = "{6AC1786C-016F-11D2-945F-00C04FB984F9}"


def domain_facts() -> dict:
    def ldb(base: str, attr: str) -> str:
        out = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                "dcw-dc",
                "ldbsearch",
                "-H",
                str(SAMBA / "private" / "sam.ldb"),
                "-b",
                base,
                "-s",
                "base",
                attr,
            ],
            capture_output=True,
            text=True,
        ).stdout
        for line in out.splitlines():
            if line.startswith(attr + ":"):
                return line.split(":", 1)[1].strip()
        raise RuntimeError(f"no {attr} on {base}")

    return {
        "sid": ldb(BASE_DN, "objectSid"),
        "krbtgt_kvno": ldb(f"CN=krbtgt,CN=Users,{BASE_DN}", "msDS-KeyVersionNumber"),
    }


def benign_activity(s: Scenario, short: bool = False) -> None:
    """Ordinary domain life: logons with stock clients, GPO reads, DNS, a little admin work."""
    step(
        s,
        "dcw-ws1",
        "dns_axfr",
        "--srv",
        f"_ldap._tcp.dc._msdcs.{DNS_DOMAIN}",
        f"_kerberos._tcp.{DNS_DOMAIN}",
        desc="DC locator SRV look-ups",
    )
    kinit(
        s,
        "dcw-ws1",
        "WS1$",
        dict(COMPUTERS)["WS1"],
        "ws1machine.cc",
        "WS1 machine account logs on (MIT kinit)",
    )
    smbclient_krb(
        s,
        "dcw-ws1",
        "ws1machine.cc",
        "sysvol",
        f"cd {DNS_DOMAIN}/Policies/{DEFAULT_GPO}; get GPT.INI /dev/null; cd MACHINE; ls",
        "WS1$ reads the Default Domain Policy from SYSVOL",
    )
    kinit(s, "dcw-ws1", "alice", PW["alice"], "alice.cc", "alice logs on at WS1 (kinit, AES)")
    smbclient_krb(
        s,
        "dcw-ws1",
        "alice.cc",
        "sysvol",
        f"cd {DNS_DOMAIN}/Policies/{DEFAULT_GPO}; get GPT.INI /dev/null; cd USER; ls",
        "alice's user GPO processing",
    )
    smbclient_krb(
        s,
        "dcw-ws1",
        "alice.cc",
        "data",
        "get readme.txt /dev/null",
        "alice opens a file on the data share",
    )
    if short:
        return
    kinit(s, "dcw-ws2", "bob", PW["bob"], "bob.cc", "bob logs on at WS2 (kinit, AES)")
    smbclient_krb(s, "dcw-ws2", "bob.cc", "netlogon", "ls", "bob lists NETLOGON")
    tool(
        s,
        "dcw-ws2",
        f"smbclient -n WS2 //dc01.{DNS_DOMAIN}/data -U 'CONTOSO\\bob%{PW['bob']}'"
        " -c 'ls; get readme.txt /dev/null'",
        "bob maps the data share with NTLM",
    )
    kinit(s, "dcw-ws2", "hd.admin", PW["hd.admin"], "hd.cc", "helpdesk admin logs on at WS2")
    tool(
        s,
        "dcw-ws2",
        f"KRB5CCNAME={WORK}/hd.cc samba-tool user setexpiry dave --noexpiry "
        f"-H ldap://dc01.{DNS_DOMAIN} --use-kerberos=required",
        "helpdesk admin work: clear dave's password expiry over LDAP (samba-tool)",
        check=False,
    )
    tool(
        s,
        "dcw-ws2",
        f"KRB5CCNAME={WORK}/hd.cc samba-tool user show erin "
        f"-H ldap://dc01.{DNS_DOMAIN} --use-kerberos=required",
        "helpdesk admin looks up erin's account",
        check=False,
    )


# --------------------------------------------------------------------------- the scenarios


@scenario(
    "benign_baseline",
    key_entities="alice;bob;hd.admin;WS1$;WS1;WS2;10.77.0.21;10.77.0.22;DC01",
    notes="Ordinary domain life and nothing else: DC-locator SRV look-ups; WS1$ machine and "
    "user Kerberos logons (MIT kinit, AES, pre-auth) and SYSVOL GPO reads "
    "(GPT.INI) with smbclient; bob on WS2 over Kerberos and NTLM reading shares; "
    "the helpdesk admin (hd.admin, Account Operators) changes a user's expiry and "
    "looks up a user over sealed LDAP. No alert expected (strict negative).",
)
def sc_benign(s):
    benign_activity(s)


@scenario(
    "smb_session_enum",
    expected="2012",
    key_entities="alice;da.admin;WS1;10.77.0.21;DC01;10.77.0.10",
    notes="NetrSessionEnum (srvsvc opnum 12) over SMB \\pipe\\srvsvc from WS1 at levels "
    "10, 502, 1 and 0, first as the ordinary user alice (Samba answers "
    "ACCESS_DENIED: only administrators may enumerate sessions), then as da.admin "
    "(levels 0/1 answered; Samba does not implement 10/502). da.admin holds an SMB "
    "session from WS2 during the enumeration.",
    audit_expected="",
    audit_tolerated="2012",
)
def sc_session_enum(s):
    holder = start_holder(s, "dcw-ws2", "da.admin", 20)
    step(
        s,
        "dcw-ws1",
        "session_enum",
        "--user",
        "alice",
        "--password",
        PW["alice"],
        desc="SMB session enumeration as alice",
    )
    step(
        s,
        "dcw-ws1",
        "session_enum",
        "--user",
        "da.admin",
        "--password",
        PW["da.admin"],
        "--levels",
        "1",
        "0",
        desc="SMB session enumeration as da.admin",
    )
    stop_holder(holder)


def start_holder(s: Scenario, ns: str, user: str, seconds: int) -> subprocess.Popen:
    """A background SMB session (user logged on at a workstation) for `seconds`."""
    env = dict(os.environ, PYTHONPATH=str(REPO), DCW_LAB_WORK=str(WORK))
    p = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            ns,
            str(VPY),
            "-m",
            "lab.attacks",
            "smb_login",
            "--user",
            user,
            "--password",
            PW[user],
            "--hold",
            str(seconds),
        ],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    s.steps.append(
        f"{host_of(ns)}: {user} keeps an SMB session to the DC open "
        f"(`python -m lab.attacks smb_login --user {user} --hold {seconds}`)"
    )
    time.sleep(2)
    return p


def stop_holder(p: subprocess.Popen) -> None:
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.terminate()
        p.wait()


@scenario(
    "samr_recon",
    expected="2021",
    key_entities="alice;WS1;10.77.0.21;DC01;Domain Admins",
    notes="SAMR over SMB \\pipe\\samr from WS1 as alice: SamrConnect5, "
    "EnumerateDomainsInSamServer, LookupDomainInSamServer, OpenDomain, "
    "EnumerateUsersInDomain (opnum 13), EnumerateGroupsInDomain, OpenGroup(512 "
    "Domain Admins)/GetMembersInGroup, OpenGroup(519), LookupIdsInDomain, "
    "OpenAlias(544 Administrators)/GetMembersInAlias.",
    audit_expected="",
    audit_tolerated="2021",
)
def sc_samr(s):
    step(
        s,
        "dcw-ws1",
        "samr_recon",
        "--user",
        "alice",
        "--password",
        PW["alice"],
        desc='net user /domain + net group "Domain Admins" /domain equivalent',
    )


@scenario(
    "ldap_recon",
    expected="2038;2210",
    key_entities="alice;WS1;10.77.0.21;DC01",
    notes="BloodHound/SharpHound-style LDAP collection from WS1 as alice (ldap3, simple bind "
    "as alice@contoso.local, unsealed, so the filters are visible): rootDSE, all users "
    "(samAccountType=805306368), all groups, adminCount=1, servicePrincipalName=*, "
    "UAC bitwise filters 4194304 (DONT_REQ_PREAUTH), 524288 (TRUSTED_FOR_DELEGATION),"
    " 8192 (DCs), computers, GPOs, trusts, OUs, msDS-AllowedToDelegateTo.",
    audit_expected="",
    audit_tolerated="2038;2210",
)
def sc_ldap(s):
    step(
        s,
        "dcw-ws1",
        "ldap_recon",
        "--user",
        "alice",
        "--password",
        PW["alice"],
        desc="BloodHound-like LDAP queries",
    )


@scenario(
    "dns_axfr",
    expected="2007",
    key_entities="WS1;10.77.0.21;DC01;contoso.local",
    notes="DNS reconnaissance from WS1: SRV look-ups, then AXFR (zone transfer) requests over"
    " TCP/53 for contoso.local and _msdcs.contoso.local; Samba's internal DNS answers"
    " without any records (no transfer; the requests are on the wire).",
    audit_expected="",
    audit_tolerated="2007",
)
def sc_dns(s):
    step(
        s,
        "dcw-ws1",
        "dns_axfr",
        "--srv",
        f"_ldap._tcp.{DNS_DOMAIN}",
        "--zones",
        DNS_DOMAIN,
        f"_msdcs.{DNS_DOMAIN}",
        desc="nslookup ls -d / dig axfr equivalent",
    )


@scenario(
    "kerberos_user_enum",
    expected="2003",
    key_entities="WS1;10.77.0.21;DC01",
    notes="Account enumeration from WS1: Kerberos AS-REQs for 36 user names, 32 of them "
    "nonexistent (KDC_ERR_C_PRINCIPAL_UNKNOWN); the 4 real ones (alice, bob, svc_sql, "
    "administrator) get PREAUTH_REQUIRED and then PREAUTH_FAILED for a wrong password.",
    audit_expected="2003",
    audit_tolerated="",
)
def sc_user_enum(s):
    step(
        s,
        "dcw-ws1",
        "user_enum",
        "--count",
        "36",
        "--names",
        "alice",
        "bob",
        "svc_sql",
        "administrator",
        desc="kerbrute userenum-like",
    )


@scenario(
    "password_spray_kerberos",
    expected="2023",
    key_entities="WS1;10.77.0.21;DC01;alice;bob;carol;dave;erin;svc_sql;hd.admin",
    notes="Password spray over Kerberos from WS1: one password (Winter2024!) against 9 "
    "accounts via AS-REQ with PA-ENC-TIMESTAMP; 8 KDC_ERR_PREAUTH_FAILED, one "
    "success (carol).",
    audit_expected="2023",
    audit_tolerated="",
)
def sc_spray(s):
    step(
        s,
        "dcw-ws1",
        "spray",
        "--password",
        "Winter2024!",
        "--users",
        "alice",
        "bob",
        "carol",
        "dave",
        "erin",
        "svc_sql",
        "hd.admin",
        "da.admin",
        "Administrator",
        desc="kerbrute passwordspray-like",
    )


@scenario(
    "brute_force_ntlm",
    expected="2023",
    key_entities="WS1;10.77.0.21;DC01;dave",
    notes="Brute force over SMB/NTLM from WS1: 15 wrong passwords for dave "
    "(STATUS_LOGON_FAILURE each), then 1 for erin.",
    audit_expected="2023",
    audit_tolerated="",
)
def sc_brute(s):
    pws = [
        "Password1",
        "Welcome1",
        "Summer2024!",
        "Winter2024!",
        "P@ssw0rd",
        "Contoso1",
        "Contoso2024!",
        "Dave2024",
        "dave123",
        "Qwerty123",
        "Letmein1",
        "Spring2024!",
        "Autumn2024!",
        "Passw0rd!",
        "Changeme1",
    ]
    step(
        s,
        "dcw-ws1",
        "brute_ntlm",
        "--users",
        "dave",
        "--passwords",
        *pws,
        desc="hydra/crackmapexec-like SMB brute force",
    )


@scenario(
    "ldap_brute_force",
    expected="2004",
    key_entities="WS1;10.77.0.21;DC01;dave;erin;bob;carol",
    notes="LDAP brute force from WS1 (ldap3): simple binds (cleartext passwords) on TCP/389, "
    "one connection per attempt, 4 wrong passwords each for dave, erin, bob and carol "
    "(16 x invalidCredentials).",
    audit_expected="",
    audit_tolerated="2004;2023",
)
def sc_ldap_brute(s):
    step(
        s,
        "dcw-ws1",
        "ldap_brute",
        "--users",
        "dave",
        "erin",
        "bob",
        "carol",
        "--passwords",
        "Password1",
        "Welcome1",
        "Summer2024!",
        "Contoso1",
        desc="LDAP simple-bind brute force",
    )


@scenario(
    "asrep_roast",
    expected="2412",
    key_entities="legacy.app;WS1;10.77.0.21;DC01",
    notes="AS-REP roasting from WS1: AS-REQ without pre-authentication for legacy.app "
    "(DONT_REQ_PREAUTH set) asking only RC4 (etype 23); the KDC returns an AS-REP "
    "whose enc-part is crackable offline. Also tries alice (PREAUTH_REQUIRED).",
    audit_expected="2412",
    audit_tolerated="",
)
def sc_asrep(s):
    # audit: Kerberos KDC Authentication for legacy.app, authDescription "Unknown
    # Pre-authentication" (TGT issued without pre-auth), from 10.77.0.21
    step(
        s,
        "dcw-ws1",
        "asrep_roast",
        "--users",
        "legacy.app",
        "alice",
        desc="GetNPUsers-like AS-REQ without pre-auth",
    )


@scenario(
    "kerberoast",
    expected="2410",
    key_entities="alice;svc_sql;WS1;10.77.0.21;DC01",
    notes="Kerberoasting from WS1: alice gets a TGT (AES), then TGS-REQs asking only RC4 "
    "(etype 23) for MSSQLSvc/sql01.contoso.local:1433 (svc_sql) and for a "
    "nonexistent SPN.",
    audit_expected="",
    audit_tolerated="2410",
)
def sc_kerberoast(s):
    step(
        s,
        "dcw-ws1",
        "kerberoast",
        "--user",
        "alice",
        "--password",
        PW["alice"],
        "--spns",
        "MSSQLSvc/sql01.contoso.local:1433",
        "HTTP/intranet.contoso.local",
        desc="GetUserSPNs -request equivalent (TGS-REQ built by hand)",
    )


@scenario(
    "overpass_the_hash",
    expected="2008;2002",
    key_entities="hd.admin;WS1;10.77.0.21;DC01",
    notes="Overpass-the-hash from WS1: WS1's machine account logs on first (MIT kinit: AES "
    "etypes first, as WS1's own Kerberos always does); then an impacket AS-REQ for hd.admin "
    "offering only RC4-HMAC (etype 23), kdc-options forwardable/proxiable/renewable, with "
    "PA-ENC-TIMESTAMP made from hd.admin's NT hash (every other client in the lab offers AES "
    "first); TGS for cifs/dc01 and an SMB session with the ticket. 2008 for the RC4 pre-auth, "
    "2002 for the second, tool-built Kerberos implementation on WS1.",
    audit_expected="2008",
    audit_tolerated="2002",
)
def sc_opth(s):
    # WS1's own Kerberos stack (AES first) before the tool's RC4-only AS-REQ: 2002 compares them
    machine_logon(s, "dcw-ws1")
    # Samba's KDC Authentication record: passwordType arcfour-hmac-md5 (others are AES)
    step(
        s,
        "dcw-ws1",
        "asktgt",
        "--user",
        "hd.admin",
        "--nthash",
        nthash(PW["hd.admin"]),
        "--use-spn",
        f"cifs/dc01.{DNS_DOMAIN}",
        "--smb",
        desc="Rubeus asktgt /rc4 equivalent with hd.admin's NT hash",
    )


@scenario(
    "pass_the_ticket",
    expected="2018",
    key_entities="da.admin;WS1;WS2;10.77.0.21;10.77.0.22;DC01",
    notes="Pass-the-ticket: da.admin logs on at WS2 (10.77.0.22, MIT kinit, AES TGT); the "
    "same TGT (ccache copied) is then used from WS1 (10.77.0.21) for TGS-REQs "
    "(cifs/dc01) and an SMB session to the DC.",
    audit_expected="",
    audit_tolerated="2018",
)
def sc_ptt(s):
    kinit(s, "dcw-ws2", "da.admin", PW["da.admin"], "da.cc", "da.admin logs on at WS2")
    smbclient_krb(s, "dcw-ws2", "da.cc", "netlogon", "ls", "da.admin uses the ticket on WS2")
    step(
        s,
        "dcw-ws1",
        "smb_login",
        "--ccache",
        f"{WORK}/da.cc",
        desc="the stolen da.admin TGT used from WS1",
    )


EVIL_CMD = (
    "cmd.exe /c net user eviluser P@ss1234! /add && net localgroup administrators eviluser /add"
)


@scenario(
    "remote_exec",
    expected="2019",
    tolerated="2026",
    key_entities="da.admin;WS1;10.77.0.21;DC01;WinUpdSvc;eviluser",
    notes="Remote code execution attempts against the DC from WS1 as da.admin: svcctl "
    "OpenSCManagerW + CreateServiceW 'WinUpdSvc' with binary path '"
    + EVIL_CMD
    + "' (Samba does not implement service creation: nca_s_op_rng_error), then "
    "Task Scheduler via \\pipe\\atsvc (SchRpcRegisterTask and NetrJobAdd; Samba "
    "has no atsvc pipe: STATUS_OBJECT_NAME_NOT_FOUND). The requests are on the wire; "
    "nothing ran.",
    audit_expected="",
    audit_tolerated="2019;2026",
)
def sc_rce(s):
    step(
        s,
        "dcw-ws1",
        "svcctl",
        "--user",
        "da.admin",
        "--password",
        PW["da.admin"],
        "--name",
        "WinUpdSvc",
        "--binpath",
        EVIL_CMD,
        desc="psexec/smbexec-style service creation",
    )
    step(
        s,
        "dcw-ws1",
        "atsvc",
        "--user",
        "da.admin",
        "--password",
        PW["da.admin"],
        "--name",
        "WinUpdTask",
        "--cmd",
        "net user eviluser P@ss1234! /add",
        desc="atexec-style task registration",
    )


@scenario(
    "user_added_to_admins",
    expected="2024",
    key_entities="da.admin;eviluser2;Domain Admins;Administrators;WS1;10.77.0.21;DC01",
    notes="From WS1 as da.admin over LDAP (ldap3, NTLM bind, unsealed): add user "
    "eviluser2, add it to Domain Admins and to BUILTIN\\Administrators, then delete "
    "it after 2 s.",
    audit_expected="2024",
    audit_tolerated="",
)
def sc_add_admin(s):
    step(
        s,
        "dcw-ws1",
        "add_admin",
        "--user",
        "da.admin",
        "--password",
        PW["da.admin"],
        "--new-user",
        "eviluser2",
        "--groups",
        "Domain Admins",
        "Administrators",
        "--cleanup-after",
        "2",
        desc='net user /add + net group "Domain Admins" /add',
    )


@scenario(
    "coercion",
    expected="2415;2426",
    key_entities="alice;WS1;10.77.0.21;DC01",
    notes="Authentication coercion from WS1 as alice (impacket, SMB named pipes, no RPC auth so "
    "the stubs are visible), each with a UNC path to WS1: PetitPotam EfsRpcOpenFileRaw "
    "(\\\\ws1\\test\\Settings.ini) over \\pipe\\lsarpc, PrinterBug RpcOpenPrinter + "
    "RpcRemoteFindFirstPrinterChangeNotificationEx (pszLocalMachine \\\\ws1) over "
    "\\pipe\\spoolss, DFSCoerce NetrDfsAddStdRoot (ServerName ws1) over \\pipe\\netdfs. Samba 4.17 "
    "rejects the MS-EFSR bind on lsarpc (abstract_syntax_not_supported), so no "
    "EfsRpcOpenFileRaw is sent (no 2416); RpcOpenPrinter succeeds and the change-notification "
    "call is answered RPC_S_SERVER_UNAVAILABLE (the DC tried to reach \\\\ws1); "
    "NetrDfsAddStdRoot gets nca_s_op_rng_error (Samba has no DFSNM opnum 12).",
    audit_expected="",
    audit_tolerated="",
)
def sc_coerce(s):
    step(
        s,
        "dcw-ws1",
        "coerce",
        "--user",
        "alice",
        "--password",
        PW["alice"],
        "--name",
        "ws1",
        desc="PetitPotam / PrinterBug / DFSCoerce",
    )


@scenario(
    "dcsync",
    expected="2006",
    tolerated="2017;2021",
    key_entities="da.admin;krbtgt;WS1;10.77.0.21;DC01",
    notes="DCSync from WS1 (not a DC) as da.admin with impacket secretsdump "
    "-just-dc-user krbtgt: epm map, DRSUAPI over ncacn_ip_tcp with NTLM and packet "
    "privacy: DRSBind, DRSDomainControllerInfo, DRSCrackNames, DRSGetNCChanges "
    "(EXOP_REPL_OBJ) - krbtgt's NT hash and AES keys returned. secretsdump also "
    "opens SAMR (Connect, LookupDomain, OpenDomain): 2021 tolerated. da.admin's NT hash is "
    "used over NTLM from WS1 (pass-the-hash): 2017 tolerated.",
    audit_expected="",
    audit_tolerated="2006;2017;2021",
)
def sc_dcsync(s):
    step(
        s,
        "dcw-ws1",
        "dcsync",
        "--user",
        "da.admin",
        "--nthash",
        nthash(PW["da.admin"]),
        "--target-user",
        "krbtgt",
        desc="secretsdump.py -just-dc-user krbtgt",
    )


@scenario(
    "dpapi_backupkey",
    expected="2020",
    key_entities="da.admin;WS1;10.77.0.21;DC01",
    notes="From WS1 as da.admin (domain admin; NTLM, workstation name WS1): first MS-BKRP "
    "BackuprKey(BACKUPKEY_RETRIEVE_BACKUP_KEY_GUID) over \\pipe\\protected_storage (packet "
    "privacy), the public key every domain client fetches (not the alert on its own); then the "
    "domain DPAPI backup keys are stolen the way impacket dpapi.py backupkeys / mimikatz "
    "lsadump::backupkeys do it, over SMB \\pipe\\lsarpc (SMB3 unencrypted, no DCE/RPC-level "
    "auth: stubs in clear): LsarOpenPolicy2(POLICY_GET_PRIVATE_INFORMATION), "
    "LsarRetrievePrivateData(G$BCKUPKEY_PREFERRED) - Samba 4.17 implements no opnum 43 (fault "
    "nca_s_op_rng_error) - so the GUID is read with LsarOpenSecret + "
    "LsarQuerySecret(G$BCKUPKEY_PREFERRED), then LsarRetrievePrivateData(G$BCKUPKEY_<guid>) "
    "(fault again) and LsarOpenSecret + LsarQuerySecret(G$BCKUPKEY_<guid>), which returns the "
    "RSA backup key (version 2, ~1.9 KB); finally the same for G$BCKUPKEY_P (fault, and "
    "STATUS_OBJECT_NAME_NOT_FOUND: Samba keeps no legacy key).",
    audit_expected="",
    audit_tolerated="2020",
)
def sc_bkrp(s):
    creds = ("--user", "da.admin", "--password", PW["da.admin"])
    step(
        s,
        "dcw-ws1",
        "bkrp",
        *creds,
        desc="DPAPI public backup key (BackuprKey RETRIEVE_BACKUP_KEY_GUID)",
    )
    step(
        s,
        "dcw-ws1",
        "dpapi_backupkeys",
        *creds,
        desc="dpapi.py backupkeys / mimikatz lsadump::backupkeys over \\pipe\\lsarpc",
    )


def golden_steps(s: Scenario) -> None:
    facts = domain_facts()
    if not (WORK / "krbtgt.secrets.json").exists():
        raise RuntimeError("golden ticket needs krbtgt secrets (run dcsync first)")
    step(
        s,
        "dcw-ws1",
        "golden",
        "--rc4",
        "--domain-sid",
        facts["sid"],
        "--kvno",
        facts["krbtgt_kvno"],
        desc="ticketer.py golden ticket with krbtgt's NT hash (RC4)",
    )
    step(
        s,
        "dcw-ws1",
        "golden",
        "--domain-sid",
        facts["sid"],
        "--kvno",
        facts["krbtgt_kvno"],
        desc="ticketer.py golden ticket with krbtgt's AES256 key, used for TGS + SMB",
    )


@scenario(
    "golden_ticket",
    expected="2032",
    tolerated="2009;2013;2022;2027;2040",
    key_entities="Administrator;krbtgt;WS1;10.77.0.21;DC01",
    notes="Golden ticket from WS1 (krbtgt keys taken by a DCSync outside this capture): "
    "TGT for Administrator (RID 500, groups 513/512/520/518/519, 10-year lifetime) "
    "forged with impacket ticketer; first an RC4-encrypted one (TGS-REQ whose TGT "
    "enc-part is etype 23 while the KDC issues AES: refused by Samba with "
    "KRB_AP_ERR_BADKEYVER), then an AES256 one used for TGS-REQs (cifs/, ldap/dc01) "
    "and an SMB session. 2032 (golden ticket, ticket anomaly): TGTs the KDC never issued "
    "are presented - there is no AS exchange for Administrator. 2009 (RC4 TGT never issued) "
    "tolerated: it needs the capture to show the KDC issuing AES TGTs, which this one does "
    "not (golden_ticket_rc4 does).",
    audit_expected="",
    audit_tolerated="2013;2022;2027;2032;2040",
)
def sc_golden(s):
    if not (WORK / "krbtgt.secrets.json").exists():
        # obtain the krbtgt keys outside the capture window
        attack("dcw-ws1", "dcsync", "--user", "da.admin", "--nthash", nthash(PW["da.admin"]))
    golden_steps(s)


@scenario(
    "zerologon_attempt",
    expected="2411",
    key_entities="WS1;10.77.0.21;DC01;DC01$",
    notes="Zerologon (CVE-2020-1472) probe from WS1: netlogon over ncacn_ip_tcp, 40x "
    "NetrServerReqChallenge + NetrServerAuthenticate3 for DC01$ with an all-zero "
    "client credential and challenge (Samba refuses each with ACCESS_DENIED).",
    audit_expected="2411",
    audit_tolerated="",
)
def sc_zerologon(s):
    # audit: 40 NETLOGON ServerAuthenticate records for DC01$ from 10.77.0.21, ACCESS_DENIED
    step(s, "dcw-ws1", "zerologon", "--attempts", "40", desc="zerologon_tester-like")


@scenario(
    "large_smb_read",
    expected="2030",
    snaplen=256,
    key_entities="alice;WS1;10.77.0.21;DC01;ntds.dit",
    notes="alice copies \\\\dc01\\data\\backup\\ntds.dit (48 MiB) from the DC to WS1 over "
    "SMB2 (captured with snaplen 256: headers only).",
    audit_expected="",
    audit_tolerated="2030",
)
def sc_large_read(s):
    step(
        s,
        "dcw-ws1",
        "smb_login",
        "--user",
        "alice",
        "--password",
        PW["alice"],
        "--list",
        "data:backup/*",
        "--read",
        "data:backup/ntds.dit",
        desc="copy of a large file",
    )


@scenario(
    "honeytoken_logon",
    expected="2014",
    key_entities="backup.admin;WS2;10.77.0.22;DC01",
    notes="The honeytoken account backup.admin (description says never used) "
    "authenticates from WS2: Kerberos AS exchange (kinit) and an SMB/NTLM logon.",
    audit_expected="2014",
    audit_tolerated="",
)
def sc_honeytoken(s):
    kinit(s, "dcw-ws2", "backup.admin", PW["backup.admin"], "honey.cc", "honeytoken Kerberos logon")
    step(
        s,
        "dcw-ws2",
        "smb_login",
        "--user",
        "backup.admin",
        "--password",
        PW["backup.admin"],
        desc="honeytoken NTLM logon",
    )


@scenario(
    "honeytoken_ldap_query",
    expected="2429",
    key_entities="alice;backup.admin;WS1;10.77.0.21;10.77.0.10",
    notes="alice on WS1 looks the honeytoken account backup.admin up over LDAP (ldap3, simple "
    "bind, so the filters are in clear): (sAMAccountName=backup.admin), "
    "(userPrincipalName=backup.admin@contoso.local) and a base-object read of its DN; the "
    "same three look-ups for bob (not a honeytoken) before it. backup.admin is tagged as "
    "honeytoken in scan-options.toml. WS1's machine account logs on first (startup), which "
    "names the computer; nothing names the DC (simple bind), so the alert shows its address.",
)
def sc_honeytoken_ldap(s):
    machine_logon(s, "dcw-ws1")
    step(
        s,
        "dcw-ws1",
        "honeytoken_ldap",
        "--user",
        "alice",
        "--password",
        PW["alice"],
        "--names",
        "bob",
        HONEYTOKEN,
        desc="`net user NAME /domain`-like LDAP look-ups of bob, then of the honeytoken",
    )


@scenario(
    "honeytoken_samr_query",
    expected="2439",
    key_entities="bob;backup.admin;WS2;10.77.0.22;DC01",
    notes="bob on WS2 runs `net user NAME /domain` equivalents over SAM-R (\\pipe\\samr, "
    "impacket, NTLM): SamrConnect5, SamrOpenDomain, then SamrLookupNamesInDomain, "
    "SamrOpenUser, SamrQueryInformationUser2 (UserAllInformation) and SamrGetGroupsForUser for "
    "alice (not a honeytoken) and for the honeytoken backup.admin (tagged in "
    "scan-options.toml).",
)
def sc_honeytoken_samr(s):
    step(
        s,
        "dcw-ws2",
        "samr_user_query",
        "--user",
        "bob",
        "--password",
        PW["bob"],
        "--names",
        "alice",
        HONEYTOKEN,
        desc="`net user NAME /domain` over SAM-R for alice, then the honeytoken",
    )


@scenario(
    "account_enumeration_ldap",
    expected="2437",
    key_entities="WS2;10.77.0.22;10.77.0.10;alice;bob;carol;svc_sql;da.admin;administrator",
    notes="ldapnomnom-like account enumeration from WS2: 40 CLDAP \"LDAP ping\" requests (UDP "
    "389, rootDSE search for Netlogon, filter (&(DnsDomain=contoso.local)(User=NAME)"
    "(AAC=0x10)(NtVer=6))), one per candidate name; 6 real accounts (alice, bob, carol, svc_sql, "
    "da.admin, administrator) among 34 made-up names; Samba answers "
    "LOGON_SAM_LOGON_RESPONSE_EX (23) for the real ones and LOGON_SAM_USER_UNKNOWN_EX (25) "
    "for the others. No credentials are used (WS2's machine account logs on first, at "
    "startup).",
)
def sc_account_enum_ldap(s):
    machine_logon(s, "dcw-ws2")
    step(
        s,
        "dcw-ws2",
        "cldap_user_enum",
        "--count",
        "40",
        "--names",
        "alice",
        "bob",
        "carol",
        "svc_sql",
        "da.admin",
        "administrator",
        desc="ldapnomnom-like CLDAP user enumeration",
    )


@scenario(
    "forged_pac",
    expected="2013",
    key_entities="erin;WS1;10.77.0.21;DC01",
    notes="MS14-068 (CVE-2014-6324) attempt from WS1 with impacket goldenPac.py's exploit "
    "(psexec part left out) as the ordinary user erin: erin's SID over SAM-R, an AS-REQ "
    "with PA-PAC-REQUEST include-pac = FALSE, then a TGS-REQ for krbtgt/CONTOSO.LOCAL "
    "presenting that TGT with a forged PAC (groups 513, 512, 520, 518, 519) in the request "
    "body's enc-authorization-data (authenticator checksum added, as PyKEK sends one); WS1's "
    "machine account logs on first (startup). Samba "
    "4.17 answers that request with a TGT, but the TGS-REQ for cifs/dc01.contoso.local "
    "presenting it is refused (KDC_ERR_BADOPTION): the escalation fails.",
)
def sc_forged_pac(s):
    machine_logon(s, "dcw-ws1")
    step(
        s,
        "dcw-ws1",
        "ms14_068",
        "--user",
        "erin",
        "--password",
        PW["erin"],
        desc="goldenPac.py contoso.local/erin@dc01.contoso.local (MS14-068)",
    )


@scenario(
    "bronze_bit",
    expected="2048",
    key_entities="svc_web;Administrator;WS1;10.77.0.21;DC01",
    notes="Bronze Bit (CVE-2020-17049) from WS1 with impacket getST.py -force-forwardable and "
    "the password of svc_web (SPN HTTP/web01.contoso.local, constrained delegation to "
    "cifs/dc01.contoso.local, Kerberos only: no protocol transition): TGT for svc_web, "
    "S4U2self for Administrator (the KDC's ticket is not forwardable), the ticket decrypted "
    "with svc_web's key, the forwardable flag set and re-encrypted, then S4U2proxy "
    "(cname-in-addl-tkt) for cifs/dc01.contoso.local with the tampered ticket. Samba 4.17 "
    "refuses it with KRB_AP_ERR_BAD_INTEGRITY (it checks the PAC ticket signature: the CVE "
    "fix); the same S4U2proxy without the flag forced gets KDC_ERR_BADOPTION. WS1's machine "
    "account logs on first (startup).",
)
def sc_bronze_bit(s):
    machine_logon(s, "dcw-ws1")
    step(
        s,
        "dcw-ws1",
        "bronze_bit",
        "--user",
        "svc_web",
        "--password",
        PW["svc_web"],
        "--impersonate",
        "Administrator",
        "--spns",
        f"cifs/dc01.{DNS_DOMAIN}",
        desc="getST.py -spn cifs/dc01.contoso.local -impersonate Administrator "
        "-force-forwardable contoso.local/svc_web",
    )


def start_step(s: Scenario, ns: str, name: str, *args: str, desc: str = "") -> subprocess.Popen:
    """A lab.attacks step running in the background (a listener) until it ends by itself."""
    env = dict(os.environ, PYTHONPATH=str(REPO), DCW_LAB_WORK=str(WORK))
    p = subprocess.Popen(
        ["ip", "netns", "exec", ns, str(VPY), "-m", "lab.attacks", name, *args],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    s.steps.append(
        f"{host_of(ns)}: {desc + ' - ' if desc else ''}background step "
        f"`python -m lab.attacks {name} {' '.join(args)}`"
    )
    time.sleep(2)
    return p


def end_step(ns: str, p: subprocess.Popen, timeout: float = 60) -> None:
    try:
        text, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.terminate()
        text, _ = p.communicate()
    for line in (text or "").rstrip().splitlines():
        print(f"    {ns}| {line}")


@scenario(
    "kerberos_relay",
    expected="2418",
    tolerated="2018",
    key_entities="bob;WS2;WS1;10.77.0.22;10.77.0.21;DC01",
    notes="Kerberos relay through an adversary-in-the-middle: WS1 and WS2 start up (machine "
    "account logons, MIT kinit); bob logs on at WS2 (MIT kinit, "
    "AES) and opens \\\\dc01.contoso.local\\netlogon with Samba's smbclient, but his "
    "SMB connection is sent to WS1 (10.77.0.21; smbclient -I, as after name poisoning). "
    "WS1 relays it byte for byte to the DC: the TGS-REQ for cifs/dc01.contoso.local comes "
    "from WS2, the AP-REQ with that ticket (SMB2 SESSION_SETUP) reaches the DC from WS1 "
    "a second later. 2018 (pass-the-ticket: the ticket is used from another computer than "
    "the one it was issued to) is tolerated: it describes the same event.",
)
def sc_kerberos_relay(s):
    machine_logon(s, "dcw-ws1")
    machine_logon(s, "dcw-ws2")
    relay = start_step(s, "dcw-ws1", "tcp_relay", "--port", "445", "--hold", "6",
                       desc="TCP relay of port 445 to the DC (adversary in the middle)")
    kinit(s, "dcw-ws2", "bob", PW["bob"], "bob.cc", "bob logs on at WS2 (kinit, AES)")
    tool(
        s,
        "dcw-ws2",
        f"KRB5CCNAME={WORK}/bob.cc smbclient -n WS2 //dc01.{DNS_DOMAIN}/netlogon "
        f"-I {WS1_IP} --use-kerberos=required --use-krb5-ccache={WORK}/bob.cc -c ls",
        "bob lists NETLOGON on dc01, but the connection goes to WS1",
    )
    end_step("dcw-ws1", relay)


@scenario(
    "pass_the_hash",
    expected="2017",
    key_entities="dave;WS1;WS2;10.77.0.21;10.77.0.22;DC01",
    notes="Pass-the-hash: WS1 and WS2 start up (machine account logons, MIT kinit); dave "
    "logs on at WS2 (MIT kinit, AES) and opens the data share there "
    "with Kerberos (smbclient); his NT hash, taken on WS2, is then used from WS1 "
    "(mimikatz sekurlsa::pth + net use equivalent: impacket SMB logon with the NT hash, NTLM "
    "naming workstation WS1) to list the DC's shares and read a file. dave never logged on "
    "at WS1. Samba's audit log shows the same (Kerberos logon from 10.77.0.22, NTLM from "
    "workstation WS1).",
    audit_expected="2017",
)
def sc_pass_the_hash(s):
    machine_logon(s, "dcw-ws1")
    machine_logon(s, "dcw-ws2")
    kinit(s, "dcw-ws2", "dave", PW["dave"], "dave.cc", "dave logs on at WS2 (kinit, AES)")
    smbclient_krb(s, "dcw-ws2", "dave.cc", "data", "get readme.txt /dev/null",
                  "dave opens a file on the data share from WS2 (Kerberos)")
    step(
        s,
        "dcw-ws1",
        "smb_login",
        "--user",
        "dave",
        "--nthash",
        nthash(PW["dave"]),
        "--workstation",
        "--read",
        "data:readme.txt",
        desc="dave's NT hash used from WS1 over NTLM (sekurlsa::pth + net use equivalent)",
    )


@scenario(
    "smb_brute_force",
    expected="2033",
    tolerated="2023",
    key_entities="WS2;10.77.0.22;DC01;dave;erin;carol",
    notes="SMB brute force from WS2 (its machine account logs on first, at startup) with a "
    "non-standard NTLM implementation: impacket with "
    "NTLMv1 responses (USE_NTLMv2 = False, as the NTLM code of older brute-force tools "
    "sends), one SMB2 connection per attempt, 5 passwords each for dave, erin and carol "
    "(carol's real one, Winter2024!, among them). Samba only accepts NTLMv2 ('ntlm auth = "
    "mschapv2-and-ntlmv2-only'), so all 15 session setups fail (NT_STATUS_WRONG_PASSWORD "
    "with passwordType NTLMv1 in its audit log). 2023 (NTLM brute force: many failures from "
    "one source) is tolerated: it describes the same attempts (below its thresholds today).",
    audit_expected="2033",
    audit_tolerated="2023",
)
def sc_smb_brute(s):
    machine_logon(s, "dcw-ws2")
    step(
        s,
        "dcw-ws2",
        "brute_ntlm",
        "--ntlmv1",
        "--users",
        "dave",
        "erin",
        "carol",
        "--passwords",
        "Password1",
        "Welcome1",
        "Winter2024!",
        "Contoso2024!",
        "Qwerty123",
        desc="hydra/medusa-like SMB brute force with NTLMv1 responses",
    )


@scenario(
    "killchain",
    expected="2012;2008;2002;2018;2019;2006;2032",
    tolerated="2009;2013;2021;2022;2026;2027;2040",
    key_entities="alice;hd.admin;da.admin;Administrator;krbtgt;WS1;WS2;10.77.0.21;"
    "10.77.0.22;DC01;10.77.0.10;WinUpdSvc;eviluser",
    notes="One attack story in order (see README.md): (1) baseline: DC locator, WS1$ and "
    "alice logons + GPO reads, da.admin logs on at WS2 and keeps an SMB session; "
    "(2) alice on WS1 runs NetrSessionEnum (srvsvc, levels 10/502/1/0: "
    "ACCESS_DENIED from Samba) to find where da.admin is logged on; (3) "
    "overpass-the-hash: RC4-only AS-REQ for hd.admin from its stolen NT hash (impacket; "
    "WS1's own Kerberos offered AES in (1): 2008 and 2002), TGS cifs/dc01 and SMB; (4) "
    "pass-the-ticket: da.admin's TGT from WS2 used from WS1 "
    "(TGS-REQ + SMB from 10.77.0.21); (5) remote code execution on the DC with "
    "that ticket: svcctl CreateServiceW WinUpdSvc '" + EVIL_CMD + "' (refused by "
    "Samba, on the wire); (6) DCSync of krbtgt from WS1 as da.admin (DRSUAPI "
    "DRSGetNCChanges, Kerberos with the stolen da.admin TGT); (7) golden ticket for "
    "Administrator: RC4-forged TGT (TGS-REQ refused: 2009 tolerated) and AES-forged TGT used "
    "for TGS-REQs and SMB.",
    audit_expected="2008",
    audit_tolerated="2002;2006;2012;2013;2018;2019;2021;2022;2026;2027;2032;2040",
)
def sc_killchain(s):
    # Samba's KDC record names the pre-auth key type: arcfour-hmac-md5 for hd.admin (2008)
    # (1) baseline
    benign_activity(s, short=True)
    kinit(s, "dcw-ws2", "da.admin", PW["da.admin"], "da.cc", "da.admin logs on at WS2")
    smbclient_krb(
        s,
        "dcw-ws2",
        "da.cc",
        "sysvol",
        f"cd {DNS_DOMAIN}/Policies; ls",
        "da.admin's GPO processing on WS2",
    )
    holder = start_holder(s, "dcw-ws2", "da.admin", 15)
    # (2) recon of sessions
    step(
        s,
        "dcw-ws1",
        "session_enum",
        "--user",
        "alice",
        "--password",
        PW["alice"],
        desc="(2) alice enumerates SMB sessions on the DC",
    )
    stop_holder(holder)
    # (3) overpass-the-hash
    step(
        s,
        "dcw-ws1",
        "asktgt",
        "--user",
        "hd.admin",
        "--nthash",
        nthash(PW["hd.admin"]),
        "--use-spn",
        f"cifs/dc01.{DNS_DOMAIN}",
        "--smb",
        desc="(3) overpass-the-hash with hd.admin's NT hash (RC4-only AS-REQ)",
    )
    # (4) pass-the-ticket
    step(
        s,
        "dcw-ws1",
        "smb_login",
        "--ccache",
        f"{WORK}/da.cc",
        desc="(4) pass-the-ticket: da.admin's WS2 TGT used from WS1",
    )
    # (5) remote code execution on the DC
    step(
        s,
        "dcw-ws1",
        "svcctl",
        "--ccache",
        f"{WORK}/da.cc",
        "--name",
        "WinUpdSvc",
        "--binpath",
        EVIL_CMD,
        desc="(5) service creation on the DC with the stolen ticket",
    )
    # (6) DCSync
    step(
        s,
        "dcw-ws1",
        "dcsync",
        "--ccache",
        f"{WORK}/da.cc",
        "--target-user",
        "krbtgt",
        desc="(6) DCSync of krbtgt with the stolen da.admin ticket (Kerberos DRSUAPI bind)",
    )
    # (7) golden ticket
    golden_steps(s)


# --------------------------------------------------------------------------- main


def samba_flag(s: Scenario) -> str:
    return f" --samba {s.samba}" if s.samba != "bookworm" else ""


def scenario_rows(s: Scenario, vers: dict) -> list[dict]:
    src = (
        f" [source: dcwatch lab `python3 lab/run.py{samba_flag(s)} --scenario {s.name}`, "
        f"Samba {vers['samba'].replace('Version ', '')}, impacket {vers['impacket']}]"
    )
    return [
        {
            "file": "dc.pcap",
            "expected_external_ids": s.expected,
            "key_entities": s.key_entities,
            "notes": "PCAP of the DC's interface (tcpdump in the DC namespace). " + s.notes + src,
            "tolerated_external_ids": s.tolerated,
        },
        {
            "file": "samba-audit.jsonl",
            "expected_external_ids": s.audit_expected,
            "key_entities": s.key_entities,
            "notes": (
                "same run, the DC's Samba JSON audit records (Authentication, Authorization,"
                " dsdbChange, passwordChange, groupChange, dsdbTransaction), one per line. "
                + s.notes
                + src
            ),
            "tolerated_external_ids": s.audit_tolerated,
        },
    ]


GENERATED = ("dc.pcap", "samba-audit.jsonl", "labels.csv", "README.md")


def write_scenario_labels(out: Path, s: Scenario, vers: dict) -> None:
    """<out>/<scenario>/labels.csv (paths relative to it) and the merged <out>/labels.csv."""
    srows = scenario_rows(s, vers)
    write_labels(out / s.name, srows)
    write_labels(out, [{**r, "file": f"{s.name}/{r['file']}"} for r in srows])


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
    ap.add_argument(
        "--samba",
        choices=SAMBA_CHOICES,
        default="bookworm",
        help="bookworm: Debian 12's Samba 4.17 (default, installed back if needed); backports: "
        "Samba 4.22 from bookworm-backports with its own DC state, for the scenarios that "
        "need it (RBCD, key credentials)",
    )
    ap.add_argument(
        "--labels-only",
        action="store_true",
        help="rewrite the labels.csv files of existing recordings from the scenario "
        "definitions, without building the lab",
    )
    args = ap.parse_args(argv)
    select_samba(args.samba)
    if args.list:
        for s in SCENARIOS.values():
            need = f"  (--samba {s.samba})" if s.samba != "bookworm" else ""
            print(f"{s.name:28} {s.expected or '-'}{need}")
        return 0
    if args.labels_only:
        out = Path(args.out).resolve()
        now = versions()
        for n in args.scenario or list(SCENARIOS):
            if (out / n / "dc.pcap").exists():
                # the versions the recording was made with, not the ones installed now
                vers = recorded_versions(out / n / "README.md", now)
                write_scenario_labels(out, SCENARIOS[n], vers)
                refresh_readme_notes(out / n / "README.md", SCENARIOS[n])
                log(f"labels rewritten: {n}")
        return 0
    if os.geteuid() != 0:
        print("lab/run.py must run as root (network namespaces, tcpdump, samba)", file=sys.stderr)
        return 2
    if args.down:
        teardown()
        return 0
    names = args.scenario if args.scenario else [
        n for n, s in SCENARIOS.items() if s.samba == args.samba]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        print(f"unknown scenario(s): {unknown}; see --list", file=sys.stderr)
        return 2
    other = [n for n in names if SCENARIOS[n].samba != args.samba]
    if other:
        print(f"scenario(s) {other} must be recorded with --samba "
              f"{SCENARIOS[other[0]].samba} (this run: --samba {args.samba})", file=sys.stderr)
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
        for n in names:
            s = SCENARIOS[n]
            log(f"=== scenario {n}")
            d = out / n
            # record into a scratch folder outside the repository; a failed scenario leaves the
            # old recording alone
            tmp = STATE / "recording" / n
            shutil.rmtree(tmp, ignore_errors=True)
            s.steps = []
            try:
                with scenario_samba_options(s), Capture(tmp, s.snaplen) as cap:
                    s.func(s)
            except Exception as e:  # noqa: BLE001 - keep recording the other scenarios
                log(f"scenario {n} FAILED: {e}")
                failures.append(n)
                shutil.rmtree(tmp, ignore_errors=True)
                continue
            d.mkdir(parents=True, exist_ok=True)
            for name in GENERATED:  # other files there (e.g. scan-options.toml) are kept
                (d / name).unlink(missing_ok=True)
            for f in tmp.iterdir():
                shutil.move(str(f), d / f.name)
            shutil.rmtree(tmp, ignore_errors=True)
            size = (d / "dc.pcap").stat().st_size
            log(
                f"scenario {n}: pcap {size} bytes ({cap.packets} packets), "
                f"{len(cap.audit)} audit records"
            )
            write_scenario_labels(out, s, vers)
            write_provenance(d, s, vers)
    finally:
        if not args.keep:
            teardown()
        else:
            log("--keep: lab left running; `python3 lab/run.py --down` tears it down")
    if failures:
        log(f"failed scenarios: {failures}")
        return 1
    return 0


def refresh_readme_notes(readme: Path, s: Scenario) -> None:
    """Replace the notes paragraph (between the title and "Recorded ...") of a README."""
    if not readme.exists():
        return
    lines = readme.read_text().splitlines()
    try:
        end = next(i for i, line in enumerate(lines) if line.startswith("Recorded "))
    except StopIteration:
        return
    readme.write_text("\n".join([lines[0], "", s.notes, "", *lines[end:]]) + "\n")


def write_provenance(d: Path, s: Scenario, vers: dict) -> None:
    lines = [
        f"# {s.name}",
        "",
        s.notes,
        "",
        f"Recorded {time.strftime('%Y-%m-%d')} by `python3 lab/run.py{samba_flag(s)} "
        f"--scenario {s.name}`"
        f" (dcwatch lab). Samba: {vers['samba']}; impacket {vers['impacket']}; "
        f"ldap3 {vers['ldap3']}; capture: {vers['tcpdump']} on the DC namespace's eth0.",
        "",
        "## Provenance (one line per capture)",
        "",
        f"- `dc.pcap`: tool tcpdump ({vers['tcpdump']}), command `ip netns exec dcw-dc "
        f"tcpdump -i eth0 -n -U -s {s.snaplen} -w dc.pcap 'not (ether proto 0x0806) and "
        f"not ip6'`, Samba {vers['samba']}, impacket {vers['impacket']}",
        f"- `samba-audit.jsonl`: tool Samba JSON audit logging (log level "
        f"`{SAMBA_OPTIONS['log level']}`), JSON records extracted verbatim from the DC's log"
        f" during the run, Samba {vers['samba']}, impacket {vers['impacket']}",
        "",
        "## Steps",
        "",
    ]
    for st in s.steps:
        lines.append(f"- {st}")
    (d / "README.md").write_text("\n".join(lines) + "\n")


def recorded_versions(readme: Path, default: dict) -> dict:
    """The versions a recording's README names (Samba, impacket, ldap3, tcpdump), else default."""
    import re

    m = re.search(r"Samba: (.+?); impacket (\S+); ldap3 (\S+); capture: (.+?) on the",
                  readme.read_text() if readme.exists() else "")
    if not m:
        return default
    return {"samba": m[1], "impacket": m[2], "ldap3": m[3], "tcpdump": m[4]}


def load_extra_scenarios() -> None:
    """More scenarios in lab/scenarios_*.py: each module's install(run) registers its own
    through this module's ``scenario`` decorator and helpers."""
    import importlib

    for p in sorted(LAB_DIR.glob("scenarios_*.py")):
        importlib.import_module(f"lab.{p.stem}").install(sys.modules[__name__])


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    load_extra_scenarios()
    sys.exit(main())
