"""2020 Malicious request of Data Protection API master key."""

from __future__ import annotations

import pytest
from tests.detectors.conftest import ADMIN, act, lab, run, scan_alerts, shared, wire_rpc

from dcwatch.model.activity import ActivityKind as K

SLUG = "dpapi-backup-key-request"


def test_lsar_retrieve_private_data_of_backup_key() -> None:
    acts = [wire_rpc("lsarpc", "LsarOpenSecret", 0, actor=ADMIN,
                     args={"secret_name": "G$BCKUPKEY_PREFERRED"}),
            wire_rpc("lsarpc", "LsarRetrievePrivateData", 1, actor=ADMIN,
                     args={"key_name": "G$BCKUPKEY_PREFERRED"}),
            wire_rpc("lsarpc", "LsarRetrievePrivateData", 2, actor=ADMIN,
                     args={"key_name": "G$BCKUPKEY_1f2e3d4c-0000-1111-2222-333344445555"})]
    alerts = run(acts, SLUG)
    assert len(alerts) == 1
    a = alerts[0]
    assert a.severity == "high"
    assert a.description.startswith("From 10.0.0.21, CORP\\Administrator tried 3 time(s) to "
                                    "fetch the DPAPI domain backup key from 10.0.0.10 "
                                    "(3 success): G$BCKUPKEY_PREFERRED")


def test_sealed_retrieve_private_data_is_enough_but_other_secrets_are_not() -> None:
    sealed = wire_rpc("lsarpc", "opnum43", 0, actor=ADMIN, opnum=43, sealed=True,
                      outcome=None)
    assert len(run([sealed], SLUG)) == 1
    other = wire_rpc("lsarpc", "LsarRetrievePrivateData", 0, actor=ADMIN,
                     args={"key_name": "L$RTMTIMEBOMB"})
    opens = wire_rpc("lsarpc", "LsarOpenSecret", 0, actor=ADMIN, args={})
    assert run([other, opens], SLUG) == []


def test_public_backup_key_retrieval_and_dc_to_dc_are_quiet() -> None:
    bkrp = wire_rpc("bkrp", "BackuprKey", 0, actor=ADMIN,
                    args={"action": "BACKUPKEY_RETRIEVE_BACKUP_KEY_GUID"})
    dc2dc = wire_rpc("lsarpc", "LsarRetrievePrivateData", 1, src="10.0.0.11",
                     args={"key_name": "G$BCKUPKEY_P"})
    assert run([bkrp, dc2dc], SLUG, dc_ips=("10.0.0.10", "10.0.0.11")) == []


def test_rpc_etw_on_the_dc() -> None:
    ev = act(K.RPC_CALL, 0, event_id=6, fields={"interface": "lsarpc", "opnum": 43,
                                                "etw": True, "network_address": "10.0.0.21"})
    assert len(run([ev], SLUG)) == 1


def test_protected_storage_pipe_sample_stays_quiet() -> None:
    p = shared("evtx-attack-samples/Credential_Access/CA_protectedstorage_5145_rpc_masterkey"
               ".evtx")
    assert 2020 not in {a.external_id for a in scan_alerts(p)}  # tolerated, not required


@pytest.mark.xfail(strict=True, reason="lab dpapi_backupkey shows only BackuprKey "
                   "RETRIEVE_BACKUP_KEY_GUID (the public key every client fetches) inside an "
                   "SMB3-encrypted session: no G$BCKUPKEY retrieval to detect (re-record)")
def test_lab_recording() -> None:
    assert 2020 in {a.external_id for a in scan_alerts(lab("dpapi_backupkey/dc.pcap"))}
