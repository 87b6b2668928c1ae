"""2416 EFSRPC, 2415 print spooler and 2426 DFSCoerce coercion calls against a DC."""

from __future__ import annotations

from typing import Any

from tests.detectors.netutil import ids_of, recording, run, wire
from tests.helpers import user

from dcwatch.model.activity import ActivityKind as K
from dcwatch.model.alert import Severity


def kdc():
    return wire(K.KERBEROS_AS, 0, actor=user("x"), outcome="success", status=0, fields={})


def call(iface: str, opnum: int, args: dict[str, Any], status: int = 0):
    return wire(K.RPC_CALL, 1, actor=user("alice"), protocol="dcerpc", status=status,
                outcome="success" if status == 0 else "failure",
                fields={"interface": iface, "opnum": opnum, "args": args, "pipe": "lsarpc",
                        "operation": f"op{opnum}"})


def test_petitpotam_unc_path() -> None:
    alerts = run("efsrpc-coercion", [kdc(), call("efsrpc", 0, {"path": "\\\\10.0.0.66@80\\x\\f"},
                                                 status=0x35)])
    assert len(alerts) == 1
    a = alerts[0]
    assert a.external_id == 2416
    assert a.severity is Severity.MEDIUM
    assert "tried to make 10.0.0.10 to authenticate to 10.0.0.66" in a.description
    assert run("efsrpc-coercion", [kdc(), call("efsrpc", 0, {"path": "C:\\x\\f.txt"})]) == []


def test_sealed_efsrpc_still_alerts_and_success_is_high() -> None:
    alerts = run("efsrpc-coercion", [kdc(), call("efsrpc", 4, {})])
    assert len(alerts) == 1
    assert alerts[0].severity is Severity.HIGH


def test_print_spooler_driver_and_printer_bug() -> None:
    drv = call("spoolss", 89, {"driver_path": "C:\\x\\unidrv.dll",
                               "config_file": "\\\\10.0.0.66\\share\\evil.dll"}, status=5)
    alerts = run("print-spooler-exploitation", [kdc(), drv])
    assert len(alerts) == 1
    assert "evil.dll" in alerts[0].evidence["path"]
    bug = call("spoolss", 65, {"local_machine": "\\\\attacker01"})
    assert len(run("print-spooler-exploitation", [kdc(), bug])) == 1
    own = call("spoolss", 65, {"local_machine": "\\\\10.0.0.10"})
    assert run("print-spooler-exploitation", [kdc(), own]) == []


def test_dfscoerce() -> None:
    alerts = run("dfscoerce", [kdc(), call("netdfs", 12, {"server": "10.0.0.66",
                                                         "root_share": "x"}, status=5)])
    assert len(alerts) == 1
    assert alerts[0].severity is Severity.HIGH
    assert run("dfscoerce", [kdc(), call("netdfs", 14, {})]) == []


def test_quiet_on_non_dc_and_lab() -> None:
    other = call("efsrpc", 0, {"path": "\\\\h\\s\\f"})
    other.dst_ip = other.host = "10.0.0.99"  # a member server while the DC is known elsewhere
    assert run("efsrpc-coercion", [kdc(), other]) == []
    got = ids_of(recording("benign_baseline"))
    assert not got & {2415, 2416, 2426}


def test_lab_coercion_recording() -> None:
    # Samba 4.17: the MS-EFSR bind is rejected (no EfsRpcOpenFileRaw on the wire); the
    # PrinterBug and DFSCoerce requests are sent and refused.
    from tests.detectors.conftest import ids, lab, scan_alerts

    assert ids(scan_alerts(lab("coercion/dc.pcap"))) == {2415, 2426}
