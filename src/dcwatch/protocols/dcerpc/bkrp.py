"""BackupKey stub decoder (MS-BKRP 3.1.4.1 BackuprKey): which action a DPAPI client asks for.

BACKUPKEY_RETRIEVE_BACKUP_KEY_GUID from a non-DC is the "malicious DPAPI backup key request".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dcwatch.protocols.dcerpc.ndr import NdrReader

Decoder = Callable[[NdrReader], dict[str, Any]]

# MS-BKRP 3.1.4.1 pguidActionAgent values
ACTIONS = {
    "7f752b10-178e-11d1-ab8f-00805f14db40": "BACKUPKEY_BACKUP_GUID",
    "47270c64-2fc7-499b-ac5b-0e37cdce899a": "BACKUPKEY_RESTORE_GUID",
    "018ff48a-eaba-40c6-8f6d-72370240e967": "BACKUPKEY_RETRIEVE_BACKUP_KEY_GUID",
    "7fe94d50-178e-11d1-ab8f-00805f14db40": "BACKUPKEY_RESTORE_GUID_WIN2K",
}


def _backupr_key(r: NdrReader) -> dict[str, Any]:
    # BackuprKey([in] GUID* pguidActionAgent, [in, size_is(cbDataIn)] byte* pDataIn, ...)
    guid = r.guid("pguidActionAgent")
    size = r.count("pDataIn")
    return {"action_guid": guid, "action": ACTIONS.get(guid, "unknown"), "data_in_length": size}


REQUESTS: dict[int, Decoder] = {0: _backupr_key}
