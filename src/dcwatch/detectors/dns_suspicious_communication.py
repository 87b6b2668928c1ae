"""Suspicious communication over DNS: MDI external ID 2031.

A computer's DNS look-ups of one domain look like tunnelling, exfiltration or command and
control carried in DNS: per (source, registered domain) within ``window``
* many distinct *encoded-looking* subdomains: a label of ``min_label_length`` characters or
  more (RFC 1035 caps labels at 63) whose subdomain part has Shannon entropy of at least
  ``min_entropy`` bits per character (base32/base64/hex payloads), or
* many distinct subdomains asked mostly with the record types tunnels carry their downstream
  in (TXT, NULL, CNAME, MX and the private-use types: dnscat2 picks among TXT/CNAME/MX per
  packet, iodine uses NULL or PRIVATE; clients resolving names ask A/AAAA), or many such
  queries at all (C2 polling: with ordinary TTLs the client's resolver cache answers repeats,
  so dozens reaching the server mean TTL-0 records), or
* a very large number of distinct, long subdomains (upstream data in the names themselves).
Sources: ``dns.query`` on the wire (UDP/TCP 53). No learning period (MDI documents none).
Known false positives: vendors that use DNS as a transport (antivirus reputation, DNS block
lists): a default ``excluded_domains`` list, extendable by configuration; reverse look-ups
(``in-addr.arpa``/``ip6.arpa`` are 2007's business) and the AD DNS domains the DCs serve are
never scored; DC sources are skipped (a DC forwarding its clients' queries is not the client).
State: one sliding window of distinct names per (source, domain), bounded by ``BoundedDict``
(~100 B per name kept, at most ``max_names`` per pair).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import timedelta
from typing import ClassVar

from dcwatch.detectors._common import host_ref
from dcwatch.detectors._netcommon import norm_ip, source, target_dc, where
from dcwatch.detectors.base import BoundedDict, DetectionContext, Detector, SlidingWindow, refs
from dcwatch.model.activity import Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, EntityRef, Phase, Severity

# Record types tunnels read their downstream from: RFC 1035 3.3.10 NULL, 3.3.14 TXT (arbitrary
# data), 3.3.1 CNAME and 3.3.9 MX (a name: dnscat2 encodes data in it), RFC 6895 3.1 private use
# (iodine's PRIVATE is 65399). Resolving clients ask for addresses (A/AAAA) instead.
DATA_QTYPES = frozenset({5, 10, 15, 16, *range(65280, 65535)})
# Second-level labels under which registrations sit one level deeper (co.uk, com.au ...).
_SLD = frozenset({"co", "com", "net", "org", "gov", "ac", "edu", "ne", "or", "go", "gob"})


def registered_domain(name: str) -> str:
    """The registrable part of a name: last two labels (three under ``co.uk``-style SLDs)."""
    labels = [x for x in name.lower().rstrip(".").split(".") if x]
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SLD:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def _entropy(s: str) -> float:
    n = len(s)
    if not n:
        return 0.0
    return -sum(c / n * math.log2(c / n) for c in (s.count(ch) for ch in set(s)))


class DnsSuspiciousCommunication(Detector):
    slug: ClassVar[str] = "dns-suspicious-communication"
    external_id: ClassVar[int] = 2031
    title: ClassVar[str] = "Suspicious communication over DNS"
    phase: ClassVar[Phase] = Phase.EXFILTRATION
    severity: ClassVar[Severity] = Severity.MEDIUM
    mitre: ClassVar[tuple[str, ...]] = ("T1048", "T1041", "T1029", "T1020", "T1071",
                                        "T1071.004", "T1048.003")
    handles: ClassVar[frozenset[str]] = frozenset({ActivityKind.DNS_QUERY})

    window: ClassVar[timedelta] = timedelta(minutes=30)
    min_label_length: ClassVar[int] = 24  # characters in the longest label of the name
    min_entropy: ClassVar[float] = 3.5  # bits per character of the subdomain part
    min_encoded: ClassVar[int] = 10  # distinct encoded-looking subdomains
    min_data_subdomains: ClassVar[int] = 20  # distinct subdomains asked with TXT/NULL/CNAME/MX
    min_data_share: ClassVar[float] = 0.5  # share of the domain's queries of those types
    min_data_queries: ClassVar[int] = 30  # TXT/NULL/CNAME/MX queries for one domain (polling)
    min_unique: ClassVar[int] = 150  # distinct subdomains of one domain ...
    min_mean_sub_length: ClassVar[float] = 20.0  # ... with this mean subdomain length
    max_names: ClassVar[int] = 2000
    # Vendors using DNS as a transport, block lists and the big CDNs (MDI pre-populates its
    # exclusion list with the domains customers exclude most); configuration adds more.
    excluded_domains: ClassVar[tuple[str, ...]] = (
        "arpa", "local", "localhost", "akamaiedge.net", "akamai.net", "akadns.net",
        "edgekey.net", "edgesuite.net", "cloudfront.net", "amazonaws.com", "azure.com",
        "windows.net", "microsoft.com", "windowsupdate.com", "office.com", "office365.com",
        "trafficmanager.net", "msedge.net", "google.com", "googleapis.com", "1e100.net",
        "sophosxl.net", "sophos.com", "mcafee.com", "avts.mcafee.com", "trendmicro.com",
        "eset.com", "e5.sk", "kaspersky.com", "kaspersky-labs.com", "symantec.com",
        "norton.com", "webroot.com", "bitdefender.net", "spamhaus.org", "spamcop.net",
        "sorbs.net", "barracudacentral.org", "uribl.com", "surbl.org", "senderbase.org",
        "mailspike.net", "dnswl.org",
    )

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self._pairs: BoundedDict[SlidingWindow[Activity]] = BoundedDict(50_000)
        self._excluded = {d.lower().strip(".") for d in self.excluded_domains}

    def _excluded_name(self, name: str) -> bool:
        n = name.lower().rstrip(".")
        parts = n.split(".")
        if any(".".join(parts[i:]) in self._excluded for i in range(len(parts))):
            return True
        # the AD DNS domains the DCs serve: the domain's own names are not a covert channel
        return any(n == d or n.endswith("." + d) for d in self.resolver.dc_domains)

    def observe(self, a: Activity) -> list[AlertDraft]:
        f = a.fields
        name = f.get("query")
        if not name or name == "<Root>" or f.get("qtype") in (33, 251, 252):
            return []  # SRV: DC locator; AXFR/IXFR: 2007
        ip, host = source(a, self.resolver)
        if not ip or ip == norm_ip(a.dst_ip) or self.resolver.dc_status(ip)[0]:
            return []
        if self._excluded_name(name):
            return []
        domain = registered_domain(name)
        if domain == name.lower().rstrip(".") or "." not in domain:
            return []  # the registered domain itself: no subdomain carries anything
        key = f"{ip}|{domain}"
        w = self._pairs.get(key)
        if w is None:
            w = SlidingWindow[Activity](self.window, self.max_names)
            self._pairs[key] = w
        w.add(a.ts, a)
        why = self._verdict(w, domain)
        if why is None:
            return []
        acts = w.items()
        subs = {self._sub(x, domain) for x in acts}
        samples = self._samples(dict.fromkeys(str(x.fields.get("query")) for x in acts), domain)
        types: dict[str, int] = {}
        for x in acts:
            t = str(x.fields.get("qtype_name") or x.fields.get("qtype"))
            types[t] = types.get(t, 0) + 1
        dc = target_dc(a, self.resolver)
        return [self.draft(
            key=f"{ip}|{domain}",
            activities=acts,
            description=(f"{where(ip, host)} issued suspicious DNS lookups for {domain} "
                         f"({why}, {len(acts)} queries in all)."),
            entities=refs(host_ref(host, "source computer", ip),
                          EntityRef("domain", domain, "suspicious domain"),
                          host_ref(dc, "DNS server")),
            evidence={"domain": domain, "reason": why, "queries": len(acts),
                      "distinct_subdomains": len(subs), "record_types": types,
                      "sample_queries": samples, "source_ip": ip, "source_computer": host,
                      "dns_server": dc},
        )]

    @staticmethod
    def _sub(a: Activity, domain: str) -> str:
        return DnsSuspiciousCommunication._name_sub(str(a.fields.get("query") or ""), domain)

    @staticmethod
    def _name_sub(name: str, domain: str) -> str:
        n = name.lower().rstrip(".")
        return n[: -len(domain) - 1] if n.endswith("." + domain) else ""

    def _samples(self, names: Iterable[str], domain: str, n: int = 10) -> list[str]:
        """Up to n names, the encoded-looking ones first: they show what was carried, a C2
        poll does not."""
        encoded: list[str] = []
        other: list[str] = []
        for name in names:
            if self._encoded(self._name_sub(name, domain)):
                encoded.append(name)
                if len(encoded) == n:
                    break
            elif len(other) < n:
                other.append(name)
        return (encoded + other)[:n]

    def _encoded(self, sub: str) -> bool:
        labels = sub.split(".")
        return max(map(len, labels), default=0) >= self.min_label_length and \
            _entropy(sub.replace(".", "")) >= self.min_entropy

    def _verdict(self, w: SlidingWindow[Activity], domain: str) -> str | None:
        subs: dict[str, bool] = {}
        data_subs: set[str] = set()
        data = 0
        total = 0
        for x in w:
            total += 1
            sub = self._sub(x, domain)
            if x.fields.get("qtype") in DATA_QTYPES:
                data += 1
                data_subs.add(sub)
            if sub not in subs:
                subs[sub] = self._encoded(sub)
        encoded = sum(subs.values())
        if encoded >= self.min_encoded:
            return f"{encoded} long high-entropy subdomains (encoded data)"
        if data / total >= self.min_data_share and (len(data_subs) >= self.min_data_subdomains
                                                    or data >= self.min_data_queries):
            return (f"{data} TXT/NULL/CNAME/MX queries over {len(data_subs)} distinct "
                    "subdomains")
        if len(subs) >= self.min_unique:
            mean = sum(map(len, subs)) / len(subs)
            if mean >= self.min_mean_sub_length:
                return f"{len(subs)} distinct subdomains averaging {mean:.0f} characters"
        return None
