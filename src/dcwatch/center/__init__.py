"""The center of a live deployment: consumes the sites' activity streams from the bus, merges
them in time order, resolves entities, runs the detectors and stores alerts (SQLite or
PostgreSQL), checkpointing its detection state so a restart resumes where it stopped.
"""
