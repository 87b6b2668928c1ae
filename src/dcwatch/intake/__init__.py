"""Sensor intake for live deployments: what a sensor reads and how it ships it.

A sensor parses locally and ships only activities (product.md section 1): JSON event records
pushed by Winlogbeat/NXLog over TCP or HTTP (``servers``), Samba's JSON audit logs followed
across rotation (``tail``), live capture (``sources.live``) and, for tests and back-fills, files
replayed (``replay``). ``shipper.Sensor`` sends them to the bus, or to its disk spool while the
bus is unreachable.
"""
