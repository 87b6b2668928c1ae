"""JSON event records (Winlogbeat, NXLog, evtx JSON, Samba audit) to activities.

The record parsing is ``sources.jsonl``'s (``record_from_json`` + ``winevent.to_activity``) and
``sources.samba``'s; this adds a parser that keeps its line count and Samba state across the
chunks of a connection, so activity uids are the same as when the same lines are scanned.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from dcwatch.errors import InputError
from dcwatch.model.activity import Activity, Origin
from dcwatch.protocols import winevent
from dcwatch.sources import samba
from dcwatch.sources.base import SourceStats
from dcwatch.sources.jsonl import iter_json_objects, record_from_json


class RecordParser:
    """Parses JSON records of one origin (a connection, a request, a log file)."""

    def __init__(self, name: str, stats: SourceStats | None = None,
                 samba_state: dict[str, Any] | None = None) -> None:
        self.name = name
        self.stats = stats or SourceStats(name)
        self.samba_state: dict[str, Any] = samba_state if samba_state is not None else {}
        self.line = 0  # lines seen so far (the origin's record number)

    def one(self, obj: dict[str, Any], n: int) -> list[Activity]:
        """Activities of one JSON object read at line ``n``."""
        st = self.stats
        try:
            if "type" in obj and "timestamp" in obj and isinstance(obj.get(obj["type"]), dict):
                st.format = st.format or "samba"
                acts = samba.to_activities(obj, Origin(self.name, n, "samba"), self.samba_state)
                if not acts:
                    st.unmapped += 1
                st.activities += len(acts)
                return acts
            rec = record_from_json(obj, Origin(self.name, n, "json"), st)
            if rec is None:
                return []
            act = winevent.to_activity(rec)
        except InputError as e:
            st.skip(f"line {n}", str(e))
            return []
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            st.skip(f"line {n}", f"unexpected record shape: {type(e).__name__}: {e}"[:200])
            return []
        if act is None:
            st.unmapped += 1
            return []
        st.activities += 1
        return [act]

    def _weird(self, name: str) -> None:
        self.stats.weirds[name] = self.stats.weirds.get(name, 0) + 1

    def lines(self, lines: Iterable[bytes]) -> list[Activity]:
        """Complete lines of a JSON-lines stream (a line may also hold a JSON array)."""
        out: list[Activity] = []
        for raw in lines:
            self.line += 1
            line = raw.strip()
            if not line:
                continue
            if line[:1] not in (b"{", b"["):
                self._weird("non_json_lines")
                continue  # Samba's debug header lines between its JSON lines
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as e:
                if line[:1] == b"[" and line[1:2] not in (b"{", b"[", b"]"):
                    self._weird("non_json_lines")  # "[2026/01/01 ...] auth_log.c..."
                    continue
                self.stats.records += 1
                self.stats.skip(f"line {self.line}", f"invalid JSON: {e}")
                continue
            self.stats.records += 1
            for item in obj if isinstance(obj, list) else [obj]:
                if isinstance(item, dict):
                    out.extend(self.one(item, self.line))
                else:
                    self.stats.skip(f"line {self.line}", "expected a JSON object")
        return out

    def document(self, body: bytes) -> list[Activity]:
        """One HTTP body: JSON lines, one JSON array, or one object."""
        out: list[Activity] = []
        base = self.line
        for n, obj in iter_json_objects(body.split(b"\n"), self.name, self.stats):
            self.line = max(self.line, base + n)
            out.extend(self.one(obj, base + n))
        self.line = max(self.line, base + body.count(b"\n") + 1)
        return out
