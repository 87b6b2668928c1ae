"""Suspected WannaCry ransomware attack: MDI external ID 2035.

"Unusual protocol implementation (potential WannaCry ransomware attack)". What is detected is
the SMBv1 behaviour of the MS17-010 (EternalBlue) propagation WannaCry uses, not a product name:
from one source, within ``window``,
1. the vulnerability probe: a TRANSACTION PeekNamedPipe (MS-CIFS 2.2.5.10, subcommand 0x23) on
   FID 0, which no SMB client sends on an unopened pipe (typically after an anonymous session
   and a tree connect to IPC$; a reply STATUS_INSUFF_SERVER_RESOURCES 0xC0000205 means the DC
   is unpatched), and
2. an exploitation step: a TRANSACTION2 SESSION_SETUP request (subcommand 0x000E, reserved and
   unimplemented in MS-CIFS 2.2.6.15: the implant's "ping"; a reply MID shifted by 0x10 is the
   implant answering), or an NT_TRANSACT whose Function MS-CIFS does not define or whose
   TotalDataCount exceeds ``max_nt_transact_data`` (the oversized FEA list of CVE-2017-0144).
The probe alone is a scanner (MS17-010 checks); the alert needs probe + exploitation step.
Sources: SMB1 on TCP 445/139 on the wire (transactions arrive as ``smb.negotiate`` activities
with an ``smb1_command`` field; SMB1 sessions/tree connects as ``smb.session_setup`` and
``smb.tree_connect`` with ``smb1: true``).
Signature set: **unverified** against MDI (spec 2035); built from the public protocol analyses
of MS17-010 and checked only on synthetic captures (tests/data/protocols/smb1-ms17-010.pcap).
Known false positives: vulnerability scanners that also test exploitation (exclude them).
State: per source a few activities in a ``window`` (10 min); 10k sources.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import ClassVar

from dcwatch.detectors._common import host_ref
from dcwatch.detectors._netcommon import norm_ip, source, target_dc, where
from dcwatch.detectors.base import BoundedDict, DetectionContext, Detector, refs
from dcwatch.model.activity import Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, Phase, Severity

K = ActivityKind
PEEK_NAMED_PIPE = 0x0023  # MS-CIFS 2.2.5.10 TRANS_PEEK_NMPIPE
TRANS2_SESSION_SETUP = 0x000E  # MS-CIFS 2.2.6.15
NT_TRANSACT_FUNCTIONS = range(1, 9)  # MS-CIFS 2.2.7: 0x0001..0x0008
STATUS_INSUFF_SERVER_RESOURCES = 0xC0000205  # MS-ERREF
STATUS_NOT_IMPLEMENTED = 0xC0000002


@dataclass(slots=True)
class _Source:
    null_ipc: list[Activity] = field(default_factory=list)
    probe: Activity | None = None
    steps: list[Activity] = field(default_factory=list)


class Wannacry(Detector):
    slug: ClassVar[str] = "wannacry"
    external_id: ClassVar[int] = 2035
    title: ClassVar[str] = "Suspected WannaCry ransomware attack"
    phase: ClassVar[Phase] = Phase.LATERAL_MOVEMENT
    severity: ClassVar[Severity] = Severity.MEDIUM
    mitre: ClassVar[tuple[str, ...]] = ("T1210",)
    handles: ClassVar[frozenset[str]] = frozenset({K.SMB_NEGOTIATE, K.SMB_SESSION,
                                                   K.SMB_TREE_CONNECT})

    window: ClassVar[timedelta] = timedelta(minutes=10)
    # MS-CIFS: a client's NT_TRANSACT data stays within the server's MaxBufferSize (<= 64 KiB
    # on Windows); the EternalBlue FEA list announces more (0x10FE8 in the public tools).
    max_nt_transact_data: ClassVar[int] = 0x10000
    max_steps: ClassVar[int] = 50  # activities kept per source

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self._by_source: BoundedDict[_Source] = BoundedDict(10_000)

    def _step(self, a: Activity) -> str | None:
        """Why a transaction is an MS17-010 probe ("probe") or exploitation step (text)."""
        f = a.fields
        cmd, sub = f.get("smb1_command"), f.get("subcommand")
        if cmd == "transaction" and sub == PEEK_NAMED_PIPE and f.get("fid") == 0:
            return "probe"
        if cmd == "trans2" and sub == TRANS2_SESSION_SETUP:
            return "TRANS2_SESSION_SETUP request"
        if cmd == "nt_transact":
            tdc = f.get("total_data_count") or 0
            if sub not in NT_TRANSACT_FUNCTIONS:
                return f"NT_TRANSACT with undefined function {sub}"
            if tdc > self.max_nt_transact_data:
                return f"NT_TRANSACT announcing {tdc} data bytes"
        return None

    def observe(self, a: Activity) -> list[AlertDraft]:
        if not a.fields.get("smb1"):  # SMB2/3 (nearly all traffic): the cheap test first
            return []
        ip = norm_ip(a.src_ip)
        if not ip:
            return []
        st = self._by_source.get(ip)
        if a.kind is K.SMB_SESSION or a.kind is K.SMB_TREE_CONNECT:
            auth = a.fields.get("auth") or a.fields.get("session_auth")
            share = str(a.fields.get("share_name") or "").upper()
            if auth == "anonymous" and (a.kind is K.SMB_SESSION or share == "IPC$"):
                st = st or self._new(ip)
                st.null_ipc = [*[x for x in st.null_ipc if a.ts - x.ts <= self.window][-3:], a]
            return []
        why = self._step(a)
        if why is None:
            return []
        st = st or self._new(ip)
        if why == "probe":
            st.probe = a
            return []
        recent = [x for x in st.steps if a.ts - x.ts <= self.window][-self.max_steps:]
        st.steps = [*recent, a]
        if st.probe is None or a.ts - st.probe.ts > self.window:
            return []
        return [self._draft(ip, st, a)]

    def _new(self, ip: str) -> _Source:
        st = _Source()
        self._by_source[ip] = st
        return st

    def _draft(self, ip: str, st: _Source, a: Activity) -> AlertDraft:
        probe = st.probe
        assert probe is not None
        _, host = source(a, self.resolver)
        dc = target_dc(a, self.resolver)
        steps = sorted({w for x in st.steps if (w := self._step(x))})
        vulnerable = probe.status == STATUS_INSUFF_SERVER_RESOURCES
        implant = [x for x in st.steps if x.fields.get("reply_mid") is not None
                   and x.fields.get("mid") is not None
                   and (x.fields["reply_mid"] - x.fields["mid"]) & 0xFFFF == 0x10]
        outcome = ("the DC answered the probe as unpatched"
                   if vulnerable else "the DC did not answer the probe as unpatched")
        nulls = [x for x in st.null_ipc if x.ts <= probe.ts]
        return self.draft(
            key=ip,
            activities=[*nulls, probe, *st.steps],
            description=(f"{where(ip, host)} tried to exploit {dc} over SMBv1 with an unusual "
                         f"protocol implementation, as WannaCry does: MS17-010 probe "
                         f"(PeekNamedPipe on FID 0) then {', '.join(steps)}; {outcome}."),
            entities=refs(host_ref(host, "source computer", ip),
                          host_ref(dc, "target domain controller")),
            evidence={"source_ip": ip, "source_computer": host, "probe_frame":
                      probe.origin.record, "probe_status": probe.status,
                      "vulnerable": vulnerable, "null_session_ipc": bool(nulls),
                      "exploitation_steps": steps, "steps": len(st.steps),
                      "implant_reply": bool(implant),
                      "outcome": "vulnerable" if vulnerable else "unknown"},
            require_dc=a.dst_ip or a.host,
        )
