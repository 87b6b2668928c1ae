"""Bookkeeping shared by every source: counts of what was read, mapped, skipped and why."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class SourceStats:
    """Per-input counters. ``dcwatch scan`` prints them; nothing is lost silently."""

    name: str
    format: str = ""
    records: int = 0  # records (events, JSON lines, packets) read
    activities: int = 0  # activities produced
    unmapped: int = 0  # well-formed records of event IDs dcwatch does not use
    skipped: int = 0  # malformed records skipped
    first_error: str | None = None
    fatal: str | None = None  # the input could not be read at all (or stopped early)
    weirds: dict[str, int] = field(default_factory=dict)

    def skip(self, where: str, reason: str) -> None:
        """Count a malformed record; remember the first reason for the summary."""
        self.skipped += 1
        if self.first_error is None:
            self.first_error = f"{where}: {reason}"
