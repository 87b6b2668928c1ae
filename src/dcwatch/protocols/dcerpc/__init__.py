"""Connection-oriented DCE/RPC (C706, MS-RPCE) over TCP and SMB named pipes, with stub decoders.

``DceRpcTcpAnalyzer`` is the flow layer's analyzer for TCP 135 and dynamic RPC ports;
``DceRpcConnection`` is shared with the SMB analyzer for named pipes.
"""

from dcwatch.protocols.dcerpc.conn import DceRpcConnection, DceRpcTcpAnalyzer

__all__ = ["DceRpcConnection", "DceRpcTcpAnalyzer"]
