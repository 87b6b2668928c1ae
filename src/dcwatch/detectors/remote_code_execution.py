"""Remote code execution attempt: MDI external ID 2019.

Someone runs code on a domain controller from another computer: a scheduled task registered or
changed from a network logon session, a process started by the WMI provider host (remote WMI),
by ``wsmprovhost.exe`` (PowerShell remoting) or ``winrshost.exe`` (WinRS), a service created or
started over SVCCTL, a job or task registered over ATSVC / ITaskSchedulerService, or a WMI
method executed over DCOM (IWbemServices::ExecMethod).
Sources: events 4698/4702 (+ 4624 for the session, 4699 for one-shot tasks), 4688 and Sysmon 1
(the parent process; 4688 without ParentProcessName is joined by process ID), 4697 from a
network session; ``rpc.call`` on the wire (svcctl, atsvc, ITaskSchedulerService, IWbemServices).
Event and wire evidence for the same (source, DC) pair go into one alert, one line per method.
Known false positives: admin workstations, IT staff and management servers doing legitimate
administration (exclude the computer or account). Tasks, services and WMI on workstations are
out of scope (MDI watches DCs); so is the source side (4648 of wmic.exe on the client).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

from dcwatch.detectors._common import (
    LOCAL_LOGON_IDS,
    NetworkLogons,
    Session,
    dc_key,
    display,
    host_ref,
    is_remote_ip,
    is_service_identity,
    rpc_args,
    rpc_op,
    rpc_source,
    rpc_target,
    source_key,
)
from dcwatch.detectors.base import (
    BoundedDict,
    DetectionContext,
    Detector,
    ip_ref,
    refs,
    user_ref,
)
from dcwatch.entities.resolver import short
from dcwatch.model.activity import Account, Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, EntityRef, Phase, Severity

K = ActivityKind

# Parent processes that only run code on behalf of a remote client (basename, lower case).
REMOTE_HOSTS = {
    "wmiprvse.exe": "running WMI methods",
    "wsmprovhost.exe": "running PowerShell commands (PowerShell remoting)",
    "winrshost.exe": "running commands through WinRS",
}
# Children those hosts start for themselves (WMI's own helpers, console hosts, crash reporting).
BENIGN_CHILDREN = frozenset({"wmiprvse.exe", "wmiadap.exe", "conhost.exe", "werfault.exe",
                             "wermgr.exe", "mofcomp.exe"})

# MS-SCMR 3.1.4, MS-TSCH 3.2.5.2 / 3.2.5.4, MS-WMI 3.1.4.3: operation -> method line
RPC_METHODS: dict[str, dict[str, str]] = {
    "svcctl": {"rcreateservicew": "creating service {service}",
               "rcreateservicea": "creating service {service}",
               "rcreateservicewow64w": "creating service {service}",
               "rcreateservicewow64a": "creating service {service}",
               "rchangeserviceconfigw": "reconfiguring service {service}",
               "rchangeserviceconfiga": "reconfiguring service {service}",
               "rstartservicew": "starting service {service}",
               "rstartservicea": "starting service {service}"},
    "atsvc": {"jobadd": "scheduling tasks"},  # norm_op drops the "Netr" prefix
    "itaskschedulerservice": {"schrpcregistertask": "scheduling tasks",
                              "schrpcrun": "running scheduled tasks"},
    "iwbemservices": {"execmethod": "running WMI methods",
                      "execmethodasync": "running WMI methods"},
}
OPNUMS: dict[str, dict[int, str]] = {
    "svcctl": {12: "RCreateServiceW", 24: "RCreateServiceA", 11: "RChangeServiceConfigW",
               19: "RStartServiceW", 31: "RStartServiceA", 23: "RChangeServiceConfigA",
               44: "RCreateServiceWOW64A", 45: "RCreateServiceWOW64W"},
    "atsvc": {0: "NetrJobAdd"},
    "itaskschedulerservice": {1: "SchRpcRegisterTask", 12: "SchRpcRun"},
    "iwbemservices": {24: "ExecMethod", 25: "ExecMethodAsync"},
}


def _base(path: str | None) -> str:
    return (path or "").replace("/", "\\").rsplit("\\", 1)[-1].lower()


def _command(args: dict[str, Any]) -> str | None:
    for k in ("binary_path", "command", "command_line"):
        if args.get(k):
            return str(args[k])
    cmds = args.get("commands")
    if isinstance(cmds, list) and cmds:
        return " ; ".join(str(c) for c in cmds)
    return None


class RemoteCodeExecution(Detector):
    slug: ClassVar[str] = "remote-code-execution"
    external_id: ClassVar[int] = 2019
    title: ClassVar[str] = "Remote code execution attempt"
    phase: ClassVar[Phase] = Phase.OTHER
    severity: ClassVar[Severity] = Severity.MEDIUM
    mitre: ClassVar[tuple[str, ...]] = ("T1059", "T1021", "T1059.001", "T1021.006")
    handles: ClassVar[frozenset[str]] = frozenset({
        K.LOGON, K.TASK_CREATED, K.TASK_UPDATED, K.TASK_DELETED, K.PROCESS_CREATED,
        K.SERVICE_INSTALLED, K.RPC_CALL})

    # A task created and deleted this quickly, outside any local session, is a one-shot remote
    # job (register, run, read the output, delete): the shape of remote task execution.
    ephemeral_task: ClassVar[timedelta] = timedelta(seconds=60)
    # How far back a network logon may be tied to a process a remote-execution host started.
    session_window: ClassVar[timedelta] = timedelta(minutes=2)
    max_pending: ClassVar[int] = 10_000

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self.logons = NetworkLogons(self.session_window)
        self._images: BoundedDict[str] = BoundedDict(200_000)  # host|pid -> image basename
        self._tasks: BoundedDict[Activity] = BoundedDict(10_000)  # host|task -> 4698
        self._lines: BoundedDict[dict[str, dict[str, Any]]] = BoundedDict(10_000)
        self._wire_pending: list[Activity] = []

    # --- dispatch -------------------------------------------------------------------------

    def observe(self, a: Activity) -> list[AlertDraft]:
        out = self._retry_wire(final=False) if self._wire_pending else []
        if a.kind is K.LOGON:
            self.logons.observe(a)
        elif a.kind in (K.TASK_CREATED, K.TASK_UPDATED):
            out += self._task(a)
        elif a.kind is K.TASK_DELETED:
            out += self._task_deleted(a)
        elif a.kind is K.PROCESS_CREATED:
            out += self._process(a)
        elif a.kind is K.SERVICE_INSTALLED:
            out += self._service(a)
        elif a.kind is K.RPC_CALL and not a.fields.get("etw"):
            out += self._wire(a)
        return out

    def finish(self) -> list[AlertDraft]:
        return self._retry_wire(final=True)

    # --- events on the DC -----------------------------------------------------------------

    def _remote_session(self, a: Activity) -> Session | None:
        s = self.logons.session(a.host, a.fields.get("logon_id"))
        if s is not None and s.network and not is_service_identity(s.account):
            return s
        return None

    def _task(self, a: Activity) -> list[AlertDraft]:
        lid = str(a.fields.get("logon_id") or "").lower()
        sess = self._remote_session(a)
        if sess is not None:
            ip, ws = self.logons.source_of(a.host, lid, a.ts, a.actor)
            return self._event_draft(a, [a], "scheduling tasks", ip, ws,
                                      {"task": a.fields.get("task_name"),
                                       "command": a.fields.get("command")},
                                      "network logon session of the task's creator")
        known = self.logons.session(a.host, lid)
        if a.kind is K.TASK_CREATED and known is None and lid and lid not in LOCAL_LOGON_IDS \
                and not is_service_identity(a.actor):
            self._tasks[f"{short(a.host)}|{(a.fields.get('task_name') or '').lower()}"] = a
        return []

    def _task_deleted(self, a: Activity) -> list[AlertDraft]:
        created = self._tasks.pop(f"{short(a.host)}|{(a.fields.get('task_name') or '').lower()}",
                                  None)
        if created is None or a.ts - created.ts > self.ephemeral_task:
            return []
        s = self.logons.last_remote(a.host, created.ts, created.actor)
        ip = s.src_ip if s and is_remote_ip(s.src_ip) else None
        secs = (a.ts - created.ts).total_seconds()
        return self._event_draft(created, [created, a], "scheduling tasks", ip,
                                  s.src_host if s else None,
                                  {"task": created.fields.get("task_name"),
                                   "command": created.fields.get("command"),
                                   "deleted_after_seconds": round(secs, 3)},
                                  "one-shot task: created and deleted within "
                                  f"{secs:.3f} s outside any local session")

    def _process(self, a: Activity) -> list[AlertDraft]:
        f = a.fields
        host = short(a.host) or "?"
        image = _base(f.get("image"))
        if f.get("pid"):
            self._images[f"{host}|{str(f['pid']).lower()}"] = image
        parent = _base(f.get("parent_image"))
        if not parent and f.get("parent_pid"):
            parent = self._images.get(f"{host}|{str(f['parent_pid']).lower()}", "")
        method = REMOTE_HOSTS.get(parent)
        if method is None or image in BENIGN_CHILDREN:
            return []
        actor = a.actor
        sess = self._remote_session(a)
        if sess is not None:
            ip, ws = self.logons.source_of(a.host, sess.logon_id, a.ts, sess.account)
            why = "network logon session of the process"
            actor = sess.account if is_service_identity(actor) else actor
        else:
            # 4688 of WMI children names the provider host's service identity, not the caller:
            # the caller is the account that just logged on over the network.
            s = self.logons.last_remote(a.host, a.ts,
                                        None if is_service_identity(actor) else actor)
            ip = s.src_ip if s and is_remote_ip(s.src_ip) else None
            ws = s.src_host if s else None
            why = "network logon just before the process" if s else \
                f"started by {parent}, which serves remote clients only"
            if s is not None and is_service_identity(actor):
                actor = s.account
            if s is None and parent == "wmiprvse.exe" and is_service_identity(actor):
                return []  # local WMI consumers and management agents run as services
        return self._event_draft(a, [a], method, ip, ws,
                                  {"process": f.get("image"), "parent": parent,
                                   "command": f.get("command_line") or f.get("image")},
                                  why, actor=actor)

    def _service(self, a: Activity) -> list[AlertDraft]:
        sess = self._remote_session(a)
        if sess is None:
            return []  # 7045 has no session: suspicious-service-creation (2026) judges it
        ip, ws = self.logons.source_of(a.host, sess.logon_id, a.ts, a.actor)
        name = a.fields.get("service_name") or "?"
        return self._event_draft(a, [a], f"creating service {name}", ip, ws,
                                  {"service": name, "command": a.fields.get("image_path")},
                                  "network logon session of the service's creator")

    def _event_draft(self, a: Activity, acts: list[Activity], method: str, ip: str | None,
                     ws: str | None, detail: dict[str, Any], why: str,
                     actor: Account | None = None) -> list[AlertDraft]:
        if self.resolver.local_account_host(a.host):
            return []
        actor = actor or a.actor
        detail = {k: v for k, v in detail.items() if v is not None}
        detail.update({"time": a.ts.isoformat(), "evidence": why, "source": "event "
                       f"{a.event_id}"})
        return [self._draft(acts, actor, ip, ws, a.host, method, "success", detail,
                            require_dc=a.host)]

    # --- wire -----------------------------------------------------------------------------

    def _classify(self, a: Activity) -> str | None:
        iface = str(a.fields.get("interface") or "").lower()
        methods = RPC_METHODS.get(iface)
        if methods is None:
            return None
        return methods.get(rpc_op(a, OPNUMS.get(iface, {})))

    def _wire(self, a: Activity) -> list[AlertDraft]:
        if self._classify(a) is None:
            return []
        status, _ = self.resolver.dc_status(a.dst_ip or a.dst_host)
        if status is False:
            return []
        if status is None:
            if len(self._wire_pending) < self.max_pending:
                self._wire_pending.append(a)
            return []
        return [self._wire_draft(a)]

    def _retry_wire(self, final: bool) -> list[AlertDraft]:
        out, keep = [], []
        for a in self._wire_pending:
            status, _ = self.resolver.dc_status(a.dst_ip or a.dst_host)
            if status:
                out.append(self._wire_draft(a))
            elif status is None and not final:
                keep.append(a)
            elif status is None and not self.resolver.knows_any_dc():
                # The capture shows no DC at all: its server is the monitored DC (the engine
                # words the assumption); where other DCs are known, an unknown target drops.
                d = self._wire_draft(a)
                d.evidence["_assume_dc"] = False
                out.append(d)
        self._wire_pending = keep
        return out

    def _wire_draft(self, a: Activity) -> AlertDraft:
        args = rpc_args(a)
        tmpl = self._classify(a) or "running code"
        service = args.get("service") or args.get("handle_of") or "?"
        method = tmpl.format(service=service)
        ip, ws = rpc_source(a, self.resolver)
        detail = {"operation": a.fields.get("operation"), "interface": a.fields.get("interface"),
                  "command": _command(args), "task": args.get("path"),
                  "time": a.ts.isoformat(), "source": "network"}
        if a.fields.get("sealed"):
            detail["note"] = "arguments encrypted (packet privacy)"
        target = rpc_target(a, self.resolver)
        return self._draft([a], a.actor, ip, ws, target, method, a.outcome,
                           {k: v for k, v in detail.items() if v is not None},
                           require_dc=a.dst_ip or a.dst_host)

    # --- drafting -------------------------------------------------------------------------

    def _draft(self, acts: list[Activity], actor: Account | None, ip: str | None,
               ws: str | None, dc: str | None, method: str, outcome: str | None,
               detail: dict[str, Any], require_dc: str | None) -> AlertDraft:
        key = f"{source_key(self.resolver, ip, ws)}|{dc_key(dc)}"
        who = str(actor) if actor and (actor.name or actor.sid) else "An unknown user"
        lines = self._lines.setdefault(key, {})
        verb = {"success": "succeeded in", "failure": "failed in"}.get(outcome or "",
                                                                       "attempted")
        line = f"{who} {verb} {method} remotely."
        if line not in lines:
            lines[line] = {"method": method, "user": who, "outcome": outcome or "unknown"}
        src = display(ws) if ws else (ip or "an unknown computer")
        description = f"Remote code execution on {display(dc)} from {src}:\n" + \
            "\n".join(lines)
        detail = {"method": method, "user": who, "outcome": outcome or "unknown", **detail}
        return self.draft(
            key=key,
            activities=acts,
            description=description,
            entities=refs(user_ref(actor, "attacker"),
                          host_ref(ws, "source computer", ip),
                          ip_ref(ip, "source IP") if ws else None,
                          host_ref(dc, "target domain controller"),
                          EntityRef("service", detail["service"], "created service")
                          if detail.get("service") else None),
            evidence={k: v for k, v in (("methods", [detail]),
                                        ("source_computer", short(ws) if ws else None),
                                        ("source_ip", ip),
                                        ("domain_controller", display(dc))) if v},
            require_dc=require_dc,
        )
