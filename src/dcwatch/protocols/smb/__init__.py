"""SMB over TCP 445/139: NetBIOS framing, SMB1 (sessions, trees, transactions), SMB2/3 and
DCE/RPC over named pipes.

``SmbAnalyzer(flow, emit)`` is the flow layer's analyzer for one SMB connection.
"""

from dcwatch.protocols.smb.analyzer import SmbAnalyzer

__all__ = ["SmbAnalyzer"]
