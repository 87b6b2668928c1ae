"""2020 Malicious request of Data Protection API master key."""

from __future__ import annotations

from tests.detectors.conftest import ADMIN, act, lab, run, scan_alerts, shared, wire_rpc

from dcwatch.model.activity import Activity
from dcwatch.model.activity import ActivityKind as K
from dcwatch.pipeline import ActivityStream

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


def test_lab_recording() -> None:
    # WS1 as da.admin: dpapi.py backupkeys over \\pipe\\lsarpc (stubs in clear). Samba faults
    # LsarRetrievePrivateData (opnum 43, nca_s_op_rng_error) and answers LsarOpenSecret +
    # LsarQuerySecret, which hand over the key: one alert with every secret named.
    head = ("From WS1, CONTOSO\\da.admin tried 6 time(s) to fetch the DPAPI domain backup key "
            "from {dc} (4 failure, 2 success): G$BCKUPKEY_PREFERRED, G$BCKUPKEY_")
    pcap = lab("dpapi_backupkey/dc.pcap")
    # The DC names itself in its NTLM CHALLENGE; the audit log names it too.
    for path, dc in ((pcap, "DC01"), (pcap.parent, "DC01")):
        alerts = [a for a in scan_alerts(path) if a.external_id == 2020]
        assert len(alerts) == 1
        d = alerts[0].description
        assert d.startswith(head.format(dc=dc)), d
        assert d.endswith(", G$BCKUPKEY_P."), d
        assert alerts[0].severity == "high"


def _lab_activities() -> list[Activity]:
    return list(ActivityStream([str(lab("dpapi_backupkey/dc.pcap"))]))


def test_lab_public_backup_key_retrieval_alone_stays_quiet() -> None:
    acts = _lab_activities()
    calls = [a for a in acts if a.kind == K.RPC_CALL]
    bkrp = [a for a in calls if a.fields["interface"] == "bkrp"]
    assert [a.fields["operation"] for a in bkrp] == ["BackuprKey"]
    lsa = [a for a in calls if a.fields["interface"] == "lsarpc"]
    retrieves = [a for a in lsa if a.fields["opnum"] == 43]
    assert [a.fields["args"]["key_name"][:11] for a in retrieves] == ["G$BCKUPKEY_"] * 3
    assert {a.outcome for a in retrieves} == {"failure"}  # Samba: nca_s_op_rng_error
    # the same recording without the LSA calls: BackuprKey(RETRIEVE_BACKUP_KEY_GUID), the SMB
    # session and the NTLM logon around it raise nothing; with them, the alert
    without_lsa = [a for a in acts if a not in lsa]
    assert run(without_lsa, SLUG, dc_ips=("10.77.0.10",)) == []
    assert len(run(acts, SLUG, dc_ips=("10.77.0.10",))) == 1
