"""The network sensor's flow layer: link layers, IPv4/IPv6 (+fragments), TCP reassembly, UDP,
and dispatch to application analyzers by server port (see ``decoder.PacketDecoder``)."""

from dcwatch.protocols.net.decoder import PacketDecoder

__all__ = ["PacketDecoder"]
