"""DCE/RPC interface UUIDs and operation numbers (MS-* IDLs) the detectors care about.

Interface names follow the pipe/IDL names tshark and impacket use (samr, lsarpc, drsuapi, ...).
Operation names are the IDL method names; unknown opnums are reported as ``opnum<N>``.
"""

from __future__ import annotations

# ---------------------------------------------------------------- interfaces: uuid -> name
INTERFACES: dict[str, str] = {
    "12345778-1234-abcd-ef00-0123456789ac": "samr",  # MS-SAMR 1.9 v1.0
    "12345778-1234-abcd-ef00-0123456789ab": "lsarpc",  # MS-LSAD 1.9 v0.0
    "e3514235-4b06-11d1-ab04-00c04fc2dcd2": "drsuapi",  # MS-DRSR 1.9 v4.0
    "7c44d7d4-31d5-424c-bd5e-2b3e1f323d22": "dsaop",  # MS-DRSR 1.9 v1.0
    "4b324fc8-1670-01d3-1278-5a47bf6ee188": "srvsvc",  # MS-SRVS 1.9 v3.0
    "6bffd098-a112-3610-9833-46c3f87e345a": "wkssvc",  # MS-WKST 1.9 v1.0
    "367abb81-9844-35f1-ad32-98f038001003": "svcctl",  # MS-SCMR 1.9 v2.0
    "1ff70682-0a51-30e8-076d-740be8cee98b": "atsvc",  # MS-TSCH 1.9 ATSvc v1.0
    "378e52b0-c0a9-11cf-822d-00aa0051e40f": "sasec",  # MS-TSCH 1.9 SASec v1.0
    "86d35949-83c9-4044-b424-db363231fd0c": "ITaskSchedulerService",  # MS-TSCH 1.9 v1.0
    "12345678-1234-abcd-ef00-01234567cffb": "netlogon",  # MS-NRPC 1.9 v1.0
    "c681d488-d850-11d0-8c52-00c04fd90f7e": "efsrpc",  # MS-EFSR 1.9 (\pipe\lsarpc) v1.0
    "df1941c5-fe89-4e79-bf10-463657acf44d": "efsrpc",  # MS-EFSR 1.9 (\pipe\efsrpc) v1.0
    "12345678-1234-abcd-ef00-0123456789ab": "spoolss",  # MS-RPRN 1.9 v1.0
    "76f03f96-cdfd-44fc-a22c-64950a001209": "par",  # MS-PAR 1.9 IRemoteWinspool v1.0
    "3dde7c30-165d-11d1-ab8f-00805f14db40": "bkrp",  # MS-BKRP 1.9 v1.0
    "e1af8308-5d1f-11c9-91a4-08002b14a0fa": "epm",  # C706 appendix O / MS-RPCE 2.2.1.2 v3.0
    "afa8bd80-7d8a-11c9-bef4-08002b102989": "mgmt",  # C706 appendix Q v1.0
    "338cd001-2244-31f1-aaaa-900038001003": "winreg",  # MS-RRP 1.9 v1.0
    "3919286a-b10c-11d0-9ba8-00c04fd92ef5": "dssetup",  # MS-DSSP 1.9 v0.0
    "4fc742e0-4a10-11cf-8273-00aa004ae673": "netdfs",  # MS-DFSNM 1.9 v3.0
    "82273fdc-e32a-18c3-3f78-827929dc23ea": "eventlog",  # MS-EVEN 1.9 v0.0
    "f6beaff7-1e19-4fbb-9f8f-b89e2018337c": "even6",  # MS-EVEN6 1.9 v1.0
    "91ae6020-9e3c-11cf-8d7c-00aa00c091be": "ICertPassage",  # MS-ICPR 1.9 v0.0
    "000001a0-0000-0000-c000-000000000046": "ISystemActivator",  # MS-DCOM 1.9
    "4d9f4ab8-7d1c-11cf-861e-0020af6e7c57": "IRemoteSCMActivator",  # MS-DCOM 1.9
    "99fcfec4-5260-101b-bbcb-00aa0021347a": "IObjectExporter",  # MS-DCOM 1.9
    "00000143-0000-0000-c000-000000000046": "IRemUnknown2",  # MS-DCOM 1.9
    "f309ad18-d86a-11d0-a075-00c04fb68820": "IWbemLevel1Login",  # MS-WMI 1.9
    "9556dc99-828c-11cf-a37e-00aa003240c7": "IWbemServices",  # MS-WMI 1.9
}

# C706 / MS-RPCE 2.2.4.12: transfer syntaxes
NDR20 = "8a885d04-1ceb-11c9-9fe8-08002b104860"
NDR64 = "71710533-beba-4937-8319-b5dbef9ccc36"
BIND_TIME_FEATURES_PREFIX = "6cb71c2c-9812-4540-"  # MS-RPCE 3.3.1.5.3 bind time feature negotiation


def interface_name(uuid: str) -> str:
    """Name of an interface UUID, or the UUID itself when unknown."""
    return INTERFACES.get(uuid.lower(), uuid.lower())


def _t(names: str) -> dict[int, str]:
    """Parse ``"0 Name, 1 Name, ..."`` into an opnum table (keeps tables readable)."""
    out: dict[int, str] = {}
    for item in names.split(","):
        item = item.strip()
        if item:
            num, name = item.split(" ", 1)
            out[int(num)] = name.strip()
    return out


# ---------------------------------------------------------------- opnum -> operation name
OPERATIONS: dict[str, dict[int, str]] = {
    # MS-SAMR 3.1.5 (opnums per the IDL in MS-SAMR 6)
    "samr": _t(
        "0 SamrConnect, 1 SamrCloseHandle, 2 SamrSetSecurityObject, 3 SamrQuerySecurityObject,"
        "5 SamrLookupDomainInSamServer, 6 SamrEnumerateDomainsInSamServer, 7 SamrOpenDomain,"
        "8 SamrQueryInformationDomain, 9 SamrSetInformationDomain, 10 SamrCreateGroupInDomain,"
        "11 SamrEnumerateGroupsInDomain, 12 SamrCreateUserInDomain,"
        "13 SamrEnumerateUsersInDomain, 14 SamrCreateAliasInDomain,"
        "15 SamrEnumerateAliasesInDomain, 16 SamrGetAliasMembership, 17 SamrLookupNamesInDomain,"
        "18 SamrLookupIdsInDomain, 19 SamrOpenGroup, 20 SamrQueryInformationGroup,"
        "21 SamrSetInformationGroup, 22 SamrAddMemberToGroup, 23 SamrDeleteGroup,"
        "24 SamrRemoveMemberFromGroup, 25 SamrGetMembersInGroup, 26 SamrSetMemberAttributesOfGroup,"
        "27 SamrOpenAlias, 28 SamrQueryInformationAlias, 29 SamrSetInformationAlias,"
        "30 SamrDeleteAlias, 31 SamrAddMemberToAlias, 32 SamrRemoveMemberFromAlias,"
        "33 SamrGetMembersInAlias, 34 SamrOpenUser, 35 SamrDeleteUser, 36 SamrQueryInformationUser,"
        "37 SamrSetInformationUser, 38 SamrChangePasswordUser, 39 SamrGetGroupsForUser,"
        "40 SamrQueryDisplayInformation, 41 SamrGetDisplayEnumerationIndex,"
        "44 SamrGetUserDomainPasswordInformation, 45 SamrRemoveMemberFromForeignDomain,"
        "46 SamrQueryInformationDomain2, 47 SamrQueryInformationUser2,"
        "48 SamrQueryDisplayInformation2, 49 SamrGetDisplayEnumerationIndex2,"
        "50 SamrCreateUser2InDomain, 51 SamrQueryDisplayInformation3,"
        "52 SamrAddMultipleMembersToAlias, 53 SamrRemoveMultipleMembersFromAlias,"
        "54 SamrOemChangePasswordUser2, 55 SamrUnicodeChangePasswordUser2,"
        "56 SamrGetDomainPasswordInformation, 57 SamrConnect2, 58 SamrSetInformationUser2,"
        "62 SamrConnect4, 64 SamrConnect5, 65 SamrRidToSid, 66 SamrSetDSRMPassword,"
        "67 SamrValidatePassword, 73 SamrUnicodeChangePasswordUser4"
    ),
    # MS-LSAD 3.1.4 / MS-LSAT 3.1.4
    "lsarpc": _t(
        "0 LsarClose, 2 LsarEnumeratePrivileges, 3 LsarQuerySecurityObject,"
        "4 LsarSetSecurityObject, 6 LsarOpenPolicy, 7 LsarQueryInformationPolicy,"
        "8 LsarSetInformationPolicy, 10 LsarCreateAccount, 11 LsarEnumerateAccounts,"
        "12 LsarCreateTrustedDomain, 13 LsarEnumerateTrustedDomains, 14 LsarLookupNames,"
        "15 LsarLookupSids, 16 LsarCreateSecret, 17 LsarOpenAccount,"
        "18 LsarEnumeratePrivilegesAccount, 19 LsarAddPrivilegesToAccount,"
        "20 LsarRemovePrivilegesFromAccount, 23 LsarGetSystemAccessAccount,"
        "24 LsarSetSystemAccessAccount, 25 LsarOpenTrustedDomain,"
        "26 LsarQueryInfoTrustedDomain, 27 LsarSetInformationTrustedDomain, 28 LsarOpenSecret,"
        "29 LsarSetSecret, 30 LsarQuerySecret, 31 LsarLookupPrivilegeValue,"
        "32 LsarLookupPrivilegeName, 33 LsarLookupPrivilegeDisplayName, 34 LsarDeleteObject,"
        "35 LsarEnumerateAccountsWithUserRight, 36 LsarEnumerateAccountRights,"
        "37 LsarAddAccountRights, 38 LsarRemoveAccountRights, 39 LsarQueryTrustedDomainInfo,"
        "40 LsarSetTrustedDomainInfo, 41 LsarDeleteTrustedDomain, 42 LsarStorePrivateData,"
        "43 LsarRetrievePrivateData, 44 LsarOpenPolicy2, 45 LsarGetUserName,"
        "46 LsarQueryInformationPolicy2, 47 LsarSetInformationPolicy2,"
        "48 LsarQueryTrustedDomainInfoByName, 49 LsarSetTrustedDomainInfoByName,"
        "50 LsarEnumerateTrustedDomainsEx, 51 LsarCreateTrustedDomainEx,"
        "53 LsarQueryDomainInformationPolicy, 54 LsarSetDomainInformationPolicy,"
        "55 LsarOpenTrustedDomainByName, 57 LsarLookupSids2, 58 LsarLookupNames2,"
        "59 LsarCreateTrustedDomainEx2, 68 LsarLookupNames3, 73 LsarQueryForestTrustInformation,"
        "74 LsarSetForestTrustInformation, 76 LsarLookupSids3, 77 LsarLookupNames4"
    ),
    # MS-DRSR 4.1
    "drsuapi": _t(
        "0 IDL_DRSBind, 1 IDL_DRSUnbind, 2 IDL_DRSReplicaSync, 3 IDL_DRSGetNCChanges,"
        "4 IDL_DRSUpdateRefs, 5 IDL_DRSReplicaAdd, 6 IDL_DRSReplicaDel, 7 IDL_DRSReplicaModify,"
        "8 IDL_DRSVerifyNames, 9 IDL_DRSGetMemberships, 10 IDL_DRSInterDomainMove,"
        "11 IDL_DRSGetNT4ChangeLog, 12 IDL_DRSCrackNames, 13 IDL_DRSWriteSPN,"
        "14 IDL_DRSRemoveDsServer, 15 IDL_DRSRemoveDsDomain, 16 IDL_DRSDomainControllerInfo,"
        "17 IDL_DRSAddEntry, 18 IDL_DRSExecuteKCC, 19 IDL_DRSGetReplInfo, 20 IDL_DRSAddSidHistory,"
        "21 IDL_DRSGetMemberships2, 22 IDL_DRSReplicaVerifyObjects, 23 IDL_DRSGetObjectExistence,"
        "24 IDL_DRSQuerySitesByCost, 25 IDL_DRSInitDemotion, 26 IDL_DRSReplicaDemotion,"
        "27 IDL_DRSFinishDemotion, 28 IDL_DRSAddCloneDC, 29 IDL_DRSWriteNgcKey,"
        "30 IDL_DRSReadNgcKey"
    ),
    # MS-SRVS 3.1.4
    "srvsvc": _t(
        "0 NetrCharDevEnum, 1 NetrCharDevGetInfo, 2 NetrCharDevControl, 3 NetrCharDevQEnum,"
        "4 NetrCharDevQGetInfo, 5 NetrCharDevQSetInfo, 6 NetrCharDevQPurge,"
        "7 NetrCharDevQPurgeSelf, 8 NetrConnectionEnum, 9 NetrFileEnum, 10 NetrFileGetInfo,"
        "11 NetrFileClose, 12 NetrSessionEnum, 13 NetrSessionDel, 14 NetrShareAdd,"
        "15 NetrShareEnum, 16 NetrShareGetInfo, 17 NetrShareSetInfo, 18 NetrShareDel,"
        "19 NetrShareDelSticky, 20 NetrShareCheck, 21 NetrServerGetInfo, 22 NetrServerSetInfo,"
        "23 NetrServerDiskEnum, 24 NetrServerStatisticsGet, 25 NetrServerTransportAdd,"
        "26 NetrServerTransportEnum, 27 NetrServerTransportDel, 28 NetrRemoteTOD,"
        "30 NetprPathType, 31 NetprPathCanonicalize, 32 NetprPathCompare, 33 NetprNameValidate,"
        "34 NetprNameCanonicalize, 35 NetprNameCompare, 36 NetrShareEnumSticky,"
        "37 NetrShareDelStart, 38 NetrShareDelCommit, 39 NetrpGetFileSecurity,"
        "40 NetrpSetFileSecurity, 41 NetrServerTransportAddEx, 43 NetrDfsGetVersion,"
        "53 NetrServerAliasAdd, 54 NetrServerAliasEnum, 55 NetrServerAliasDel,"
        "56 NetrShareDelEx"
    ),
    # MS-WKST 3.2.4
    "wkssvc": _t(
        "0 NetrWkstaGetInfo, 1 NetrWkstaSetInfo, 2 NetrWkstaUserEnum, 5 NetrWkstaTransportEnum,"
        "6 NetrWkstaTransportAdd, 7 NetrWkstaTransportDel, 8 NetrUseAdd, 9 NetrUseGetInfo,"
        "10 NetrUseDel, 11 NetrUseEnum, 13 NetrWorkstationStatisticsGet,"
        "20 NetrGetJoinInformation, 22 NetrJoinDomain2, 23 NetrUnjoinDomain2,"
        "24 NetrRenameMachineInDomain2, 25 NetrValidateName2, 26 NetrGetJoinableOUs2,"
        "27 NetrAddAlternateComputerName, 28 NetrRemoveAlternateComputerName,"
        "29 NetrSetPrimaryComputerName, 30 NetrEnumerateComputerNames"
    ),
    # MS-SCMR 3.1.4
    "svcctl": _t(
        "0 RCloseServiceHandle, 1 RControlService, 2 RDeleteService, 3 RLockServiceDatabase,"
        "4 RQueryServiceObjectSecurity, 5 RSetServiceObjectSecurity, 6 RQueryServiceStatus,"
        "7 RSetServiceStatus, 8 RUnlockServiceDatabase, 9 RNotifyBootConfigStatus,"
        "11 RChangeServiceConfigW, 12 RCreateServiceW, 13 REnumDependentServicesW,"
        "14 REnumServicesStatusW, 15 ROpenSCManagerW, 16 ROpenServiceW, 17 RQueryServiceConfigW,"
        "18 RQueryServiceLockStatusW, 19 RStartServiceW, 20 RGetServiceDisplayNameW,"
        "21 RGetServiceKeyNameW, 23 RChangeServiceConfigA, 24 RCreateServiceA,"
        "25 REnumDependentServicesA, 26 REnumServicesStatusA, 27 ROpenSCManagerA,"
        "28 ROpenServiceA, 29 RQueryServiceConfigA, 30 RQueryServiceLockStatusA,"
        "31 RStartServiceA, 32 RGetServiceDisplayNameA, 33 RGetServiceKeyNameA,"
        "35 REnumServiceGroupW, 36 RChangeServiceConfig2A, 37 RChangeServiceConfig2W,"
        "38 RQueryServiceConfig2A, 39 RQueryServiceConfig2W, 40 RQueryServiceStatusEx,"
        "41 REnumServicesStatusExA, 42 REnumServicesStatusExW, 44 RCreateServiceWOW64A,"
        "45 RCreateServiceWOW64W, 47 RNotifyServiceStatusChange, 48 RGetNotifyResults,"
        "49 RCloseNotifyHandle, 50 RControlServiceExA, 51 RControlServiceExW,"
        "55 RQueryServiceConfigEx, 60 RCreateWowService, 64 ROpenSCManager2"
    ),
    # MS-TSCH 3.2.5.2 (ATSvc), 3.2.5.3 (SASec), 3.2.5.4 (ITaskSchedulerService)
    "atsvc": _t("0 NetrJobAdd, 1 NetrJobDel, 2 NetrJobEnum, 3 NetrJobGetInfo"),
    "sasec": _t(
        "0 SASetAccountInformation, 1 SASetNSAccountInformation, 2 SAGetNSAccountInformation,"
        "3 SAGetAccountInformation"
    ),
    "ITaskSchedulerService": _t(
        "0 SchRpcHighestVersion, 1 SchRpcRegisterTask, 2 SchRpcRetrieveTask,"
        "3 SchRpcCreateFolder, 4 SchRpcSetSecurity, 5 SchRpcGetSecurity, 6 SchRpcEnumFolders,"
        "7 SchRpcEnumTasks, 8 SchRpcEnumInstances, 9 SchRpcGetInstanceInfo,"
        "10 SchRpcStopInstance, 11 SchRpcStop, 12 SchRpcRun, 13 SchRpcDelete, 14 SchRpcRename,"
        "15 SchRpcScheduledRuntimes, 16 SchRpcGetLastRunInfo, 17 SchRpcGetTaskInfo,"
        "18 SchRpcGetNumberOfMissedRuns, 19 SchRpcEnableTask"
    ),
    # MS-NRPC 3.5.4
    "netlogon": _t(
        "0 NetrLogonUasLogon, 1 NetrLogonUasLogoff, 2 NetrLogonSamLogon, 3 NetrLogonSamLogoff,"
        "4 NetrServerReqChallenge, 5 NetrServerAuthenticate, 6 NetrServerPasswordSet,"
        "7 NetrDatabaseDeltas, 8 NetrDatabaseSync, 9 NetrAccountDeltas, 10 NetrAccountSync,"
        "11 NetrGetDCName, 12 NetrLogonControl, 13 NetrGetAnyDCName, 14 NetrLogonControl2,"
        "15 NetrServerAuthenticate2, 16 NetrDatabaseSync2, 17 NetrDatabaseRedo,"
        "18 NetrLogonControl2Ex, 19 NetrEnumerateTrustedDomains, 20 DsrGetDcName,"
        "21 NetrLogonGetCapabilities, 22 NetrLogonSetServiceBits, 23 NetrLogonGetTrustRid,"
        "24 NetrLogonComputeServerDigest, 25 NetrLogonComputeClientDigest,"
        "26 NetrServerAuthenticate3, 27 DsrGetDcNameEx, 28 DsrGetSiteName,"
        "29 NetrLogonGetDomainInfo, 30 NetrServerPasswordSet2, 31 NetrServerPasswordGet,"
        "32 NetrLogonSendToSam, 33 DsrAddressToSiteNamesW, 34 DsrGetDcNameEx2,"
        "35 NetrLogonGetTimeServiceParentDomain, 36 NetrEnumerateTrustedDomainsEx,"
        "37 DsrAddressToSiteNamesExW, 38 DsrGetDcSiteCoverageW, 39 NetrLogonSamLogonEx,"
        "40 DsrEnumerateDomainTrusts, 41 DsrDeregisterDnsHostRecords,"
        "42 NetrServerTrustPasswordsGet, 43 DsrGetForestTrustInformation,"
        "44 NetrGetForestTrustInformation, 45 NetrLogonSamLogonWithFlags,"
        "46 NetrServerGetTrustInfo"
    ),
    # MS-EFSR 3.1.4.2
    "efsrpc": _t(
        "0 EfsRpcOpenFileRaw, 1 EfsRpcReadFileRaw, 2 EfsRpcWriteFileRaw, 3 EfsRpcCloseRaw,"
        "4 EfsRpcEncryptFileSrv, 5 EfsRpcDecryptFileSrv, 6 EfsRpcQueryUsersOnFile,"
        "7 EfsRpcQueryRecoveryAgents, 8 EfsRpcRemoveUsersFromFile, 9 EfsRpcAddUsersToFile,"
        "11 EfsRpcNotSupported, 12 EfsRpcFileKeyInfo, 13 EfsRpcDuplicateEncryptionInfoFile,"
        "15 EfsRpcAddUsersToFileEx, 16 EfsRpcFileKeyInfoEx, 18 EfsRpcGetEncryptedFileMetadata,"
        "19 EfsRpcSetEncryptedFileMetadata, 20 EfsRpcFlushEfsCache, 21 EfsRpcEncryptFileExSrv,"
        "22 EfsRpcQueryProtectors"
    ),
    # MS-RPRN 3.1.4 (the calls detection uses, plus the common ones)
    "spoolss": _t(
        "0 RpcEnumPrinters, 1 RpcOpenPrinter, 2 RpcSetJob, 3 RpcGetJob, 4 RpcEnumJobs,"
        "5 RpcAddPrinter, 6 RpcDeletePrinter, 7 RpcSetPrinter, 8 RpcGetPrinter,"
        "9 RpcAddPrinterDriver, 10 RpcEnumPrinterDrivers, 12 RpcGetPrinterDriverDirectory,"
        "13 RpcDeletePrinterDriver, 14 RpcAddPrintProcessor, 17 RpcStartDocPrinter,"
        "19 RpcWritePrinter, 23 RpcEndDocPrinter, 29 RpcClosePrinter, 46 RpcAddMonitor,"
        "47 RpcDeleteMonitor, 58 RpcFindClosePrinterChangeNotification,"
        "62 RpcRemoteFindFirstPrinterChangeNotification, 65"
        " RpcRemoteFindFirstPrinterChangeNotificationEx, 69 RpcOpenPrinterEx,"
        "89 RpcAddPrinterDriverEx"
    ),
    # MS-PAR 3.1.4
    "par": _t(
        "0 RpcAsyncOpenPrinter, 1 RpcAsyncAddPrinter, 20 RpcAsyncClosePrinter,"
        "39 RpcAsyncAddPrinterDriver, 40 RpcAsyncEnumPrinterDrivers,"
        "41 RpcAsyncGetPrinterDriverDirectory, 42 RpcAsyncDeletePrinterDriver"
    ),
    "bkrp": _t("0 BackuprKey"),  # MS-BKRP 3.1.4.1
    # C706 appendix O (ept_*)
    "epm": _t(
        "0 ept_insert, 1 ept_delete, 2 ept_lookup, 3 ept_map, 4 ept_lookup_handle_free,"
        "5 ept_inq_object, 6 ept_mgmt_delete"
    ),
    "mgmt": _t(
        "0 inq_if_ids, 1 inq_stats, 2 is_server_listening, 3 stop_server_listening,4 inq_princ_name"
    ),
    # MS-RRP 3.1.5
    "winreg": _t(
        "0 OpenClassesRoot, 1 OpenCurrentUser, 2 OpenLocalMachine, 3 OpenPerformanceData,"
        "4 OpenUsers, 5 BaseRegCloseKey, 6 BaseRegCreateKey, 7 BaseRegDeleteKey,"
        "8 BaseRegDeleteValue, 9 BaseRegEnumKey, 10 BaseRegEnumValue, 11 BaseRegFlushKey,"
        "12 BaseRegGetKeySecurity, 13 BaseRegLoadKey, 15 BaseRegOpenKey,"
        "16 BaseRegQueryInfoKey, 17 BaseRegQueryValue, 18 BaseRegReplaceKey,"
        "19 BaseRegRestoreKey, 20 BaseRegSaveKey, 21 BaseRegSetKeySecurity,"
        "22 BaseRegSetValue, 23 BaseRegUnLoadKey, 24 BaseInitiateSystemShutdown,"
        "25 BaseAbortSystemShutdown, 26 BaseRegGetVersion, 27 OpenCurrentConfig,"
        "29 BaseRegQueryMultipleValues, 30 BaseInitiateSystemShutdownEx, 31 BaseRegSaveKeyEx,"
        "32 OpenPerformanceText, 33 OpenPerformanceNlsText, 34 BaseRegQueryMultipleValues2,"
        "35 BaseRegDeleteKeyEx"
    ),
    "dssetup": _t("0 DsRolerGetPrimaryDomainInformation"),  # MS-DSSP 3.2.5
    # MS-DFSNM 3.1.4
    "netdfs": _t(
        "0 NetrDfsManagerGetVersion, 1 NetrDfsAdd, 2 NetrDfsRemove, 3 NetrDfsSetInfo,"
        "4 NetrDfsGetInfo, 5 NetrDfsEnum, 6 NetrDfsRename, 7 NetrDfsMove,"
        "10 NetrDfsAddFtRoot, 11 NetrDfsRemoveFtRoot, 12 NetrDfsAddStdRoot,"
        "13 NetrDfsRemoveStdRoot, 14 NetrDfsManagerInitialize, 15 NetrDfsAddStdRootForced,"
        "16 NetrDfsGetDcAddress, 17 NetrDfsSetDcAddress, 18 NetrDfsFlushFtTable,"
        "19 NetrDfsAdd2, 20 NetrDfsRemove2, 21 NetrDfsEnumEx, 22 NetrDfsSetInfo2,"
        "23 NetrDfsAddRootTarget, 24 NetrDfsRemoveRootTarget,"
        "25 NetrDfsGetSupportedNamespaceVersion"
    ),
    "eventlog": _t(
        "0 ElfrClearELFW, 1 ElfrBackupELFW, 2 ElfrCloseEL, 3 ElfrDeregisterEventSource,"
        "4 ElfrNumberOfRecords, 5 ElfrOldestRecord, 6 ElfrChangeNotify,"
        "7 ElfrOpenELW, 8 ElfrRegisterEventSourceW, 9 ElfrOpenBELW,"
        "10 ElfrReadELW, 11 ElfrReportEventW, 12 ElfrClearELFA"
    ),  # MS-EVEN 3.1.4
    "even6": _t(
        "0 EvtRpcRegisterRemoteSubscription, 5 EvtRpcRegisterLogQuery,"
        "6 EvtRpcClearLog, 7 EvtRpcExportLog"
    ),  # MS-EVEN6 3.1.4
    "ICertPassage": _t("0 CertServerRequest"),  # MS-ICPR 3.2.4.1
    # MS-DCOM 3.1.2.5 (opnums 0-2 of IUnknown-derived interfaces are IUnknown's)
    "ISystemActivator": _t("3 RemoteGetClassObject, 4 RemoteCreateInstance"),
    "IRemoteSCMActivator": _t("3 RemoteGetClassObject, 4 RemoteCreateInstance"),
    "IObjectExporter": _t(
        "0 ResolveOxid, 1 SimplePing, 2 ComplexPing, 3 ServerAlive,4 ResolveOxid2, 5 ServerAlive2"
    ),
    "IRemUnknown2": _t("3 RemQueryInterface, 4 RemAddRef, 5 RemRelease, 6 RemQueryInterface2"),
    # MS-WMI 3.1.4
    "IWbemLevel1Login": _t("3 EstablishPosition, 4 RequestChallenge, 5 WBEMLogin, 6 NTLMLogin"),
    "IWbemServices": _t(
        "3 OpenNamespace, 4 CancelAsyncCall, 5 QueryObjectSink, 6 GetObject, 7 GetObjectAsync,"
        "8 PutClass, 9 PutClassAsync, 10 DeleteClass, 11 DeleteClassAsync, 12 CreateClassEnum,"
        "13 CreateClassEnumAsync, 14 PutInstance, 15 PutInstanceAsync, 16 DeleteInstance,"
        "17 DeleteInstanceAsync, 18 CreateInstanceEnum, 19 CreateInstanceEnumAsync,"
        "20 ExecQuery, 21 ExecQueryAsync, 22 ExecNotificationQuery,"
        "23 ExecNotificationQueryAsync, 24 ExecMethod, 25 ExecMethodAsync"
    ),
}


def operation_name(interface: str, opnum: int) -> str:
    """IDL name of ``opnum`` on ``interface`` (a name from INTERFACES), or ``opnum<N>``."""
    return OPERATIONS.get(interface, {}).get(opnum, f"opnum{opnum}")
