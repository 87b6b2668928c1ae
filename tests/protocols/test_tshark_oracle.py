"""Frame-by-frame agreement of the Kerberos, LDAP and DNS decoders with tshark.

Oracles (``tests/data/protocols/<capture>.tshark.json``) come from scripts/make_tshark_oracles.py.
Every frame tshark decodes as Kerberos (KDC messages), LDAP/CLDAP or DNS must decode to the same
values here. Documented exceptions, each checked narrowly rather than skipped:

* Kerberos inside GSS-API (AP-REQ/AP-REP in SMB/LDAP/RPC binds) is the GSS-API code's business:
  frames whose only Kerberos messages are 14/15 are not compared here.
* Datagrams quoted inside ICMP errors (port unreachable) are decoded by tshark but are not
  traffic: frames whose IP protocol list holds ICMP (1) or ICMPv6 (58) are not compared.
* LDAP filters: tshark renders n-ary and/or as nested binary ones (``(&(&(a)(b))(c))``), a
  one-item and/or as its item, prints values unescaped, shows a few CLDAP ping values decoded
  (DomainSid, DomainGuid, NtVer) and cuts tree labels at 240 characters. We compare our RFC 4515
  string after converting it to that style; decoded CLDAP values are masked; a cut label is
  compared as a prefix.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest

from dcwatch.protocols import dns as dnsmod
from dcwatch.protocols import kerberos as krb
from dcwatch.protocols import kerberos_activity, ldap_activity
from dcwatch.sources.base import SourceStats
from dcwatch.sources.pcap import read_capture

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO / ".." / "shared" / "data"
ORACLES = REPO / "tests" / "data" / "protocols"
KDC_TYPES = {"10", "11", "12", "13", "30"}
DECODED_CLDAP_ATTRS = ("DomainSid", "DomainGuid", "NtVer")
DNS_PCAP = "cmds_over_dns_txt_queries_and_reponses.pcap"


def shared_captures() -> list[Any]:
    """pytest params: (name, loader) for the shared pcaps, skipped when ../shared is absent."""
    out = []
    for z in sorted(SHARED.glob("otrf-dev/*/network/*.zip")):
        with zipfile.ZipFile(z) as zf:
            for m in zf.namelist():
                out.append(pytest.param(Path(m).stem, (z, m), id=Path(m).stem[:40]))
    dns = SHARED / "evtx-attack-samples" / "Command_and_Control" / DNS_PCAP
    out.append(pytest.param(dns.stem, (dns, None), id="cmds_over_dns"))
    out.append(pytest.param("synthetic-dc", (ORACLES / "synthetic-dc.pcap", None), id="synthetic"))
    return out


def load(src: tuple[Path, str | None]) -> bytes:
    """Capture bytes (zip members read in memory)."""
    path, member = src
    if not path.exists():
        pytest.skip(f"{path} is absent (../shared/data not checked out)")
    if member is None:
        return path.read_bytes()
    with zipfile.ZipFile(path) as zf:
        return zf.read(member)


def tap(monkeypatch: pytest.MonkeyPatch, data: bytes) -> dict[int, dict[str, list[Any]]]:
    """Decode ``data`` recording every parsed message by frame number."""
    frames: dict[int, dict[str, list[Any]]] = {}

    def rec(frame: int, kind: str, msg: Any) -> None:
        frames.setdefault(frame, {}).setdefault(kind, []).append(msg)

    k_orig = kerberos_activity.KerberosAnalyzer._message

    def k_message(self: Any, from_client: bool, payload: bytes) -> None:
        if payload[:1] in (b"\x6a", b"\x6b", b"\x6c", b"\x6d", b"\x7e"):
            rec(self.flow.frame, "krb", krb.parse(payload))
        k_orig(self, from_client, payload)

    l_orig = ldap_activity.LdapAnalyzer._op

    def l_op(self: Any, from_client: bool, op: Any) -> None:
        rec(self.flow.frame, "ldap", op)
        l_orig(self, from_client, op)

    d_orig = dnsmod.DnsAnalyzer._message

    def d_message(self: Any, m: Any) -> None:
        rec(self.flow.frame, "dns", m)
        d_orig(self, m)

    monkeypatch.setattr(kerberos_activity.KerberosAnalyzer, "_message", k_message)
    monkeypatch.setattr(ldap_activity.LdapAnalyzer, "_op", l_op)
    monkeypatch.setattr(dnsmod.DnsAnalyzer, "_message", d_message)
    import io

    stats = SourceStats("oracle")
    list(read_capture(io.BytesIO(data), "oracle", stats))
    assert stats.skipped == 0, stats.first_error
    return frames


def krb_view(msgs: list[Any]) -> dict[str, list[str]]:
    """Our Kerberos messages in tshark's field terms."""
    v: dict[str, list[Any]] = {k: [] for k in ("msg_type", "CNameString", "SNameString",
                                                "realm", "crealm", "ENCTYPE", "etype",
                                                "error_code", "padata_type")}
    for m in msgs:
        if isinstance(m, krb.KdcReq):
            v["msg_type"].append(m.msg_type)
            ap = m.tgs_ap_req
            if ap is not None:
                v["msg_type"].append(14)
                v["SNameString"] += ap.sname.split("/")
                v["realm"].append(ap.realm)
                v["etype"] += [ap.ticket_etype, ap.authenticator_etype]
            if m.cname:
                v["CNameString"] += m.cname.split("/")
            if m.sname:
                v["SNameString"] += m.sname.split("/")
            v["realm"].append(m.realm)
            if m.s4u_user and "@" in m.s4u_user:
                v["realm"].append(m.s4u_user.rsplit("@", 1)[1])
            for t in m.additional_tickets:
                v["SNameString"] += t.sname.split("/")
                v["realm"].append(t.realm)
                v["etype"].append(t.etype)
            v["ENCTYPE"] += list(m.etypes)
            for e in (m.preauth_etype, m.authz_data_etype):
                if e is not None:
                    v["etype"].append(e)
            v["padata_type"] += list(m.pa_types)
        elif isinstance(m, krb.KdcRep):
            v["msg_type"].append(m.msg_type)
            v["CNameString"] += m.cname.split("/")
            v["SNameString"] += m.ticket.sname.split("/")
            v["realm"].append(m.ticket.realm)
            v["crealm"].append(m.crealm)
            v["etype"] += [m.ticket.etype, m.enc_etype]
            v["padata_type"] += list(m.pa_types)
        elif isinstance(m, krb.KrbError):
            v["msg_type"].append(30)
            if m.cname:
                v["CNameString"] += m.cname.split("/")
            if m.sname:
                v["SNameString"] += m.sname.split("/")
            v["realm"].append(m.realm)
            if m.crealm:
                v["crealm"].append(m.crealm)
            v["error_code"].append(m.error_code)
    return {k: [str(x) for x in xs] for k, xs in v.items()}


_TOKEN = re.compile(r"\(|\)|[^()]+")


def tshark_style(rfc4515: str) -> str:
    """Our RFC 4515 filter rendered the way tshark labels it (see module docstring)."""
    toks = _TOKEN.findall(rfc4515)
    pos = 0

    def parse() -> Any:
        nonlocal pos
        assert toks[pos] == "("
        pos += 1
        t = toks[pos]
        if t in ("&", "|", "!"):
            pos += 1
            kids = []
            while toks[pos] == "(":
                kids.append(parse())
            pos += 1
            return (t, kids)
        pos += 2  # item text and ")"
        return re.sub(r"\\([0-9a-f]{2})", lambda m: chr(int(m.group(1), 16)), t)

    def render(node: Any) -> str:
        if isinstance(node, str):
            return f"({node})"
        op, kids = node
        if op == "!":
            return f"(!{render(kids[0])})"
        out = render(kids[0])
        for k in kids[1:]:
            out = f"({op}{out}{render(k)})"
        return out

    # tshark's item text for some ops is split by our tokenizer only on parens
    return render(parse())


def mask_cldap(s: str) -> str:
    """Mask values tshark decodes semantically in CLDAP pings."""
    for a in DECODED_CLDAP_ATTRS:
        s = re.sub(rf"\({a}=[^)]*\)+", f"({a}=?)", s) if a != "DomainSid" else re.sub(
            rf"\({a}=S-[^)]*\(Domain SID\)\)|\({a}=[^)]*\)", f"({a}=?)", s)
    return s


def ldap_view(ops: list[Any]) -> dict[str, list[str]]:
    """Our LDAP operations in tshark's field terms."""
    from dcwatch.protocols import ldap

    v: dict[str, list[Any]] = {k: [] for k in ("protocolOp", "messageID", "baseObject", "scope",
                                                "mechanism", "resultCode", "filter_string")}
    for op in ops:
        v["protocolOp"].append(op.op & 0x1F)
        v["messageID"].append(op.message_id)
        if op.op == ldap.SEARCH_REQ:
            v["baseObject"].append(op.info["base"])
            v["scope"].append(op.info["scope"])
            v["filter_string"].append(op.info["filter"])
        if op.op == ldap.BIND_REQ and op.info.get("auth") == "sasl":
            v["mechanism"].append(op.info["mechanism"])
        if "result_code" in op.info:
            v["resultCode"].append(op.info["result_code"])
    return {k: [str(x) for x in xs] for k, xs in v.items()}


def dns_view(msgs: list[Any]) -> dict[str, list[str]]:
    """Our DNS messages in tshark's field terms."""
    v: dict[str, list[Any]] = {k: [] for k in ("id", "qry.name", "qry.type", "flags.rcode",
                                                "count.answers", "flags.response")}
    for m in msgs:
        v["id"].append(f"0x{m.txid:04x}")
        if m.qname is not None:
            v["qry.name"].append(m.qname)
            v["qry.type"].append(m.qtype)
        if m.response:  # tshark shows the reply code of responses only
            v["flags.rcode"].append(m.rcode)
        v["count.answers"].append(m.ancount)
        v["flags.response"].append(int(m.response))
    return {k: [str(x) for x in xs] for k, xs in v.items()}


def compare_filters(ours: list[str], theirs: list[str]) -> list[str]:
    """Mismatches between our filters (converted) and tshark's labels."""
    errs = []
    for a, b in zip(ours, theirs, strict=True):
        mine, exp = mask_cldap(tshark_style(a)), mask_cldap(b)
        if b.count("(") != b.count(")"):  # label cut at 240 characters by tshark
            if not mine.startswith(exp[: max(0, len(exp) - 40)]) and "Domain" not in b:
                errs.append(f"filter prefix: {mine!r} vs {exp!r}")
            continue
        if mine != exp:
            errs.append(f"filter: {mine!r} vs {exp!r}")
    return errs


@pytest.mark.parametrize(("name", "src"), shared_captures())
def test_agrees_with_tshark(monkeypatch: pytest.MonkeyPatch, name: str,
                            src: tuple[Path, str | None]) -> None:
    """Every frame tshark decodes as Kerberos/LDAP/DNS decodes to the same values here."""
    data = load(src)
    oracle = json.loads((ORACLES / f"{name}.tshark.json").read_text())["frames"]
    ours = tap(monkeypatch, data)
    errors: list[str] = []
    compared = 0
    for no, exp in oracle.items():
        got = ours.get(int(no), {})
        if {"1", "58"} & set(exp.get("ip.proto", []) + exp.get("ipv6.nxt", [])):
            continue  # ICMP error quoting a datagram (see module docstring)
        if KDC_TYPES & set(exp.get("kerberos.msg_type", [])):
            view = krb_view(got.get("krb", []))
            for k, vals in view.items():
                e = exp.get(f"kerberos.{k}", [])
                key = (lambda x: x) if k == "ENCTYPE" else sorted
                if key(vals) != key(e):
                    errors.append(f"frame {no} kerberos.{k}: ours {vals} tshark {e}")
            compared += 1
        if "ldap.protocolOp" in exp:
            view = ldap_view(got.get("ldap", []))
            for k, vals in view.items():
                e = exp.get(f"ldap.{k}", [])
                if k == "filter_string":
                    errors += [f"frame {no} {x}" for x in compare_filters(vals, e)]
                elif vals != e:
                    errors.append(f"frame {no} ldap.{k}: ours {vals} tshark {e}")
            compared += 1
        if "dns.id" in exp:
            view = dns_view(got.get("dns", []))
            for k, vals in view.items():
                e = exp.get(f"dns.{k}", [])
                if k == "flags.response":
                    e = [str(int(x in ("1", "True", "true"))) for x in e]
                if vals != e:
                    errors.append(f"frame {no} dns.{k}: ours {vals} tshark {e}")
            compared += 1
    for no, got in ours.items():  # nothing decoded that tshark did not see
        if str(no) not in oracle:
            errors.append(f"frame {no}: decoded {sorted(got)} but tshark shows nothing")
    assert not errors, "\n".join(errors[:40])
    assert compared == sum(
        1 for e in oracle.values()
        if not {"1", "58"} & set(e.get("ip.proto", []) + e.get("ipv6.nxt", []))
        for present in (KDC_TYPES & set(e.get("kerberos.msg_type", [])),
                        "ldap.protocolOp" in e, "dns.id" in e) if present)
